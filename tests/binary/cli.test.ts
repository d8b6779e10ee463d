/**
 * SPEC §5 through the compiled binary: exit codes (0 success, 1 operational
 * failure, 2 usage error), one plain stderr line per message, data on stdout.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EMBEDDED_MIGRATIONS } from "../../src/core/db/migrate.ts";
import {
  callApi,
  createMigratedTestDatabase,
  linesOf,
  loginAndFetchMe,
  run,
  type RunResult,
  startServe,
} from "../support/binary.ts";
import type { TestDatabase } from "../support/database.ts";

const PASSWORD = "a long operator passphrase 7";
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

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

describe("usage", () => {
  test("usersvc --help prints the usage and the commands on stdout and exits 0", async () => {
    const result = await run(["--help"], { cwd: scratch });
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(result.stdout).toStartWith("Usage: usersvc [options] [command]\n");
    expect(result.stdout).toContain("Exit codes: 0 success, 1 operational failure, 2 usage error");
  });

  test("every command listed by usersvc --help answers --help on stdout with exit 0", async () => {
    const help = await run(["--help"], { cwd: scratch });
    const commandsSection = help.stdout.split("\nCommands:\n")[1]?.split("\n\n")[0] ?? "";
    const commands = [...commandsSection.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]!);
    expect(commands).toEqual(expect.arrayContaining(["serve", "init-db", "drop-db", "create-admin"]));

    const answers = await Promise.all(
      commands.map(async (command) => {
        const result = await run([command, "--help"], { cwd: scratch });
        const usage = command === "help" ? "Usage: usersvc" : `Usage: usersvc ${command}`;
        return { command, exitCode: result.exitCode, stderr: result.stderr, usage: result.stdout.startsWith(usage) };
      }),
    );
    expect(answers).toEqual(commands.map((command) => ({ command, exitCode: 0, stderr: "", usage: true })));
    expect(readdirSync(scratch)).toEqual([]);
  });

  test("no option's help names its default twice (its own text and commander's)", async () => {
    const commands = [["events", "list"], ["users", "list"], ["hash", "calibrate"], ["keys", "rotate"], ["hooks", "test"], ["block"], ["export"], ["import"]];
    const doubled = await Promise.all(
      commands.map(async (command) => {
        const result = await run([...command, "--help"], { cwd: scratch });
        return result.stdout.split("\n").filter((line) => /\(default [^)]*\).*\(default: /.test(line));
      }),
    );
    expect(doubled.flat()).toEqual([]);
  });

  test("hash calibrate --json prints snake_case keys, like every other --json", async () => {
    const result = await run(["hash", "calibrate", "--json", "--target-ms", "30", "--memory-kib", "8192"], { cwd: scratch });
    expect(result.exitCode).toBe(0);
    expect(Object.keys(JSON.parse(result.stdout)).sort()).toEqual(["measured_ms", "memory_kib", "time_cost"]);
  });

  test("usersvc with no command prints the usage on stderr and exits 2", async () => {
    const result = await run([], { cwd: scratch });
    expect({ exitCode: result.exitCode, stdout: result.stdout }).toEqual({ exitCode: 2, stdout: "" });
    expect(result.stderr).toStartWith("Usage: usersvc [options] [command]\n");
  });

  test("an unknown command exits 2 with one stderr line naming it", async () => {
    const result = await run(["frobnicate"], { cwd: scratch });
    expect(outcome(result)).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: [expect.stringMatching(/^usersvc: unknown command 'frobnicate'/)],
    });
  });

  test("an unknown option exits 2 with one stderr line naming it, for the program and for a command", async () => {
    const [top, serve] = await Promise.all([run(["--frobnicate"], { cwd: scratch }), run(["serve", "--frobnicate"], { cwd: scratch })]);
    const expected = { exitCode: 2, stdout: "", stderr: [expect.stringMatching(/^usersvc: unknown option '--frobnicate'/)] };
    expect(outcome(top)).toEqual(expected);
    expect(outcome(serve)).toEqual(expected);
    expect(readdirSync(scratch)).toEqual([]);
  });

  test("--version prints the version alone on stdout and exits 0", async () => {
    const result = await run(["--version"], { cwd: scratch });
    expect(outcome(result)).toEqual({ exitCode: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\S*\n$/), stderr: [] });
  });
});

describe("bad configuration", () => {
  const PORT_LINE = expect.stringMatching(/^usersvc: PORT .*"abc"/);
  const SECRET_LINE = expect.stringMatching(/^usersvc: USERSVC_JWT_SECRET .*32 bytes/);

  test("serve with PORT=abc exits 2 at once with one stderr line naming PORT and creates nothing", async () => {
    const result = await run(["serve"], { cwd: scratch, env: { PORT: "abc" } });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: [PORT_LINE] });
    expect(readdirSync(scratch)).toEqual([]);
  });

  test("serve with a USERSVC_JWT_SECRET under 32 bytes exits 2 with one stderr line naming it", async () => {
    const result = await run(["serve"], { cwd: scratch, env: { USERSVC_JWT_SECRET: "x".repeat(31) } });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: [SECRET_LINE] });
  });

  test("serve with both settings bad exits 2 with one stderr line for each", async () => {
    const result = await run(["serve"], { cwd: scratch, env: { PORT: "abc", USERSVC_JWT_SECRET: "short" } });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: expect.arrayContaining([PORT_LINE, SECRET_LINE]) });
    expect(linesOf(result.stderr)).toHaveLength(2);
  });

  test.each([["serve"], ["init-db"]])("%s with an unreachable DATABASE_URL exits 1 with one stderr line naming DATABASE_URL", async (command) => {
    const result = await run([command], { cwd: scratch, env: { DATABASE_URL: "postgres://postgres@127.0.0.1:1/x" } });
    expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: [expect.stringMatching(/^usersvc: DATABASE_URL\b/)] });
    expect(readdirSync(scratch)).toEqual([]);
  });
});

describe("create-admin without a terminal", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
  });
  afterAll(() => database.drop());

  test.each([
    ["--email", [], "devnull"],
    ["--username", ["--email", "nouser@example.com"], "closed"],
    ["--password-stdin", ["--email", "nopass@example.com", "--username", "nopass"], "devnull"],
  ] as const)("a missing %s exits 2 naming it instead of prompting", async (flag, args, stdin) => {
    const result = await run(["create-admin", ...args], { env: database.env, stdin });
    expect(outcome(result)).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: [expect.stringMatching(new RegExp(`^usersvc: missing .*${flag}.*no terminal`))],
    });
  });

  test("--password-stdin with nothing piped in exits 2", async () => {
    const result = await run(["create-admin", "--email", "empty@example.com", "--username", "empty", "--password-stdin"], {
      env: database.env,
      stdin: "closed",
    });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: [expect.stringMatching(/^usersvc: --password-stdin\b/)] });
  });

  test("create-admin --json prints the new admin as one user object on stdout", async () => {
    const result = await run(["create-admin", "--email", "Json@Example.com", "--username", "jsonadmin", "--password-stdin", "--json"], {
      env: database.env,
      stdin: PASSWORD,
    });
    expect(outcome(result)).toEqual({ exitCode: 0, stdout: expect.stringMatching(/^\{.*\}\n$/), stderr: [] });
    expect(JSON.parse(result.stdout)).toEqual({
      id: expect.stringMatching(UUID),
      email: "json@example.com",
      username: "jsonadmin",
      roles: expect.arrayContaining(["admin"]),
      is_admin: true,
      is_active: true,
      is_verified: true,
      status: "active",
      blocked_reason: null,
      blocked_until: null,
      metadata: {},
      app_metadata: {},
      balance: 0,
      created_at: expect.any(String),
      updated_at: expect.any(String),
      last_login_at: null,
      deleted_at: null,
    });
  });

  test("a second admin with an email already taken (in other case) exits 1 with EMAIL_TAKEN", async () => {
    const first = await run(["create-admin", "--email", "taken@example.com", "--username", "taken1", "--password-stdin"], {
      env: database.env,
      stdin: PASSWORD,
    });
    expect(first.exitCode).toBe(0);
    const second = await run(["create-admin", "--email", "TAKEN@example.com", "--username", "taken2", "--password-stdin"], {
      env: database.env,
      stdin: PASSWORD,
    });
    expect(outcome(second)).toEqual({ exitCode: 1, stdout: "", stderr: [expect.stringMatching(/^usersvc: EMAIL_TAKEN\b/)] });
  });

  test("create-admin --promote of an unknown user exits 1 naming the user", async () => {
    const result = await run(["create-admin", "--promote", "--email", "nobody@example.com"], { env: database.env });
    expect(outcome(result)).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: [expect.stringMatching(/^usersvc: USER_NOT_FOUND\b.*nobody@example\.com/)],
    });
  });

  test("create-admin --promote makes an existing user an admin, as a fresh login shows", async () => {
    const alice = { email: "alice@example.com", username: "alice", password: PASSWORD };
    const credentials = { email: alice.email, password: alice.password };
    await using before = await startServe({ env: database.env });
    expect((await callApi(before.url, "POST", "/api/v1/users", { body: alice })).status).toBe(201);
    const asUser = await loginAndFetchMe(before.url, credentials);
    expect({ roles: asUser.me.body.data.roles, is_admin: asUser.me.body.data.is_admin }).toEqual({ roles: ["user"], is_admin: false });
    expect((await before.stop()).exitCode).toBe(0);

    const promoted = await run(["create-admin", "--promote", "--email", "Alice@Example.com"], { env: database.env });
    expect(outcome({ ...promoted, stdout: promoted.stdout.replace(UUID, "<id>") })).toEqual({
      exitCode: 0,
      stdout: "Promoted admin alice <alice@example.com> <id>\n",
      stderr: [],
    });

    await using after = await startServe({ env: database.env });
    const asAdmin = await loginAndFetchMe(after.url, credentials);
    expect(asAdmin.me.status).toBe(200);
    expect({ roles: [...asAdmin.me.body.data.roles].sort(), is_admin: asAdmin.me.body.data.is_admin }).toEqual({
      roles: ["admin", "user"],
      is_admin: true,
    });
  });
});

describe("drop-db", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    const created = await run(["create-admin", "--email", "keep@example.com", "--username", "keep", "--password-stdin"], {
      env: database.env,
      stdin: PASSWORD,
    });
    if (created.exitCode !== 0) throw new Error(`create-admin failed: ${created.stderr}`);
  });
  afterAll(() => database.drop());

  test("drop-db without a terminal and without --yes exits 2 and drops nothing", async () => {
    const result = await run(["drop-db"], { env: database.env, stdin: "closed" });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: [expect.stringMatching(/^usersvc: .*--yes/)] });
    const again = await run(["create-admin", "--email", "keep@example.com", "--username", "keep2", "--password-stdin"], {
      env: database.env,
      stdin: PASSWORD,
    });
    expect(outcome(again)).toEqual({ exitCode: 1, stdout: "", stderr: [expect.stringMatching(/^usersvc: EMAIL_TAKEN\b/)] });
  });

  test("drop-db --yes drops every table, so commands ask for init-db until it applies the migrations again", async () => {
    const dropped = await run(["drop-db", "--yes"], { env: database.env });
    expect(outcome(dropped)).toEqual({ exitCode: 0, stdout: "", stderr: [expect.stringMatching(/^Dropped /)] });

    const beforeInit = await run(["create-admin", "--email", "keep@example.com", "--username", "keep", "--password-stdin"], {
      env: database.env,
      stdin: PASSWORD,
    });
    expect(outcome(beforeInit)).toEqual({ exitCode: 1, stdout: "", stderr: [expect.stringMatching(/^usersvc: .*init-db/)] });

    const init = await run(["init-db"], { env: database.env });
    expect(outcome(init)).toEqual({
      exitCode: 0,
      stdout: "",
      stderr: EMBEDDED_MIGRATIONS.map((m) => `Applied migration ${m.tag}`),
    });

    // The admin created before the drop is gone: the same email is free again.
    const recreated = await run(["create-admin", "--email", "keep@example.com", "--username", "keep", "--password-stdin"], {
      env: database.env,
      stdin: PASSWORD,
    });
    expect(outcome({ ...recreated, stdout: recreated.stdout.replace(UUID, "<id>") })).toEqual({
      exitCode: 0,
      stdout: "Created admin keep <keep@example.com> <id>\n",
      stderr: [],
    });
  });
});
