/**
 * usersvc users list / users show, in-process (tests/support/cli.ts): the
 * page shape, filters, paging, the table, lookups by id, email and username.
 * Commands started at the same time (the data directory lock between
 * processes) are tests/binary/operator.test.ts's.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cliText } from "../support/cli.ts";
import type { TestDatabase } from "../support/database.ts";
import { cliJson, databaseWithForeignUsers, foreignUsers, ISO_TIME, linesOf, outcome, usersPage, UUID } from "../support/operator.ts";

// Each command opens the database; on the embedded one that is ~0.5 s, and a test here runs up to six.
setDefaultTimeout(30_000);

function usernames(page: { items: { username: string }[] }): string[] {
  return page.items.map((u) => u.username).sort();
}

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
    const pages = [];
    for (const status of ["active", "blocked", "deleted"]) pages.push(await usersPage(database.env, ["--status", status]));
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
    const argon = await usersPage(database.env, ["--q", "ARGON"]);
    const underscore = await usersPage(database.env, ["--q", "_2"]);
    const percent = await usersPage(database.env, ["--q", "%"]);
    expect(usernames(argon)).toEqual(["dora_argon2d", "ida.argon", "ivo-argon2i"]);
    expect(usernames(underscore)).toEqual(["ada_2a", "bert_2b"]);
    expect(percent.total).toBe(0);
  });

  test("--role keeps the users with that role, and filters combine", async () => {
    const editors = await usersPage(database.env, ["--role", "editor"]);
    const activeEditorsNamedAda = await usersPage(database.env, ["--role", "editor", "--status", "active", "--q", "ada"]);
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
    const result = await cliText(["users", "list", "--role", "editor", "--sort", "username"], { env: database.env });
    const rows = linesOf(result.stdout).map((line) => line.split(/\s{2,}/));
    expect({ exitCode: result.exitCode, stderr: linesOf(result.stderr) }).toEqual({ exitCode: 0, stderr: ["2 of 2 user(s)"] });
    expect(rows).toEqual([
      ["ID", "EMAIL", "USERNAME", "STATUS", "ROLES", "CREATED"],
      [expect.stringMatching(UUID), "ada.bcrypt2a@example.com", "ada_2a", "active", "user,editor", expect.stringMatching(ISO_TIME)],
      [expect.stringMatching(UUID), "ida.argon2id@example.com", "ida.argon", "active", "user,editor", "2021-03-04T05:06:07.000Z"],
    ]);
  });

  test("users list with a --limit that is not a number exits 2", async () => {
    const result = await cliText(["users", "list", "--limit", "many"], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: ["usersvc: --limit takes a whole number"] });
  });

  test("users show finds the same user by id, by email in any case and by username", async () => {
    const [listed] = (await usersPage(database.env, ["--q", "ada_2a"])).items;
    const shown = [];
    for (const ref of [listed.id, "ADA.Bcrypt2a@example.COM", "ada_2a"]) shown.push(await cliJson(["users", "show", ref, "--json"], database.env));
    expect(shown).toEqual([listed, listed, listed]);
    expect(listed).toEqual(
      expect.objectContaining({ email: "ada.bcrypt2a@example.com", roles: ["user", "editor"], is_verified: true, balance: 1500 }),
    );

    const text = await cliText(["users", "show", "ada_2a"], { env: database.env });
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
      const result = await cliText(["users", "show", ref], { env: database.env });
      expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: [`usersvc: USER_NOT_FOUND: No user matches "${ref}"`] });
    },
  );
});
