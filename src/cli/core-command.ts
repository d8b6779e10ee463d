/**
 * A CLI command that needs the database. Its arguments are gathered first
 * (flags, prompts, stdin) by the calling process; then it runs either right
 * here, or, when `serve` holds the embedded data directory, inside that
 * server through the control socket, with the same output and exit code.
 */
import { existsSync } from "node:fs";
import { sql } from "drizzle-orm";
import type { Config } from "../config.ts";
import { createCore, type Core } from "../core/core.ts";
import { type Database, type DatabaseHandle, openDatabase } from "../core/db/client.ts";
import { pendingMigrations } from "../core/db/migrate.ts";
import { readLockHolder, tryLockDataDir } from "../core/db/data-dir-lock.ts";
import { type Logger } from "../logger.ts";
import { controlSocketPath, forwardToServer } from "./control-socket.ts";
import { type CliIO, OperationalError, type Output } from "./io.ts";

export interface CommandContext {
  db: Database;
  /** The core, created on first use; requires the schema to be current. */
  core(): Promise<Core>;
  out: Output;
  /** True when a running `serve` carries the command out. */
  viaServer: boolean;
}

export interface CoreCommand<A> {
  name: string;
  /** False for commands that must not run under a live server (drop-db). */
  allowedViaServer: boolean;
  /** Returns the exit code. */
  run(ctx: CommandContext, args: A): Promise<number>;
}

export interface Runtime {
  config: Config;
  io: CliIO;
  logger: Logger;
}

const SCHEMA_NOT_CURRENT = "the database schema is not current: run `usersvc init-db` (or `usersvc serve`) first";

/** How long a command waits for a data directory held by another command or a starting server. */
const LOCK_WAIT_MS = 15_000;

export async function executeCoreCommand<A>(command: CoreCommand<A>, args: A, runtime: Runtime): Promise<number> {
  const { config, io, logger } = runtime;
  if (config.databaseUrl) return runWithDatabase(command, args, runtime, await openChecked(config));

  let lock = tryLockDataDir(config.dataDir);
  // No control socket: the holder is another command (two run at once) or a server still
  // starting. Wait for it to finish or to open its socket, instead of failing at once.
  const deadline = Date.now() + LOCK_WAIT_MS;
  while (!lock && command.allowedViaServer && !existsSync(controlSocketPath(config.dataDir)) && Date.now() < deadline) {
    await Bun.sleep(50);
    lock = tryLockDataDir(config.dataDir);
  }
  if (!lock) {
    const holder = readLockHolder(config.dataDir);
    if (!command.allowedViaServer) {
      throw new OperationalError(
        `${config.dataDir} is in use by a running usersvc (pid ${holder ?? "unknown"}); stop it before ${command.name}`,
      );
    }
    logger.debug({ holder }, "data directory locked: forwarding to the running server");
    return forwardToServer(config.dataDir, command.name, args, io, config);
  }
  try {
    return await runWithDatabase(command, args, runtime, await openChecked(config));
  } finally {
    lock.release();
  }
}

async function runWithDatabase<A>(
  command: CoreCommand<A>,
  args: A,
  runtime: Runtime,
  handle: DatabaseHandle,
): Promise<number> {
  let core: Core | null = null;
  try {
    return await command.run(
      {
        db: handle.db,
        out: runtime.io,
        viaServer: false,
        core: async () => {
          if (core) return core;
          const pending = await pendingMigrations(handle.db);
          if (pending.length > 0) {
            throw new OperationalError(SCHEMA_NOT_CURRENT);
          }
          core = await createCore({ config: runtime.config, db: handle.db, dbKind: handle.kind, logger: runtime.logger });
          return core;
        },
      },
      args,
    );
  } finally {
    await handle.close();
  }
}

/** Opens the database and proves it answers, naming the setting when it does not. */
export async function openChecked(config: Config): Promise<DatabaseHandle> {
  let handle: DatabaseHandle | null = null;
  try {
    handle = await openDatabase(config);
    await handle.db.execute(sql`select 1`);
    return handle;
  } catch (error) {
    await handle?.close().catch(() => {});
    const reason = error instanceof Error ? (rootCause(error).message || error.message) : String(error);
    const setting = config.databaseUrl ? "DATABASE_URL" : "USERSVC_DATA_DIR";
    throw new OperationalError(`${setting}: cannot open the database (${reason})`);
  }
}

function rootCause(error: Error): Error {
  let current: Error = error;
  while (current.cause instanceof Error) current = current.cause;
  return current;
}

/**
 * For commands that ask questions first: fails before the first one when the
 * database cannot be opened or its schema is not current, instead of after
 * the last. A data directory held by another process is left to the command
 * itself (a running server migrated it when it started).
 */
export async function assertDatabaseReady(config: Config): Promise<void> {
  const lock = config.databaseUrl ? null : tryLockDataDir(config.dataDir);
  if (!config.databaseUrl && !lock) return;
  try {
    const handle = await openChecked(config);
    try {
      if ((await pendingMigrations(handle.db)).length > 0) throw new OperationalError(SCHEMA_NOT_CURRENT);
    } finally {
      await handle.close();
    }
  } finally {
    lock?.release();
  }
}
