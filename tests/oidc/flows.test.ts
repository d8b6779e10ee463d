/**
 * SPEC §9 driven by openid-client (the certified relying party library):
 * code + PKCE → id_token (RS256 with kid, nonce, auth_time) → userinfo GET
 * and POST → refresh rotated, the spent token refused and the grant revoked
 * → revocation → introspection; client_secret_basic, client_secret_post, a
 * public client; client_credentials; RP-initiated logout.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { Secret, TOTP } from "otpauth";
import { updateUser } from "../../src/core/users/queries.ts";
import { createPlainUser } from "../support/admin.ts";
import { Browserless, codeFlow, discover, oidc, POST_LOGOUT_URI, REDIRECT_URI, registerClient, startIssuer, walkAuthorization } from "../support/oidc.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: a real server on a real database, and password hashes for every sign-in.
setDefaultTimeout(30_000);

let server: TestServer;
let person: { email: string; password: string };
let userId: string;

beforeAll(async () => {
  server = await startIssuer();
  const created = await createPlainUser(server);
  person = { email: created.input.email, password: created.input.password };
  userId = created.id;
});
afterAll(() => server.stop());

async function signInFor(config: oidc.Configuration, parameters: Record<string, string> = {}, browser = new Browserless(server.url)) {
  const flow = await codeFlow(config, parameters);
  const callback = await walkAuthorization(browser, flow.url, person);
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
  return { tokens, browser, flow };
}

describe("a confidential client with client_secret_basic", () => {
  let config: oidc.Configuration;
  let clientId: string;
  beforeAll(async () => {
    const client = await registerClient(server, { scopes: ["openid", "profile", "email", "offline_access", "roles"] });
    clientId = client.clientId;
    config = await discover(server, client.clientId, client.clientSecret);
  });

  test("code + PKCE: the id_token is RS256 with a kid from the JWKS, with nonce, auth_time, amr and acr", async () => {
    const before = Math.floor(Date.now() / 1000) - 1;
    const { tokens, flow } = await signInFor(config);
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(userId);
    expect(claims.iss).toBe(server.url);
    expect(claims.aud).toBe(clientId);
    expect(claims.nonce).toBe(flow.nonce);
    expect(claims.auth_time).toBeGreaterThanOrEqual(before);
    expect(claims.email).toBe(person.email);
    expect(claims.email_verified).toBe(false);
    expect(typeof claims.preferred_username).toBe("string");
    expect(claims.amr).toEqual(["pwd"]);
    expect(claims.acr).toBe("urn:usersvc:acr:pwd");
    const header = decodeProtectedHeader(tokens.id_token!);
    expect(header.alg).toBe("RS256");
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; kty: string }[] };
    expect(jwks.keys.some((key: { kid: string; kty: string }) => key.kid === header.kid && key.kty === "RSA")).toBe(true);
    expect(tokens.token_type.toLowerCase()).toBe("bearer");
    expect(tokens.refresh_token).toBeString();
  });

  test("the access token is an RFC 9068 JWT for the client's audience, verifiable with the remote JWKS", async () => {
    const { tokens } = await signInFor(config);
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer: server.url, audience: clientId, typ: "at+jwt" });
    expect(protectedHeader.typ).toBe("at+jwt");
    expect(payload.client_id).toBe(clientId);
    expect(payload.sub).toBe(userId);
    expect(String(payload.scope).split(" ")).toContain("openid");
    // Never one of usersvc's own: its API refuses it, and so does forward auth (it is meant for the client's API).
    const me = await server.api("GET", "/api/v1/users/me", { token: tokens.access_token });
    expect(me.status).toBe(401);
    const forward = await server.api("GET", "/api/v1/auth/forward", { token: tokens.access_token });
    expect([forward.status, forward.body.error.code]).toEqual([401, "INVALID_TOKEN"]);
  });

  test("userinfo answers GET, POST with the header and POST with the token in the body", async () => {
    const { tokens } = await signInFor(config);
    const info = await oidc.fetchUserInfo(config, tokens.access_token, userId);
    expect(info.email).toBe(person.email);
    const post = await fetch(`${server.url}/oauth/userinfo`, { method: "POST", headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(post.status).toBe(200);
    expect(((await post.json()) as { sub: string }).sub).toBe(userId);
    const body = await fetch(`${server.url}/oauth/userinfo`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ access_token: tokens.access_token }),
    });
    expect(body.status).toBe(200);
    expect(((await body.json()) as { sub: string }).sub).toBe(userId);
    const none = await fetch(`${server.url}/oauth/userinfo`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toStartWith("Bearer");
  });

  test("refresh rotates; the spent token is refused and the whole grant revoked", async () => {
    const { tokens } = await signInFor(config);
    const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);
    expect((await oidc.fetchUserInfo(config, rotated.access_token, userId)).sub).toBe(userId);
    const reuse = oidc.refreshTokenGrant(config, tokens.refresh_token!);
    await expect(reuse).rejects.toMatchObject({ error: "invalid_grant" });
    // The newest refresh token and the access tokens of the grant stop working too.
    await expect(oidc.refreshTokenGrant(config, rotated.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    await expect(oidc.fetchUserInfo(config, rotated.access_token, userId)).rejects.toBeDefined();
    expect((await oidc.tokenIntrospection(config, rotated.access_token)).active).toBe(false);
  });

  test("introspection: active for a live token, then active:false once revoked", async () => {
    const { tokens } = await signInFor(config);
    const live = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(live.active).toBe(true);
    expect(live.client_id).toBe(clientId);
    expect(live.sub).toBe(userId);
    const refresh = await oidc.tokenIntrospection(config, tokens.refresh_token!);
    expect(refresh.active).toBe(true);
    expect(refresh.token_type).toBe("refresh_token");
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
  });

  test("revoking the access token ends its grant too", async () => {
    const { tokens } = await signInFor(config);
    await oidc.tokenRevocation(config, tokens.access_token);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
  });

  test("the roles scope puts roles in the id_token and userinfo", async () => {
    const { tokens } = await signInFor(config, { scope: "openid roles" });
    expect(tokens.claims()!.roles).toEqual(["user"]);
    expect(tokens.claims()!.email).toBeUndefined();
    expect((await oidc.fetchUserInfo(config, tokens.access_token, userId)).roles).toEqual(["user"]);
  });

  test("a wrong secret is invalid_client, with WWW-Authenticate for Basic", async () => {
    const wrong = await discover(server, clientId, "not-the-secret");
    const flow = await codeFlow(wrong);
    const callback = await walkAuthorization(new Browserless(server.url), flow.url, person);
    const refused = await oidc.authorizationCodeGrant(wrong, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce }).catch((error) => error);
    // openid-client reports a 401 with a challenge as such; the body is RFC 6749's.
    expect(refused).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    expect(refused.status).toBe(401);
    expect(refused.cause[0].scheme).toBe("basic");
    expect((await refused.response.json()).error).toBe("invalid_client");
  });
});

test("a sign-in with two-step verification says so: amr pwd+otp+mfa, acr mfa", async () => {
  const created = await createPlainUser(server);
  await updateUser(server.core.db, created.id, { isVerified: true }, server.clock.now());
  const enroll = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token: created.token });
  const totp = new TOTP({ secret: Secret.fromBase32(enroll.body.data.secret), digits: 6, period: 30, algorithm: "SHA1" });
  const code = () => totp.generate({ timestamp: server.clock.now().getTime() });
  expect((await server.api("POST", "/api/v1/users/me/mfa/confirm", { token: created.token, body: { code: code() } })).status).toBe(200);
  server.clock.advance(30);
  const client = await registerClient(server, { skip_consent: true });
  const config = await discover(server, client.clientId, client.clientSecret);
  const flow = await codeFlow(config);
  const callback = await walkAuthorization(new Browserless(server.url), flow.url, { email: created.input.email, password: created.input.password, totp: code });
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
  expect(tokens.claims()!.amr).toEqual(["pwd", "otp", "mfa"]);
  expect(tokens.claims()!.acr).toBe("urn:usersvc:acr:mfa");
});

test("client_secret_post", async () => {
  const client = await registerClient(server);
  const config = await discover(server, client.clientId, client.clientSecret, oidc.ClientSecretPost(client.clientSecret!));
  const { tokens } = await signInFor(config);
  expect(tokens.claims()!.sub).toBe(userId);
});

test("a public client: PKCE alone, no secret", async () => {
  const client = await registerClient(server, { public: true });
  expect(client.clientSecret).toBeNull();
  const config = await discover(server, client.clientId, null);
  const { tokens } = await signInFor(config);
  expect(tokens.claims()!.sub).toBe(userId);
  const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  expect(rotated.access_token).toBeString();
});

test("a client that asks for EdDSA id_tokens gets them", async () => {
  const client = await registerClient(server, { id_token_alg: "EdDSA" });
  const config = await discover(server, client.clientId, client.clientSecret);
  const { tokens } = await signInFor(config);
  expect(decodeProtectedHeader(tokens.id_token!).alg).toBe("EdDSA");
});

test("client_credentials: a token for the client's audience with sub = client id; introspected, then revoked", async () => {
  const client = await registerClient(server, { grant_types: ["client_credentials"], redirect_uris: [], audience: "https://api.example.test" });
  const config = await discover(server, client.clientId, client.clientSecret);
  const tokens = await oidc.clientCredentialsGrant(config);
  expect(tokens.refresh_token).toBeUndefined();
  const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
  const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: server.url, audience: "https://api.example.test", typ: "at+jwt" });
  expect(payload.sub).toBe(client.clientId);
  expect(payload.client_id).toBe(client.clientId);
  expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
  await oidc.tokenRevocation(config, tokens.access_token);
  expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
  // Not allowed to a client without the grant.
  const other = await registerClient(server);
  const otherConfig = await discover(server, other.clientId, other.clientSecret);
  await expect(oidc.clientCredentialsGrant(otherConfig)).rejects.toMatchObject({ error: "unauthorized_client" });
});

test("RP-initiated logout with id_token_hint signs the browser out and returns to the registered URI with state", async () => {
  const client = await registerClient(server);
  const config = await discover(server, client.clientId, client.clientSecret);
  const { tokens, browser } = await signInFor(config);
  expect((await browser.get("/account")).status).toBe(200);
  const url = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI, state: "bye" });
  const answer = await browser.get(url.href);
  expect(answer.status).toBe(303);
  expect(answer.location).toBe(`${POST_LOGOUT_URI}?state=bye`);
  expect((await browser.get("/account")).location).toStartWith("/login");
  // A URI not registered for the client is never followed.
  const { tokens: again, browser: second } = await signInFor(config);
  const evil = await second.get(oidc.buildEndSessionUrl(config, { id_token_hint: again.id_token!, post_logout_redirect_uri: "https://evil.example/" }).href);
  expect(evil.status).toBe(400);
  expect(evil.location).toBeNull();
});

test("logout without a hint asks first: a link alone signs nobody out", async () => {
  const client = await registerClient(server);
  const config = await discover(server, client.clientId, client.clientSecret);
  const { browser } = await signInFor(config);
  const page = await browser.get(`/oauth/logout?client_id=${client.clientId}&post_logout_redirect_uri=${encodeURIComponent(POST_LOGOUT_URI)}`);
  expect(page.status).toBe(200);
  expect((await browser.get("/account")).status).toBe(200);
  const confirmed = await browser.submit(page, "/oauth/logout");
  expect(confirmed.location).toBe(POST_LOGOUT_URI);
  expect((await browser.get("/account")).location).toStartWith("/login");
  void REDIRECT_URI;
});

test("in HS256 mode (USERSVC_JWT_SECRET) there is no provider: its endpoints are not found", async () => {
  const hs = await startTestServer({ USERSVC_JWT_SECRET: "a-secret-of-at-least-thirty-two-bytes!!" });
  try {
    for (const path of ["/.well-known/openid-configuration", "/oauth/authorize?client_id=x", "/oauth/userinfo"]) {
      expect((await fetch(`${hs.url}${path}`, { redirect: "manual" })).status).toBe(404);
    }
    expect((await fetch(`${hs.url}/oauth/token`, { method: "POST" })).status).toBe(404);
  } finally {
    await hs.stop();
  }
});
