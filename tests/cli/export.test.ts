/**
 * usersvc export and its re-import into a fresh database, in-process
 * (tests/support/cli.ts): every field and the password hash on one JSON line
 * per user, --out writing a file of mode 0600 (over a looser one too), and a
 * re-import that reproduces every user, whose passwords then log in over
 * HTTP (an in-process server, tests/support/server.ts's withServerOn).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { callApi, createMigratedTestDatabase, loginAndFetchMe } from "../support/binary.ts";
import { cliText } from "../support/cli.ts";
import type { TestDatabase } from "../support/database.ts";
import {
  databaseWithForeignUsers,
  exportedUsers,
  type ForeignUser,
  foreignUsers,
  hashScheme,
  linesOf,
  outcome,
  scratchDir,
  usersPage,
} from "../support/operator.ts";
import { withServerOn } from "../support/server.ts";

// Each command opens the database (~0.5 s on the embedded one), and the logins hash passwords.
setDefaultTimeout(30_000);

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
  "locale",
];

function byId<T extends { id: string }>(records: T[]): T[] {
  return [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

describe("export and re-import into a fresh database", () => {
  let scratch: ReturnType<typeof scratchDir>;
  let source: TestDatabase;
  let target: TestDatabase | null = null;
  let users: ForeignUser[];
  let file: string;
  beforeAll(async () => {
    scratch = scratchDir("usersvc-cli-export-");
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
    await withServerOn(source.env, async (url) => {
      for (const user of users.slice(0, 3)) {
        const { me } = await loginAndFetchMe(url, { email: user.record.email, password: user.password });
        if (me.status !== 200) throw new Error(`${user.scheme}: login failed (${me.status})`);
      }
    });
    file = join(scratch.dir, "export.jsonl");
  });
  afterAll(async () => {
    await source?.drop();
    await target?.drop();
    rmSync(scratch.dir, { recursive: true, force: true });
  });

  test("export --out writes one JSON line per user, with every field and the password hash, to a file of mode 0600", async () => {
    const result = await cliText(["export", "--out", file], { env: source.env });
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
    const existing = join(scratch.dir, "loose.jsonl");
    writeFileSync(existing, "stale content that is longer than nothing\n".repeat(10_000), { mode: 0o644 });
    expect(statSync(existing).mode & 0o777).toBe(0o644);
    const result = await cliText(["export", "--out", existing], { env: source.env });
    expect(outcome(result)).toEqual({ exitCode: 0, stdout: "", stderr: ["Exported 8 user(s)."] });
    expect(statSync(existing).mode & 0o777).toBe(0o600);
    expect(readFileSync(existing, "utf8")).toEqual(readFileSync(file, "utf8"));
  });

  test("importing the export into a fresh database reproduces every user, field for field, and the same passwords log in", async () => {
    target = await createMigratedTestDatabase();
    const result = await cliText(["import", file], { env: target.env });
    expect({ exitCode: result.exitCode, stderr: linesOf(result.stderr) }).toEqual({ exitCode: 0, stderr: ["8 created, 0 skipped, 0 invalid."] });

    expect(byId(await exportedUsers(target.env))).toEqual(byId(await exportedUsers(source.env)));
    const before = await usersPage(source.env, ["--sort", "email"]);
    const after = await usersPage(target.env, ["--sort", "email"]);
    expect(after).toEqual(before);

    await withServerOn(target.env, async (url) => {
      const logins = [];
      for (const user of users) {
        const { me } = await loginAndFetchMe(url, { email: user.record.email, password: user.password });
        logins.push([user.scheme, me.status]);
      }
      expect(logins).toEqual(users.map((u) => [u.scheme, 200]));
      const login = (email: string, password: string) => callApi(url, "POST", "/api/v1/auth/login", { body: { email, password } });
      const blocked = await login("blocked.one@example.com", users[1]!.password);
      const deleted = await login("gone@example.com", users[2]!.password);
      expect([blocked, deleted].map((r) => [r.status, r.body.error?.code])).toEqual([
        [403, "ACCOUNT_BLOCKED"],
        [401, "INVALID_CREDENTIALS"],
      ]);
    });
  });
});
