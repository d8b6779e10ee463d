/**
 * Every command of the usersvc CLI, in the order --help lists them: the
 * builder of its commander command(s), and the database commands it runs
 * (which a running server may carry out through the control socket).
 * Adding a command is one line here.
 */
import type { Command } from "commander";
import type { ProgramContext } from "../context.ts";
import type { CoreCommand } from "../types.ts";
import { auditCommand, auditVerify } from "./audit.ts";
import { block, blockCommands, unblock } from "./block.ts";
import { clientsAdd, clientsCommand, clientsList, clientsRemove, clientsRotateSecret, clientsShow, clientsUpdate } from "./clients.ts";
import { createAdmin, createAdminCommand } from "./create-admin.ts";
import { dropDb, dropDbCommand } from "./drop-db.ts";
import { emailCommand } from "./email.ts";
import { eventsCommand, eventsList, eventsRetry } from "./events.ts";
import { hashCommand } from "./hash.ts";
import { hooksCommand } from "./hooks.ts";
import { initDb, initDbCommand } from "./init-db.ts";
import { keysCommand, keysRotate } from "./keys.ts";
import { mfaCommand, mfaReset } from "./mfa.ts";
import { providersAdd, providersCommand, providersList, providersRemove, providersShow } from "./providers.ts";
import { serveCommand } from "./serve.ts";
import { exportCommand, importCommand, transferCommands } from "./transfer.ts";
import { usersCommand, usersList, usersShow, usersUpdate } from "./users.ts";

export interface CliCommand {
  build(ctx: ProgramContext): Command | Command[];
  /** The database commands it runs, by their names. */
  runs?: readonly CoreCommand<never>[];
}

export const COMMANDS: readonly CliCommand[] = [
  { build: serveCommand },
  { build: initDbCommand, runs: [initDb] },
  { build: dropDbCommand, runs: [dropDb] },
  { build: createAdminCommand, runs: [createAdmin] },
  { build: blockCommands, runs: [block, unblock] },
  { build: usersCommand, runs: [usersList, usersShow, usersUpdate] },
  { build: mfaCommand, runs: [mfaReset] },
  { build: transferCommands, runs: [exportCommand, importCommand] },
  { build: auditCommand, runs: [auditVerify] },
  { build: keysCommand, runs: [keysRotate] },
  { build: clientsCommand, runs: [clientsAdd, clientsList, clientsShow, clientsUpdate, clientsRotateSecret, clientsRemove] },
  { build: providersCommand, runs: [providersAdd, providersList, providersShow, providersRemove] },
  { build: hashCommand },
  { build: hooksCommand },
  { build: eventsCommand, runs: [eventsList, eventsRetry] },
  { build: emailCommand },
];

/** Every database command by name: the control socket runs these for other processes. */
export const CORE_COMMANDS: ReadonlyMap<string, CoreCommand<unknown>> = new Map(
  COMMANDS.flatMap((command) => command.runs ?? []).map((command) => [command.name, command as CoreCommand<unknown>]),
);
