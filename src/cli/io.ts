/**
 * What a CLI command may touch of the outside world, passed in so the same
 * action runs in `usersvc` itself, inside `serve` for the control socket,
 * and in tests.
 */
import type { Env } from "../config.ts";

export interface Output {
  /** Data, for scripts: one call, one line. */
  stdout(line: string): void;
  /** Messages for humans: one call, one line. */
  stderr(line: string): void;
}

export interface CliIO extends Output {
  env: Env;
  stdinIsTTY: boolean;
  /** Whether file descriptor 1 / 2 is a terminal (logs are then written for people). */
  isTTY(fd: 1 | 2): boolean;
  readStdin(): Promise<string>;
}

/** Wrong invocation: exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Ctrl-C at a prompt: exit code 130, so a cancelled script never looks successful. */
export class CancelledError extends Error {
  override readonly name = "CancelledError";
  constructor() {
    super("cancelled");
  }
}

/** Operational failure that is not a DomainError (e.g. the data directory is busy): exit code 1. */
export class OperationalError extends Error {
  override readonly name = "OperationalError";
}

export function processIo(): CliIO {
  return {
    env: process.env,
    stdinIsTTY: Boolean(process.stdin.isTTY),
    isTTY: (fd) => Boolean((fd === 1 ? process.stdout : process.stderr).isTTY),
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    readStdin: () => Bun.stdin.text(),
  };
}

/** Collects output in memory (control socket, tests). */
export function bufferedOutput(): Output & { lines: { stream: "stdout" | "stderr"; text: string }[] } {
  const lines: { stream: "stdout" | "stderr"; text: string }[] = [];
  return {
    lines,
    stdout: (text) => lines.push({ stream: "stdout", text }),
    stderr: (text) => lines.push({ stream: "stderr", text }),
  };
}
