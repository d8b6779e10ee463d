/**
 * One error handler for the whole app: domain codes get their HTTP status
 * here (and only here); framework errors are translated into the same
 * envelope; anything unexpected is logged once and hidden behind 500.
 */
import { Elysia, ValidationError } from "elysia";
import { DomainError, ERROR_MESSAGES, type ErrorCode, type FieldProblem, RateLimitError } from "../core/errors.ts";
import type { Logger } from "../logger.ts";
import { failure } from "./envelope.ts";

export const HTTP_STATUS: Record<ErrorCode, number> = {
  VALIDATION_ERROR: 422,
  WEAK_PASSWORD: 422,
  EMAIL_TAKEN: 409,
  USERNAME_TAKEN: 409,
  LAST_ADMIN: 409,
  LAST_SIGN_IN_METHOD: 409,
  INSUFFICIENT_BALANCE: 409,
  INVALID_CREDENTIALS: 401,
  UNAUTHENTICATED: 401,
  INVALID_TOKEN: 401,
  TOKEN_EXPIRED: 401,
  INVALID_TOKEN_TYPE: 401,
  REFRESH_TOKEN_REUSED: 401,
  SESSION_REVOKED: 401,
  WRONG_PASSWORD: 400,
  INVALID_OR_EXPIRED_TOKEN: 400,
  ACCOUNT_BLOCKED: 403,
  REAUTHENTICATION_REQUIRED: 403,
  EMAIL_NOT_VERIFIED: 403,
  FORBIDDEN: 403,
  HOOK_REJECTED: 403,
  NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  HOOK_FAILED: 503,
  INTERNAL_ERROR: 500,
};

export function errorResponse(error: DomainError, headers: Record<string, string> = {}): Response {
  const status = HTTP_STATUS[error.code];
  const extra: Record<string, string> = status === 401 ? { "www-authenticate": 'Bearer realm="usersvc"' } : {};
  if (error instanceof RateLimitError) extra["retry-after"] = String(error.retryAfterSeconds);
  return Response.json(failure(error.code, error.message, error.details), {
    status,
    headers: { ...extra, ...headers },
  });
}

/**
 * The error codes a route declares for a status (responses.ts): empty when it
 * declares none for that status, null when the route declares no responses at all.
 */
export type DeclaredErrors = (method: string, route: string, status: number) => readonly string[] | null;

export interface ErrorHandlerOptions {
  allowedMethods: (path: string) => string[];
  declaredErrors: DeclaredErrors;
  /**
   * An error code the route does not declare in /docs/json: logged, and
   * when strict (the test suites) answered as 500 INTERNAL_ERROR, so a test
   * that reaches it fails and the declaration is fixed.
   */
  strictErrors: boolean;
}

export function errorHandler(logger: Logger, options: ErrorHandlerOptions) {
  // Destructured, not passed on whole: Elysia reads which context fields a hook
  // uses and would otherwise parse cookies, query and headers on every request.
  return new Elysia({ name: "error-handler" }).onError({ as: "global" }, ({ code, error, request, path, route, set }) => {
    let response = toErrorResponse({ code, error, request, path }, logger, options.allowedMethods);
    const errorCode = error instanceof DomainError ? error.code : response.status === 500 ? "INTERNAL_ERROR" : null;
    const declared = route ? options.declaredErrors(request.method, route, response.status) : null;
    if (errorCode && declared && !declared.includes(errorCode)) {
      logger.error({ method: request.method, route, status: response.status, code: errorCode }, "error code not declared for this route in /docs/json");
      if (options.strictErrors) response = errorResponse(new DomainError("INTERNAL_ERROR"));
    }
    // Elysia passes a Response returned here straight to the client without
    // updating set.status, which is what the request log reads.
    set.status = response.status;
    return response;
  });
}

