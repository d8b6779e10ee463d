/**
 * SPEC §5, in-process (tests/support/cli.ts): --help and --version, usage
 * errors (exit 2, one plain stderr line), bad configuration (exit 2 before
 * anything is opened or created, exit 1 for a database that does not
 * answer). The commands run with this file's scratch directory as the
 * working directory, so a stray ./usersvc-data would show up there. That
 * these exit codes reach the process is tests/binary/cli.test.ts's.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cliText } from "../support/cli.ts";
import { linesOf, outcome } from "../support/operator.ts";

let scratch: string;
let cwd: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "usersvc-cli-usage-"));
  cwd = process.cwd();
  process.chdir(scratch);
});
afterAll(() => {
  process.chdir(cwd);
  rmSync(scratch, { recursive: true, force: true });
});

describe("usage", () => {
  test("usersvc --help prints the usage and the commands on stdout and exits 0", async () => {
    const result = await cliText(["--help"]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(result.stdout).toStartWith("Usage: usersvc [options] [command]\n");
    expect(result.stdout).toContain("Exit codes: 0 success, 1 operational failure, 2 usage error");
  });

  test("every command listed by usersvc --help answers --help on stdout with exit 0", async () => {
    const help = await cliText(["--help"]);
    const commandsSection = help.stdout.split("\nCommands:\n")[1]?.split("\n\n")[0] ?? "";
    const commands = [...commandsSection.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]!);
    expect(commands).toEqual(expect.arrayContaining(["serve", "init-db", "drop-db", "create-admin"]));

    const answers = [];
    for (const command of commands) {
      const result = await cliText([command, "--help"]);
      const usage = command === "help" ? "Usage: usersvc" : `Usage: usersvc ${command}`;
      answers.push({ command, exitCode: result.exitCode, stderr: result.stderr, usage: result.stdout.startsWith(usage) });
    }
    expect(answers).toEqual(commands.map((command) => ({ command, exitCode: 0, stderr: "", usage: true })));
    expect(readdirSync(scratch)).toEqual([]);
  });

  test("no option's help names its default twice (its own text and commander's)", async () => {
    const commands = [["events", "list"], ["users", "list"], ["hash", "calibrate"], ["keys", "rotate"], ["hooks", "test"], ["block"], ["export"], ["import"]];
    const doubled = [];
    for (const command of commands) {
      const result = await cliText([...command, "--help"]);
      doubled.push(result.stdout.split("\n").filter((line) => /\(default [^)]*\).*\(default: /.test(line)));
    }
    expect(doubled.flat()).toEqual([]);
  });

  test("hash calibrate --json prints snake_case keys, like every other --json", async () => {
    const result = await cliText(["hash", "calibrate", "--json", "--target-ms", "30", "--memory-kib", "8192"]);
    expect(result.exitCode).toBe(0);
    expect(Object.keys(JSON.parse(result.stdout)).sort()).toEqual(["measured_ms", "memory_kib", "time_cost"]);
  });

  test("usersvc with no command prints the usage on stderr and exits 2", async () => {
    const result = await cliText([]);
    expect({ exitCode: result.exitCode, stdout: result.stdout }).toEqual({ exitCode: 2, stdout: "" });
    expect(result.stderr).toStartWith("Usage: usersvc [options] [command]\n");
  });

  test("an unknown command exits 2 with one stderr line naming it", async () => {
    const result = await cliText(["frobnicate"]);
    expect(outcome(result)).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: [expect.stringMatching(/^usersvc: unknown command 'frobnicate'/)],
    });
  });

  test("an unknown option exits 2 with one stderr line naming it, for the program and for a command", async () => {
    const top = await cliText(["--frobnicate"]);
    const serve = await cliText(["serve", "--frobnicate"]);
    const expected = { exitCode: 2, stdout: "", stderr: [expect.stringMatching(/^usersvc: unknown option '--frobnicate'/)] };
    expect(outcome(top)).toEqual(expected);
    expect(outcome(serve)).toEqual(expected);
    expect(readdirSync(scratch)).toEqual([]);
  });

  test("--version prints the version alone on stdout and exits 0", async () => {
    const result = await cliText(["--version"]);
    expect(outcome(result)).toEqual({ exitCode: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\S*\n$/), stderr: [] });
  });
});

describe("bad configuration", () => {
  const PORT_LINE = expect.stringMatching(/^usersvc: PORT .*"abc"/);
  const SECRET_LINE = expect.stringMatching(/^usersvc: USERSVC_JWT_SECRET .*32 bytes/);

  test("serve with PORT=abc exits 2 at once with one stderr line naming PORT and creates nothing", async () => {
    const result = await cliText(["serve"], { env: { PORT: "abc" } });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: [PORT_LINE] });
    expect(readdirSync(scratch)).toEqual([]);
  });

  test("serve with a USERSVC_JWT_SECRET under 32 bytes exits 2 with one stderr line naming it", async () => {
    const result = await cliText(["serve"], { env: { USERSVC_JWT_SECRET: "x".repeat(31) } });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: [SECRET_LINE] });
  });

  test("serve with both settings bad exits 2 with one stderr line for each", async () => {
    const result = await cliText(["serve"], { env: { PORT: "abc", USERSVC_JWT_SECRET: "short" } });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: expect.arrayContaining([PORT_LINE, SECRET_LINE]) });
    expect(linesOf(result.stderr)).toHaveLength(2);
  });

  test.each([["serve"], ["init-db"]])("%s with an unreachable DATABASE_URL exits 1 with one stderr line naming DATABASE_URL", async (command) => {
    const result = await cliText([command], { env: { DATABASE_URL: "postgres://postgres@127.0.0.1:1/x" } });
    expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: [expect.stringMatching(/^usersvc: DATABASE_URL\b/)] });
    expect(readdirSync(scratch)).toEqual([]);
  });
});
