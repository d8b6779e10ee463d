/**
 * SPEC §5 operator commands through the compiled binary, on whichever
 * database the suite runs on: import of users hashed by other systems
 * (bcryptjs, node-argon2) and their first login, users list / show, block /
 * unblock, audit verify against a tampered table, export and re-import; the
 * same commands while `serve` runs (SPEC §2: through its control socket on
 * the embedded database); and the operator walkthrough of the README, end to
 * end, printed as a transcript.
 *
 * The foreign hashes are made at test time by tests/fixtures/make-foreign-
 * hashes.cjs under node, with the bcryptjs and argon2 packages pinned in
 * package-lock.json: what is imported is exactly what those libraries write
 * today, with fresh salts on every run, and no password hash sits in the repo.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import postgres from "postgres";
import { type Database, openDatabase } from "../../src/core/db/client.ts";
import { tryLockDataDir } from "../../src/core/db/data-dir-lock.ts";
import { auditLog } from "../../src/core/db/schema.ts";
import {
  binaryEnv,
  callApi,
  createMigratedTestDatabase,
  linesOf,
  loginAndFetchMe,
  run,
  type RunOptions,
  type RunResult,
  type ServeProcess,
  startServe,
} from "../support/binary.ts";
import { SERVER_URL, type TestDatabase } from "../support/database.ts";

// npm test passes --timeout 120000; this keeps a plain `bun test tests/binary` (5 s default) working
// too, as on the embedded database several of these tests run a dozen binaries one after another.
setDefaultTimeout(120_000);

const FIXTURE_SCRIPT = join(import.meta.dir, "..", "fixtures", "make-foreign-hashes.cjs");
const USERSVC_HASH_PREFIX = "$argon2id$v=19$m=65536,t=2,p=1$";
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const UUIDS = new RegExp(UUID.source, "g");
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ISO_TIMES = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g;
const WEEK_MS = 7 * 86_400_000;
const EXPORT_FIELDS = [
  "id",
  "email",
  "username",
  "password_hash",
  "roles",
  "status",
  "is_verified",
  "blocked_reason",
  "blocked_until",
  "metadata",
  "app_metadata",
  "balance",
  "created_at",
  "updated_at",
  "last_login_at",
  "deleted_at",
];

interface ImportRecord {
  email: string;
  username: string;
  password_hash: string;
  [field: string]: unknown;
}

/** One user as the fixture script prints it: the import line and the password behind its hash. */
interface ForeignUser {
  scheme: string;
  password: string;
  record: ImportRecord;
}

let foreignUsersMade: Promise<ForeignUser[]> | null = null;

