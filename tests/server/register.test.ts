import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { count, eq, sql } from "drizzle-orm";
import { users } from "../../src/core/db/schema.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

async function userCount(): Promise<number> {
  const [row] = await server.core.db.select({ n: count() }).from(users);
  return Number(row?.n ?? 0);
}

async function storedEmails(email: string): Promise<string[]> {
  const rows = await server.core.db
    .select({ email: users.email })
    .from(users)
    .where(sql`lower(${users.email}) = lower(${email.trim()})`);
  return rows.map((r) => r.email);
}

function register(body: unknown, path = "/api/v1/users") {
  return server.api("POST", path, { body });
}

function expectValidationError(res: { status: number; body: any }, fields: string[]): void {
  expect(res.status).toBe(422);
  expect(res.body).toEqual({
    success: false,
    data: null,
    error: { code: "VALIDATION_ERROR", message: expect.any(String), details: expect.any(Array) },
  });
  const named = new Set(res.body.error.details.map((d: { field: string }) => d.field));
  for (const field of fields) expect(named).toContain(field);
  for (const detail of res.body.error.details) expect(detail).toEqual({ field: expect.any(String), message: expect.any(String) });
}

describe("POST /api/v1/users", () => {
  test("a valid registration answers 201 with exactly the SPEC user object", async () => {
    const input = newUser();
    const res = await register(input);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      success: true,
      error: null,
      data: {
        id: expect.stringMatching(UUID),
        email: input.email,
        username: input.username,
        roles: ["user"],
        is_admin: false,
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
        last_login_at: null,
        deleted_at: null,
      },
    });
  });

  test("the response carries neither the password nor any password hash", async () => {
    const input = newUser({ password: "a rather unusual passphrase 42" });
    const res = await register(input);
    expect(res.status).toBe(201);
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(input.password);
    expect(text).not.toContain("$argon2");
    expect(text.toLowerCase()).not.toContain("hash");
  });

  test("the password is stored as an argon2id hash, never in clear", async () => {
    const input = newUser({ password: "another unusual passphrase 7" });
    expect((await register(input)).status).toBe(201);
    const [row] = await server.core.db.select().from(users).where(eq(users.email, input.email));
    expect(row!.passwordHash).toStartWith("$argon2id$");
    expect(row!.passwordHash).not.toContain(input.password);
  });

  test("the email is stored trimmed and lower-cased", async () => {
    const base = newUser();
    const res = await register({ ...base, email: `  ${base.email.toUpperCase()}  ` });
    expect(res.status).toBe(201);
    expect(res.body.data.email).toBe(base.email);
    expect(await storedEmails(base.email)).toEqual([base.email]);
  });

  test("the username keeps its case", async () => {
    const base = newUser();
    const username = `Mixed_Case.${base.username.slice(-6)}`;
    const res = await register({ ...base, username });
    expect(res.status).toBe(201);
    expect(res.body.data.username).toBe(username);
  });

  test("usernames of 3 and of 32 characters from [A-Za-z0-9_.-] are accepted", async () => {
    const tag = crypto.randomUUID().replaceAll("-", "");
    for (const username of [tag.slice(0, 3), `a.b_c-${tag}`.slice(0, 32)]) {
      const res = await register(newUser({ username }));
      expect(res.status).toBe(201);
      expect(res.body.data.username).toBe(username);
    }
  });

  test("the alias POST /auth/register creates a user the same way", async () => {
    const input = newUser();
    const res = await register({ ...input, email: input.email.toUpperCase() }, "/api/v1/auth/register");
    expect(res.status).toBe(201);
    expect(res.body.data).toEqual(expect.objectContaining({ email: input.email, username: input.username, roles: ["user"] }));
    expect(await storedEmails(input.email)).toEqual([input.email]);
  });
});

describe("registration conflicts", () => {
  test("an email already taken, in any case, answers 409 EMAIL_TAKEN", async () => {
    const first = newUser();
    expect((await register(first)).status).toBe(201);
    const before = await userCount();
    const res = await register(newUser({ email: ` ${first.email.toUpperCase()}` }));
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ success: false, data: null, error: { code: "EMAIL_TAKEN", message: expect.any(String) } });
    expect(await userCount()).toBe(before);
  });

  test("a username already taken, in any case, answers 409 USERNAME_TAKEN", async () => {
    const first = newUser();
    expect((await register(first)).status).toBe(201);
    const before = await userCount();
    const res = await register(newUser({ username: first.username.toUpperCase() }));
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ success: false, data: null, error: { code: "USERNAME_TAKEN", message: expect.any(String) } });
    expect(await userCount()).toBe(before);
  });

  test("the alias reports conflicts with users made through POST /users", async () => {
    const first = newUser();
    expect((await register(first)).status).toBe(201);
    const res = await register(newUser({ email: first.email }), "/api/v1/auth/register");
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("EMAIL_TAKEN");
  });
});

