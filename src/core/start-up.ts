/**
 * The one start-up of usersvc: open the database, bring the schema along,
 * build the core, start what runs on timers, and close all of it again in
 * the reverse order. `serve`, the CLI runner, the test server and the
 * benches all come through here, so a new resource (a mail transport, an
 * OpenID provider) is added once.
 */
import { sql } from "drizzle-orm";
import type { Config } from "../config.ts";
import type { Hooks } from "../hooks/hooks.ts";
import type { Logger } from "../logger.ts";
import { watchSigningKeys } from "./tokens/key-watcher.ts";
import { type Core, createCore } from "./core.ts";
import { type Database, type DatabaseHandle, type DatabaseKind, openDatabase } from "./db/client.ts";
import { migrateDatabase, pendingMigrations } from "./db/migrate.ts";
import { startOutboxWorker } from "./events/outbox.ts";
import { scheduleMaintenance } from "./maintenance.ts";
import { ThemeError } from "./theme/theme.ts";

export interface StartUpOptions {
  /** Apply pending migrations first (serve, tests); otherwise core() refuses a schema that is not current. */
  migrate?: boolean;
  /** Pick up key rotations made elsewhere (every instance that verifies tokens). */
  watchKeys?: boolean;
  /** serve's timers: the lifecycle sweep and outbox delivery. */
  background?: boolean;
  /** The clock of the core; tests move it. */
  now?: () => Date;
  /** Already loaded hooks; by default they are loaded from config.hooksPath. */
  hooks?: Hooks;
}

export interface Usersvc {
  db: Database;
  dbKind: DatabaseKind;
  /** Migrations this start-up applied (with `migrate`). */
  applied: string[];
  /** The core, built on first use (commands such as init-db need only the database). */
  core(): Promise<Core>;
  /** Stops the timers, then the core's batches, then the database; safe to call twice. */
  close(): Promise<void>;
}

/** Opening failed for a reason the operator must fix (exit 1 in the CLI); the message names the setting. */
export class StartUpError extends Error {
  override name = "StartUpError";
}

export async function openUsersvc(config: Config, logger: Logger, options: StartUpOptions = {}): Promise<Usersvc> {
  const handle = await openAnswering(config);
  const stops: (() => Promise<void> | void)[] = [() => handle.close()];
  const close = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) await stop();
  };
  try {
    const applied = options.migrate ? await migrateDatabase(handle.db) : [];
    if (options.migrate) logger.info({ applied, database: handle.kind }, applied.length ? "migrations applied" : "schema is up to date");
    let building: Promise<Core> | null = null;
    const build = async (): Promise<Core> => {
      if (!options.migrate) await assertSchemaCurrent(handle.db);
      const core = await createCore({ config, db: handle.db, dbKind: handle.kind, logger, now: options.now, hooks: options.hooks }).catch((error: unknown) => {
        throw error instanceof ThemeError ? new StartUpError(error.message) : error;
      });
      stops.push(() => core.refreshHits.close(), () => core.mailer?.close());
      if (options.watchKeys) stops.push(watchSigningKeys(core).stop);
      if (options.background) stops.push(scheduleMaintenance(core).stop, startOutboxWorker(core).stop);
      return core;
    };
    return {
      db: handle.db,
      dbKind: handle.kind,
      applied,
      core: () => (building ??= build()),
      close,
    };
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
}

/** Throws a StartUpError naming the command to run when migrations are pending. */
export async function assertSchemaCurrent(db: Database): Promise<void> {
  if ((await pendingMigrations(db)).length > 0) {
    throw new StartUpError("the database schema is not current: run `usersvc init-db` (or `usersvc serve`) first");
  }
}

/** Opens the database and proves it answers, naming the setting when it does not. */
async function openAnswering(config: Config): Promise<DatabaseHandle> {
  let handle: DatabaseHandle | null = null;
  try {
    handle = await openDatabase(config);
    await handle.db.execute(sql`select 1`);
    return handle;
  } catch (error) {
    await handle?.close().catch(() => {});
    const reason = error instanceof Error ? rootCause(error).message || error.message : String(error);
    const setting = config.databaseUrl ? "DATABASE_URL" : "USERSVC_DATA_DIR";
    throw new StartUpError(`${setting}: cannot open the database (${reason})`);
  }
}

function rootCause(error: Error): Error {
  let current: Error = error;
  while (current.cause instanceof Error) current = current.cause;
  return current;
}
