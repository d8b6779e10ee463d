/**
 * Domain errors: a stable code (part of the public API, SPEC §4) and a
 * human message. The HTTP status for each code lives in server/errors.ts;
 * the CLI maps every DomainError to exit code 1.
 */
export const ERROR_MESSAGES = {
  VALIDATION_ERROR: "The request is invalid",
  WEAK_PASSWORD: "This password is too common or too weak",
  EMAIL_TAKEN: "A user with this email already exists",
  USERNAME_TAKEN: "This username is already taken",
  LAST_ADMIN: "The last active admin cannot be demoted, blocked or deleted",
  LAST_SIGN_IN_METHOD: "This is the last way to sign in to the account; add another first",
  INSUFFICIENT_BALANCE: "The balance cannot go below zero",
  INVALID_CREDENTIALS: "Email or password is incorrect",
  UNAUTHENTICATED: "A bearer access token is required",
  INVALID_TOKEN: "The token is invalid",
  TOKEN_EXPIRED: "The token has expired",
  INVALID_TOKEN_TYPE: "The token is of the wrong type for this route",
  REFRESH_TOKEN_REUSED: "This refresh token was already used; the session has been revoked",
  SESSION_REVOKED: "The session has been revoked",
  WRONG_PASSWORD: "The current password is incorrect",
  INVALID_OR_EXPIRED_TOKEN: "The token is invalid, expired or already used",
  ACCOUNT_BLOCKED: "This account is blocked",
  REAUTHENTICATION_REQUIRED: "Confirm it is you: give your current password (password) or sign in again",
  EMAIL_NOT_VERIFIED: "The email address has not been verified",
  FORBIDDEN: "You are not allowed to do this",
  HOOK_REJECTED: "Rejected by a usersvc hook",
  NOT_FOUND: "Not found",
  USER_NOT_FOUND: "User not found",
  METHOD_NOT_ALLOWED: "Method not allowed on this route",
  PAYLOAD_TOO_LARGE: "The request body is larger than 64 KiB",
  UNSUPPORTED_MEDIA_TYPE: "The request body must be application/json",
  RATE_LIMITED: "Too many attempts; try again later",
  HOOK_FAILED: "A usersvc hook failed; the action was not carried out",
  INTERNAL_ERROR: "Internal error",
} as const;

export type ErrorCode = keyof typeof ERROR_MESSAGES;

export interface FieldProblem {
  field: string;
  message: string;
}

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly details: FieldProblem[] | undefined;

  constructor(code: ErrorCode, message: string = ERROR_MESSAGES[code], details?: FieldProblem[]) {
    super(message);
    this.name = "DomainError";
    this.code = code;
    this.details = details;
  }
}

export function validationError(details: FieldProblem[]): DomainError {
  const message = details.map((d) => `${d.field}: ${d.message}`).join("; ");
  return new DomainError("VALIDATION_ERROR", message, details);
}

/** RATE_LIMITED, with the seconds until the caller may try again (the Retry-After header). */
export class RateLimitError extends DomainError {
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super("RATE_LIMITED");
    this.retryAfterSeconds = Math.max(1, retryAfterSeconds);
  }
}
