import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  base64url,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  importJWK,
  SignJWT,
  type JWK,
  type JWTPayload,
} from "jose";
import { eq } from "drizzle-orm";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { signingKeys, users } from "../../src/core/db/schema.ts";
import { blockUser } from "../../src/core/users/lifecycle.ts";
import { registerAndLogin, startTestServer, type TestServer, type TokenPairBody } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const SECRET = "a test secret that is comfortably longer than 32 bytes";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

function me(srv: TestServer, token: string) {
  return srv.api("GET", "/api/v1/users/me", { token });
}

function refresh(srv: TestServer, refreshToken: unknown) {
  return srv.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: refreshToken } });
}

function failure(code: string) {
  return { success: false, data: null, error: { code, message: expect.any(String) } };
}

function expectRefused(res: { status: number; body: any }, code: string): void {
  expect(res.status).toBe(401);
  expect(res.body).toEqual(failure(code));
}

/** Signs `payload` as given (no claim is added), with the header given. */
function sign(payload: JWTPayload, header: { alg: string; kid?: string }, key: CryptoKey | Uint8Array): Promise<string> {
  const typ = payload.type === "access" ? "at+jwt" : "JWT";
  return new SignJWT(payload).setProtectedHeader({ typ, ...header }).sign(key);
}

function encodeSegment(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

/** The server's own private signing key, to show that a claim alone makes a token fail. */
async function serverSigningKey(srv: TestServer): Promise<{ kid: string; key: CryptoKey }> {
  const [row] = await srv.core.db.select().from(signingKeys);
  return { kid: row!.kid, key: (await importJWK(row!.privateJwk as JWK, row!.alg)) as CryptoKey };
}

describe("refresh rotation", () => {
  test("a refresh answers a new pair for the same session and a new refresh token", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const res = await refresh(server, tokens.refresh_token);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      token_type: "bearer",
      expires_in: 900,
      refresh_expires_in: 2_592_000,
    });
    const next: TokenPairBody = res.body.data;
    expect(next.refresh_token).not.toBe(tokens.refresh_token);
    expect(decodeJwt(next.refresh_token).jti).not.toBe(decodeJwt(tokens.refresh_token).jti);
    expect(decodeJwt(next.access_token).sid).toBe(decodeJwt(tokens.access_token).sid);
    expect((await me(server, next.access_token)).status).toBe(200);
  });

  test("the new refresh token can be refreshed in turn", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const first = await refresh(server, tokens.refresh_token);
    const second = await refresh(server, first.body.data.refresh_token);
    expect(second.status).toBe(200);
    expect(decodeJwt(second.body.data.access_token).sid).toBe(decodeJwt(tokens.access_token).sid);
  });

  test("a spent refresh token answers 401 REFRESH_TOKEN_REUSED", async () => {
    const { tokens } = await registerAndLogin(server.api);
    expect((await refresh(server, tokens.refresh_token)).status).toBe(200);
    expectRefused(await refresh(server, tokens.refresh_token), "REFRESH_TOKEN_REUSED");
  });

  test("reuse revokes the whole session: its newest refresh token and its access tokens stop working", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const rotated: TokenPairBody = (await refresh(server, tokens.refresh_token)).body.data;
    expectRefused(await refresh(server, tokens.refresh_token), "REFRESH_TOKEN_REUSED");

    const newest = await refresh(server, rotated.refresh_token);
    expect(newest.status).toBe(401);
    expect(["SESSION_REVOKED", "REFRESH_TOKEN_REUSED"]).toContain(newest.body.error.code);
    expectRefused(await me(server, rotated.access_token), "SESSION_REVOKED");
    expectRefused(await me(server, tokens.access_token), "SESSION_REVOKED");
  });

  test("reuse in one session leaves the user's other sessions working", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const other = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect((await refresh(server, tokens.refresh_token)).status).toBe(200);
    expect((await refresh(server, tokens.refresh_token)).status).toBe(401);
    expect((await me(server, other.body.data.access_token)).status).toBe(200);
    expect((await refresh(server, other.body.data.refresh_token)).status).toBe(200);
  });

  test("of many concurrent refreshes with one token, at most one succeeds", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const answers = await Promise.all(Array.from({ length: 12 }, () => refresh(server, tokens.refresh_token)));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(1);
    expect(statuses.filter((s) => s !== 200 && s !== 401)).toEqual([]);
  });

  test("a refresh body without refresh_token answers 422 VALIDATION_ERROR", async () => {
    const res = await server.api("POST", "/api/v1/auth/refresh", { body: {} });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("VALIDATION_ERROR");
  });

  test("a refresh token that is not a JWT answers 401 INVALID_TOKEN", async () => {
    expectRefused(await refresh(server, "not-a-jwt"), "INVALID_TOKEN");
  });

  // Refresh rotates in one statement when nothing stands in the way, and reads and judges otherwise.
  test("a session signed in after a timed block ended refreshes, though the sweep has not yet marked the user active", async () => {
    const { user, tokens, input } = await registerAndLogin(server.api);
    await blockUser(server.core, CLI_ACTOR, user.id, { until: new Date(server.clock.now().getTime() + 60_000).toISOString() });
    expectRefused(await refresh(server, tokens.refresh_token), "SESSION_REVOKED");
    server.clock.advance(61);
    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect(login.status).toBe(200);
    const [stored] = await server.core.db.select({ status: users.status }).from(users).where(eq(users.id, user.id));
    expect(stored!.status).toBe("blocked");
    const res = await refresh(server, login.body.data.refresh_token);
    expect(res.status).toBe(200);
    expect((await refresh(server, res.body.data.refresh_token)).status).toBe(200);
  });

  test("a user marked blocked or deleted while a session stayed live cannot refresh it, and the token is not spent", async () => {
    for (const [status, httpStatus, code] of [["blocked", 403, "ACCOUNT_BLOCKED"], ["deleted", 401, "SESSION_REVOKED"]] as const) {
      const { user, tokens } = await registerAndLogin(server.api);
      await server.core.db.update(users).set({ status }).where(eq(users.id, user.id));
      const refused = await refresh(server, tokens.refresh_token);
      expect(refused.status).toBe(httpStatus);
      expect(refused.body).toEqual(failure(code));
      await server.core.db.update(users).set({ status: "active" }).where(eq(users.id, user.id));
      expect((await refresh(server, tokens.refresh_token)).status).toBe(200);
    }
  });

  test("a refresh token naming another user than its session's owner is refused and spends nothing", async () => {
    const victim = await registerAndLogin(server.api);
    const other = await registerAndLogin(server.api);
    const { kid, key } = await serverSigningKey(server);
    const claims = decodeJwt(victim.tokens.refresh_token);
    const forged = await sign({ ...claims, sub: other.user.id }, { alg: decodeProtectedHeader(victim.tokens.refresh_token).alg!, kid }, key);
    expectRefused(await refresh(server, forged), "SESSION_REVOKED");
    expect((await refresh(server, victim.tokens.refresh_token)).status).toBe(200);
  });
});