/** Runs the fixture generator under node (once per file). */
function foreignUsers(): Promise<ForeignUser[]> {
  foreignUsersMade ??= (async () => {
    await using proc = Bun.spawn(["node", FIXTURE_SCRIPT], { env: binaryEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (exitCode !== 0) throw new Error(`node ${FIXTURE_SCRIPT} failed (exit ${exitCode}); run npm install first:\n${stderr}`);
    return linesOf(stdout).map((line) => JSON.parse(line) as ForeignUser);
  })();
  return foreignUsersMade;
}

/** The part of a hash that names its scheme: "$2a$10$" or "$argon2id$v=19$m=65536,p=4,t=3". */
function hashScheme(hash: string): string {
  return hash.startsWith("$2") ? hash.slice(0, 7) : hash.split("$").slice(0, 4).join("$");
}

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

function jsonLines(records: unknown[]): string[] {
  return records.map((record) => JSON.stringify(record));
}

/** The result with stderr split into lines, for one toEqual over all three. */
function outcome(result: RunResult): { exitCode: number | null; stdout: string; stderr: string[] } {
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: linesOf(result.stderr) };
}

/** Ids and times replaced, to compare two runs that differ only in those. */
function masked(text: string): string {
  return text.replace(UUIDS, "<id>").replace(ISO_TIMES, "<time>");
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

function byId<T extends { id: string }>(records: T[]): T[] {
  return [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function usernames(page: { items: { username: string }[] }): string[] {
  return page.items.map((u) => u.username).sort();
}

/** Names of the commands the server's log says it carried out for other processes. */
function controlCommands(serve: ServeProcess): unknown[] {
  return serve.logs().filter((l) => l.msg === "control socket command").map((l) => l.command);
}

/**
 * Opens the test database in this process, as an intruder with file or
 * database access would, for tampering. On the embedded database it takes
 * the data directory lock first, so it fails instead of opening a directory
 * a running usersvc holds.
 */
async function withDatabase<T>(database: TestDatabase, use: (db: Database) => Promise<T>): Promise<T> {
  const lock = database.kind === "pglite" ? tryLockDataDir(database.env.USERSVC_DATA_DIR) : null;
  if (database.kind === "pglite" && !lock) throw new Error("the data directory is held by a running usersvc: stop it first");
  try {
    const handle = await openDatabase({
      databaseUrl: database.env.DATABASE_URL ?? null,
      dataDir: database.env.USERSVC_DATA_DIR,
      poolSize: 1,
    });
    try {
      return await use(handle.db);
    } finally {
      await handle.close();
    }
  } finally {
    lock?.release();
  }
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

/** A fresh database with the fixture's foreign users (and `extra` records) imported. */
async function databaseWithForeignUsers(extra: ImportRecord[] = []): Promise<TestDatabase> {
  const database = await createMigratedTestDatabase();
  const records = [...(await foreignUsers()).map((u) => u.record), ...extra];
  const result = await run(["import", writeLines(`seed-${crypto.randomUUID()}.jsonl`, jsonLines(records))], { env: database.env });
  if (result.exitCode !== 0) throw new Error(`seeding import failed (exit ${result.exitCode}): ${result.stdout}${result.stderr}`);
  return database;
}

describe("import of users whose passwords were hashed by other systems", () => {
  let database: TestDatabase;
  let users: ForeignUser[];
  let file: string;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    users = await foreignUsers();
    file = writeLines("foreign.jsonl", jsonLines(users.map((u) => u.record)));
  });
  afterAll(() => database.drop());

  test("the fixture holds bcryptjs $2a$ and $2b$ cost-10 hashes and node-argon2 hashes with their parameters in m,p,t order", () => {
    expect(Object.fromEntries(users.map((u) => [u.scheme, hashScheme(u.record.password_hash)]))).toEqual({
      "bcryptjs-2a-10": "$2a$10$",
      "bcryptjs-2b-10": "$2b$10$",
      "argon2id-default": "$argon2id$v=19$m=65536,p=4,t=3",
      "argon2i-default": "$argon2i$v=19$m=65536,p=4,t=3",
      "argon2d-default": "$argon2d$v=19$m=65536,p=4,t=3",
      "argon2id-m19456-t2-p1": "$argon2id$v=19$m=19456,p=1,t=2",
    });
  });

  test("import --dry-run reports 'would create' for every line and changes nothing", async () => {
    const result = await run(["import", file, "--dry-run"], { env: database.env });
    expect(outcome(result)).toEqual({
      exitCode: 0,
      stdout: users.map((u, i) => `line ${i + 1}: would create ${u.record.email.toLowerCase()}\n`).join(""),
      stderr: ["Dry run: 6 would be created, 0 skipped, 0 invalid."],
    });
    const json = await run(["import", file, "--dry-run", "--json"], { env: database.env });
    expect(json.exitCode).toBe(0);
    expect(linesOf(json.stdout).map((line) => JSON.parse(line))).toEqual(
      users.map((u, i) => ({ line: i + 1, result: "would_create", id: "(new id)", email: u.record.email.toLowerCase() })),
    );

    expect((await usersPage(database.env)).total).toBe(0);
    expect(await runJson(["audit", "verify", "--json"], { env: database.env })).toEqual({ ok: true, checked: 0, broken: null });
  });

  test("import creates every user with its fields, keeps bcrypt hashes as they are and puts node-argon2's parameters in m,t,p order", async () => {
    const result = await run(["import", file], { env: database.env });
    expect(outcome({ ...result, stdout: result.stdout.replace(UUIDS, "<id>") })).toEqual({
      exitCode: 0,
      stdout: users.map((u, i) => `line ${i + 1}: created ${u.record.email.toLowerCase()} <id>\n`).join(""),
      stderr: ["6 created, 0 skipped, 0 invalid."],
    });

    const listed = (await usersPage(database.env)).items;
    const shown = users.map((u) => listed.find((item: any) => item.email === u.record.email.toLowerCase()));
    expect(shown).toEqual(
      users.map(({ record }) =>
        expect.objectContaining({
          email: record.email.toLowerCase(),
          username: record.username,
          roles: record.roles ?? ["user"],
          is_verified: record.is_verified ?? false,
          status: "active",
          balance: record.balance ?? 0,
          metadata: record.metadata ?? {},
          created_at: record.created_at ?? expect.stringMatching(ISO_TIME),
          last_login_at: null,
        }),
      ),
    );

    const stored = Object.fromEntries((await exportedUsers(database.env)).map((u) => [u.email, u.password_hash]));
    expect(stored).toEqual(
      Object.fromEntries(
        users.map(({ record }) => [
          record.email.toLowerCase(),
          record.password_hash.replace(/\$m=(\d+),p=(\d+),t=(\d+)\$/, "$m=$1,t=$3,p=$2$"),
        ]),
      ),
    );
    expect(await runJson(["audit", "verify", "--json"], { env: database.env })).toEqual({ ok: true, checked: 6, broken: null });
  });

  test("importing the same file again skips every line as EMAIL_TAKEN and exits 0", async () => {
    const result = await run(["import", file], { env: database.env });
    expect(outcome(result)).toEqual({
      exitCode: 0,
      stdout: users.map((_, i) => `line ${i + 1}: skipped: EMAIL_TAKEN: A user with this email already exists\n`).join(""),
      stderr: ["0 created, 6 skipped, 0 invalid."],
    });
    expect((await usersPage(database.env)).total).toBe(6);
  });

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
});

describe("import of a file with good lines, bad lines, duplicates and blank lines", () => {
  let database: TestDatabase;
  let users: ForeignUser[];
  let lines: string[];
  let bertBefore: any;
  beforeAll(async () => {
    users = await foreignUsers();
    const [ada, bert, ida] = users;
    database = await createMigratedTestDatabase();
    const seeded = await run(["import", "-"], { env: database.env, stdin: JSON.stringify(bert!.record) });
    if (seeded.exitCode !== 0) throw new Error(`seeding failed: ${seeded.stderr}`);
    bertBefore = await runJson(["users", "show", "bert_2b", "--json"], { env: database.env });
    lines = [
      /* 1 */ JSON.stringify({ email: "carol@example.com", username: "carol", password_hash: ada!.record.password_hash }),
      /* 2 */ '{"email": "broken@example.com", "username": "broken", "password_hash": ',
      /* 3 */ "",
      /* 4 */ JSON.stringify({ email: "md5@example.com", username: "md5user", password_hash: "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/" }),
      /* 5 */ JSON.stringify({ email: "BERT.Bcrypt2b@example.com", username: "bert_again", password_hash: ada!.record.password_hash }),
      /* 6 */ JSON.stringify({ email: "dave@example.com", username: "dave", roles: ["user", "support"], password_hash: ida!.record.password_hash }),
      /* 7 */ JSON.stringify({ email: "carol2@example.com", username: "Carol", password_hash: ada!.record.password_hash }),
      /* 8 */ JSON.stringify({ email: "django@example.com", username: "django", password_hash: "pbkdf2_sha256$600000$c2FsdA$aGFzaA==" }),
      /* 9 */ JSON.stringify({ email: "not-an-email", username: "x", password_hash: ada!.record.password_hash }),
      /* 10 */ "   ",
      /* 11 */ "[1, 2, 3]",
    ];
  });
  afterAll(() => database.drop());

  const UNSUPPORTED = "invalid: password_hash: must be an argon2 ($argon2id$…) or bcrypt ($2b$…) hash";
  const REPORT = [
    "line 1: created carol@example.com <id>",
    "line 2: invalid: not valid JSON",
    `line 4: ${UNSUPPORTED}`,
    "line 5: skipped: EMAIL_TAKEN: A user with this email already exists",
    "line 6: created dave@example.com <id>",
    "line 7: skipped: USERNAME_TAKEN: This username is already taken",
    `line 8: ${UNSUPPORTED}`,
    "line 9: invalid: email: must be a valid email address; username: must be 3-32 characters of letters, digits, '_', '.' or '-'",
    "line 11: invalid: not a JSON object",
  ];

  test("--dry-run reports every line as the real import will, exits 1 for the invalid ones and creates nothing", async () => {
    const result = await run(["import", writeLines("mixed.jsonl", lines), "--dry-run"], { env: database.env });
    expect(outcome(result)).toEqual({
      exitCode: 1,
      stdout: REPORT.map((line) => `${line.replace(/created (\S+) <id>/, "would create $1")}\n`).join(""),
      stderr: ["Dry run: 2 would be created, 2 skipped, 5 invalid."],
    });
    expect(usernames(await usersPage(database.env))).toEqual(["bert_2b"]);
  });

  test("the import creates the good lines, reports the bad ones by line number, skips the duplicates and exits 1", async () => {
    const result = await run(["import", writeLines("mixed.jsonl", lines)], { env: database.env });
    expect(outcome({ ...result, stdout: result.stdout.replace(UUIDS, "<id>") })).toEqual({
      exitCode: 1,
      stdout: REPORT.map((line) => `${line}\n`).join(""),
      stderr: ["2 created, 2 skipped, 5 invalid."],
    });

    const page = await usersPage(database.env);
    expect(page.items.map((u: any) => [u.username, u.email, u.roles]).sort()).toEqual([
      ["bert_2b", "bert.bcrypt2b@example.com", ["user"]],
      ["carol", "carol@example.com", ["user"]],
      ["dave", "dave@example.com", ["user", "support"]],
    ]);
    // Nothing of a skipped or invalid line reached the database: not the user, not its username, not an audit entry.
    const lookups = await Promise.all(
      ["md5@example.com", "md5user", "bert_again", "carol2@example.com", "django", "broken@example.com"].map((ref) =>
        run(["users", "show", ref], { env: database.env }),
      ),
    );
    expect(lookups.map((r) => r.exitCode)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(await runJson(["users", "show", "bert_2b", "--json"], { env: database.env })).toEqual(bertBefore);
    expect(await runJson(["audit", "verify", "--json"], { env: database.env })).toEqual({ ok: true, checked: 3, broken: null });
  });

  test("import - reads the lines from standard input and --json prints one outcome object per line", async () => {
    const erin = { email: "erin@example.com", username: "erin", password_hash: users[0]!.record.password_hash };
    const result = await run(["import", "-", "--json"], { env: database.env, stdin: `${JSON.stringify(erin)}\nnot json\n` });
    expect({ exitCode: result.exitCode, stderr: linesOf(result.stderr) }).toEqual({ exitCode: 1, stderr: ["1 created, 0 skipped, 1 invalid."] });
    expect(linesOf(result.stdout).map((line) => JSON.parse(line))).toEqual([
      { line: 1, result: "created", id: expect.stringMatching(UUID), email: "erin@example.com" },
      { line: 2, result: "invalid", message: "not valid JSON" },
    ]);
  });

  test("import of a file that does not exist exits 1 naming it", async () => {
    const missing = join(scratch, "no-such-file.jsonl");
    const result = await run(["import", missing], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: [expect.stringContaining(`usersvc: cannot read ${missing}`)] });
  });
});

describe("users list and users show", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    const hash = (await foreignUsers())[0]!.record.password_hash;
    database = await databaseWithForeignUsers([
      {
        email: "blocked.one@example.com",
        username: "blocked_one",
        password_hash: hash,
        status: "blocked",
        blocked_reason: "chargeback",
        blocked_until: "2099-01-01T00:00:00.000Z",
      },
      { email: "gone@example.com", username: "gone", password_hash: hash, status: "deleted" },
    ]);
  });
  afterAll(() => database.drop());

  const ALL = ["ada_2a", "bert_2b", "blocked_one", "dora_argon2d", "gone", "ida.argon", "ivo-argon2i", "otto_owasp"];

  test("users list --json prints one page {items, total, limit, offset, next_cursor} of every user, newest first, without hashes", async () => {
    const page = await usersPage(database.env);
    expect({ ...page, items: page.items.length }).toEqual({ items: 8, total: 8, limit: 50, offset: 0, next_cursor: null });
    expect(usernames(page)).toEqual(ALL);
    const created = page.items.map((u: any) => u.created_at);
    expect(created).toEqual([...created].sort().reverse());
    expect(page.items.filter((u: any) => "password_hash" in u)).toEqual([]);
  });

  test("--status keeps only active, blocked or deleted users", async () => {
    const pages = await Promise.all(["active", "blocked", "deleted"].map((status) => usersPage(database.env, ["--status", status])));
    expect(pages.map((p) => ({ total: p.total, usernames: usernames(p) }))).toEqual([
      { total: 6, usernames: ["ada_2a", "bert_2b", "dora_argon2d", "ida.argon", "ivo-argon2i", "otto_owasp"] },
      { total: 1, usernames: ["blocked_one"] },
      { total: 1, usernames: ["gone"] },
    ]);
    expect(pages[1].items[0]).toEqual(
      expect.objectContaining({ status: "blocked", is_active: false, blocked_reason: "chargeback", blocked_until: "2099-01-01T00:00:00.000Z" }),
    );
  });

  test("--q matches a substring of the email or username in any case, taking _ and % literally", async () => {
    const [argon, underscore, percent] = await Promise.all([
      usersPage(database.env, ["--q", "ARGON"]),
      usersPage(database.env, ["--q", "_2"]),
      usersPage(database.env, ["--q", "%"]),
    ]);
    expect(usernames(argon)).toEqual(["dora_argon2d", "ida.argon", "ivo-argon2i"]);
    expect(usernames(underscore)).toEqual(["ada_2a", "bert_2b"]);
    expect(percent.total).toBe(0);
  });

  test("--role keeps the users with that role, and filters combine", async () => {
    const [editors, activeEditorsNamedAda] = await Promise.all([
      usersPage(database.env, ["--role", "editor"]),
      usersPage(database.env, ["--role", "editor", "--status", "active", "--q", "ada"]),
    ]);
    expect({ total: editors.total, usernames: usernames(editors) }).toEqual({ total: 2, usernames: ["ada_2a", "ida.argon"] });
    expect(usernames(activeEditorsNamedAda)).toEqual(["ada_2a"]);
  });

  test("--limit pages with next_cursor until the last page; every page reports the same total", async () => {
    const seen: string[] = [];
    const shapes: unknown[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await usersPage(database.env, ["--sort", "username", "--limit", "3", ...(cursor ? ["--cursor", cursor] : [])]);
      seen.push(...page.items.map((u: any) => u.username));
      shapes.push({ items: page.items.length, total: page.total, limit: page.limit, more: page.next_cursor !== null });
      cursor = page.next_cursor;
    } while (cursor);
    expect(shapes).toEqual([
      { items: 3, total: 8, limit: 3, more: true },
      { items: 3, total: 8, limit: 3, more: true },
      { items: 2, total: 8, limit: 3, more: false },
    ]);
    expect(seen).toEqual(ALL);
  });

  test("users list without --json prints a table on stdout and the count on stderr", async () => {
    const result = await run(["users", "list", "--role", "editor", "--sort", "username"], { env: database.env });
    const rows = linesOf(result.stdout).map((line) => line.split(/\s{2,}/));
    expect({ exitCode: result.exitCode, stderr: linesOf(result.stderr) }).toEqual({ exitCode: 0, stderr: ["2 of 2 user(s)"] });
    expect(rows).toEqual([
      ["ID", "EMAIL", "USERNAME", "STATUS", "ROLES", "CREATED"],
      [expect.stringMatching(UUID), "ada.bcrypt2a@example.com", "ada_2a", "active", "user,editor", expect.stringMatching(ISO_TIME)],
      [expect.stringMatching(UUID), "ida.argon2id@example.com", "ida.argon", "active", "user,editor", "2021-03-04T05:06:07.000Z"],
    ]);
  });

  test("commands started at the same time all succeed (on the embedded database each waits for the data directory)", async () => {
    const refs = ["ada_2a", "bert_2b", "ida.argon", "ivo-argon2i"];
    const results = await Promise.all(refs.map((ref) => run(["users", "show", ref, "--json"], { env: database.env })));
    expect(
      results.map((r) => ({ exitCode: r.exitCode, stderr: r.stderr, username: r.exitCode === 0 ? JSON.parse(r.stdout).username : null })),
    ).toEqual(refs.map((username) => ({ exitCode: 0, stderr: "", username })));
  });

  test("users list with a --limit that is not a number exits 2", async () => {
    const result = await run(["users", "list", "--limit", "many"], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: ["usersvc: --limit takes a whole number"] });
  });

  test("users show finds the same user by id, by email in any case and by username", async () => {
    const [listed] = (await usersPage(database.env, ["--q", "ada_2a"])).items;
    const shown = await Promise.all(
      [listed.id, "ADA.Bcrypt2a@example.COM", "ada_2a"].map((ref) => runJson(["users", "show", ref, "--json"], { env: database.env })),
    );
    expect(shown).toEqual([listed, listed, listed]);
    expect(listed).toEqual(
      expect.objectContaining({ email: "ada.bcrypt2a@example.com", roles: ["user", "editor"], is_verified: true, balance: 1500 }),
    );

    const text = await run(["users", "show", "ada_2a"], { env: database.env });
    expect({ exitCode: text.exitCode, stderr: text.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(linesOf(text.stdout).slice(0, 10)).toEqual([
      `id:             ${listed.id}`,
      "email:          ada.bcrypt2a@example.com",
      "username:       ada_2a",
      "status:         active",
      "roles:          user, editor",
      "verified:       true",
      "blocked reason: -",
      "blocked until:  -",
      "balance:        1500",
      "metadata:       {}",
    ]);
  });

  test.each([["nobody@example.com"], ["nobody"], ["00000000-0000-4000-8000-000000000000"]])(
    "users show %s (no such user) exits 1 with USER_NOT_FOUND",
    async (ref) => {
      const result = await run(["users", "show", ref], { env: database.env });
      expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: [`usersvc: USER_NOT_FOUND: No user matches "${ref}"`] });
    },
  );
});

