/**
 * The token attack battery (SPEC §4 token rules) in one file: every token the
 * server did not issue, was tampered with, is of the wrong kind, or belongs
 * to a session or user that no longer stands, answers 401 (never 500) on the
 * next request. Forged tokens that need a valid signature are signed with the
 * server's own private key, read from the signing_keys table, so each case
 * isolates the one claim or header under attack. tests/server/tokens.test.ts
 * covers rotation, grace and expiry in depth; this file is the attacker's view.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import {
  base64url,
  decodeJwt,
  decodeProtectedHeader,
  exportSPKI,
  generateKeyPair,
  importJWK,
  SignJWT,
  type JWK,
  type JWTPayload,
} from "jose";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { signingKeys, users } from "../../src/core/db/schema.ts";
import { blockUser, purgeUser, softDeleteUser } from "../../src/core/users/lifecycle.ts";
import { failureOf } from "../support/admin.ts";
import { registerAndLogin, startTestServer, type ApiResponse, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const SECRET = "a token-attack test secret, well over thirty-two bytes";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

function me(srv: TestServer, token: string): Promise<ApiResponse> {
  return srv.api("GET", "/api/v1/users/me", { token });
}

function refresh(srv: TestServer, refreshToken: string): Promise<ApiResponse> {
  return srv.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: refreshToken } });
}

function expectRefused(res: ApiResponse, code: string): void {
  expect({ status: res.status, body: res.body }).toEqual({ status: 401, body: failureOf(code) });
}

/** Signs exactly `payload` (no claim added) under exactly `header`. */
function sign(payload: JWTPayload, header: Record<string, unknown>, key: CryptoKey | Uint8Array): Promise<string> {
  // The header type usersvc gives each kind (SPEC §4): at+jwt for access tokens.
  const typ = payload.type === "access" ? "at+jwt" : "JWT";
  return new SignJWT(payload).setProtectedHeader({ typ, alg: "EdDSA", ...header }).sign(key);
}

function segment(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

function claimsOf(token: string): JWTPayload {
  return decodeJwt(token);
}

/** The server's active private key, as an attacker with a copy of the database would hold it. */
async function serverKey(srv: TestServer): Promise<{ kid: string; key: CryptoKey; publicJwk: JWK }> {
  const [row] = await srv.core.db.select().from(signingKeys).where(sql`${signingKeys.retiredAt} is null`);
  return {
    kid: row!.kid,
    key: (await importJWK(row!.privateJwk as JWK, row!.alg)) as CryptoKey,
    publicJwk: row!.publicJwk as JWK,
  };
}

function nowSeconds(srv: TestServer): number {
  return Math.floor(srv.clock.now().getTime() / 1000);
}

describe("the forging method is sound", () => {
  test("a token re-signed with the server's own key and unchanged claims is accepted", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const { kid, key } = await serverKey(server);
    const res = await me(server, await sign(claimsOf(tokens.access_token), { kid }, key));
    expect([res.status, res.body.data.id]).toEqual([200, user.id]);
  });
});

