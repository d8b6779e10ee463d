/** Errors to exit codes (SPEC §5): 0 success, 1 operational failure, 2 usage error, 130 cancelled. */
import { ConfigError } from "../config.ts";
import { DomainError } from "../core/errors.ts";
import { errorMessage } from "../logger.ts";
import { CancelledError, OperationalError, type Output, UsageError } from "./io.ts";

export function reportError(error: unknown, out: Output): number {
  if (error instanceof UsageError) {
    out.stderr(`usersvc: ${error.message}`);
    return 2;
  }
  if (error instanceof ConfigError) {
    for (const problem of error.problems) out.stderr(`usersvc: ${problem}`);
    return 2;
  }
  if (error instanceof CancelledError) {
    out.stderr("usersvc: cancelled");
    return 130;
  }
  if (error instanceof DomainError) {
    out.stderr(`usersvc: ${error.code}: ${error.message}`);
    // Input the command was given is wrong: a usage error, like a bad flag.
    return error.code === "VALIDATION_ERROR" || error.code === "WEAK_PASSWORD" ? 2 : 1;
  }
  if (error instanceof OperationalError) {
    out.stderr(`usersvc: ${error.message}`);
    return 1;
  }
  // A database error's message quotes the statement and its parameters (a password hash, a TOTP
  // secret): as in the log, only its SQL state is printed, and of the stack only the frames.
  const frames = error instanceof Error && error.stack ? error.stack.split("\n").filter((line) => /^\s+at /.test(line)) : [];
  const name = error instanceof Error ? `${error.name}: ` : "";
  out.stderr(`usersvc: internal error: ${[`${name}${errorMessage(error)}`.split("\n").join(" | "), ...frames].join(" | ")}`);
  return 1;
}
