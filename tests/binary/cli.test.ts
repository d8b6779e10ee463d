/**
 * SPEC §5 through the compiled binary: the exit codes runCli decides (0
 * success, 1 operational failure, 2 usage error) reach the process through
 * process.exit, with data on stdout and one plain stderr line per message.
 * What each command decides is driven in-process in tests/cli/ (usage,
 * create-admin, import, users, block, audit, export, hooks, events).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { linesOf, run, type RunResult } from "../support/binary.ts";

// The first test may build dist/usersvc (several seconds) before it spawns it.
setDefaultTimeout(60_000);

/** The result with stderr split into lines, for one toEqual over all three. */
function outcome(result: RunResult): { exitCode: number | null; stdout: string; stderr: string[] } {
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: linesOf(result.stderr) };
}

let scratch: string;
beforeAll(() => {
  // The cwd of every command that gets no database: a stray ./usersvc-data would show up here.
  scratch = mkdtempSync(join(tmpdir(), "usersvc-cli-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("exit codes of the process", () => {
  test("usersvc --help prints the usage on stdout and the process exits 0", async () => {
    const result = await run(["--help"], { cwd: scratch });
    expect({ exitCode: result.exitCode, signalCode: result.signalCode, stderr: result.stderr }).toEqual({ exitCode: 0, signalCode: null, stderr: "" });
    expect(result.stdout).toStartWith("Usage: usersvc [options] [command]\n");
  });

  test("an unknown command: the process exits 2 with one stderr line naming it", async () => {
    const result = await run(["frobnicate"], { cwd: scratch });
    expect(outcome(result)).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: [expect.stringMatching(/^usersvc: unknown command 'frobnicate'/)],
    });
  });

  test("init-db with an unreachable DATABASE_URL: the process exits 1 with one stderr line naming DATABASE_URL, and creates nothing", async () => {
    const result = await run(["init-db"], { cwd: scratch, env: { DATABASE_URL: "postgres://postgres@127.0.0.1:1/x" } });
    expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: [expect.stringMatching(/^usersvc: DATABASE_URL\b/)] });
    expect(readdirSync(scratch)).toEqual([]);
  });

  test("serve with PORT=abc: the process exits 2 at once, before it listens or creates anything", async () => {
    const result = await run(["serve"], { cwd: scratch, env: { PORT: "abc" } });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: [expect.stringMatching(/^usersvc: PORT .*"abc"/)] });
    expect(readdirSync(scratch)).toEqual([]);
  });
});