describe("token types", () => {
  test("a refresh token on a protected route answers 401 INVALID_TOKEN_TYPE", async () => {
    const { tokens } = await registerAndLogin(server.api);
    expectRefused(await me(server, tokens.refresh_token), "INVALID_TOKEN_TYPE");
  });

  test("a refresh token cannot log the session out", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const res = await server.api("POST", "/api/v1/auth/logout", { token: tokens.refresh_token });
    expectRefused(res, "INVALID_TOKEN_TYPE");
    expect((await me(server, tokens.access_token)).status).toBe(200);
  });

  test("an access token on /auth/refresh answers 401 INVALID_TOKEN_TYPE", async () => {
    const { tokens } = await registerAndLogin(server.api);
    expectRefused(await refresh(server, tokens.access_token), "INVALID_TOKEN_TYPE");
    expect((await refresh(server, tokens.refresh_token)).status).toBe(200);
  });
});

describe("hostile tokens", () => {
  test("a token with alg none answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const [, payload] = tokens.access_token.split(".");
    const unsigned = `${encodeSegment({ alg: "none", typ: "JWT" })}.${payload}.`;
    expectRefused(await me(server, unsigned), "INVALID_TOKEN");
  });

  test("an edited payload under the original signature answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const [header, payload, signature] = tokens.access_token.split(".");
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload!)));
    const edited = `${header}.${encodeSegment({ ...claims, roles: ["admin"] })}.${signature}`;
    expectRefused(await me(server, edited), "INVALID_TOKEN");
  });

  test("a payload taken from another user's token under this signature answers 401 INVALID_TOKEN", async () => {
    const alice = await registerAndLogin(server.api);
    const bob = await registerAndLogin(server.api);
    const [header, , signature] = alice.tokens.access_token.split(".");
    const [, bobPayload] = bob.tokens.access_token.split(".");
    expectRefused(await me(server, `${header}.${bobPayload}.${signature}`), "INVALID_TOKEN");
  });

  test("a token signed by another key under the server's kid answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const { kid } = decodeProtectedHeader(tokens.access_token);
    const forged = await sign(decodeJwt(tokens.access_token), { alg: "EdDSA", kid }, privateKey);
    expectRefused(await me(server, forged), "INVALID_TOKEN");
  });

  test("a token signed by another key under an unknown kid answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const forged = await sign(decodeJwt(tokens.access_token), { alg: "EdDSA", kid: crypto.randomUUID() }, privateKey);
    expectRefused(await me(server, forged), "INVALID_TOKEN");
  });

  test("an HS256 token keyed with the server's public key answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { kid } = decodeProtectedHeader(tokens.access_token);
    const jwks = (await server.api("GET", "/.well-known/jwks.json")).body;
    const publicJwk = jwks.keys.find((k: JWK) => k.kid === kid);
    const confused = await sign(
      decodeJwt(tokens.access_token),
      { alg: "HS256", kid },
      new TextEncoder().encode(JSON.stringify(publicJwk)),
    );
    expectRefused(await me(server, confused), "INVALID_TOKEN");
  });

  test("a token re-signed with the server's own key is accepted (the forging below is sound)", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const { kid, key } = await serverSigningKey(server);
    const resigned = await sign({ ...decodeJwt(tokens.access_token), jti: crypto.randomUUID() }, { alg: "EdDSA", kid }, key);
    const res = await me(server, resigned);
    expect(res.status).toBe(200);
    expect(res.body.data.id).toBe(user.id);
  });

  test.each([
    ["a wrong iss", { iss: "someone-else" }],
    ["no iss", { iss: undefined }],
    ["a wrong aud", { aud: "another-app" }],
    ["no aud", { aud: undefined }],
    ["no sid", { sid: undefined }],
    ["no jti", { jti: undefined }],
    ["no exp", { exp: undefined }],
    ["an unknown type", { type: "admin" }],
    ["a sub that is not a UUID", { sub: "admin" }],
  ])("a token with %s, signed with the server's own key, answers 401 INVALID_TOKEN", async (_, change) => {
    const { tokens } = await registerAndLogin(server.api);
    const { kid, key } = await serverSigningKey(server);
    const claims: JWTPayload = { ...decodeJwt(tokens.access_token), ...change };
    for (const name of Object.keys(change)) if (claims[name] === undefined) delete claims[name];
    expectRefused(await me(server, await sign(claims, { alg: "EdDSA", kid }, key)), "INVALID_TOKEN");
  });

  test("a token for another user's session answers 401", async () => {
    const alice = await registerAndLogin(server.api);
    const bob = await registerAndLogin(server.api);
    const { kid, key } = await serverSigningKey(server);
    const claims = { ...decodeJwt(alice.tokens.access_token), sid: decodeJwt(bob.tokens.access_token).sid };
    const res = await me(server, await sign(claims, { alg: "EdDSA", kid }, key));
    expect(res.status).toBe(401);
  });

  test("a token from another usersvc instance (another key) answers 401 INVALID_TOKEN", async () => {
    const other = await startTestServer();
    try {
      const { tokens } = await registerAndLogin(other.api);
      expectRefused(await me(server, tokens.access_token), "INVALID_TOKEN");
      expectRefused(await refresh(server, tokens.refresh_token), "INVALID_TOKEN");
    } finally {
      await other.stop();
    }
  });
});