describe("algorithm attacks", () => {
  test.each([
    ["alg none, empty signature", { alg: "none", typ: "JWT" }, ""],
    ["alg None (mixed case), empty signature", { alg: "None", typ: "JWT" }, ""],
    ["alg none, the original signature kept", { alg: "none", typ: "JWT" }, "original"],
  ])("%s answers 401 INVALID_TOKEN on protected routes and on refresh", async (_, header, signature) => {
    const { tokens } = await registerAndLogin(server.api);
    const unsigned = (token: string) => {
      const [, payload, original] = token.split(".");
      return `${segment(header)}.${payload}.${signature === "original" ? original : ""}`;
    };
    expectRefused(await me(server, unsigned(tokens.access_token)), "INVALID_TOKEN");
    expectRefused(await refresh(server, unsigned(tokens.refresh_token)), "INVALID_TOKEN");
  });

  test.each([
    ["the JWK as JSON text", (jwk: JWK) => new TextEncoder().encode(JSON.stringify(jwk))],
    ["the raw public key bytes", (jwk: JWK) => base64url.decode(jwk.x!)],
    ["the public key as SPKI PEM", async (jwk: JWK) => new TextEncoder().encode(await exportSPKI((await importJWK(jwk, "EdDSA")) as CryptoKey))],
  ])(
    "HS256 keyed with the server's public key from /.well-known/jwks.json (%s) answers 401 INVALID_TOKEN",
    async (_, keyFrom) => {
      const { tokens } = await registerAndLogin(server.api);
      const { kid } = decodeProtectedHeader(tokens.access_token);
      const jwks = (await server.api("GET", "/.well-known/jwks.json")).body as { keys: JWK[] };
      const publicJwk = jwks.keys.find((k) => k.kid === kid)!;
      expect(publicJwk.d).toBeUndefined();
      const hmacKey = await keyFrom(publicJwk);
      const access = await sign(claimsOf(tokens.access_token), { alg: "HS256", kid }, hmacKey);
      const refreshToken = await sign(claimsOf(tokens.refresh_token), { alg: "HS256", kid }, hmacKey);
      expectRefused(await me(server, access), "INVALID_TOKEN");
      expectRefused(await refresh(server, refreshToken), "INVALID_TOKEN");
    },
  );

  describe("in HS256 mode (USERSVC_JWT_SECRET) only HS256 is accepted", () => {
    let hs: TestServer;
    beforeAll(async () => {
      hs = await startTestServer({ USERSVC_JWT_SECRET: SECRET });
    });
    afterAll(() => hs.stop());

    test("control: a token re-signed with the secret under HS256 is accepted", async () => {
      const { tokens } = await registerAndLogin(hs.api);
      const resigned = await sign(claimsOf(tokens.access_token), { alg: "HS256" }, new TextEncoder().encode(SECRET));
      expect((await me(hs, resigned)).status).toBe(200);
    });

    test.each(["HS384", "HS512"])("%s under the right secret answers 401 INVALID_TOKEN", async (alg) => {
      const { tokens } = await registerAndLogin(hs.api);
      const forged = await sign(claimsOf(tokens.access_token), { alg }, new TextEncoder().encode(SECRET));
      expectRefused(await me(hs, forged), "INVALID_TOKEN");
    });

    test("alg none answers 401 INVALID_TOKEN", async () => {
      const { tokens } = await registerAndLogin(hs.api);
      const [, payload] = tokens.access_token.split(".");
      expectRefused(await me(hs, `${segment({ alg: "none", typ: "JWT" })}.${payload}.`), "INVALID_TOKEN");
    });

    test("an EdDSA token of an asymmetric instance answers 401 INVALID_TOKEN", async () => {
      const { tokens } = await registerAndLogin(server.api);
      expectRefused(await me(hs, tokens.access_token), "INVALID_TOKEN");
    });
  });
});

describe("kid attacks", () => {
  test("a token signed with the server's own key under an unknown kid answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { key } = await serverKey(server);
    expectRefused(await me(server, await sign(claimsOf(tokens.access_token), { kid: crypto.randomUUID() }, key)), "INVALID_TOKEN");
  });

  test("a token without a kid answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { key } = await serverKey(server);
    expectRefused(await me(server, await sign(claimsOf(tokens.access_token), {}, key)), "INVALID_TOKEN");
  });

  test.each([
    ["a path traversal", "../../etc/passwd"],
    ["an absolute path", "/dev/null"],
    ["SQL that matches every row", "' or 1=1--"],
    ["SQL that drops a table", "x'; DROP TABLE signing_keys;--"],
    ["a URL", "https://attacker.example/jwks.json"],
    ["a NUL byte", "\u0000"],
    ["an empty string", ""],
    ["4 KB of text", "k".repeat(4096)],
    ["a number", 1],
    ["an object", { $ne: null }],
    ["an array", ["a", "b"]],
    ["null", null],
  ])("a kid that is %s answers 401 INVALID_TOKEN, never 500, and the keys stay intact", async (_, kid) => {
    const { tokens } = await registerAndLogin(server.api);
    const { key } = await serverKey(server);
    const keysBefore = await server.core.db.select().from(signingKeys);
    const access = await sign(claimsOf(tokens.access_token), { kid }, key);
    const refreshToken = await sign(claimsOf(tokens.refresh_token), { kid }, key);
    expectRefused(await me(server, access), "INVALID_TOKEN");
    expectRefused(await refresh(server, refreshToken), "INVALID_TOKEN");
    expect(await server.core.db.select().from(signingKeys)).toEqual(keysBefore);
    // The genuine token still works: nothing was poisoned by the attempt.
    expect((await me(server, tokens.access_token)).status).toBe(200);
  });
});

describe("tampered payloads under the original signature", () => {
  test("roles: [\"admin\"] added answers 401 INVALID_TOKEN on /users/me and on an admin route", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const [header, payload, signature] = tokens.access_token.split(".");
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload!)));
    const edited = `${header}.${segment({ ...claims, roles: ["user", "admin"] })}.${signature}`;
    expectRefused(await me(server, edited), "INVALID_TOKEN");
    expectRefused(await server.api("GET", "/api/v1/admin/check", { token: edited }), "INVALID_TOKEN");
  });

  test("another user's sub answers 401 INVALID_TOKEN", async () => {
    const alice = await registerAndLogin(server.api);
    const bob = await registerAndLogin(server.api);
    const [header, payload, signature] = alice.tokens.access_token.split(".");
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload!)));
    expectRefused(await me(server, `${header}.${segment({ ...claims, sub: bob.user.id })}.${signature}`), "INVALID_TOKEN");
  });

  test("a later exp answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const [header, payload, signature] = tokens.access_token.split(".");
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload!)));
    expectRefused(await me(server, `${header}.${segment({ ...claims, exp: claims.exp + 86_400 })}.${signature}`), "INVALID_TOKEN");
  });

  test("a signature from another Ed25519 key answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const { kid } = decodeProtectedHeader(tokens.access_token);
    expectRefused(await me(server, await sign(claimsOf(tokens.access_token), { kid }, privateKey)), "INVALID_TOKEN");
  });
});