describe("block and unblock", () => {
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
    "block <%s> --reason spam --until 7d blocks the user for a week and refuses its access token (at once through serve, within 1 s beside it)",
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
      expect(blocked).toEqual(
        expect.objectContaining({
          email: user.record.email.toLowerCase(),
          status: "blocked",
          is_active: false,
          blocked_reason: "spam",
          blocked_until: expect.stringMatching(ISO_TIME),
        }),
      );
      const until = Date.parse(blocked.blocked_until);
      expect(until).toBeGreaterThanOrEqual(before + WEEK_MS);
      expect(until).toBeLessThanOrEqual(after + WEEK_MS);

      // On the embedded database the CLI works inside serve (control socket): refused at once. On
      // PostgreSQL it is another process beside serve, which honours the change within 1 s (SPEC §4).
      if (database.kind === "postgres") await Bun.sleep(1_000);
      const refused = await callApi(serve.url, "GET", "/api/v1/users/me", { token });
      expect({ status: refused.status, code: refused.body.error?.code }).toEqual({ status: 401, code: "SESSION_REVOKED" });
      const relogin = await callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: user.record.email, password: user.password } });
      expect({ status: relogin.status, code: relogin.body.error?.code }).toEqual({ status: 403, code: "ACCOUNT_BLOCKED" });
      expect(await runJson(["users", "show", user.record.username, "--json"], { env: database.env })).toEqual(blocked);
    },
  );

  test("block without --json prints one line with the user, the end of the block and the reason", async () => {
    const dora = users[4]!;
    const result = await run(["block", dora.record.username, "--reason", "chargeback", "--until", "2099-01-01T00:00:00Z"], {
      env: database.env,
    });
    expect(outcome({ ...result, stdout: result.stdout.replace(UUID, "<id>") })).toEqual({
      exitCode: 0,
      stdout: `Blocked dora_argon2d <dora.argon2d@example.com> <id> blocked until 2099-01-01T00:00:00.000Z (chargeback)\n`,
      stderr: [],
    });
  });

  test.each([["tomorrow"], ["7x"], ["0d"], ["2030-13-45T00:00:00Z"], ["-7d"]])(
    "block --until %s is a usage error: exit 2, one stderr line, nobody blocked",
    async (until) => {
      const otto = users[5]!;
      const result = await run(["block", otto.record.username, "--until", until], { env: database.env });
      expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: [expect.stringMatching(/^usersvc: --until\b/)] });
      expect((await runJson(["users", "show", otto.record.username, "--json"], { env: database.env })).status).toBe("active");
    },
  );

  test("block --until a time already past is a usage error: exit 2 with VALIDATION_ERROR", async () => {
    const result = await run(["block", users[5]!.record.username, "--until", "2001-01-01T00:00:00Z"], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: ["usersvc: VALIDATION_ERROR: until: must be in the future"] });
  });

  test.each([["block"], ["unblock"]])("%s of an unknown user exits 1 with USER_NOT_FOUND", async (command) => {
    const result = await run([command, "nobody@example.com"], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: ['usersvc: USER_NOT_FOUND: No user matches "nobody@example.com"'] });
  });

  test("unblock lifts the block: reason and end cleared, and the user logs in again", async () => {
    const ivo = users[3]!;
    const result = await run(["unblock", ivo.record.email.toUpperCase()], { env: database.env });
    expect(outcome({ ...result, stdout: result.stdout.replace(UUID, "<id>") })).toEqual({
      exitCode: 0,
      stdout: "Unblocked ivo-argon2i <ivo.argon2i@example.com> <id> active\n",
      stderr: [],
    });
    expect(await runJson(["users", "show", ivo.record.username, "--json"], { env: database.env })).toEqual(
      expect.objectContaining({ status: "active", is_active: true, blocked_reason: null, blocked_until: null }),
    );
    const { me } = await loginAndFetchMe(serve.url, { email: ivo.record.email, password: ivo.password });
    expect(me.status).toBe(200);
  });

  test("every block and unblock is in the audit log, and the chain is intact", async () => {
    // 6 imports, 4 blocks, 1 unblock.
    const result = await run(["audit", "verify"], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 0, stdout: "Audit chain intact: 11 entries\n", stderr: [] });
  });

  test("block --until a date alone blocks until the start of that day UTC; a past date is refused as past", async () => {
    const past = await run(["block", users[5]!.record.username, "--until", "2001-01-01"], { env: database.env });
    expect(outcome(past)).toEqual({ exitCode: 2, stdout: "", stderr: ["usersvc: VALIDATION_ERROR: until: must be in the future"] });
    const blocked = await runJson(["block", users[5]!.record.username, "--until", "2999-01-01", "--json"], { env: database.env });
    expect([blocked.status, blocked.blocked_until]).toEqual(["blocked", "2999-01-01T00:00:00.000Z"]);
    expect((await run(["unblock", users[5]!.record.username], { env: database.env })).exitCode).toBe(0);
  });
});

