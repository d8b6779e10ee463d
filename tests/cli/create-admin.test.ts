/**
 * create-admin without a terminal, and drop-db / init-db, in-process
 * (tests/support/cli.ts): missing flags exit 2 instead of prompting, --json,
 * EMAIL_TAKEN, --promote (as a fresh login over HTTP then shows, through an
 * in-process server), drop-db's --yes. The prompts on a real terminal are
 * tests/binary/tty.test.ts's.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { EMBEDDED_MIGRATIONS } from "../../src/core/db/migrate.ts";
import { callApi, createMigratedTestDatabase, loginAndFetchMe } from "../support/binary.ts";
import { cliText } from "../support/cli.ts";
import type { TestDatabase } from "../support/database.ts";
import { outcome, UUID } from "../support/operator.ts";
import { withServerOn } from "../support/server.ts";

// Each command opens the database (~0.5 s on the embedded one) and create-admin hashes a password.
setDefaultTimeout(30_000);

const PASSWORD = "a long operator passphrase 7";

describe("create-admin without a terminal", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
  });
  afterAll(() => database.drop());

  // The binary tests piped /dev/null or a closed pipe: in-process, both are an empty standard input.
  test.each([
    ["--email", [], "devnull"],
    ["--username", ["--email", "nouser@example.com"], "closed"],
    ["--password-stdin", ["--email", "nopass@example.com", "--username", "nopass"], "devnull"],
  ] as const)("a missing %s exits 2 naming it instead of prompting", async (flag, args) => {
    const result = await cliText(["create-admin", ...args], { env: database.env, stdin: "" });
    expect(outcome(result)).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: [expect.stringMatching(new RegExp(`^usersvc: missing .*${flag}.*no terminal`))],
    });
  });

  test("--password-stdin with nothing piped in exits 2", async () => {
    const result = await cliText(["create-admin", "--email", "empty@example.com", "--username", "empty", "--password-stdin"], {
      env: database.env,
      stdin: "",
    });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: [expect.stringMatching(/^usersvc: --password-stdin\b/)] });
  });

  test("create-admin --json prints the new admin as one user object on stdout", async () => {
    const result = await cliText(["create-admin", "--email", "Json@Example.com", "--username", "jsonadmin", "--password-stdin", "--json"], {
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
    const first = await cliText(["create-admin", "--email", "taken@example.com", "--username", "taken1", "--password-stdin"], {
      env: database.env,
      stdin: PASSWORD,
    });
    expect(first.exitCode).toBe(0);
    const second = await cliText(["create-admin", "--email", "TAKEN@example.com", "--username", "taken2", "--password-stdin"], {
      env: database.env,
      stdin: PASSWORD,
    });
    expect(outcome(second)).toEqual({ exitCode: 1, stdout: "", stderr: [expect.stringMatching(/^usersvc: EMAIL_TAKEN\b/)] });
  });

  test("create-admin --promote of an unknown user exits 1 naming the user", async () => {
    const result = await cliText(["create-admin", "--promote", "--email", "nobody@example.com"], { env: database.env });
    expect(outcome(result)).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: [expect.stringMatching(/^usersvc: USER_NOT_FOUND\b.*nobody@example\.com/)],
    });
  });

  test("create-admin --promote makes an existing user an admin, as a fresh login shows", async () => {
    const alice = { email: "alice@example.com", username: "alice", password: PASSWORD };
    const credentials = { email: alice.email, password: alice.password };
    await withServerOn(database.env, async (url) => {
      expect((await callApi(url, "POST", "/api/v1/users", { body: alice })).status).toBe(201);
      const asUser = await loginAndFetchMe(url, credentials);
      expect({ roles: asUser.me.body.data.roles, is_admin: asUser.me.body.data.is_admin }).toEqual({ roles: ["user"], is_admin: false });
    });

    const promoted = await cliText(["create-admin", "--promote", "--email", "Alice@Example.com"], { env: database.env });
    expect(outcome({ ...promoted, stdout: promoted.stdout.replace(UUID, "<id>") })).toEqual({
      exitCode: 0,
      stdout: "Promoted admin alice <alice@example.com> <id>\n",
      stderr: [],
    });

    await withServerOn(database.env, async (url) => {
      const asAdmin = await loginAndFetchMe(url, credentials);
      expect(asAdmin.me.status).toBe(200);
      expect({ roles: [...asAdmin.me.body.data.roles].sort(), is_admin: asAdmin.me.body.data.is_admin }).toEqual({
        roles: ["admin", "user"],
        is_admin: true,
      });
    });
  });
});

describe("drop-db", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    const created = await cliText(["create-admin", "--email", "keep@example.com", "--username", "keep", "--password-stdin"], {
      env: database.env,
      stdin: PASSWORD,
    });
    if (created.exitCode !== 0) throw new Error(`create-admin failed: ${created.stderr}`);
  });
  afterAll(() => database.drop());

  test("drop-db without a terminal and without --yes exits 2 and drops nothing", async () => {
    const result = await cliText(["drop-db"], { env: database.env, stdin: "" });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: [expect.stringMatching(/^usersvc: .*--yes/)] });
    const again = await cliText(["create-admin", "--email", "keep@example.com", "--username", "keep2", "--password-stdin"], {
      env: database.env,
      stdin: PASSWORD,
    });
    expect(outcome(again)).toEqual({ exitCode: 1, stdout: "", stderr: [expect.stringMatching(/^usersvc: EMAIL_TAKEN\b/)] });
  });

  test("drop-db --yes drops every table, so commands ask for init-db until it applies the migrations again", async () => {
    const dropped = await cliText(["drop-db", "--yes"], { env: database.env });
    expect(outcome(dropped)).toEqual({ exitCode: 0, stdout: "", stderr: [expect.stringMatching(/^Dropped /)] });

    const beforeInit = await cliText(["create-admin", "--email", "keep@example.com", "--username", "keep", "--password-stdin"], {
      env: database.env,
      stdin: PASSWORD,
    });
    expect(outcome(beforeInit)).toEqual({ exitCode: 1, stdout: "", stderr: [expect.stringMatching(/^usersvc: .*init-db/)] });

    const init = await cliText(["init-db"], { env: database.env });
    expect(outcome(init)).toEqual({
      exitCode: 0,
      stdout: "",
      stderr: EMBEDDED_MIGRATIONS.map((m) => `Applied migration ${m.tag}`),
    });

    // The admin created before the drop is gone: the same email is free again.
    const recreated = await cliText(["create-admin", "--email", "keep@example.com", "--username", "keep", "--password-stdin"], {
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