describe("claims checked even under a valid signature", () => {
  test.each([
    ["a wrong iss", { iss: "https://evil.example" }],
    ["a wrong aud", { aud: "another-app" }],
    ["an aud list without usersvc's", { aud: ["another-app", "a-third-app"] }],
    ["the refresh audience on an access token", { aud: "usersvc:refresh" }],
    ["an aud list holding both audiences", { aud: ["usersvc", "usersvc:refresh"] }],
  ])("%s answers 401 INVALID_TOKEN", async (_, change) => {
    const { tokens } = await registerAndLogin(server.api);
    const { kid, key } = await serverKey(server);
    expectRefused(await me(server, await sign({ ...claimsOf(tokens.access_token), ...change }, { kid }, key)), "INVALID_TOKEN");
  });

  test("header type and type claim must agree: an access token typed JWT, or a refresh token typed at+jwt, answers 401 INVALID_TOKEN", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { kid, key } = await serverKey(server);
    const untyped = await new SignJWT(claimsOf(tokens.access_token)).setProtectedHeader({ alg: "EdDSA", typ: "JWT", kid }).sign(key);
    expectRefused(await me(server, untyped), "INVALID_TOKEN");
    const refreshTyped = await new SignJWT(claimsOf(tokens.refresh_token)).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid }).sign(key);
    expectRefused(await refresh(server, refreshTyped), "INVALID_TOKEN");
  });

  test("an exp in the past answers 401 TOKEN_EXPIRED", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { kid, key } = await serverKey(server);
    const expired = await sign({ ...claimsOf(tokens.access_token), exp: nowSeconds(server) - 1 }, { kid }, key);
    expectRefused(await me(server, expired), "TOKEN_EXPIRED");
  });

  test("a genuine access token answers 401 TOKEN_EXPIRED once its lifetime has passed", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const claims = claimsOf(tokens.access_token);
    server.clock.advance(claims.exp! - claims.iat! + 1);
    expectRefused(await me(server, tokens.access_token), "TOKEN_EXPIRED");
  });

  test("an nbf in the future answers 401 INVALID_TOKEN; the same token with a past nbf is accepted", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { kid, key } = await serverKey(server);
    const claims = claimsOf(tokens.access_token);
    const early = await sign({ ...claims, nbf: nowSeconds(server) + 600 }, { kid }, key);
    expectRefused(await me(server, early), "INVALID_TOKEN");
    const due = await sign({ ...claims, jti: crypto.randomUUID(), nbf: nowSeconds(server) - 1 }, { kid }, key);
    expect((await me(server, due)).status).toBe(200);
  });

  test("a refresh token with an nbf in the future answers 401 INVALID_TOKEN and does not rotate", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { kid, key } = await serverKey(server);
    const early = await sign({ ...claimsOf(tokens.refresh_token), nbf: nowSeconds(server) + 600 }, { kid }, key);
    expectRefused(await refresh(server, early), "INVALID_TOKEN");
    expect((await refresh(server, tokens.refresh_token)).status).toBe(200);
  });
});

describe("token types", () => {
  test("a refresh token on a protected route answers 401 INVALID_TOKEN_TYPE", async () => {
    const { tokens } = await registerAndLogin(server.api);
    expectRefused(await me(server, tokens.refresh_token), "INVALID_TOKEN_TYPE");
  });

  test("an access token on /auth/refresh answers 401 INVALID_TOKEN_TYPE and spends nothing", async () => {
    const { tokens } = await registerAndLogin(server.api);
    expectRefused(await refresh(server, tokens.access_token), "INVALID_TOKEN_TYPE");
    expect((await refresh(server, tokens.refresh_token)).status).toBe(200);
  });

  test("an access token re-typed as refresh (signed with the server's key) does not refresh: 401", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const { kid, key } = await serverKey(server);
    const retyped = await sign({ ...claimsOf(tokens.access_token), type: "refresh" }, { kid }, key);
    const res = await refresh(server, retyped);
    expect(res.status).toBe(401);
    expect(["REFRESH_TOKEN_REUSED", "SESSION_REVOKED", "INVALID_TOKEN"]).toContain(res.body.error.code);
  });
});

