import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { users } from "../../src/core/db/schema.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let server: TestServer;
beforeAll(async () => {
  // Failures here are about answers, not about the login rate limit.
  server = await startTestServer({ USERSVC_LOGIN_MAX_ATTEMPTS: "1000" });
});
afterAll(() => server.stop());

async function registered(overrides: Parameters<typeof newUser>[0] = {}) {
  const input = newUser(overrides);
  const res = await server.api("POST", "/api/v1/users", { body: input });
  expect(res.status).toBe(201);
  return { input, user: res.body.data };
}

function login(body: unknown) {
  return server.api("POST", "/api/v1/auth/login", { body });
}

/** The login answer as bytes on the wire, for comparing failures exactly. */
async function rawLogin(body: unknown): Promise<{ status: number; text: string; authenticate: string | null }> {
  const res = await fetch(`${server.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text(), authenticate: res.headers.get("www-authenticate") };
}

async function setStatus(userId: string, changes: Partial<typeof users.$inferInsert>): Promise<void> {
  await server.core.db.update(users).set(changes).where(eq(users.id, userId));
}

const TOKEN_PAIR = {
  access_token: expect.any(String),
  refresh_token: expect.any(String),
  token_type: "bearer",
  expires_in: 900,
  refresh_expires_in: 2_592_000,
};

describe("POST /api/v1/auth/login", () => {
  test("login by email answers 200 with the token pair", async () => {
    const { input } = await registered();
    const res = await login({ email: input.email, password: input.password });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, data: TOKEN_PAIR, error: null });
  });

  test("login by email ignores case and surrounding spaces", async () => {
    const { input } = await registered();
    const res = await login({ email: `  ${input.email.toUpperCase()} `, password: input.password });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(TOKEN_PAIR);
  });

  test("login by username answers 200 with the token pair, whatever the case", async () => {
    const { input } = await registered();
    const res = await login({ username: input.username.toUpperCase(), password: input.password });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(TOKEN_PAIR);
  });

  test("the access token opens GET /users/me for the user who logged in", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const me = await server.api("GET", "/api/v1/users/me", { token: tokens.access_token });
    expect(me.status).toBe(200);
    expect(me.body.data.id).toBe(user.id);
  });

  test("login records last_login_at", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    expect(user.last_login_at).toBeNull();
    const me = await server.api("GET", "/api/v1/users/me", { token: tokens.access_token });
    expect(Date.parse(me.body.data.last_login_at)).toBeGreaterThanOrEqual(Date.parse(user.created_at));
  });

  test("each login starts a session of its own", async () => {
    const { input } = await registered();
    const a = await login({ email: input.email, password: input.password });
    const b = await login({ username: input.username, password: input.password });
    expect(decodeJwt(a.body.data.access_token).sid).not.toBe(decodeJwt(b.body.data.access_token).sid);
  });

  test("email and username together answer 422 VALIDATION_ERROR", async () => {
    const { input } = await registered();
    const res = await login({ email: input.email, username: input.username, password: input.password });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({ code: "VALIDATION_ERROR", message: expect.any(String), details: expect.any(Array) });
  });

  test("neither email nor username answers 422 VALIDATION_ERROR", async () => {
    const res = await login({ password: "correct horse battery staple" });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({ code: "VALIDATION_ERROR", message: expect.any(String), details: expect.any(Array) });
  });

  test("a password of the wrong type answers 422 VALIDATION_ERROR", async () => {
    const { input } = await registered();
    const res = await login({ email: input.email, password: 12345678 });
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual([{ field: "password", message: expect.any(String) }]);
  });

  test("an unknown field in the login body answers 422", async () => {
    const { input } = await registered();
    const res = await login({ email: input.email, password: input.password, remember_me: true });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("VALIDATION_ERROR");
  });
});

describe("login failures", () => {
  const INVALID_CREDENTIALS = {
    success: false,
    data: null,
    error: { code: "INVALID_CREDENTIALS", message: expect.any(String) },
  };

  test("a wrong password answers 401 INVALID_CREDENTIALS", async () => {
    const { input } = await registered();
    const res = await login({ email: input.email, password: `${input.password}!` });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_CREDENTIALS);
  });

  test("an unknown email answers 401 INVALID_CREDENTIALS", async () => {
    const res = await login({ email: newUser().email, password: "correct horse battery staple" });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_CREDENTIALS);
  });

  test("an unknown username answers 401 INVALID_CREDENTIALS", async () => {
    const res = await login({ username: newUser().username, password: "correct horse battery staple" });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_CREDENTIALS);
  });

  test("a deleted user answers 401 INVALID_CREDENTIALS even with the right password", async () => {
    const { input, user } = await registered();
    await setStatus(user.id, { status: "deleted", deletedAt: new Date() });
    const res = await login({ email: input.email, password: input.password });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_CREDENTIALS);
  });

  test("unknown email, wrong password and deleted user answer byte-identical responses", async () => {
    const live = await registered();
    const gone = await registered();
    await setStatus(gone.user.id, { status: "deleted", deletedAt: new Date() });

    const answers = [
      await rawLogin({ email: newUser().email, password: live.input.password }),
      await rawLogin({ email: live.input.email, password: "not the password at all" }),
      await rawLogin({ email: gone.input.email, password: gone.input.password }),
      await rawLogin({ email: gone.input.email, password: "not the password at all" }),
      await rawLogin({ username: newUser().username, password: live.input.password }),
      await rawLogin({ username: live.input.username, password: "not the password at all" }),
    ];
    for (const answer of answers) expect(answer).toEqual(answers[0]!);
    expect(answers[0]!.status).toBe(401);
    expect(JSON.parse(answers[0]!.text).error.code).toBe("INVALID_CREDENTIALS");
  });

  test("a blocked user with the right password answers 403 ACCOUNT_BLOCKED", async () => {
    const { input, user } = await registered();
    await setStatus(user.id, { status: "blocked", blockedReason: "spam" });
    const res = await login({ email: input.email, password: input.password });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ success: false, data: null, error: { code: "ACCOUNT_BLOCKED", message: expect.any(String) } });
  });

  test("a blocked user with a wrong password answers 401 INVALID_CREDENTIALS, not ACCOUNT_BLOCKED", async () => {
    const { input, user } = await registered();
    await setStatus(user.id, { status: "blocked", blockedReason: "spam" });
    const res = await login({ email: input.email, password: "not the password at all" });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(INVALID_CREDENTIALS);
  });

  test("a block with an end in the past no longer stops the login", async () => {
    const { input, user } = await registered();
    await setStatus(user.id, { status: "blocked", blockedUntil: new Date(server.clock.now().getTime() + 3_600_000) });
    expect((await login({ email: input.email, password: input.password })).status).toBe(403);
    server.clock.advance(3_601);
    const res = await login({ email: input.email, password: input.password });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(TOKEN_PAIR);
  });

  test("a failed login starts no session", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    expect((await login({ email: input.email, password: "not the password at all" })).status).toBe(401);
    const sessions = await server.api("GET", "/api/v1/users/me/sessions", { token: tokens.access_token });
    expect(sessions.body.data).toHaveLength(1);
  });
});

describe("the tokens login hands out", () => {
  test("the access token carries sub, sid, jti, type, iat, exp, iss, aud and roles", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toEqual(
      expect.objectContaining({
        sub: user.id,
        sid: expect.stringMatching(UUID),
        jti: expect.any(String),
        type: "access",
        iat: expect.any(Number),
        exp: claims.iat! + 900,
        iss: "usersvc",
        aud: "usersvc",
        roles: ["user"],
      }),
    );
    expect(Math.abs(claims.iat! - server.clock.now().getTime() / 1000)).toBeLessThan(60);
  });

  test("the refresh token carries the same sub and sid, its own jti, type refresh, an audience of its own and no roles", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const access = decodeJwt(tokens.access_token);
    const refresh = decodeJwt(tokens.refresh_token);
    expect(refresh).toEqual(
      expect.objectContaining({
        sub: user.id,
        sid: access.sid,
        jti: expect.any(String),
        type: "refresh",
        iat: expect.any(Number),
        exp: refresh.iat! + 2_592_000,
        iss: "usersvc",
        aud: "usersvc:refresh",
      }),
    );
    expect(refresh.jti).not.toBe(access.jti);
    expect(refresh.roles).toBeUndefined();
  });

  test("every token has a unique jti", async () => {
    const { input } = await registered();
    const jtis = new Set<unknown>();
    for (let i = 0; i < 3; i++) {
      const res = await login({ email: input.email, password: input.password });
      jtis.add(decodeJwt(res.body.data.access_token).jti);
      jtis.add(decodeJwt(res.body.data.refresh_token).jti);
    }
    expect(jtis.size).toBe(6);
  });

  test("tokens are signed with EdDSA and name their key with kid by default", async () => {
    const { tokens } = await registerAndLogin(server.api);
    for (const [token, typ] of [[tokens.access_token, "at+jwt"], [tokens.refresh_token, "JWT"]] as const) {
      expect(decodeProtectedHeader(token)).toEqual({ alg: "EdDSA", typ, kid: expect.any(String) });
    }
  });

  test("GET /.well-known/jwks.json publishes the kid of the tokens, public parts only", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { kid } = decodeProtectedHeader(tokens.access_token);
    const res = await server.api("GET", "/.well-known/jwks.json");
    expect(res.status).toBe(200);
    expect(res.body.keys).toContainEqual(expect.objectContaining({ kid, kty: "OKP", crv: "Ed25519", alg: "EdDSA" }));
    for (const key of res.body.keys) expect(key.d).toBeUndefined();
  });

  test("a token verifies against the published JWKS with the configured issuer and audience", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const jwks = (await server.api("GET", "/.well-known/jwks.json")).body;
    const { payload } = await jwtVerify(tokens.access_token, createLocalJWKSet(jwks), {
      issuer: "usersvc",
      audience: "usersvc",
      currentDate: server.clock.now(),
    });
    expect(payload.sub).toBe(user.id);
  });
});