describe("audit verify", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await databaseWithForeignUsers();
    for (const args of [["block", "bert_2b", "--reason", "spam", "--until", "7d"], ["unblock", "bert_2b"]]) {
      const result = await run(args, { env: database.env });
      if (result.exitCode !== 0) throw new Error(`${args.join(" ")} failed: ${result.stderr}`);
    }
  });
  afterAll(() => database.drop());

  test("an intact chain: exit 0 with the number of entries checked", async () => {
    const [text, json] = await Promise.all([
      run(["audit", "verify"], { env: database.env }),
      run(["audit", "verify", "--json"], { env: database.env }),
    ]);
    expect(outcome(text)).toEqual({ exitCode: 0, stdout: "Audit chain intact: 8 entries\n", stderr: [] });
    expect(outcome(json)).toEqual({ exitCode: 0, stdout: `${JSON.stringify({ ok: true, checked: 8, broken: null })}\n`, stderr: [] });
  });

  test("an entry edited in the table: exit 1 naming that entry, directly and through a running server; putting it back heals the chain", async () => {
    const original = await withDatabase(database, async (db) => {
      const [entry] = await db.select().from(auditLog).where(eq(auditLog.id, 7));
      await db.update(auditLog).set({ data: { ...entry!.data, reason: "not spam" } }).where(eq(auditLog.id, 7));
      return entry!;
    });
    expect({ event: original.event, reason: original.data.reason }).toEqual({ event: "user.blocked", reason: "spam" });

    const BROKEN = "usersvc: audit chain broken at entry 7: its content does not match its hash (edited)";
    const [text, json] = [await run(["audit", "verify"], { env: database.env }), await run(["audit", "verify", "--json"], { env: database.env })];
    expect(outcome(text)).toEqual({ exitCode: 1, stdout: "", stderr: [BROKEN] });
    expect(outcome(json)).toEqual({ exitCode: 1, stdout: expect.any(String), stderr: [BROKEN] });
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, checked: 6, broken: { id: 7, reason: "its content does not match its hash (edited)" } });

    {
      await using serve = await startServe({ env: database.env });
      expect(await run(["audit", "verify"], { env: database.env })).toEqual(text);
      expect(controlCommands(serve)).toEqual(database.kind === "pglite" ? ["audit verify"] : []);
      expect((await serve.stop()).exitCode).toBe(0);
    }

    await withDatabase(database, (db) => db.update(auditLog).set({ data: original.data }).where(eq(auditLog.id, 7)));
    expect(outcome(await run(["audit", "verify"], { env: database.env }))).toEqual({
      exitCode: 0,
      stdout: "Audit chain intact: 8 entries\n",
      stderr: [],
    });
  });

  test("an entry deleted from the table: exit 1 naming the entry after the gap", async () => {
    await withDatabase(database, (db) => db.delete(auditLog).where(eq(auditLog.id, 3)));
    const result = await run(["audit", "verify", "--json"], { env: database.env });
    expect(outcome(result)).toEqual({
      exitCode: 1,
      stdout: `${JSON.stringify({ ok: false, checked: 2, broken: { id: 4, reason: "entry 3 is missing (removed)" } })}\n`,
      stderr: ["usersvc: audit chain broken at entry 4: entry 3 is missing (removed)"],
    });
  });
});

