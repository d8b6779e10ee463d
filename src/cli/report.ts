/** Errors to exit codes (SPEC §5): 0 success, 1 operational failure, 2 usage error, 130 cancelled. */
import { ConfigError } from "../config.ts";
import { DomainError } from "../core/errors.ts";
import { auditVerify } from "./commands/audit.ts";
import { block, unblock } from "./commands/block.ts";
import { createAdmin } from "./commands/create-admin.ts";
import { dropDb } from "./commands/drop-db.ts";
import { eventsList, eventsRetry } from "./commands/events.ts";
import { initDb } from "./commands/init-db.ts";
import { keysRotate } from "./commands/keys.ts";
import { mfaReset } from "./commands/mfa.ts";
import { exportCommand, importCommand } from "./commands/transfer.ts";
import { usersList, usersShow, usersUpdate } from "./commands/users.ts";
import type { CoreCommand } from "./types.ts";
import { CancelledError, OperationalError, type Output, UsageError } from "./io.ts";

/** Every database command, by name: the control socket runs these for other processes. */
export const CORE_COMMANDS: ReadonlyMap<string, CoreCommand<unknown>> = new Map(
  ([initDb, dropDb, createAdmin, block, unblock, usersList, usersShow, usersUpdate, exportCommand, importCommand, auditVerify, eventsList, eventsRetry, keysRotate, mfaReset] as CoreCommand<never>[]).map((c) => [c.name, c as CoreCommand<unknown>]),
);

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
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  out.stderr(`usersvc: internal error: ${message.split("\n").join(" | ")}`);
  return 1;
}
