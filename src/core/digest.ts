import { createHash } from "node:crypto";

/** Hex SHA-256: how single-use tokens, recovery codes and long rate-limit keys are stored. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