describe("tokens of users and sessions that no longer stand", () => {
  test("a purged user's access and refresh tokens answer 401", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    await purgeUser(server.core, CLI_ACTOR, user.id);
    expectRefused(await me(server, tokens.access_token), "SESSION_REVOKED");
    expectRefused(await refresh(server, tokens.refresh_token), "SESSION_REVOKED");
  });

  test("a purged user's token re-signed with the server's key answers 401", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    await purgeUser(server.core, CLI_ACTOR, user.id);
    const { kid, key } = await serverKey(server);
    const resigned = await sign({ ...claimsOf(tokens.access_token), jti: crypto.randomUUID() }, { kid }, key);
    expectRefused(await me(server, resigned), "SESSION_REVOKED");
  });

  test("after a password change, every token minted before it is refused; the new pair works", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const other = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    const changed = await server.api("POST", "/api/v1/auth/change-password", {
      token: tokens.access_token,
      body: { current_password: input.password, new_password: "an entirely new passphrase 42" },
    });
    expect(changed.status).toBe(200);
    // The access token that made the change, and one of another session.
    expectRefused(await me(server, tokens.access_token), "SESSION_REVOKED");
    expectRefused(await me(server, other.body.data.access_token), "SESSION_REVOKED");
    expect((await refresh(server, other.body.data.refresh_token)).status).toBe(401);
    // The session's pre-change refresh token is spent: presenting it is reuse.
    expect((await refresh(server, tokens.refresh_token)).status).toBe(401);
  });

  test("after a password change, the fresh pair is the only one that works", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const changed = await server.api("POST", "/api/v1/auth/change-password", {
      token: tokens.access_token,
      body: { current_password: input.password, new_password: "yet another new passphrase 7" },
    });
    expect((await me(server, changed.body.data.access_token)).status).toBe(200);
    expectRefused(await me(server, tokens.access_token), "SESSION_REVOKED");
    expect((await me(server, changed.body.data.access_token)).status).toBe(200);
  });

  test("an access token from before a password change, re-signed with the server's key, is still refused", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const changed = await server.api("POST", "/api/v1/auth/change-password", {
      token: tokens.access_token,
      body: { current_password: input.password, new_password: "the third new passphrase 99" },
    });
    expect(changed.status).toBe(200);
    const { kid, key } = await serverKey(server);
    // Same session, fresh jti and times: only the generation it carries is old.
    const iat = nowSeconds(server);
    const stale = await sign({ ...claimsOf(tokens.access_token), jti: crypto.randomUUID(), iat, exp: iat + 600 }, { kid }, key);
    expectRefused(await me(server, stale), "SESSION_REVOKED");
  });

  test("a blocked user's token is refused on the very next request", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    expect((await me(server, tokens.access_token)).status).toBe(200);
    await blockUser(server.core, CLI_ACTOR, user.id, { reason: "abuse" });
    expectRefused(await me(server, tokens.access_token), "SESSION_REVOKED");
    expectRefused(await refresh(server, tokens.refresh_token), "SESSION_REVOKED");
  });

  test("a user blocked in the database with its session left alive is still refused (status read per request)", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    await server.core.db.update(users).set({ status: "blocked" }).where(eq(users.id, user.id));
    const res = await me(server, tokens.access_token);
    expect({ status: res.status, body: res.body }).toEqual({ status: 403, body: failureOf("ACCOUNT_BLOCKED") });
    expect((await refresh(server, tokens.refresh_token)).status).toBe(403);
  });

  test("a soft-deleted user's token is refused on the very next request", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    await softDeleteUser(server.core, CLI_ACTOR, user.id);
    expectRefused(await me(server, tokens.access_token), "SESSION_REVOKED");
    expectRefused(await refresh(server, tokens.refresh_token), "SESSION_REVOKED");
  });

  test("a user deleted in the database with its session left alive is still refused (status read per request)", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    await server.core.db.update(users).set({ status: "deleted", deletedAt: new Date() }).where(eq(users.id, user.id));
    expectRefused(await me(server, tokens.access_token), "SESSION_REVOKED");
    expectRefused(await refresh(server, tokens.refresh_token), "SESSION_REVOKED");
  });

  test("a token from a second usersvc with another signing key answers 401 INVALID_TOKEN", async () => {
    const other = await startTestServer();
    try {
      const { tokens } = await registerAndLogin(other.api);
      expect((await me(other, tokens.access_token)).status).toBe(200);
      expectRefused(await me(server, tokens.access_token), "INVALID_TOKEN");
      expectRefused(await refresh(server, tokens.refresh_token), "INVALID_TOKEN");
    } finally {
      await other.stop();
    }
  });
});
