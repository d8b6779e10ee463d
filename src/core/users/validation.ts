/**
 * Business rules on user input, shared by every way in (HTTP and CLI).
 * Each check returns problems instead of throwing, so one response can
 * name every bad field at once.
 */
import { type FieldProblem, validationError } from "../errors.ts";
import { findUnstorableText, UNSTORABLE_TEXT } from "../storable-text.ts";

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
// Deliberately plain: one @, a dot in the domain, no spaces, control characters or invisible
// format characters (bidi overrides, zero-width spaces), which would make look-alike accounts,
// and none of the address-list syntax <>()[],;:"\ — a mailer parses `"x"<a@evil.example>` as
// a@evil.example and `a@evil.example,corp.example` as two recipients, so the address verified
// would not be the one stored.
const EMAIL = /^[^\s@\p{Cc}\p{Cf}<>()[\],;:"\\]{1,64}@[^\s@\p{Cc}\p{Cf}<>()[\],;:"\\]+\.[^\s@\p{Cc}\p{Cf}<>()[\],;:"\\]+$/u;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;
export const METADATA_MAX_BYTES = 8 * 1024;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function checkEmail(email: string, problems: FieldProblem[], field = "email"): void {
  if (email.length > 254 || !EMAIL.test(email)) problems.push({ field, message: "must be a valid email address" });
}

export function checkUsername(username: string, problems: FieldProblem[], field = "username"): void {
  if (!USERNAME.test(username)) {
    problems.push({ field, message: "must be 3-32 characters of letters, digits, '_', '.' or '-'" });
  }
}

/** Length only; the common-password rule is checkPasswordStrength (a separate error code). */
export function checkPasswordLength(password: string, problems: FieldProblem[], field = "password"): void {
  if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
    problems.push({ field, message: `must be ${PASSWORD_MIN}-${PASSWORD_MAX} characters` });
  }
}

export function checkMetadata(metadata: unknown, problems: FieldProblem[], field = "metadata"): void {
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    problems.push({ field, message: "must be a JSON object" });
  } else if (Buffer.byteLength(JSON.stringify(metadata)) > METADATA_MAX_BYTES) {
    problems.push({ field, message: "must be at most 8 KiB as JSON" });
  } else if (findUnstorableText(metadata, "") !== null) {
    problems.push({ field, message: UNSTORABLE_TEXT });
  }
}

/**
 * The first problem one check finds with one value, as "field message", or
 * undefined: for asking a single answer again on a terminal.
 */
export function firstProblem(check: (value: string, problems: FieldProblem[]) => void, value: string): string | undefined {
  const problems: FieldProblem[] = [];
  check(value, problems);
  const [problem] = problems;
  return problem ? `${problem.field} ${problem.message}` : undefined;
}

export function throwIfProblems(problems: FieldProblem[]): void {
  if (problems.length > 0) throw validationError(problems);
}

export function assertValidEmail(email: string): void {
  const problems: FieldProblem[] = [];
  checkEmail(normalizeEmail(email), problems);
  throwIfProblems(problems);
}