describe("missing or garbled Authorization", () => {
  test("no Authorization header answers 401 UNAUTHENTICATED with a Bearer challenge", async () => {
    const res = await server.api("GET", "/api/v1/users/me");
    expectRefused(res, "UNAUTHENTICATED");
    expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
  });

  test.each([
    ["Basic credentials", "Basic dXNlcjpwYXNzd29yZA=="],
    ["a bare Bearer", "Bearer"],
    ["a token without a scheme", "eyJhbGciOiJFZERTQSJ9.e30.c2ln"],
    ["two tokens", "Bearer abc.def.ghi jkl.mno.pqr"],
    ["a quoted token", 'Bearer "abc.def.ghi"'],
  ])("%s answers 401 UNAUTHENTICATED", async (_, authorization) => {
    const res = await server.api("GET", "/api/v1/users/me", { headers: { authorization } });
    expectRefused(res, "UNAUTHENTICATED");
  });

  test("a bearer value that is not a JWT answers 401 INVALID_TOKEN", async () => {
    const res = await server.api("GET", "/api/v1/users/me", { headers: { authorization: "Bearer abc" } });
    expectRefused(res, "INVALID_TOKEN");
  });
});

describe("expiry", () => {
  let short: TestServer;
  beforeAll(async () => {
    short = await startTestServer({ USERSVC_ACCESS_TTL: "60", USERSVC_REFRESH_TTL: "300" });
  });
  afterAll(() => short.stop());

  test("the pair reports the configured lifetimes", async () => {
    const { tokens } = await registerAndLogin(short.api);
    expect(tokens).toEqual(expect.objectContaining({ expires_in: 60, refresh_expires_in: 300 }));
    const claims = decodeJwt(tokens.access_token);
    expect(claims.exp! - claims.iat!).toBe(60);
  });

  test("an access token works until USERSVC_ACCESS_TTL and answers 401 TOKEN_EXPIRED after it", async () => {
    const { tokens } = await registerAndLogin(short.api);
    short.clock.advance(50);
    expect((await me(short, tokens.access_token)).status).toBe(200);
    short.clock.advance(11);
    expectRefused(await me(short, tokens.access_token), "TOKEN_EXPIRED");
  });

  test("an expired access token is still replaced through a live refresh token", async () => {
    const { tokens } = await registerAndLogin(short.api);
    short.clock.advance(61);
    expectRefused(await me(short, tokens.access_token), "TOKEN_EXPIRED");
    const res = await refresh(short, tokens.refresh_token);
    expect(res.status).toBe(200);
    expect((await me(short, res.body.data.access_token)).status).toBe(200);
  });

  test("a refresh token past USERSVC_REFRESH_TTL answers 401 TOKEN_EXPIRED", async () => {
    const { tokens } = await registerAndLogin(short.api);
    short.clock.advance(301);
    expectRefused(await refresh(short, tokens.refresh_token), "TOKEN_EXPIRED");
  });
});