describe("registration validation", () => {
  test.each([
    ["no at sign", "not-an-email"],
    ["no domain dot", "someone@localhost"],
    ["a space inside", "some one@example.com"],
    ["two at signs", "a@b@example.com"],
    ["empty", ""],
  ])("an email with %s answers 422 VALIDATION_ERROR naming email", async (_, email) => {
    const input = newUser({ email });
    const res = await register(input);
    expectValidationError(res, ["email"]);
  });

  test.each([
    ["too short", "ab"],
    ["too long", "a".repeat(33)],
    ["a space", "has space"],
    ["a forbidden character", "bad!name"],
    ["non-ASCII letters", "jürgen"],
  ])("a username %s answers 422 VALIDATION_ERROR naming username", async (_, username) => {
    const input = newUser({ username });
    const before = await userCount();
    expectValidationError(await register(input), ["username"]);
    expect(await userCount()).toBe(before);
  });

  test("a password under 8 characters answers 422 VALIDATION_ERROR naming password", async () => {
    const input = newUser({ password: "Xy7#kq2" });
    expectValidationError(await register(input), ["password"]);
    expect(await storedEmails(input.email)).toEqual([]);
  });

  test("a password over 256 characters answers 422 VALIDATION_ERROR naming password", async () => {
    const input = newUser({ password: "Xy7#kq2!".repeat(33) });
    expectValidationError(await register(input), ["password"]);
    expect(await storedEmails(input.email)).toEqual([]);
  });

  test("one response names every bad field at once", async () => {
    const res = await register({ email: "nope", username: "a", password: "short" });
    expectValidationError(res, ["email", "username", "password"]);
  });

  test.each([
    ["email as a number", { email: 5 }, "email"],
    ["username as an array", { username: ["alice"] }, "username"],
    ["password as a number", { password: 12345678 }, "password"],
    ["password as null", { password: null }, "password"],
  ])("%s answers 422 VALIDATION_ERROR naming that field", async (_, override, field) => {
    const input = { ...newUser(), ...override };
    const before = await userCount();
    expectValidationError(await register(input), [field]);
    expect(await userCount()).toBe(before);
  });

  test("a missing field answers 422 VALIDATION_ERROR naming it", async () => {
    const { email, username } = newUser();
    expectValidationError(await register({ email, username }), ["password"]);
  });

  test("a body that is not an object answers 422 VALIDATION_ERROR", async () => {
    const before = await userCount();
    expectValidationError(await register([newUser()]), []);
    expectValidationError(await register("just a string"), []);
    expect(await userCount()).toBe(before);
  });

  test.each([
    ["roles", { roles: ["admin"] }],
    ["is_admin", { is_admin: true }],
    ["is_verified", { is_verified: true }],
    ["status", { status: "active" }],
    ["balance", { balance: 1_000_000 }],
    ["id", { id: "00000000-0000-4000-8000-000000000000" }],
  ])("an unknown field %s is refused with 422 and nothing is stored", async (field, extra) => {
    const input = { ...newUser(), ...extra };
    const before = await userCount();
    expectValidationError(await register(input), [field]);
    expect(await userCount()).toBe(before);
    expect(await storedEmails(input.email)).toEqual([]);
  });

  test("mass assignment through the alias is refused as well", async () => {
    const input = { ...newUser(), roles: ["admin"], is_admin: true };
    expectValidationError(await register(input, "/api/v1/auth/register"), ["roles", "is_admin"]);
    expect(await storedEmails(input.email)).toEqual([]);
  });

  test.each(["password123", "Password1", "iloveyou", "12345678", "QWERTYUIOP"])(
    "the common password %p answers 422 WEAK_PASSWORD and stores nothing",
    async (password) => {
      const input = newUser({ password });
      const res = await register(input);
      expect(res.status).toBe(422);
      expect(res.body).toEqual({ success: false, data: null, error: { code: "WEAK_PASSWORD", message: expect.any(String) } });
      expect(await storedEmails(input.email)).toEqual([]);
    },
  );

  test("a rejected registration leaves the email and username free for a correct one", async () => {
    const input = newUser();
    expect((await register({ ...input, password: "password123" })).status).toBe(422);
    expect((await register({ ...input, roles: ["admin"] })).status).toBe(422);
    const res = await register(input);
    expect(res.status).toBe(201);
    expect(res.body.data.roles).toEqual(["user"]);
  });

  test("a registration refused for a taken email does not claim its username", async () => {
    const first = newUser();
    expect((await register(first)).status).toBe(201);
    const second = newUser();
    expect((await register({ ...second, email: first.email })).status).toBe(409);
    expect((await register(second)).status).toBe(201);
  });
});
