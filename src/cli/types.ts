/** The shapes every CLI command shares: what a database command gets and returns, and what the runner is given. */
import type { Config } from "../config.ts";
import type { Core } from "../core/core.ts";
import type { Database } from "../core/db/client.ts";
import type { Logger } from "../logger.ts";
import type { CliIO, Output } from "./io.ts";

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