describe("USERSVC_REFRESH_GRACE", () => {
  let graceful: TestServer;
  beforeAll(async () => {
    graceful = await startTestServer({ USERSVC_REFRESH_GRACE: "30" });
  });
  afterAll(() => graceful.stop());

  test("within the grace, a just-spent refresh token gets a fresh pair of the same session", async () => {
    const { tokens } = await registerAndLogin(graceful.api);
    const first = await refresh(graceful, tokens.refresh_token);
    expect(first.status).toBe(200);
    graceful.clock.advance(10);
    const again = await refresh(graceful, tokens.refresh_token);
    expect(again.status).toBe(200);
    const sid = decodeJwt(tokens.access_token).sid;
    expect(decodeJwt(again.body.data.access_token).sid).toBe(sid);
    expect(decodeJwt(again.body.data.refresh_token).sid).toBe(sid);
    expect((await me(graceful, again.body.data.access_token)).status).toBe(200);
    expect((await me(graceful, first.body.data.access_token)).status).toBe(200);
  });

  test("within the grace, concurrent refreshes with one token all get the same session", async () => {
    const { tokens } = await registerAndLogin(graceful.api);
    const answers = await Promise.all(Array.from({ length: 5 }, () => refresh(graceful, tokens.refresh_token)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const sids = new Set(answers.map((a) => decodeJwt(a.body.data.access_token).sid));
    expect([...sids]).toEqual([decodeJwt(tokens.access_token).sid]);
  });

  test("after the grace, the spent refresh token is reuse and revokes the session", async () => {
    const { tokens } = await registerAndLogin(graceful.api);
    const first = await refresh(graceful, tokens.refresh_token);
    expect(first.status).toBe(200);
    graceful.clock.advance(31);
    expectRefused(await refresh(graceful, tokens.refresh_token), "REFRESH_TOKEN_REUSED");
    expectRefused(await me(graceful, first.body.data.access_token), "SESSION_REVOKED");
    expect((await refresh(graceful, first.body.data.refresh_token)).status).toBe(401);
  });

  test("the grace covers only the token spent last, not older ones", async () => {
    const { tokens } = await registerAndLogin(graceful.api);
    const first = await refresh(graceful, tokens.refresh_token);
    const second = await refresh(graceful, first.body.data.refresh_token);
    expect(second.status).toBe(200);
    expectRefused(await refresh(graceful, tokens.refresh_token), "REFRESH_TOKEN_REUSED");
    expectRefused(await me(graceful, second.body.data.access_token), "SESSION_REVOKED");
  });
});

describe("HS256 mode (USERSVC_JWT_SECRET)", () => {
  let hs: TestServer;
  beforeAll(async () => {
    hs = await startTestServer({ USERSVC_JWT_SECRET: SECRET });
  });
  afterAll(() => hs.stop());

  test("tokens are HS256 without a kid", async () => {
    const { tokens } = await registerAndLogin(hs.api);
    expect(decodeProtectedHeader(tokens.access_token)).toEqual({ alg: "HS256", typ: "at+jwt" });
    expect(decodeProtectedHeader(tokens.refresh_token)).toEqual({ alg: "HS256", typ: "JWT" });
    expect((await me(hs, tokens.access_token)).status).toBe(200);
  });

  test("the JWKS is empty", async () => {
    const res = await hs.api("GET", "/.well-known/jwks.json");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ keys: [] });
  });

  test("a token re-signed with the configured secret is accepted (the forging below is sound)", async () => {
    const { tokens } = await registerAndLogin(hs.api);
    const resigned = await sign(decodeJwt(tokens.access_token), { alg: "HS256" }, new TextEncoder().encode(SECRET));
    expect((await me(hs, resigned)).status).toBe(200);
  });

  test("a token forged with a different secret answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(hs.api);
    const otherSecret = new TextEncoder().encode(`${SECRET} but different`);
    const forged = await sign(decodeJwt(tokens.access_token), { alg: "HS256" }, otherSecret);
    expectRefused(await me(hs, forged), "INVALID_TOKEN");
  });

  test("a token with another HMAC algorithm under the right secret answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(hs.api);
    const forged = await sign(decodeJwt(tokens.access_token), { alg: "HS512" }, new TextEncoder().encode(SECRET));
    expectRefused(await me(hs, forged), "INVALID_TOKEN");
  });

  test("an EdDSA token answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(server.api);
    expectRefused(await me(hs, tokens.access_token), "INVALID_TOKEN");
  });

  test("an alg none token answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(hs.api);
    const [, payload] = tokens.access_token.split(".");
    expectRefused(await me(hs, `${encodeSegment({ alg: "none", typ: "JWT" })}.${payload}.`), "INVALID_TOKEN");
  });

  test("an instance with another USERSVC_ISSUER (same secret) refuses these tokens, and they refuse its", async () => {
    const other = await startTestServer({ USERSVC_JWT_SECRET: SECRET, USERSVC_ISSUER: "other-issuer" });
    try {
      const mine = await registerAndLogin(hs.api);
      const theirs = await registerAndLogin(other.api);
      expect(decodeJwt(theirs.tokens.access_token).iss).toBe("other-issuer");
      expectRefused(await me(hs, theirs.tokens.access_token), "INVALID_TOKEN");
      expectRefused(await refresh(hs, theirs.tokens.refresh_token), "INVALID_TOKEN");
      expectRefused(await me(other, mine.tokens.access_token), "INVALID_TOKEN");
    } finally {
      await other.stop();
    }
  });

  test("an instance with another USERSVC_AUDIENCE (same secret) refuses these tokens, and they refuse its", async () => {
    const other = await startTestServer({ USERSVC_JWT_SECRET: SECRET, USERSVC_AUDIENCE: "other-audience" });
    try {
      const mine = await registerAndLogin(hs.api);
      const theirs = await registerAndLogin(other.api);
      expect(decodeJwt(theirs.tokens.access_token).aud).toBe("other-audience");
      expectRefused(await me(hs, theirs.tokens.access_token), "INVALID_TOKEN");
      expectRefused(await refresh(hs, theirs.tokens.refresh_token), "INVALID_TOKEN");
      expectRefused(await me(other, mine.tokens.access_token), "INVALID_TOKEN");
    } finally {
      await other.stop();
    }
  });
});
