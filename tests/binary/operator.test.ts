/**
 * SPEC §5 operator commands through the compiled binary, for what only a
 * real process beside a running `serve` proves, on whichever database the
 * suite runs on: users imported with hashes made by other systems (bcryptjs,
 * node-argon2) logging in over HTTP; commands started at the same time
 * (the data directory lock between processes); a block honoured by the
 * running server at once; a tampered audit chain reported through the
 * control socket; the same commands while `serve` runs (SPEC §2: through
 * its control socket on the embedded database); and the operator
 * walkthrough of the README, end to end, printed as a transcript.
 *
 * What the commands print and do to the database, driven in-process, is in
 * tests/cli/ (import, users, block, audit, export).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import postgres from "postgres";
import { auditLog } from "../../src/core/db/schema.ts";
import {
  callApi,
  createMigratedTestDatabase,
  loginAndFetchMe,
  run,
  type RunOptions,
  type RunResult,
  type ServeProcess,
  startServe,
} from "../support/binary.ts";
import { SERVER_URL, type TestDatabase } from "../support/database.ts";
import {
  type ForeignUser,
  foreignUsers,
  ISO_TIME,
  type ImportRecord,
  jsonLines,
  linesOf,
  masked,
  outcome,
  USERSVC_HASH_PREFIX,
  UUID,
  withDatabase,
} from "../support/operator.ts";

// Each test here spawns binaries and starts serve; on the embedded database several run a dozen
// binaries one after another (~1 s each), far past bun's 5 s default.
setDefaultTimeout(120_000);

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "usersvc-operator-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Writes a file of lines into this file's scratch directory and returns its path. */
function writeLines(name: string, lines: string[]): string {
  const path = join(scratch, name);
  writeFileSync(path, lines.map((line) => `${line}\n`).join(""));
  return path;
}