function toErrorResponse(
  { code, error, request, path }: { code: unknown; error: unknown; request: Request; path: string },
  logger: Logger,
  allowedMethods: (path: string) => string[],
): Response {
  if (error instanceof DomainError) return errorResponse(error);
  switch (code) {
    case "VALIDATION":
      if ((error as ValidationError).type === "response") {
        // The handler's answer does not match its declared schema (responses.ts): a bug of ours, not the caller's.
        // Where it broke, never the values: the answer may hold what the schema exists to keep out (a hash, a secret).
        const problems = (error as ValidationError).all.map((issue) => ({
          path: "path" in issue ? issue.path : "",
          message: "message" in issue ? issue.message : "is invalid",
        }));
        logger.error({ method: request.method, path, problems }, "response does not match its declared schema");
        return errorResponse(new DomainError("INTERNAL_ERROR"));
      }
      return errorResponse(fromValidation(error as ValidationError));
    case "PARSE":
      // Elysia wraps whatever a parse hook throws: the body reader's own refusals (413, 422) are the cause.
      if ((error as Error).cause instanceof DomainError) return errorResponse((error as Error).cause as DomainError);
      return errorResponse(malformedBody());
    case "NOT_FOUND": {
      const allowed = allowedMethods(path);
      if (allowed.length > 0 && !allowed.includes(request.method)) {
        return errorResponse(new DomainError("METHOD_NOT_ALLOWED"), { allow: allowed.join(", ") });
      }
      return errorResponse(new DomainError("NOT_FOUND", `No route for ${request.method} ${path}`));
    }
    default:
      logger.error({ err: error, method: request.method, path }, "unhandled error");
      return errorResponse(new DomainError("INTERNAL_ERROR"));
  }
}

export function malformedBody(): DomainError {
  const message = "the body is not valid JSON";
  return new DomainError("VALIDATION_ERROR", message, [{ field: "body", message }]);
}

function fromValidation(error: ValidationError): DomainError {
  const details: FieldProblem[] = [];
  const seen = new Set<string>();
  for (const issue of error.all) {
    const path = "path" in issue && typeof issue.path === "string" ? issue.path : "";
    const field = path.replace(/^\//, "").replaceAll("/", ".") || error.type;
    const message = "message" in issue && typeof issue.message === "string" ? issue.message : "is invalid";
    // TypeBox reports a missing field twice ("required", then "expected string"): keep the first.
    if (seen.has(field)) continue;
    seen.add(field);
    details.push({ field, message: describe(message) });
  }
  if (details.length === 0) details.push({ field: error.type, message: ERROR_MESSAGES.VALIDATION_ERROR });
  return new DomainError("VALIDATION_ERROR", details.map((d) => `${d.field}: ${d.message}`).join("; "), details);
}

/** TypeBox's wording ("Expected required property") for people; each rule keeps the bound TypeBox names. */
const VALIDATOR_WORDING: [RegExp, (...bound: string[]) => string][] = [
  // TypeBox says "Unexpected property" without naming it; the path does.
  [/^Unexpected property$/, () => "is not an accepted field"],
  [/^Expected required property$/, () => "is required"],
  [/^Expected object$/, () => "must be a JSON object"],
  [/^Expected array$/, () => "must be a JSON array"],
  [/^Expected string$/, () => "must be a string"],
  [/^Expected number$/, () => "must be a number"],
  [/^Expected integer$/, () => "must be a whole number"],
  [/^Expected boolean$/, () => "must be true or false"],
  [/^Expected null$/, () => "must be null"],
  [/^Expected union value$/, () => "has a type or value that is not accepted"],
  [/^Expected string length greater or equal to (\d+)$/, (n) => `must be at least ${n} characters`],
  [/^Expected string length less or equal to (\d+)$/, (n) => `must be at most ${n} characters`],
  [/^Expected string to match 'email' format$/, () => "must be a valid email address"],
  [/^Expected string to match '(.+)' format$/, (format) => `must be a valid ${format}`],
  [/^Expected string to match /, () => "is not in the accepted format"],
  [/^Expected (?:number|integer) to be greater or equal to (.+)$/, (n) => `must be ${n} or more`],
  [/^Expected (?:number|integer) to be less or equal to (.+)$/, (n) => `must be ${n} or less`],
  [/^Expected (?:number|integer) to be greater than (.+)$/, (n) => `must be more than ${n}`],
  [/^Expected (?:number|integer) to be less than (.+)$/, (n) => `must be less than ${n}`],
  [/^Expected array length to be greater or equal to (\d+)$/, (n) => `must have at least ${n} items`],
  [/^Expected array length to be less or equal to (\d+)$/, (n) => `must have at most ${n} items`],
  [/^Expected object to have no more than (\d+) properties$/, (n) => `must have at most ${n} fields`],
  [/^Expected '(.*)'$/, (value) => `must be "${value}"`],
];

function describe(message: string): string {
  for (const [pattern, wording] of VALIDATOR_WORDING) {
    const match = pattern.exec(message);
    if (match) return wording(...match.slice(1));
  }
  return message;
}
