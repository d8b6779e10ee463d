/**
 * usersvc import, in-process (tests/support/cli.ts) on whichever database the
 * suite runs on: users hashed by other systems (bcryptjs, node-argon2), a
 * file of good lines, bad lines, duplicates and blank lines, --dry-run,
 * --json, standard input. Their first login over HTTP (and serve's control
 * socket) is tests/binary/operator.test.ts's.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createMigratedTestDatabase } from "../support/binary.ts";
import { cliText } from "../support/cli.ts";
import type { TestDatabase } from "../support/database.ts";
import {
  cliJson,
  exportedUsers,
  type ForeignUser,
  foreignUsers,
  hashScheme,
  ISO_TIME,
  jsonLines,
  linesOf,
  outcome,
  scratchDir,
  usersPage,
  UUID,
  UUIDS,
} from "../support/operator.ts";

// Each command opens the database; on the embedded one that is ~0.5 s, and a test here runs up to ten.
setDefaultTimeout(30_000);

let scratch: ReturnType<typeof scratchDir>;
beforeAll(() => {
  scratch = scratchDir("usersvc-cli-import-");
});
afterAll(() => rmSync(scratch.dir, { recursive: true, force: true }));

function usernames(page: { items: { username: string }[] }): string[] {
  return page.items.map((u) => u.username).sort();
}

describe("import of users whose passwords were hashed by other systems", () => {
  let database: TestDatabase;
  let users: ForeignUser[];
  let file: string;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    users = await foreignUsers();
    file = scratch.writeLines("foreign.jsonl", jsonLines(users.map((u) => u.record)));
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
    const result = await cliText(["import", file, "--dry-run"], { env: database.env });
    expect(outcome(result)).toEqual({
      exitCode: 0,
      stdout: users.map((u, i) => `line ${i + 1}: would create ${u.record.email.toLowerCase()}\n`).join(""),
      stderr: ["Dry run: 6 would be created, 0 skipped, 0 invalid."],
    });
    const json = await cliText(["import", file, "--dry-run", "--json"], { env: database.env });
    expect(json.exitCode).toBe(0);
    expect(linesOf(json.stdout).map((line) => JSON.parse(line))).toEqual(
      users.map((u, i) => ({ line: i + 1, result: "would_create", id: "(new id)", email: u.record.email.toLowerCase() })),
    );

    expect((await usersPage(database.env)).total).toBe(0);
    expect(await cliJson(["audit", "verify", "--json"], database.env)).toMatchObject({ ok: true, total: 0, broken: null });
  });

  test("import creates every user with its fields, keeps bcrypt hashes as they are and puts node-argon2's parameters in m,t,p order", async () => {
    const result = await cliText(["import", file], { env: database.env });
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
    expect(await cliJson(["audit", "verify", "--json"], database.env)).toMatchObject({ ok: true, total: 6, broken: null });
  });

  test("importing the same file again skips every line as EMAIL_TAKEN and exits 0", async () => {
    const result = await cliText(["import", file], { env: database.env });
    expect(outcome(result)).toEqual({
      exitCode: 0,
      stdout: users.map((_, i) => `line ${i + 1}: skipped: EMAIL_TAKEN: A user with this email already exists\n`).join(""),
      stderr: ["0 created, 6 skipped, 0 invalid."],
    });
    expect((await usersPage(database.env)).total).toBe(6);
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
    const seeded = await cliText(["import", "-"], { env: database.env, stdin: JSON.stringify(bert!.record) });
    if (seeded.exitCode !== 0) throw new Error(`seeding failed: ${seeded.stderr}`);
    bertBefore = await cliJson(["users", "show", "bert_2b", "--json"], database.env);
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
    const result = await cliText(["import", scratch.writeLines("mixed.jsonl", lines), "--dry-run"], { env: database.env });
    expect(outcome(result)).toEqual({
      exitCode: 1,
      stdout: REPORT.map((line) => `${line.replace(/created (\S+) <id>/, "would create $1")}\n`).join(""),
      stderr: ["Dry run: 2 would be created, 2 skipped, 5 invalid."],
    });
    expect(usernames(await usersPage(database.env))).toEqual(["bert_2b"]);
  });

  test("the import creates the good lines, reports the bad ones by line number, skips the duplicates and exits 1", async () => {
    const result = await cliText(["import", scratch.writeLines("mixed.jsonl", lines)], { env: database.env });
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
    const lookups = [];
    for (const ref of ["md5@example.com", "md5user", "bert_again", "carol2@example.com", "django", "broken@example.com"]) {
      lookups.push(await cliText(["users", "show", ref], { env: database.env }));
    }
    expect(lookups.map((r) => r.exitCode)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(await cliJson(["users", "show", "bert_2b", "--json"], database.env)).toEqual(bertBefore);
    expect(await cliJson(["audit", "verify", "--json"], database.env)).toMatchObject({ ok: true, total: 3, broken: null });
  });

  test("import - reads the lines from standard input and --json prints one outcome object per line", async () => {
    const erin = { email: "erin@example.com", username: "erin", password_hash: users[0]!.record.password_hash };
    const result = await cliText(["import", "-", "--json"], { env: database.env, stdin: `${JSON.stringify(erin)}\nnot json\n` });
    expect({ exitCode: result.exitCode, stderr: linesOf(result.stderr) }).toEqual({ exitCode: 1, stderr: ["1 created, 0 skipped, 1 invalid."] });
    expect(linesOf(result.stdout).map((line) => JSON.parse(line))).toEqual([
      { line: 1, result: "created", id: expect.stringMatching(UUID), email: "erin@example.com" },
      { line: 2, result: "invalid", message: "not valid JSON" },
    ]);
  });

  test("import of a file that does not exist exits 1 naming it", async () => {
    const missing = join(scratch.dir, "no-such-file.jsonl");
    const result = await cliText(["import", missing], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: [expect.stringContaining(`usersvc: cannot read ${missing}`)] });
  });
});