/** A command that must succeed, with its stdout parsed as one JSON value. */
async function runJson(args: string[], options: RunOptions): Promise<any> {
  const result = await run(args, options);
  if (result.exitCode !== 0) throw new Error(`usersvc ${args.join(" ")} exited ${result.exitCode}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

function usersPage(env: Record<string, string>, args: string[] = []): Promise<any> {
  return runJson(["users", "list", "--json", ...args], { env });
}

async function exportedUsers(env: Record<string, string>): Promise<any[]> {
  const result = await run(["export"], { env });
  if (result.exitCode !== 0) throw new Error(`usersvc export exited ${result.exitCode}: ${result.stderr}`);
  return linesOf(result.stdout).map((line) => JSON.parse(line));
}

/** Names of the commands the server's log says it carried out for other processes. */
function controlCommands(serve: ServeProcess): unknown[] {
  return serve.logs().filter((l) => l.msg === "control socket command").map((l) => l.command);
}

/** A copy of the test database as it is now (nothing may have it open on PostgreSQL). */
async function copyDatabase(database: TestDatabase): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), "usersvc-copy-"));
  if (database.kind === "pglite") {
    cpSync(database.env.USERSVC_DATA_DIR, dataDir, { recursive: true, filter: (src) => !/usersvc\.(lock|sock)$/.test(src) });
    return { env: { USERSVC_DATA_DIR: dataDir }, kind: "pglite", drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const source = new URL(database.env.DATABASE_URL!);
  const sourceName = source.pathname.slice(1);
  const name = `${sourceName}_copy`;
  const admin = postgres(SERVER_URL!, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name} template ${sourceName}`);
  } finally {
    await admin.end();
  }
  const url = new URL(source);
  url.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: url.toString(), USERSVC_DATA_DIR: dataDir },
    kind: "postgres",
    async drop() {
      const sqlClient = postgres(SERVER_URL!, { max: 1, onnotice: () => {} });
      await sqlClient.unsafe(`drop database if exists ${name} with (force)`);
      await sqlClient.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A fresh database with the fixture's foreign users (and `extra` records) imported by the binary. */
async function databaseWithForeignUsers(extra: ImportRecord[] = []): Promise<TestDatabase> {
  const database = await createMigratedTestDatabase();
  const records = [...(await foreignUsers()).map((u) => u.record), ...extra];
  const result = await run(["import", writeLines(`seed-${crypto.randomUUID()}.jsonl`, jsonLines(records))], { env: database.env });
  if (result.exitCode !== 0) throw new Error(`seeding import failed (exit ${result.exitCode}): ${result.stdout}${result.stderr}`);
  return database;
}

const WEEK_MS = 7 * 86_400_000;

describe("users imported with hashes made by other systems, logging in over HTTP through serve", () => {
  let database: TestDatabase;
  let users: ForeignUser[];
  beforeAll(async () => {
    users = await foreignUsers();
    database = await databaseWithForeignUsers();
  });
  afterAll(() => database.drop());

  test("every imported user logs in over HTTP with its original password, and that first login stores usersvc's argon2id hash", async () => {
    await using serve = await startServe({ env: database.env });
    const [ada, , , ivo] = users;
    const wrong = await Promise.all(
      [ada!, ivo!].map((u) => callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: u.record.email, password: `${u.password}!` } })),
    );
    expect(wrong.map((r) => [r.status, r.body.error?.code])).toEqual([
      [401, "INVALID_CREDENTIALS"],
      [401, "INVALID_CREDENTIALS"],
    ]);

    for (const user of users) {
      const { login, me } = await loginAndFetchMe(serve.url, { email: user.record.email, password: user.password });
      expect({ scheme: user.scheme, login: login.status, me: me.status, email: me.body?.data?.email }).toEqual({
        scheme: user.scheme,
        login: 200,
        me: 200,
        email: user.record.email.toLowerCase(),
      });
    }

    // Read while serve runs: on the embedded database this export goes through the control socket.
    const after = await exportedUsers(database.env);
    const rehashed = after.map((u) => ({
      email: u.email,
      rehashed: u.password_hash.startsWith(USERSVC_HASH_PREFIX),
      logged_in: u.last_login_at !== null,
    }));
    expect(rehashed).toEqual(expect.arrayContaining(users.map((u) => ({ email: u.record.email.toLowerCase(), rehashed: true, logged_in: true }))));
    expect(after).toHaveLength(users.length);

    // The new hash verifies the same password.
    for (const user of users) {
      const again = await callApi(serve.url, "POST", "/api/v1/auth/login", { body: { username: user.record.username, password: user.password } });
      expect({ scheme: user.scheme, status: again.status }).toEqual({ scheme: user.scheme, status: 200 });
    }
    expect((await serve.stop()).exitCode).toBe(0);
  });

  test("commands started at the same time all succeed (on the embedded database each waits for the data directory)", async () => {
    const refs = ["ada_2a", "bert_2b", "ida.argon", "ivo-argon2i"];
    const results = await Promise.all(refs.map((ref) => run(["users", "show", ref, "--json"], { env: database.env })));
    expect(
      results.map((r) => ({ exitCode: r.exitCode, stderr: r.stderr, username: r.exitCode === 0 ? JSON.parse(r.stdout).username : null })),
    ).toEqual(refs.map((username) => ({ exitCode: 0, stderr: "", username })));
  });
});

