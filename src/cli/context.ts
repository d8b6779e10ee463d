import type { CoreCommand, Runtime } from "./types.ts";
import type { CliIO } from "./io.ts";

/** What every command builder receives from program.ts. */
export interface ProgramContext {
  io: CliIO;
  /** Every database command by name (commands/index.ts), for serve's control socket. */
  coreCommands: ReadonlyMap<string, CoreCommand<unknown>>;
  /** Config and logger, loaded on first use (so --help never needs a valid environment). */
  runtime(overrides?: Record<string, string | undefined>, options?: { logTo?: "stdout" | "stderr" }): Runtime;
  /**
   * Runs a database command here or through the running server; records its
   * exit code. `stdout` replaces where its data lines go (e.g. a file).
   */
  execute<A>(command: CoreCommand<A>, args: A, options?: { stdout?: (line: string) => void }): Promise<void>;
  /** Records the exit code of a command that does not go through execute(). */
  finish(code: number): void;
}
