/**
 * A CLI command that needs the database. Its arguments are gathered first
 * (flags, prompts, stdin) by the calling process; then it runs either right
 * here, or, when `serve` holds the embedded data directory, inside that
 * server through the control socket, with the same output and exit code.
 */
import { existsSync } from "node:fs";
import { readLockHolder, tryLockDataDir } from "../core/db/data-dir-lock.ts";
import { assertSchemaCurrent, openUsersvc, StartUpError } from "../core/start-up.ts";
import { controlSocketPath, forwardToServer } from "./control-socket.ts";
import { OperationalError } from "./io.ts";
import type { CoreCommand, Runtime } from "./types.ts";

/** How long a command waits for a data directory held by another command or a starting server. */
const LOCK_WAIT_MS = 15_000;

export async function executeCoreCommand<A>(command: CoreCommand<A>, args: A, runtime: Runtime): Promise<number> {
  const { config, io, logger } = runtime;
  if (config.databaseUrl) return runHere(command, args, runtime);

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
    return await runHere(command, args, runtime);
  } finally {
    lock.release();
  }
}

async function runHere<A>(command: CoreCommand<A>, args: A, runtime: Runtime): Promise<number> {
  const usersvc = await openUsersvc(runtime.config, runtime.logger).catch(asOperational);
  try {
    return await command.run({ db: usersvc.db, out: runtime.io, viaServer: false, core: () => usersvc.core().catch(asOperational) }, args);
  } finally {
    await usersvc.close();
  }
}

/** A start-up failure is the operator's to fix: exit 1 with its message. */
export function asOperational(error: unknown): never {
  throw error instanceof StartUpError ? new OperationalError(error.message) : error;
}

/**
 * For commands that ask questions first: fails before the first one when the
 * database cannot be opened or its schema is not current, instead of after
 * the last. A data directory held by another process is left to the command
 * itself (a running server migrated it when it started).
 */
export async function assertDatabaseReady(runtime: Runtime): Promise<void> {
  const { config, logger } = runtime;
  const lock = config.databaseUrl ? null : tryLockDataDir(config.dataDir);
  if (!config.databaseUrl && !lock) return;
  try {
    const usersvc = await openUsersvc(config, logger).catch(asOperational);
    try {
      await assertSchemaCurrent(usersvc.db).catch(asOperational);
    } finally {
      await usersvc.close();
    }
  } finally {
    lock?.release();
  }
}