describe("block and unblock beside a running serve", () => {
  let database: TestDatabase;
  let serve: ServeProcess;
  let users: ForeignUser[];
  beforeAll(async () => {
    users = await foreignUsers();
    database = await databaseWithForeignUsers();
    serve = await startServe({ env: database.env });
  });
  afterAll(async () => {
    await serve?.[Symbol.asyncDispose]();
    await database?.drop();
  });

  /** ada by id, bert by email, ivo by username. */
  const TARGETS = [
    ["id", 0],
    ["email", 1],
    ["username", 3],
  ] as const;

  async function reference(kind: "id" | "email" | "username", user: ForeignUser): Promise<string> {
    if (kind === "email") return user.record.email;
    if (kind === "username") return user.record.username;
    return (await runJson(["users", "show", user.record.username, "--json"], { env: database.env })).id;
  }

  test.each(TARGETS)(
    "block <%s> --reason spam --until 7d refuses the user's access token (at once through serve, within 1 s beside it)",
    async (kind, index) => {
      const user = users[index]!;
      const { login, me } = await loginAndFetchMe(serve.url, { email: user.record.email, password: user.password });
      expect(me.status).toBe(200);
      const token = login.body.data.access_token as string;

      const before = Date.now();
      const result = await run(["block", await reference(kind, user), "--reason", "spam", "--until", "7d", "--json"], { env: database.env });
      const after = Date.now();
      expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
      const blocked = JSON.parse(result.stdout);
      expect(blocked).toEqual(expect.objectContaining({ email: user.record.email.toLowerCase(), status: "blocked", blocked_until: expect.stringMatching(ISO_TIME) }));
      // The week is counted by the process that carried the block out (serve, on the embedded database).
      expect(Date.parse(blocked.blocked_until)).toBeGreaterThanOrEqual(before + WEEK_MS);
      expect(Date.parse(blocked.blocked_until)).toBeLessThanOrEqual(after + WEEK_MS);

      // On the embedded database the CLI works inside serve (control socket): refused at once. On
      // PostgreSQL it is another process beside serve, which honours the change within 1 s (SPEC §4).
      if (database.kind === "postgres") await Bun.sleep(1_000);
      const refused = await callApi(serve.url, "GET", "/api/v1/users/me", { token });
      expect({ status: refused.status, code: refused.body.error?.code }).toEqual({ status: 401, code: "SESSION_REVOKED" });
      const relogin = await callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: user.record.email, password: user.password } });
      expect({ status: relogin.status, code: relogin.body.error?.code }).toEqual({ status: 403, code: "ACCOUNT_BLOCKED" });
    },
  );

  test("unblock lifts the block, and the user logs in again", async () => {
    const ivo = users[3]!;
    const result = await run(["unblock", ivo.record.email.toUpperCase()], { env: database.env });
    expect(outcome({ ...result, stdout: result.stdout.replace(UUID, "<id>") })).toEqual({
      exitCode: 0,
      stdout: "Unblocked ivo-argon2i <ivo.argon2i@example.com> <id> active\n",
      stderr: [],
    });
    const { me } = await loginAndFetchMe(serve.url, { email: ivo.record.email, password: ivo.password });
    expect(me.status).toBe(200);
    expect(controlCommands(serve)).toEqual(
      database.kind === "pglite" ? ["users show", "block", "block", "block", "unblock"] : [],
    );
  });
});

describe("audit verify of a tampered table through a running server", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await databaseWithForeignUsers();
    for (const args of [["block", "bert_2b", "--reason", "spam", "--until", "7d"], ["unblock", "bert_2b"]]) {
      const result = await run(args, { env: database.env });
      if (result.exitCode !== 0) throw new Error(`${args.join(" ")} failed: ${result.stderr}`);
    }
  });
  afterAll(() => database.drop());

  test("an entry edited in the table: exit 1 naming that entry, the same directly and through serve", async () => {
    const original = await withDatabase(database, async (db) => {
      const [entry] = await db.select().from(auditLog).where(eq(auditLog.id, 7));
      await db.update(auditLog).set({ data: { ...entry!.data, reason: "not spam" } }).where(eq(auditLog.id, 7));
      return entry!;
    });
    expect({ event: original.event, reason: original.data.reason }).toEqual({ event: "user.blocked", reason: "spam" });

    const BROKEN = "usersvc: audit chain broken at entry 7: its content does not match its hash (edited)";
    const text = await run(["audit", "verify"], { env: database.env });
    expect(outcome(text)).toEqual({ exitCode: 1, stdout: "", stderr: [BROKEN] });

    await using serve = await startServe({ env: database.env });
    expect(await run(["audit", "verify"], { env: database.env })).toEqual(text);
    expect(controlCommands(serve)).toEqual(database.kind === "pglite" ? ["audit verify"] : []);
    expect((await serve.stop()).exitCode).toBe(0);
  });
});

