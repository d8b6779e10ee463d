import { createHash, timingSafeEqual } from "node:crypto";

/** Hex SHA-256: how single-use tokens, recovery codes and long rate-limit keys are stored. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Whether two secrets (tokens, digests) are equal, in time that tells nothing about where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
