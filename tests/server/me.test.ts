import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

function me(token: string) {
  return server.api("GET", "/api/v1/users/me", { token });
}

function update(method: "PATCH" | "PUT", token: string, body: unknown) {
  return server.api(method, "/api/v1/users/me", { token, body });
}

/** JSON metadata of exactly `bytes` bytes. */
function metadataOfSize(bytes: number): Record<string, string> {
  const overhead = JSON.stringify({ k: "" }).length;
  return { k: "x".repeat(bytes - overhead) };
}

describe("GET /users/me", () => {
  test("answers the caller's user object", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const res = await me(tokens.access_token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      error: null,
      data: { ...user, last_login_at: expect.any(String), updated_at: expect.any(String) },
    });
  });

  test("never answers a password hash", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const text = JSON.stringify((await me(tokens.access_token)).body);
    expect(text).not.toContain("$argon2");
    expect(text).not.toContain(input.password);
  });

  test("without a token answers 401 UNAUTHENTICATED", async () => {
    const res = await server.api("GET", "/api/v1/users/me");
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ success: false, data: null, error: { code: "UNAUTHENTICATED", message: expect.any(String) } });
  });
});

describe.each(["PATCH", "PUT"] as const)("%s /users/me", (method) => {
  test("changes the username and answers the updated user", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const username = newUser().username;
    server.clock.advance(5);
    const res = await update(method, tokens.access_token, { username });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      error: null,
      data: { ...user, username, last_login_at: expect.any(String), updated_at: expect.any(String) },
    });
    expect(Date.parse(res.body.data.updated_at)).toBeGreaterThan(Date.parse(user.updated_at));
    expect((await me(tokens.access_token)).body.data.username).toBe(username);
  });

  test("the new username logs in and the old one no longer does", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const username = newUser().username;
    expect((await update(method, tokens.access_token, { username })).status).toBe(200);
    const byNew = await server.api("POST", "/api/v1/auth/login", { body: { username, password: input.password } });
    expect(byNew.status).toBe(200);
    const byOld = await server.api("POST", "/api/v1/auth/login", { body: { username: input.username, password: input.password } });
    expect(byOld.status).toBe(401);
  });

  test("stores metadata as given", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const metadata = { plan: "pro", tags: ["a", "b"], nested: { n: 1, ok: true, none: null } };
    const res = await update(method, tokens.access_token, { metadata });
    expect(res.status).toBe(200);
    expect(res.body.data.metadata).toEqual(metadata);
    expect((await me(tokens.access_token)).body.data.metadata).toEqual(metadata);
  });

  test("a username and metadata together are both applied", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const username = newUser().username;
    const res = await update(method, tokens.access_token, { username, metadata: { theme: "dark" } });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(expect.objectContaining({ username, metadata: { theme: "dark" } }));
  });

  test("a username taken by another user, in any case, answers 409 USERNAME_TAKEN", async () => {
    const alice = await registerAndLogin(server.api);
    const bob = await registerAndLogin(server.api);
    const res = await update(method, bob.tokens.access_token, { username: alice.input.username.toUpperCase() });
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ success: false, data: null, error: { code: "USERNAME_TAKEN", message: expect.any(String) } });
    expect((await me(bob.tokens.access_token)).body.data.username).toBe(bob.input.username);
  });

  test("changing only the case of one's own username is allowed", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const res = await update(method, tokens.access_token, { username: input.username.toUpperCase() });
    expect(res.status).toBe(200);
    expect(res.body.data.username).toBe(input.username.toUpperCase());
  });

  test("an invalid username answers 422 VALIDATION_ERROR naming username", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const res = await update(method, tokens.access_token, { username: "no spaces allowed" });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({
      code: "VALIDATION_ERROR",
      message: expect.any(String),
      details: [{ field: "username", message: expect.any(String) }],
    });
    expect((await me(tokens.access_token)).body.data.username).toBe(input.username);
  });

  test("metadata of exactly 8 KiB is accepted", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const metadata = metadataOfSize(8 * 1024);
    expect(Buffer.byteLength(JSON.stringify(metadata))).toBe(8192);
    const res = await update(method, tokens.access_token, { metadata });
    expect(res.status).toBe(200);
    expect(res.body.data.metadata).toEqual(metadata);
  });

  test("metadata over 8 KiB answers 422 VALIDATION_ERROR and is not stored", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const res = await update(method, tokens.access_token, { metadata: metadataOfSize(8 * 1024 + 1) });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({
      code: "VALIDATION_ERROR",
      message: expect.any(String),
      details: [{ field: "metadata", message: expect.any(String) }],
    });
    expect((await me(tokens.access_token)).body.data.metadata).toEqual({});
  });

  test("metadata over 8 KiB counted in UTF-8 bytes, not characters, is refused", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const metadata = { k: "é".repeat(4100) };
    expect(JSON.stringify(metadata).length).toBeLessThan(8192);
    const res = await update(method, tokens.access_token, { metadata });
    expect(res.status).toBe(422);
  });

  test.each([
    ["an array", [1, 2]],
    ["a string", "text"],
    ["a number", 5],
    ["null", null],
  ])("metadata that is %s answers 422 VALIDATION_ERROR", async (_, metadata) => {
    const { tokens } = await registerAndLogin(server.api);
    const res = await update(method, tokens.access_token, { metadata });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("VALIDATION_ERROR");
    expect(res.body.error.details).toContainEqual({ field: "metadata", message: expect.any(String) });
  });

  test.each([
    ["roles", { roles: ["admin"] }],
    ["is_admin", { is_admin: true }],
    ["status", { status: "active" }],
    ["balance", { balance: 1_000_000 }],
    ["is_verified", { is_verified: true }],
    ["email", { email: "new@example.com" }],
    ["password", { password: "a brand new passphrase 2024" }],
    ["id", { id: "00000000-0000-4000-8000-000000000000" }],
  ])("the field %s answers 422 VALIDATION_ERROR and changes nothing", async (field, body) => {
    const { tokens } = await registerAndLogin(server.api);
    const before = (await me(tokens.access_token)).body.data;
    const res = await update(method, tokens.access_token, { ...body, metadata: { sneaky: true } });
    expect(res.status).toBe(422);
    expect(res.body.error.details).toContainEqual({ field, message: expect.any(String) });
    expect((await me(tokens.access_token)).body.data).toEqual(before);
  });

  test("without a token answers 401", async () => {
    const res = await server.api(method, "/api/v1/users/me", { body: { username: newUser().username } });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("UNAUTHENTICATED");
  });
});