describe("the operator commands while serve is running", () => {
  const EMBEDDED = !SERVER_URL;
  let served: TestDatabase;
  let direct: TestDatabase;
  let serve: ServeProcess;
  let users: ForeignUser[];
  let newUsersFile: string;
  let mixedFile: string;
  const expectedControlCommands: string[] = [];
  beforeAll(async () => {
    users = await foreignUsers();
    served = await databaseWithForeignUsers();
    // The same commands run on a copy with no server, to compare with.
    direct = await copyDatabase(served);
    serve = await startServe({ env: served.env });
    const hash = users[0]!.record.password_hash;
    newUsersFile = writeLines("while-serving-new.jsonl", jsonLines([
      { email: "frank@example.com", username: "frank", password_hash: hash },
      { email: "grace@example.com", username: "grace", password_hash: hash, roles: ["user", "editor"] },
    ]));
    mixedFile = writeLines("while-serving-mixed.jsonl", [
      JSON.stringify({ email: "heidi@example.com", username: "heidi", password_hash: hash }),
      "{oops",
      JSON.stringify({ email: "ADA.bcrypt2a@example.com", username: "ada_again", password_hash: hash }),
    ]);
  });
  afterAll(async () => {
    await serve?.[Symbol.asyncDispose]();
    await served?.drop();
    await direct?.drop();
  });

  /**
   * Runs one command on both databases: the one `serve` holds, and the copy
   * with no server. `name` is what serve's log calls the command when it
   * carried it out through the control socket.
   */
  async function runBoth(
    args: (side: "served" | "direct") => string[],
    name: string | null,
    stdin?: string,
  ): Promise<{ served: RunResult; direct: RunResult }> {
    const viaServer = await run(args("served"), { env: served.env, stdin });
    const alone = await run(args("direct"), { env: direct.env, stdin });
    if (name && EMBEDDED) expectedControlCommands.push(name);
    expect(controlCommands(serve)).toEqual(expectedControlCommands);
    return { served: viaServer, direct: alone };
  }

  /** users list --json on the served database (through the control socket on the embedded one). */
  async function servedPage(): Promise<any> {
    const page = await usersPage(served.env);
    if (EMBEDDED) expectedControlCommands.push("users list");
    return page;
  }

  function same(results: { served: RunResult; direct: RunResult }, sortLines = false): RunResult {
    const normal = (r: RunResult): RunResult => {
      const stdout = masked(r.stdout);
      return { ...r, stdout: sortLines ? linesOf(stdout).sort().join("\n") : stdout, stderr: masked(r.stderr) };
    };
    expect(normal(results.served)).toEqual(normal(results.direct));
    return results.served;
  }

  test("users list --json and users list with filters", async () => {
    const json = same(await runBoth(() => ["users", "list", "--json"], "users list"));
    expect({ exitCode: json.exitCode, total: JSON.parse(json.stdout).total }).toEqual({ exitCode: 0, total: 6 });
    const text = same(await runBoth(() => ["users", "list", "--status", "active", "--q", "argon", "--sort", "email"], "users list"));
    expect({ exitCode: text.exitCode, rows: linesOf(text.stdout).length, stderr: text.stderr }).toEqual({
      exitCode: 0,
      rows: 4,
      stderr: "3 of 3 user(s)\n",
    });
  });

  test("users show, found and not found", async () => {
    const found = same(await runBoth(() => ["users", "show", "Ada.Bcrypt2a@example.com", "--json"], "users show"));
    expect(JSON.parse(found.stdout).username).toBe("ada_2a");
    const missing = same(await runBoth(() => ["users", "show", "nobody"], "users show"));
    expect(outcome(missing)).toEqual({ exitCode: 1, stdout: "", stderr: ['usersvc: USER_NOT_FOUND: No user matches "nobody"'] });
  });

  test("block --reason --until 7d, and the running server refuses the user at once", async () => {
    // No login before the block: it would set last_login_at and re-hash on one side only.
    const bert = users[1]!;
    const blocked = same(await runBoth(() => ["block", "bert_2b", "--reason", "spam", "--until", "7d", "--json"], "block"));
    expect({ exitCode: blocked.exitCode, ...JSON.parse(blocked.stdout) }).toEqual(
      expect.objectContaining({ exitCode: 0, status: "blocked", blocked_reason: "spam" }),
    );
    const login = await callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: bert.record.email, password: bert.password } });
    expect({ status: login.status, code: login.body.error?.code }).toEqual({ status: 403, code: "ACCOUNT_BLOCKED" });

    // A bad --until never reaches the server: it is a usage error in the calling process.
    const usage = same(await runBoth(() => ["block", "bert_2b", "--until", "soon"], null));
    expect(outcome(usage)).toEqual({ exitCode: 2, stdout: "", stderr: [expect.stringMatching(/^usersvc: --until\b/)] });
  });

  test("unblock", async () => {
    const result = same(await runBoth(() => ["unblock", "bert_2b"], "unblock"));
    expect(outcome({ ...result, stdout: masked(result.stdout) })).toEqual({
      exitCode: 0,
      stdout: "Unblocked bert_2b <bert.bcrypt2b@example.com> <id> active\n",
      stderr: [],
    });
  });

  test("import --dry-run changes nothing, then import from a file and from standard input", async () => {
    const dry = same(await runBoth(() => ["import", newUsersFile, "--dry-run"], "import"));
    expect({ exitCode: dry.exitCode, stderr: dry.stderr }).toEqual({ exitCode: 0, stderr: "Dry run: 2 would be created, 0 skipped, 0 invalid.\n" });
    expect((await servedPage()).total).toBe(6);

    const created = same(await runBoth(() => ["import", newUsersFile], "import"));
    expect({ exitCode: created.exitCode, stderr: created.stderr }).toEqual({ exitCode: 0, stderr: "2 created, 0 skipped, 0 invalid.\n" });

    const mixed = same(await runBoth(() => ["import", "-", "--json"], "import", readFileSync(mixedFile, "utf8")));
    expect({ exitCode: mixed.exitCode, stderr: mixed.stderr }).toEqual({ exitCode: 1, stderr: "1 created, 1 skipped, 1 invalid.\n" });
    expect(masked(mixed.stdout)).toBe(
      [
        { line: 1, result: "created", id: "<id>", email: "heidi@example.com" },
        { line: 2, result: "invalid", message: "not valid JSON" },
        { line: 3, result: "skipped", code: "EMAIL_TAKEN", message: "A user with this email already exists" },
      ]
        .map((o) => `${JSON.stringify(o)}\n`)
        .join(""),
    );
    expect((await servedPage()).total).toBe(9);
  });

  test("export to stdout and export --out FILE (mode 0600)", async () => {
    const stdout = same(await runBoth(() => ["export"], "export"), true);
    expect({ exitCode: stdout.exitCode, lines: linesOf(stdout.stdout).length, stderr: stdout.stderr }).toEqual({
      exitCode: 0,
      lines: 9,
      stderr: "Exported 9 user(s).\n",
    });

    const out = (side: string): string => join(scratch, `while-serving-export-${side}.jsonl`);
    const toFile = same(await runBoth((side) => ["export", "--out", out(side)], "export"));
    expect(outcome(toFile)).toEqual({ exitCode: 0, stdout: "", stderr: ["Exported 9 user(s)."] });
    const contents = ["served", "direct"].map((side) => ({
      mode: statSync(out(side)).mode & 0o777,
      lines: linesOf(masked(readFileSync(out(side), "utf8"))).sort(),
    }));
    expect(contents[0]).toEqual(contents[1]!);
    expect(contents[0]!.mode).toBe(0o600);
    expect(contents[0]!.lines).toEqual(linesOf(masked(stdout.stdout)).sort());
  });

  test("audit verify, as text and as JSON", async () => {
    // --full: both runs check every entry (the first would otherwise leave a checkpoint the second starts from).
    const text = same(await runBoth(() => ["audit", "verify", "--full"], "audit verify"));
    // 6 imports, block, unblock, 2 + 1 imported.
    expect(outcome(text)).toEqual({ exitCode: 0, stdout: "Audit chain intact: 11 entries\n", stderr: [] });
    const json = same(await runBoth(() => ["audit", "verify", "--json"], "audit verify"));
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, checked: 0, total: 11, from: 11, broken: null });
  });

  test(EMBEDDED ? "every command went through serve's control socket" : "on PostgreSQL no command needed the server", () => {
    expect(controlCommands(serve)).toEqual(
      EMBEDDED
        ? [
            ...["users list", "users list", "users show", "users show", "block", "unblock"],
            ...["import", "users list", "import", "import", "users list", "export", "export", "audit verify", "audit verify"],
          ]
        : [],
    );
  });
});

