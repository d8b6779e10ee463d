/**
 * Password hashing with Bun.password (argon2id), the common-password rule,
 * and the dummy hash that makes "no such user" cost the same as a wrong
 * password.
 */
import { DomainError } from "../errors.ts";
import commonPasswordList from "./common-passwords.txt" with { type: "text" };

const COMMON_PASSWORDS = new Set(commonPasswordList.split("\n").filter(Boolean));
const ARGON2_PARAMS = { algorithm: "argon2id", memoryCost: 65536, timeCost: 2 } as const;
const CURRENT_PREFIX = `$argon2id$v=19$m=${ARGON2_PARAMS.memoryCost},t=${ARGON2_PARAMS.timeCost},p=1$`;

export function checkPasswordStrength(password: string): void {
  if (COMMON_PASSWORDS.has(password.toLowerCase())) throw new DomainError("WEAK_PASSWORD");
}

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, ARGON2_PARAMS);
}

/** False for a wrong password and for a hash Bun cannot read; never throws. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  try {
    return await Bun.password.verify(password, normalizeForeignHash(hash));
  } catch {
    return false;
  }
}

/** True when the hash was made with other parameters or another algorithm (imported users). */
export function needsRehash(hash: string): boolean {
  return !hash.startsWith(CURRENT_PREFIX);
}

/**
 * The `argon2` npm package writes parameters as m,p,t; Bun only parses m,t,p.
 * Reordering is lossless: both libraries verify the rewritten hash.
 */
export function normalizeForeignHash(hash: string): string {
  return hash.replace(/\$m=(\d+),p=(\d+),t=(\d+)\$/, (_, m, p, t) => `$m=${m},t=${t},p=${p}$`);
}

let dummyHash: Promise<string> | null = null;

/** Spends one verification's worth of time on a hash nobody can match. */
export async function burnPasswordVerification(password: string): Promise<void> {
  dummyHash ??= hashPassword(crypto.randomUUID());
  await verifyPassword(password, await dummyHash);
}
