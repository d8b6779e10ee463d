/**
 * The CLI in-process: runCli with a CliIO that records what it prints and
 * answers stdin from a string. Fast (no binary, no process), for everything
 * the command line decides; the binary tests keep what only a real process
 * proves (exit through process.exit, signals, the control socket, a TTY).
 */
import type { Env } from "../../src/config.ts";
import { runCli } from "../../src/cli/program.ts";
import type { CliIO } from "../../src/cli/io.ts";

export interface CliResult {
  exitCode: number;
  stdout: string[];
  stderr: string[];
}

export async function cli(argv: string[], options: { env?: Env; stdin?: string } = {}): Promise<CliResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CliIO = {
    // LOG_LEVEL silent: the commands' own warnings would go to the real stderr.
    env: { LOG_LEVEL: "silent", ...options.env },
    stdinIsTTY: false,
    isTTY: () => false,
    stdout: (line) => void stdout.push(line),
    stderr: (line) => void stderr.push(line),
    readStdin: async () => options.stdin ?? "",
  };
  const exitCode = await runCli(argv, io);
  return { exitCode, stdout, stderr };
}

/**
 * The same run with stdout and stderr as the binary writes them (each line
 * ended by "\n"), so an assertion written for tests/support/binary.ts's
 * run() reads the same against the in-process CLI.
 */
export interface CliText {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function cliText(argv: string[], options: { env?: Env; stdin?: string } = {}): Promise<CliText> {
  const result = await cli(argv, options);
  const text = (lines: string[]): string => lines.map((line) => `${line}\n`).join("");
  return { exitCode: result.exitCode, stdout: text(result.stdout), stderr: text(result.stderr) };
}