describe("README walkthrough: import, find, block for a week, audit, verify, export", () => {
  let database: TestDatabase;
  let work: string;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    work = mkdtempSync(join(tmpdir(), "usersvc-walkthrough-"));
  });
  afterAll(async () => {
    await database.drop();
    rmSync(work, { recursive: true, force: true });
  });

  test("an operator's session, end to end, printed as a transcript", async () => {
    const transcript: string[] = [];
    const ADMIN = { email: "ops@example.com", username: "ops", password: "a long operator passphrase 7" };
    let serveUrl = "";
    /** The real URL has a random port; the transcript shows the default one. */
    const shown = (text: string): string => (serveUrl ? text.replaceAll(serveUrl, "http://127.0.0.1:8000") : text);
    const say = (text: string): void => {
      transcript.push(shown(text));
    };
    const usersvc = async (args: string[], options: { stdin?: string; shell?: string } = {}): Promise<RunResult> => {
      say(`$ ${options.shell ?? ["usersvc", ...args.map((a) => (/[\s"']/.test(a) ? `'${a}'` : a))].join(" ")}`);
      const result = await run(args, { env: database.env, cwd: work, stdin: options.stdin });
      for (const line of linesOf(result.stdout)) say(line);
      for (const line of linesOf(result.stderr)) say(line);
      if (result.exitCode !== 0) say(`(exit ${result.exitCode})`);
      return result;
    };
    const curl = async (shell: string, method: string, path: string, options: { body?: unknown; token?: string } = {}) => {
      say(`$ ${shell}`);
      const response = await callApi(serveUrl, method, path, options);
      return response;
    };

    try {
      const legacy = (await foreignUsers()).map((u) => u.record);
      writeFileSync(join(work, "legacy-users.jsonl"), jsonLines(legacy).map((l) => `${l}\n`).join(""));
      say(`# legacy-users.jsonl: ${legacy.length} users exported from the old system, e.g.`);
      say(`#   ${JSON.stringify(legacy[1])}`);

      say("$ usersvc serve &");
      await using serve = await startServe({ env: database.env, cwd: work });
      serveUrl = serve.url;
      const listening = serve.logs().find((l) => l.msg === "usersvc listening")!;
      say(JSON.stringify({ level: listening.level, msg: listening.msg, url: listening.url, database: listening.database }));

      const admin = await usersvc(["create-admin", "--email", ADMIN.email, "--username", ADMIN.username, "--password-stdin"], {
        stdin: ADMIN.password,
        shell: `usersvc create-admin --email ${ADMIN.email} --username ${ADMIN.username} --password-stdin < ops-password.txt`,
      });
      expect(admin.exitCode).toBe(0);

      const dryRun = await usersvc(["import", "legacy-users.jsonl", "--dry-run"]);
      expect(outcome(dryRun)).toEqual({
        exitCode: 0,
        stdout: expect.stringContaining("line 2: would create bert.bcrypt2b@example.com\n"),
        stderr: ["Dry run: 6 would be created, 0 skipped, 0 invalid."],
      });
      const imported = await usersvc(["import", "legacy-users.jsonl"]);
      expect({ exitCode: imported.exitCode, stderr: imported.stderr }).toEqual({ exitCode: 0, stderr: "6 created, 0 skipped, 0 invalid.\n" });

      const found = await usersvc(["users", "list", "--q", "bert"]);
      expect({ exitCode: found.exitCode, rows: linesOf(found.stdout).length, stderr: found.stderr }).toEqual({
        exitCode: 0,
        rows: 2,
        stderr: "1 of 1 user(s)\n",
      });
      const show = await usersvc(["users", "show", "bert_2b"]);
      expect(show.exitCode).toBe(0);
      const bertId = UUID.exec(show.stdout)![0];

      const blocked = await usersvc(["block", "bert_2b", "--reason", "spam", "--until", "7d"]);
      expect(blocked.exitCode).toBe(0);
      expect(blocked.stdout).toMatch(/^Blocked bert_2b <bert\.bcrypt2b@example\.com> \S+ blocked until \S+ \(spam\)\n$/);

      const bertLogin = await curl(
        `curl -s -X POST ${serveUrl}/api/v1/auth/login -H 'content-type: application/json' -d '{"email":"bert.bcrypt2b@example.com","password":"…"}'`,
        "POST",
        "/api/v1/auth/login",
        { body: { email: "bert.bcrypt2b@example.com", password: (await foreignUsers())[1]!.password } },
      );
      say(JSON.stringify(bertLogin.body));
      expect({ status: bertLogin.status, code: bertLogin.body.error?.code }).toEqual({ status: 403, code: "ACCOUNT_BLOCKED" });

      const adminLogin = await curl(
        `TOKEN=$(curl -s -X POST ${serveUrl}/api/v1/auth/login -H 'content-type: application/json' ` +
          `-d '{"email":"${ADMIN.email}","password":"…"}' | jq -r .data.access_token)`,
        "POST",
        "/api/v1/auth/login",
        { body: { email: ADMIN.email, password: ADMIN.password } },
      );
      expect(adminLogin.status).toBe(200);
      const audit = await curl(
        `curl -s -H "authorization: Bearer $TOKEN" '${serveUrl}/api/v1/admin/audit?user_id=${bertId}' | jq .data`,
        "GET",
        `/api/v1/admin/audit?user_id=${bertId}`,
        { token: adminLogin.body.data.access_token },
      );
      for (const line of JSON.stringify(audit.body.data, null, 2).split("\n")) say(line);
      expect(audit.status).toBe(200);
      expect(audit.body.data).toEqual({
        items: [
          {
            id: expect.any(Number),
            occurred_at: expect.stringMatching(ISO_TIME),
            event: "user.blocked",
            actor: { type: "cli", id: null },
            target_id: bertId,
            ip: null,
            data: { reason: "spam", until: expect.stringMatching(ISO_TIME), sessions_revoked: 0 },
          },
          {
            id: expect.any(Number),
            occurred_at: expect.stringMatching(ISO_TIME),
            event: "user.registered",
            actor: { type: "cli", id: null },
            target_id: bertId,
            ip: null,
            data: { imported: true, roles: ["user"] },
          },
        ],
        total: 2,
        limit: 50,
        offset: 0,
      });

      const verified = await usersvc(["audit", "verify"]);
      // create-admin, 6 imports, the block.
      expect(outcome(verified)).toEqual({ exitCode: 0, stdout: "Audit chain intact: 8 entries\n", stderr: [] });

      const exported = await usersvc(["export", "--out", "users-export.jsonl"]);
      expect(outcome(exported)).toEqual({ exitCode: 0, stdout: "", stderr: ["Exported 7 user(s)."] });
      const exportPath = join(work, "users-export.jsonl");
      const exportLines = linesOf(readFileSync(exportPath, "utf8"));
      say("$ stat -c '%a %n' users-export.jsonl && wc -l < users-export.jsonl");
      say(`${(statSync(exportPath).mode & 0o777).toString(8)} users-export.jsonl`);
      say(String(exportLines.length));
      expect({ mode: statSync(exportPath).mode & 0o777, lines: exportLines.length }).toEqual({ mode: 0o600, lines: 7 });
      const bertExported = exportLines.map((l) => JSON.parse(l)).find((u) => u.username === "bert_2b");
      expect(bertExported).toEqual(expect.objectContaining({ status: "blocked", blocked_reason: "spam", password_hash: legacy[1]!.password_hash }));

      if (database.kind === "pglite") {
        // Every usersvc command above ran while serve held the data directory: serve carried them out.
        expect(controlCommands(serve)).toEqual(["create-admin", "import", "import", "users list", "users show", "block", "audit verify", "export"]);
      }
      expect((await serve.stop()).exitCode).toBe(0);
    } finally {
      console.log(
        [
          `---- operator walkthrough transcript (${database.kind}; serve listened on a random port, shown as 8000) ----`,
          ...transcript,
          "---- end of transcript ----",
        ].join("\n"),
      );
    }
  });
});
