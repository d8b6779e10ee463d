import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { blockUser, softDeleteUser } from "../../src/core/users/lifecycle.ts";
import { insertUser } from "../../src/core/users/queries.ts";
import { createUser } from "../../src/core/users/users.ts";
import { createAdmin, createPlainUser, failureOf, loginAs, type LoggedIn } from "../support/admin.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SORTS = ["created_at", "-created_at", "email", "username"] as const;

let server: TestServer;
let admin: LoggedIn;
/** Ids of the users seeded for the listing, 60 of them. */
let seeded: string[];
beforeAll(async () => {
  server = await startTestServer();
  admin = await createAdmin(server);
  seeded = await seedUsers(60);
});
afterAll(() => server.stop());

/**
 * Users written straight to the table (no password hashing, so it is quick),
 * three to a creation time so the keyset pages must break ties by id, with
 * usernames in mixed case.
 */
async function seedUsers(count: number): Promise<string[]> {
  const passwordHash = await Bun.password.hash("not used by these tests");
  const base = Date.parse("2020-01-01T00:00:00.000Z");
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const at = new Date(base + Math.floor(i / 3) * 1000);
    const n = String(i).padStart(2, "0");
    const user = await insertUser(server.core.db, {
      email: `seed${n}.${(i * 7) % 10}@list.example.com`,
      username: i % 2 === 0 ? `Seed_${n}` : `seed-${n}`,
      passwordHash,
      createdAt: at,
      updatedAt: at,
    });
    ids.push(user.id);
  }
  return ids;
}

function list(query = "", token = admin.token) {
  return server.api("GET", `/api/v1/admin/users${query}`, { token });
}

function ids(items: { id: string }[]): string[] {
  return items.map((u) => u.id);
}