describe("export and re-import into a fresh database", () => {
  let source: TestDatabase;
  let target: TestDatabase | null = null;
  let users: ForeignUser[];
  let file: string;
  beforeAll(async () => {
    users = await foreignUsers();
    source = await databaseWithForeignUsers([
      {
        email: "blocked.one@example.com",
        username: "blocked_one",
        password_hash: users[1]!.record.password_hash,
        status: "blocked",
        blocked_reason: "chargeback",
        blocked_until: "2099-01-01T00:00:00.000Z",
      },
      { email: "gone@example.com", username: "gone", password_hash: users[2]!.record.password_hash, status: "deleted" },
    ]);
    // Half of them log in first, so the export holds usersvc's own hashes as well as foreign ones.
    await using serve = await startServe({ env: source.env });
    for (const user of users.slice(0, 3)) {
      const { me } = await loginAndFetchMe(serve.url, { email: user.record.email, password: user.password });
      if (me.status !== 200) throw new Error(`${user.scheme}: login failed (${me.status})`);
    }
    await serve.stop();
    file = join(scratch, "export.jsonl");
  });
  afterAll(async () => {
    await source?.drop();
    await target?.drop();
  });

  test("export --out writes one JSON line per user, with every field and the password hash, to a file of mode 0600", async () => {
    const result = await run(["export", "--out", file], { env: source.env });
    expect(outcome(result)).toEqual({ exitCode: 0, stdout: "", stderr: ["Exported 8 user(s)."] });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const records = linesOf(readFileSync(file, "utf8")).map((line) => JSON.parse(line));
    expect(records).toHaveLength((await usersPage(source.env)).total);
    expect(records.map((r) => Object.keys(r))).toEqual(records.map(() => EXPORT_FIELDS));
    expect(Object.fromEntries(records.map((r) => [r.username, hashScheme(r.password_hash)]))).toEqual({
      // Logged in once: usersvc's own hash.
      ada_2a: "$argon2id$v=19$m=65536,t=2,p=1",
      bert_2b: "$argon2id$v=19$m=65536,t=2,p=1",
      "ida.argon": "$argon2id$v=19$m=65536,t=2,p=1",
      // Never logged in: the foreign hash, as imported.
      "ivo-argon2i": "$argon2i$v=19$m=65536,t=3,p=4",
      dora_argon2d: "$argon2d$v=19$m=65536,t=3,p=4",
      otto_owasp: "$argon2id$v=19$m=19456,t=2,p=1",
      blocked_one: "$2b$10$",
      gone: "$argon2id$v=19$m=65536,t=3,p=4",
    });
    // The same lines as export to stdout.
    expect(await exportedUsers(source.env)).toEqual(records);
  });

  test("export --out over an existing, world-readable file replaces it and makes it 0600", async () => {
    const existing = join(scratch, "loose.jsonl");
    writeFileSync(existing, "stale content that is longer than nothing\n".repeat(10_000), { mode: 0o644 });
    expect(statSync(existing).mode & 0o777).toBe(0o644);
    const result = await run(["export", "--out", existing], { env: source.env });
    expect(outcome(result)).toEqual({ exitCode: 0, stdout: "", stderr: ["Exported 8 user(s)."] });
    expect(statSync(existing).mode & 0o777).toBe(0o600);
    expect(readFileSync(existing, "utf8")).toEqual(readFileSync(file, "utf8"));
  });

  test("importing the export into a fresh database reproduces every user, field for field, and the same passwords log in", async () => {
    target = await createMigratedTestDatabase();
    const result = await run(["import", file], { env: target.env });
    expect({ exitCode: result.exitCode, stderr: linesOf(result.stderr) }).toEqual({ exitCode: 0, stderr: ["8 created, 0 skipped, 0 invalid."] });

    expect(byId(await exportedUsers(target.env))).toEqual(byId(await exportedUsers(source.env)));
    const [before, after] = await Promise.all([usersPage(source.env, ["--sort", "email"]), usersPage(target.env, ["--sort", "email"])]);
    expect(after).toEqual(before);

    await using serve = await startServe({ env: target.env });
    const logins = [];
    for (const user of users) {
      const { me } = await loginAndFetchMe(serve.url, { email: user.record.email, password: user.password });
      logins.push([user.scheme, me.status]);
    }
    expect(logins).toEqual(users.map((u) => [u.scheme, 200]));
    const login = (email: string, password: string) => callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email, password } });
    const blocked = await login("blocked.one@example.com", users[1]!.password);
    const deleted = await login("gone@example.com", users[2]!.password);
    expect([blocked, deleted].map((r) => [r.status, r.body.error?.code])).toEqual([
      [403, "ACCOUNT_BLOCKED"],
      [401, "INVALID_CREDENTIALS"],
    ]);
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
    const text = same(await runBoth(() => ["audit", "verify"], "audit verify"));
    // 6 imports, block, unblock, 2 + 1 imported.
    expect(outcome(text)).toEqual({ exitCode: 0, stdout: "Audit chain intact: 11 entries\n", stderr: [] });
    const json = same(await runBoth(() => ["audit", "verify", "--json"], "audit verify"));
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, checked: 11, broken: null });
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
