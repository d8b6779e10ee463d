/**
 * The domain core: everything usersvc does, for the HTTP server and the CLI
 * alike. Never imports elysia, commander, @clack/prompts or process.*.
 */
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import { createTokenService, type TokenService } from "./auth/tokens.ts";
import type { Database, DatabaseKind } from "./db/client.ts";

export interface Core {
  config: Config;
  db: Database;
  dbKind: DatabaseKind;
  logger: Logger;
  tokens: TokenService;
  /** The clock every rule reads, so tests move time instead of sleeping. */
  now(): Date;
}

export interface CoreOptions {
  config: Config;
  db: Database;
  dbKind: DatabaseKind;
  logger: Logger;
  now?: () => Date;
}

/** Expects a migrated database (signing keys live in it). */
export async function createCore(options: CoreOptions): Promise<Core> {
  const now = options.now ?? (() => new Date());
  const tokens = await createTokenService(options.config, options.db, now);
  return { ...options, now, tokens };
}
