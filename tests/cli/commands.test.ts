/**
 * The operator CLI driven in-process (tests/support/cli.ts): usage errors,
 * exit codes (SPEC §5: 0, 1 operational, 2 usage), --json output, and the
 * commands' effect on a real database.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createMigratedTestDatabase } from "../support/binary.ts";
import { cli } from "../support/cli.ts";
import type { TestDatabase } from "../support/database.ts";

let database: TestDatabase;
beforeAll(async () => {
  database = await createMigratedTestDatabase();
});
afterAll(() => database.drop());

// Each command opens the database: ~0.5 s on the embedded one, and a test here runs up to four.
setDefaultTimeout(30_000);

const PASSWORD = "In-Process-Pass-42";

async function createAdmin(name: string) {
  const result = await cli(["create-admin", "--email", `${name}@example.com`, "--username", name, "--password-stdin", "--json"], {
    env: database.env,
    stdin: `${PASSWORD}\n`,
  });
  expect(result.exitCode).toBe(0);
  return JSON.parse(result.stdout[0]!);
}

describe("usage", () => {
  test("--help lists every command on stdout and exits 0", async () => {
    const result = await cli(["--help"]);
    expect(result.exitCode).toBe(0);
    const help = result.stdout.join("\n");
    for (const command of ["serve", "init-db", "drop-db", "create-admin", "block", "unblock", "users", "mfa", "export", "import", "audit", "keys", "hash", "hooks", "events"]) {
      expect(help).toContain(`  ${command}`);
    }
  });

  test("an unknown command and an unknown option exit 2 with one stderr line", async () => {
    for (const argv of [["frobnicate"], ["block", "--frobnicate", "x"]]) {
      const result = await cli(argv);
      expect([result.exitCode, result.stdout, result.stderr.length]).toEqual([2, [], 1]);
      expect(result.stderr[0]).toStartWith("usersvc: unknown");
    }
  });

  test("a bad setting exits 2 naming it, before any database is opened", async () => {
    const result = await cli(["users", "list"], { env: { ...database.env, USERSVC_LOGIN_MAX_ATTEMPTS: "many" } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toEqual([expect.stringMatching(/^usersvc: USERSVC_LOGIN_MAX_ATTEMPTS\b/)]);
  });
});

describe("against a database", () => {
  test("create-admin --json prints one user object with the admin role", async () => {
    const admin = await createAdmin("inproc_admin");
    expect(admin).toEqual(expect.objectContaining({ email: "inproc_admin@example.com", roles: ["user", "admin"], is_admin: true }));
    expect(admin).not.toHaveProperty("password_hash");
  });

  test("block and unblock a user by username, by email and by id, as users show reports it", async () => {
    const admin = await createAdmin("inproc_block");
    const blocked = await cli(["block", "inproc_block", "--reason", "tests", "--json"], { env: database.env });
    expect(blocked.exitCode).toBe(0);
    expect(JSON.parse(blocked.stdout[0]!)).toEqual(expect.objectContaining({ id: admin.id, status: "blocked", blocked_reason: "tests" }));
    const shown = await cli(["users", "show", "inproc_block@example.com", "--json"], { env: database.env });
    expect(JSON.parse(shown.stdout[0]!).status).toBe("blocked");
    const unblocked = await cli(["unblock", admin.id, "--json"], { env: database.env });
    expect([unblocked.exitCode, JSON.parse(unblocked.stdout[0]!).status]).toEqual([0, "active"]);
  });

  test("an unknown user exits 1 with USER_NOT_FOUND on stderr and nothing on stdout", async () => {
    const result = await cli(["block", "nobody-at-all"], { env: database.env });
    expect(result).toEqual({ exitCode: 1, stdout: [], stderr: [expect.stringMatching(/^usersvc: USER_NOT_FOUND\b/)] });
  });

  test("users update --app-metadata that is not an object exits 2 and changes nothing", async () => {
    await createAdmin("inproc_meta");
    const refused = await cli(["users", "update", "inproc_meta", "--app-metadata", "[1,2]"], { env: database.env });
    expect(refused.exitCode).toBe(2);
    const shown = await cli(["users", "show", "inproc_meta", "--json"], { env: database.env });
    expect(JSON.parse(shown.stdout[0]!).app_metadata).toEqual({});
  });

  test("keys rotate --revoke-previous without a terminal needs --yes: exit 2 before it opens the database", async () => {
    const result = await cli(["keys", "rotate", "--revoke-previous"], { env: database.env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toEqual([expect.stringContaining("needs --yes")]);
  });

  test("audit verify reports an intact chain after the commands above", async () => {
    const result = await cli(["audit", "verify", "--json"], { env: database.env });
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout[0]!)).toEqual(expect.objectContaining({ ok: true }));
  });
});

describe("an internal error on stderr", () => {
  test("a database error names its SQL state, never the statement's parameters (an imported password hash)", async () => {
    const hash = await Bun.password.hash("an imported password 42", { algorithm: "argon2id", memoryCost: 19456, timeCost: 2 });
    // PostgreSQL cannot store a NUL in text: the insert fails in the database itself.
    const line = JSON.stringify({ email: "nul_reason@example.com", username: "nul_reason", password_hash: hash, status: "blocked", blocked_reason: "a\u0000b" });
    const result = await cli(["import", "-"], { env: database.env, stdin: `${line}\n` });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toEqual([expect.stringMatching(/^usersvc: internal error: .*database error \w{5} \(statement, parameters and server message withheld\)/)]);
    const printed = result.stderr.join("\n");
    expect(printed).not.toContain(hash.split("$").pop()!);
    expect(printed).not.toContain("nul_reason@example.com");
  });
});

describe("the registry (cli/commands/index.ts)", () => {
  test("every database command has a name of its own, and the control socket knows each one", async () => {
    const { COMMANDS, CORE_COMMANDS } = await import("../../src/cli/commands/index.ts");
    const runs = COMMANDS.flatMap((command) => command.runs ?? []);
    expect(CORE_COMMANDS.size).toBe(runs.length);
    for (const name of ["init-db", "drop-db", "create-admin", "block", "unblock", "users list", "users show", "users update", "mfa reset", "export", "import", "audit verify", "keys rotate", "events list", "events retry"]) {
      expect(CORE_COMMANDS.has(name)).toBe(true);
    }
  });
});
