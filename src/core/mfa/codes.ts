/** MFA codes as people type them, made plain before anything is checked or counted. */
import { validationError } from "../errors.ts";

/** What a caller typed as a code, made plain: a TOTP code (6 digits) or a recovery code (xxxxx-xxxxx). */
export type MfaCode = { kind: "totp"; code: string } | { kind: "recovery"; code: string };

/**
 * A code as apps show it and people type it: spaces and dashes are ignored
 * ("123 456", "abcde fghij"), letters are case-insensitive, and a JSON number
 * is a TOTP code with its leading zeros lost (12345 is "012345"). Anything
 * else is refused as malformed (422) before it can count as a wrong attempt.
 */
export function normalizeMfaCode(input: string | number, field = "code"): MfaCode {
  if (typeof input === "number") {
    if (Number.isInteger(input) && input >= 0 && input <= 999_999) return { kind: "totp", code: String(input).padStart(6, "0") };
  } else {
    const plain = input.replace(/[\s-]/g, "").toLowerCase();
    if (/^\d{6}$/.test(plain)) return { kind: "totp", code: plain };
    if (/^[0-9a-f]{10}$/.test(plain)) return { kind: "recovery", code: `${plain.slice(0, 5)}-${plain.slice(5)}` };
  }
  throw validationError([{ field, message: "must be a 6-digit code from the authenticator app or a recovery code (xxxxx-xxxxx)" }]);
}