/** Walks every page of a listing with its cursor; returns the ids in order. */
async function walk(query: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res = await list(`?limit=${limit}&${query}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status).toBe(200);
    expect(res.body.data.items.length).toBeLessThanOrEqual(limit);
    seen.push(...ids(res.body.data.items));
    cursor = res.body.data.next_cursor;
    pages += 1;
    if (pages > 100) throw new Error("cursor paging does not end");
  } while (cursor);
  return { ids: seen, pages };
}

function validationFields(res: { body: any }): string[] {
  return res.body.error.details.map((d: { field: string }) => d.field);
}

describe("GET /admin/users: limit, offset and the page shape", () => {
  test("without a limit answers 50 items, offset 0, the total and a next_cursor", async () => {
    const res = await list();
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      error: null,
      data: { items: expect.any(Array), total: expect.any(Number), limit: 50, offset: 0, next_cursor: expect.any(String) },
    });
    expect(res.body.data.items).toHaveLength(50);
    expect(res.body.data.total).toBeGreaterThanOrEqual(61);
  });

  test("items are full user objects without a password hash", async () => {
    const res = await list("?limit=200");
    const user = res.body.data.items.find((u: { id: string }) => u.id === admin.id);
    expect(user).toEqual({
      id: admin.id,
      email: admin.input.email,
      username: admin.input.username,
      roles: ["user", "admin"],
      is_admin: true,
      is_active: true,
      is_verified: false,
      status: "active",
      blocked_reason: null,
      blocked_until: null,
      metadata: {},
      app_metadata: {},
      balance: 0,
      created_at: expect.stringMatching(ISO_UTC),
      updated_at: expect.stringMatching(ISO_UTC),
      last_login_at: expect.stringMatching(ISO_UTC),
      deleted_at: null,
    });
    expect(JSON.stringify(res.body)).not.toMatch(/argon2|password/i);
  });

  test.each(["0", "201", "-1", "1.5", "abc"])("limit=%s answers 422 VALIDATION_ERROR naming limit", async (limit) => {
    const res = await list(`?limit=${limit}`);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
    expect(validationFields(res)).toContain("limit");
  });

  test("limit=1 and limit=200 are accepted", async () => {
    const one = await list("?limit=1");
    expect(one.status).toBe(200);
    expect(one.body.data.items).toHaveLength(1);
    const most = await list("?limit=200");
    expect(most.status).toBe(200);
    expect(most.body.data.items).toHaveLength(most.body.data.total);
    expect(most.body.data.next_cursor).toBeNull();
  });

  test.each(["-1", "1.5", "x", "1e20"])("offset=%s answers 422 VALIDATION_ERROR naming offset", async (offset) => {
    const res = await list(`?offset=${offset}`);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
    expect(validationFields(res)).toContain("offset");
  });

  test.each(SORTS)("offset pages follow the full listing (sort=%s)", async (sort) => {
    const all = ids((await list(`?limit=200&sort=${sort}`)).body.data.items);
    const page = await list(`?limit=7&offset=5&sort=${sort}`);
    expect(page.status).toBe(200);
    expect(page.body.data).toEqual(expect.objectContaining({ limit: 7, offset: 5, total: all.length }));
    expect(ids(page.body.data.items)).toEqual(all.slice(5, 12));
  });

  test("an offset past the end answers no items and the total", async () => {
    const res = await list("?offset=100000");
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(expect.objectContaining({ items: [], offset: 100000, next_cursor: null }));
    expect(res.body.data.total).toBeGreaterThan(0);
  });

  test("the default sort is newest first", async () => {
    expect(ids((await list("?limit=200")).body.data.items)).toEqual(
      ids((await list("?limit=200&sort=-created_at")).body.data.items),
    );
  });

  test("an unknown sort answers 422 VALIDATION_ERROR naming sort", async () => {
    const res = await list("?sort=password_hash");
    expect(res.status).toBe(422);
    expect(validationFields(res)).toEqual(["sort"]);
  });

  test("an unknown query parameter answers 422 VALIDATION_ERROR", async () => {
    const res = await list("?bogus=1");
    expect(res.status).toBe(422);
    expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
  });

  test("an unknown status answers 422 VALIDATION_ERROR naming status", async () => {
    const res = await list("?status=gone");
    expect(res.status).toBe(422);
    expect(validationFields(res)).toEqual(["status"]);
  });
});

describe("GET /admin/users: cursor pages", () => {
  test.each(SORTS)("walk every user exactly once, in the listing's order (sort=%s)", async (sort) => {
    const full = (await list(`?limit=200&sort=${sort}`)).body.data;
    const walked = await walk(`sort=${sort}`, 7);
    expect(new Set(walked.ids).size).toBe(walked.ids.length);
    expect(walked.ids).toEqual(ids(full.items));
    expect(walked.ids).toHaveLength(full.total);
    expect(walked.pages).toBe(Math.ceil(full.total / 7));
    for (const id of seeded) expect(walked.ids).toContain(id);
  });

  test("sort=created_at is oldest first with ties broken by id; -created_at is the exact reverse", async () => {
    const asc = (await list("?limit=200&sort=created_at")).body.data.items as { id: string; created_at: string }[];
    const expected = [...asc].sort((a, b) => a.created_at.localeCompare(b.created_at) || (a.id < b.id ? -1 : 1));
    expect(ids(asc)).toEqual(ids(expected));
    const desc = (await walk("sort=-created_at", 7)).ids;
    expect(desc).toEqual(ids(asc).reverse());
  });

  test("sort=email is ascending", async () => {
    const byEmail = (await list("?limit=200&sort=email&q=list.example.com")).body.data.items as { email: string }[];
    const emails = byEmail.map((u) => u.email);
    expect(emails).toHaveLength(60);
    // These emails first differ in their digits, so every collation orders them alike.
    expect(emails).toEqual([...emails].sort());
  });

  test("sort=username is ascending without regard to case", async () => {
    const names = ["Bravo_sortcase", "alpha_sortcase", "CHARLIE_sortcase", "delta_sortcase"];
    for (const username of names) {
      await createUser(server.core, { ...newUser(), username }, { actor: CLI_ACTOR });
    }
    const res = await list("?sort=username&q=_sortcase");
    expect(res.body.data.items.map((u: { username: string }) => u.username)).toEqual([
      "alpha_sortcase",
      "Bravo_sortcase",
      "CHARLIE_sortcase",
      "delta_sortcase",
    ]);
    const walked = await walk("sort=username&q=_sortcase", 1);
    expect(walked.ids).toEqual(ids(res.body.data.items));
  });

  test("a cursor walk with a filter stays within the filter and its total", async () => {
    const first = await list("?limit=7&q=seed_&sort=username");
    expect(first.body.data.total).toBe(30);
    const walked = await walk("q=seed_&sort=username", 7);
    expect(walked.ids).toHaveLength(30);
    expect(new Set(walked.ids).size).toBe(30);
  });

  test("a cursor page answers offset 0 and the last page has next_cursor null", async () => {
    const first = await list("?limit=7&sort=email");
    const second = await list(`?limit=7&sort=email&cursor=${first.body.data.next_cursor}`);
    expect(second.status).toBe(200);
    expect(second.body.data).toEqual(expect.objectContaining({ limit: 7, offset: 0, total: first.body.data.total }));
    const last = await list("?limit=200&sort=email");
    expect(last.body.data.next_cursor).toBeNull();
  });

  test("a user created after the first page shows up in the walk when it sorts after the cursor", async () => {
    const first = await list("?limit=7&sort=created_at");
    const late = await createUser(server.core, newUser(), { actor: CLI_ACTOR });
    const rest: string[] = [];
    let cursor: string | null = first.body.data.next_cursor;
    while (cursor) {
      const res = await list(`?limit=7&sort=created_at&cursor=${cursor}`);
      rest.push(...ids(res.body.data.items));
      cursor = res.body.data.next_cursor;
    }
    expect(rest.at(-1)).toBe(late.id);
    expect(rest.filter((id) => ids(first.body.data.items).includes(id))).toEqual([]);
  });

  test("cursor together with an offset answers 422 VALIDATION_ERROR naming cursor", async () => {
    const first = await list("?limit=7");
    const res = await list(`?limit=7&offset=3&cursor=${first.body.data.next_cursor}`);
    expect(res.status).toBe(422);
    expect(validationFields(res)).toContain("cursor");
  });

  test("a cursor made for another sort answers 422 VALIDATION_ERROR", async () => {
    for (const [from, to] of [
      ["email", "username"],
      ["created_at", "-created_at"],
      ["username", "created_at"],
      ["-created_at", "email"],
    ]) {
      const cursor = (await list(`?limit=7&sort=${from}`)).body.data.next_cursor;
      const res = await list(`?limit=7&sort=${to}&cursor=${cursor}`);
      expect(res.status).toBe(422);
      expect(validationFields(res)).toEqual(["cursor"]);
    }
  });

  const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
  const id = "0b7e2d4c-1f6a-4a8e-9a53-8d1c2e3f4a5b";
  const garbage: [string, string, string][] = [
    ["not base64 at all", "-created_at", "!!!not-a-cursor!!!"],
    ["base64 of plain text", "-created_at", b64("hello")],
    ["base64 of JSON null", "-created_at", b64("null")],
    ["base64 of a JSON number", "email", b64("42")],
    ["a cursor without an id", "-created_at", b64({ s: "-created_at", v: "2020-01-01 00:00:00+00" })],
    ["a cursor whose value is a number", "email", b64({ s: "email", v: 5, id })],
    ["a timestamp that is not one", "created_at", b64({ s: "created_at", v: "yesterday", id })],
    ["a timestamp out of range", "created_at", b64({ s: "created_at", v: "2020-13-45 25:61:61+00", id })],
    ["SQL in the timestamp", "-created_at", b64({ s: "-created_at", v: "2020-01-01'); drop table users;--", id })],
    ["an id of 36 dashes", "created_at", b64({ s: "created_at", v: "2020-01-01 00:00:00+00", id: "-".repeat(36) })],
    ["an id of 36 hex digits", "-created_at", b64({ s: "-created_at", v: "2020-01-01 00:00:00+00", id: "a".repeat(36) })],
    ["a sort that does not exist", "email", b64({ s: "password_hash", v: "a", id })],
    ["a huge value", "email", b64({ s: "email", v: "x".repeat(5000), id })],
    ["February 30th", "created_at", b64({ s: "created_at", v: "2021-02-30 00:00:00+00", id })],
    ["year zero", "created_at", b64({ s: "created_at", v: "0000-01-01 00:00:00+00", id })],
    ["an offset of 99 hours", "-created_at", b64({ s: "-created_at", v: "2021-01-01 00:00:00+99", id })],
  ];
  test.each(garbage)("a garbage cursor (%s) answers 422 VALIDATION_ERROR, never 500", async (_what, sort, cursor) => {
    const res = await list(`?sort=${sort}&cursor=${encodeURIComponent(cursor)}`);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
    expect(validationFields(res)).toEqual(["cursor"]);
  });
});

describe("GET /admin/users: filters", () => {
  /** Creates users through the core under one tag, so a `q` of the tag isolates them. */
  async function tagged(tag: string, names: string[], roles?: string[]) {
    const made = [];
    for (const name of names) {
      made.push(
        await createUser(
          server.core,
          { email: `${name}@${tag}.example.org`, username: name, password: "correct horse battery staple" },
          { actor: CLI_ACTOR, roles },
        ),
      );
    }
    return made;
  }

  test("q matches a substring of the email or the username, ignoring case", async () => {
    const [a, b] = await tagged("qcase", ["MixedCaseName", "other_q1"]);
    const byName = await list("?q=XEDcase");
    expect(ids(byName.body.data.items)).toEqual([a!.id]);
    expect(byName.body.data.total).toBe(1);
    const byEmail = await list("?q=QCASE.EXAMPLE");
    expect(ids(byEmail.body.data.items).sort()).toEqual([a!.id, b!.id].sort());
    expect(byEmail.body.data.total).toBe(2);
  });

  test("q treats % and _ literally", async () => {
    const [under] = await tagged("lit1", ["ab_cd"]);
    const [plainName] = await tagged("lit2", ["abxcd"]);
    const percent = await createUser(
      server.core,
      { email: "fifty%off@lit3.example.org", username: "fiftyoff", password: "correct horse battery staple" },
      { actor: CLI_ACTOR },
    );
    expect(ids((await list("?q=b_c")).body.data.items)).toEqual([under!.id]);
    expect(ids((await list("?q=bxc")).body.data.items)).toEqual([plainName!.id]);
    expect(ids((await list(`?q=${encodeURIComponent("y%o")}`)).body.data.items)).toEqual([percent.id]);
    expect((await list(`?q=${encodeURIComponent("%")}`)).body.data.items.map((u: { id: string }) => u.id)).toEqual([
      percent.id,
    ]);
    expect((await list(`?q=${encodeURIComponent("\\")}`)).body.data.total).toBe(0);
  });

  test("q over 200 characters answers 422 VALIDATION_ERROR naming q", async () => {
    const res = await list(`?q=${"a".repeat(201)}`);
    expect(res.status).toBe(422);
    expect(validationFields(res)).toEqual(["q"]);
  });

  test("q that matches nothing answers an empty page with total 0", async () => {
    const res = await list("?q=nobody-has-this");
    expect(res.body.data).toEqual({ items: [], total: 0, limit: 50, offset: 0, next_cursor: null });
  });

  test("role filters by role, and total counts only the matches", async () => {
    const [support] = await tagged("roles", ["support_1", "support_2"], ["user", "support"]);
    const res = await list("?role=support");
    expect(res.body.data.total).toBe(2);
    expect(res.body.data.items.every((u: { roles: string[] }) => u.roles.includes("support"))).toBe(true);
    expect(ids(res.body.data.items)).toContain(support!.id);
    const admins = await list("?role=admin");
    expect(ids(admins.body.data.items)).toEqual([admin.id]);
    expect((await list("?role=nosuchrole")).body.data.total).toBe(0);
  });

  test("status filters active, blocked and deleted users; an expired block counts as active", async () => {
    const [active, blocked, expiring, deleted] = await tagged("status", ["st_active", "st_blocked", "st_expiring", "st_deleted"]);
    const now = server.core.now();
    await blockUser(server.core, CLI_ACTOR, blocked!.id, { reason: "spam" });
    await blockUser(server.core, CLI_ACTOR, expiring!.id, { until: new Date(now.getTime() + 60_000).toISOString() });
    await softDeleteUser(server.core, CLI_ACTOR, deleted!.id);

    const of = async (status: string, token = admin.token) => {
      const res = await list(`?q=status.example.org&status=${status}`, token);
      expect(res.status).toBe(200);
      expect(res.body.data.total).toBe(res.body.data.items.length);
      return ids(res.body.data.items).sort();
    };
    expect(await of("active")).toEqual([active!.id]);
    expect(await of("blocked")).toEqual([blocked!.id, expiring!.id].sort());
    expect(await of("deleted")).toEqual([deleted!.id]);
    expect((await list("?q=status.example.org")).body.data.total).toBe(4);

    server.clock.advance(61);
    expect(await of("active")).toEqual([active!.id, expiring!.id].sort());
    expect(await of("blocked")).toEqual([blocked!.id]);
    const shown = (await list("?q=st_expiring")).body.data.items[0];
    expect(shown).toEqual(
      expect.objectContaining({ status: "active", is_active: true, blocked_reason: null, blocked_until: null }),
    );
  });

  test("filters combine, and total reflects all of them", async () => {
    const made = await tagged("combo", ["combo_a", "combo_b", "combo_c"], ["user", "combo"]);
    await blockUser(server.core, CLI_ACTOR, made[0]!.id, {});
    const res = await list("?q=combo&role=combo&status=active&limit=1");
    expect(res.body.data.total).toBe(2);
    expect(res.body.data.items).toHaveLength(1);
    expect(res.body.data.next_cursor).toEqual(expect.any(String));
  });
});

describe("GET /admin/users/{id}", () => {
  test("answers the user object", async () => {
    const plain = await createPlainUser(server);
    const res = await server.api("GET", `/api/v1/admin/users/${plain.id}`, { token: admin.token });
    expect(res.status).toBe(200);
    const me = await server.api("GET", "/api/v1/users/me", { token: plain.token });
    expect(res.body).toEqual({ success: true, data: me.body.data, error: null });
  });

  test("accepts the id in upper case", async () => {
    const res = await server.api("GET", `/api/v1/admin/users/${admin.id.toUpperCase()}`, { token: admin.token });
    expect(res.status).toBe(200);
    expect(res.body.data.id).toBe(admin.id);
  });

  test("answers a soft-deleted user too, with status deleted", async () => {
    const user = await createUser(server.core, newUser(), { actor: CLI_ACTOR });
    await softDeleteUser(server.core, CLI_ACTOR, user.id);
    const res = await server.api("GET", `/api/v1/admin/users/${user.id}`, { token: admin.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(expect.objectContaining({ status: "deleted", is_active: false, deleted_at: expect.stringMatching(ISO_UTC) }));
  });

  test.each(["not-a-uuid", "123", "0b7e2d4c-1f6a-4a8e-9a53-8d1c2e3f4a5", "0b7e2d4c1f6a4a8e9a538d1c2e3f4a5bzz"])(
    "a bad UUID (%s) answers 422 VALIDATION_ERROR",
    async (id) => {
      const res = await server.api("GET", `/api/v1/admin/users/${id}`, { token: admin.token });
      expect(res.status).toBe(422);
      expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
    },
  );

  test("an unknown id answers 404 USER_NOT_FOUND", async () => {
    const res = await server.api("GET", `/api/v1/admin/users/${crypto.randomUUID()}`, { token: admin.token });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(failureOf("USER_NOT_FOUND"));
  });
});

describe("PATCH /admin/users/{id}", () => {
  function patch(id: string, body: unknown) {
    return server.api("PATCH", `/api/v1/admin/users/${id}`, { token: admin.token, body });
  }

  test("changes the email (trimmed, lower-cased); the new email logs in", async () => {
    const user = await createPlainUser(server);
    const email = `  New.${newUser().email.toUpperCase()} `;
    const res = await patch(user.id, { email });
    expect(res.status).toBe(200);
    expect(res.body.data.email).toBe(email.trim().toLowerCase());
    await loginAs(server.api, { email: email.trim().toLowerCase(), password: user.input.password });
    const old = await server.api("POST", "/api/v1/auth/login", { body: { email: user.input.email, password: user.input.password } });
    expect(old.status).toBe(401);
  });

  test("an email taken by another user, in any case, answers 409 EMAIL_TAKEN and changes nothing", async () => {
    const a = await createPlainUser(server);
    const b = await createPlainUser(server);
    const res = await patch(b.id, { email: ` ${a.input.email.toUpperCase()} `, username: newUser().username });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(failureOf("EMAIL_TAKEN"));
    const after = await server.api("GET", `/api/v1/admin/users/${b.id}`, { token: admin.token });
    expect(after.body.data).toEqual(expect.objectContaining({ email: b.input.email, username: b.input.username }));
  });

  test("a username taken by another user, in any case, answers 409 USERNAME_TAKEN", async () => {
    const a = await createPlainUser(server);
    const b = await createPlainUser(server);
    const res = await patch(b.id, { username: a.input.username.toUpperCase() });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(failureOf("USERNAME_TAKEN"));
  });

  test("the user's own email or username (another case of it) is not a conflict", async () => {
    const a = await createPlainUser(server);
    const res = await patch(a.id, { email: a.input.email.toUpperCase(), username: a.input.username.toUpperCase() });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(expect.objectContaining({ email: a.input.email, username: a.input.username.toUpperCase() }));
  });

  test("changes roles (duplicates dropped), is_verified and metadata together", async () => {
    const a = await createPlainUser(server);
    const metadata = { plan: "pro", nested: { n: 1 } };
    const res = await patch(a.id, { roles: ["user", "support", "support"], is_verified: true, metadata });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(
      expect.objectContaining({ roles: ["user", "support"], is_admin: false, is_verified: true, metadata }),
    );
    const me = await server.api("GET", "/api/v1/users/me", { token: a.token });
    expect(me.body.data).toEqual(res.body.data);
  });

  test("metadata replaces the whole object", async () => {
    const a = await createPlainUser(server);
    await patch(a.id, { metadata: { a: 1, b: 2 } });
    const res = await patch(a.id, { metadata: { c: 3 } });
    expect(res.body.data.metadata).toEqual({ c: 3 });
  });

  test("an empty body changes nothing and answers the user", async () => {
    const a = await createPlainUser(server);
    const before = (await server.api("GET", `/api/v1/admin/users/${a.id}`, { token: admin.token })).body.data;
    const res = await patch(a.id, {});
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ ...before, updated_at: expect.any(String) });
  });

  test.each([
    ["a role in upper case", { roles: ["Admin"] }, "roles"],
    ["an empty role name", { roles: [""] }, "roles"],
    ["a role with a space", { roles: ["super user"] }, "roles"],
    ["a role of 33 characters", { roles: ["r".repeat(33)] }, "roles"],
    ["roles that are not a list", { roles: "admin" }, "roles"],
    ["roles that are not strings", { roles: [1] }, "roles.0"],
    ["a bad email", { email: "not-an-email" }, "email"],
    ["a bad username", { username: "no spaces" }, "username"],
    ["a username too short", { username: "ab" }, "username"],
    ["is_verified as a string", { is_verified: "yes" }, "is_verified"],
    ["metadata that is a list", { metadata: [1, 2] }, "metadata"],
    ["metadata over 8 KiB", { metadata: { k: "x".repeat(8200) } }, "metadata"],
    ["an unknown field", { nickname: "bob" }, "nickname"],
    ["a password", { password: "correct horse battery staple" }, "password"],
    ["a status", { status: "blocked" }, "status"],
    ["a balance", { balance: 100 }, "balance"],
  ])("%s answers 422 VALIDATION_ERROR naming the field", async (_what, body, field) => {
    const a = await createPlainUser(server);
    const before = (await server.api("GET", `/api/v1/admin/users/${a.id}`, { token: admin.token })).body.data;
    const res = await patch(a.id, body);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
    expect(validationFields(res)).toContain(field);
    expect((await server.api("GET", `/api/v1/admin/users/${a.id}`, { token: admin.token })).body.data).toEqual(before);
  });

  test("a bad UUID answers 422 and an unknown id 404 USER_NOT_FOUND", async () => {
    expect((await patch("nope", { is_verified: true })).status).toBe(422);
    const res = await patch(crypto.randomUUID(), { is_verified: true });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(failureOf("USER_NOT_FOUND"));
  });
});
