/**
 * SPEC §9's consent and grant rules: /consent once per user, client and set
 * of scopes (first-party clients skip it), `decision`, prompt=consent,
 * connected applications on /account; and a grant is a session: logout-all,
 * block, delete and password reset end its refresh tokens at once, and
 * introspection answers active:false from the next request on — on every
 * instance sharing PostgreSQL, through key rotation as well.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createAdmin, createPlainUser } from "../support/admin.ts";
import { errorCodeOf } from "../support/browserless.ts";
import { SERVER_URL } from "../support/database.ts";
import { Browserless, codeFlow, discover, oidc, REDIRECT_URI, registerClient, startIssuer, walkAuthorization } from "../support/oidc.ts";
import { issueResetToken, type TestServer } from "../support/server.ts";
import { rotateKeys } from "../../src/core/tokens/rotation.ts";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { and, eq } from "drizzle-orm";
import { auditLog, sessions } from "../../src/core/db/schema.ts";

// More than bun's 5 s default: real servers on real databases, and password hashes for every sign-in.
setDefaultTimeout(30_000);

let server: TestServer;
beforeAll(async () => {
  server = await startIssuer();
});
afterAll(() => server.stop());

async function newPerson() {
  const created = await createPlainUser(server);
  return { id: created.id, email: created.input.email, password: created.input.password, token: created.token };
}

async function grantFor(config: oidc.Configuration, person: { email: string; password: string }, parameters: Record<string, string> = {}, browser = new Browserless(server.url)) {
  const flow = await codeFlow(config, parameters);
  const callback = await walkAuthorization(browser, flow.url, person);
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
  return { tokens, browser };
}

async function consentPageFor(config: oidc.Configuration, browser: Browserless, parameters: Record<string, string> = {}) {
  const flow = await codeFlow(config, parameters);
  let response = await browser.get(flow.url);
  while (response.location && !response.location.startsWith(REDIRECT_URI)) response = await browser.get(response.location);
  return { flow, response };
}

async function signedIn(person: { email: string; password: string }) {
  const browser = new Browserless(server.url);
  const page = await browser.get("/login");
  await browser.submit(page, "/login", { identifier: person.email, password: person.password });
  return browser;
}

describe("consent", () => {
  let config: oidc.Configuration;
  let clientId: string;
  beforeAll(async () => {
    const client = await registerClient(server, { name: "Third-party <app>" });
    clientId = client.clientId;
    config = await discover(server, client.clientId, client.clientSecret);
  });

  test("is asked once per set of scopes, names the client as text, and is remembered", async () => {
    const person = await newPerson();
    const browser = await signedIn(person);
    const first = await consentPageFor(config, browser, { scope: "openid email" });
    expect(first.response.status).toBe(200);
    expect(first.response.html).toContain("Third-party &lt;app&gt;");
    expect(first.response.headers.get("content-security-policy")).toContain("form-action 'self' https://app.example.test");
    const allowed = await browser.submit(first.response, "/consent", { decision: "allow" });
    expect(allowed.location).toStartWith("/oauth/authorize?");
    expect((await browser.get(allowed.location!)).location).toStartWith(REDIRECT_URI);
    // The same scopes again: straight back with a code.
    const again = await consentPageFor(config, browser, { scope: "openid email" });
    expect(again.response.location).toStartWith(REDIRECT_URI);
    expect(new URL(again.response.location!).searchParams.get("code")).toBeString();
    // A new scope asks again; prompt=consent asks even for known ones.
    expect((await consentPageFor(config, browser, { scope: "openid email profile" })).response.status).toBe(200);
    expect((await consentPageFor(config, browser, { scope: "openid email", prompt: "consent" })).response.status).toBe(200);
    const events = await server.core.db.select().from(auditLog).where(and(eq(auditLog.event, "oauth.consent_granted"), eq(auditLog.targetId, person.id)));
    expect(events.map((e) => e.data)).toEqual([{ client_id: clientId, scopes: ["openid", "email"] }]);
  });

  test("decision=deny sends access_denied to the client, with its state", async () => {
    const person = await newPerson();
    const browser = await signedIn(person);
    const { flow, response } = await consentPageFor(config, browser);
    const denied = await browser.submit(response, "/consent", { decision: "deny" });
    const location = new URL(denied.location!);
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("state")).toBe(flow.state);
  });

  test("prompt=none when consent is needed: consent_required", async () => {
    const person = await newPerson();
    const browser = await signedIn(person);
    const flow = await codeFlow(config, { prompt: "none" });
    const answer = await browser.get(flow.url);
    expect(new URL(answer.location!).searchParams.get("error")).toBe("consent_required");
  });

  test("a consent post without the page's CSRF token changes nothing", async () => {
    const person = await newPerson();
    const browser = await signedIn(person);
    const { response } = await consentPageFor(config, browser);
    const forged = await browser.submit(response, "/consent", { decision: "allow", csrf_token: "forged" });
    expect(forged.status).toBe(403);
    expect(errorCodeOf(forged.html)).toBe("FORBIDDEN");
    expect((await consentPageFor(config, browser)).response.status).toBe(200);
  });

  test("a first-party client (--skip-consent) never asks", async () => {
    const firstParty = await registerClient(server, { skip_consent: true });
    const firstConfig = await discover(server, firstParty.clientId, firstParty.clientSecret);
    const browser = await signedIn(await newPerson());
    expect((await consentPageFor(firstConfig, browser)).response.location).toStartWith(REDIRECT_URI);
  });

  test("/account lists the connected application; disconnecting revokes its grants and forgets the consent", async () => {
    const person = await newPerson();
    const { tokens, browser } = await grantFor(config, person);
    const account = await browser.get("/account");
    expect(account.html).toContain("Third-party &lt;app&gt;");
    const done = await browser.submit(account, "/account/apps/revoke", { client_id: clientId });
    expect(done.location).toContain("done=app");
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    expect((await consentPageFor(config, browser)).response.status).toBe(200);
  });
});

describe("connected applications in the API", () => {
  test("the user lists and disconnects them; an admin does it per user; a plain user cannot", async () => {
    const client = await registerClient(server, { name: "API-listed app", skip_consent: true });
    const config = await discover(server, client.clientId, client.clientSecret);
    const person = await newPerson();
    const { tokens } = await grantFor(config, person);
    const listed = await server.api("GET", "/api/v1/users/me/applications", { token: person.token });
    expect(listed.body.data).toEqual([expect.objectContaining({ client_id: client.clientId, name: "API-listed app", active_grants: 1, consented_at: null })]);
    const gone = await server.api("DELETE", `/api/v1/users/me/applications/${client.clientId}`, { token: person.token });
    expect([gone.status, gone.body.data]).toEqual([200, { revoked: 1 }]);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    expect((await server.api("DELETE", `/api/v1/users/me/applications/${client.clientId}`, { token: person.token })).status).toBe(404);

    const admin = await createAdmin(server);
    const again = await grantFor(config, person);
    const seen = await server.api("GET", `/api/v1/admin/users/${person.id}/applications`, { token: admin.token });
    expect(seen.body.data.map((app: { client_id: string }) => app.client_id)).toEqual([client.clientId]);
    expect((await server.api("GET", `/api/v1/admin/users/${person.id}/applications`, { token: person.token })).status).toBe(403);
    const revoked = await server.api("POST", `/api/v1/admin/users/${person.id}/applications/revoke`, { token: admin.token, body: { client_id: client.clientId } });
    expect([revoked.status, revoked.body.data]).toEqual([200, { revoked: 1 }]);
    await expect(oidc.refreshTokenGrant(config, again.tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    const audit = await server.core.db.select().from(auditLog).where(and(eq(auditLog.event, "oauth.consent_revoked"), eq(auditLog.targetId, person.id)));
    expect(audit.map((entry) => entry.actorType).sort()).toEqual(["admin", "user"]);
  });
});

describe("a grant is a session", () => {
  let config: oidc.Configuration;
  beforeAll(async () => {
    const client = await registerClient(server, { skip_consent: true });
    config = await discover(server, client.clientId, client.clientSecret);
  });

  async function expectEnded(tokens: oidc.TokenEndpointResponse) {
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    await expect(oidc.fetchUserInfo(config, tokens.access_token, oidc.skipSubjectCheck)).rejects.toBeDefined();
  }

  test("logout-all ends it", async () => {
    const person = await newPerson();
    const { tokens } = await grantFor(config, person);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
    expect((await server.api("POST", "/api/v1/auth/logout-all", { token: person.token })).status).toBe(200);
    await expectEnded(tokens);
  });

  test("a block ends it", async () => {
    const admin = await createAdmin(server);
    const person = await newPerson();
    const { tokens } = await grantFor(config, person);
    expect((await server.api("POST", `/api/v1/admin/users/${person.id}/block`, { token: admin.token, body: { reason: "test" } })).status).toBe(200);
    await expectEnded(tokens);
    // Signing in again for the client is refused too: the pages refuse a blocked account.
    await expect(grantFor(config, person)).rejects.toThrow();
  });

  test("deleting the account ends it", async () => {
    const person = await newPerson();
    const { tokens } = await grantFor(config, person);
    expect((await server.api("DELETE", "/api/v1/users/me", { token: person.token, body: { password: person.password } })).status).toBe(200);
    await expectEnded(tokens);
  });

  test("a password reset ends it", async () => {
    const person = await newPerson();
    const { tokens } = await grantFor(config, person);
    const token = await issueResetToken(server, person.id);
    expect((await server.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: "another horse battery staple" } })).status).toBe(200);
    await expectEnded(tokens);
  });

  test("the code of a sign-in that ended since is refused", async () => {
    const person = await newPerson();
    const browser = new Browserless(server.url);
    const flow = await codeFlow(config);
    const callback = await walkAuthorization(browser, flow.url, person);
    const page = await browser.get("/account");
    await browser.submit(page, "/logout");
    const refused = oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    await expect(refused).rejects.toMatchObject({ error: "invalid_grant" });
  });

  test("the grant is not one of the user's sessions in /users/me/sessions", async () => {
    const person = await newPerson();
    await grantFor(config, person);
    const listed = await server.api("GET", "/api/v1/users/me/sessions", { token: person.token });
    const rows = await server.core.db.select().from(sessions).where(eq(sessions.userId, person.id));
    const grant = rows.find((row) => row.clientId !== null)!;
    expect(grant).toBeDefined();
    // The API login and the browser's sign-in are listed; the grant is a connected application instead.
    expect(listed.body.data.map((s: { id: string }) => s.id).sort()).toEqual(rows.filter((row) => row.clientId === null).map((row) => row.id).sort());
    expect(listed.body.data.length).toBe(2);
  });
});

describe.skipIf(!SERVER_URL)("two instances on one PostgreSQL", () => {
  let a: TestServer;
  let b: TestServer;
  let configA: oidc.Configuration;
  let configB: oidc.Configuration;
  if (SERVER_URL) beforeAll(async () => {
    a = await startIssuer();
    // The same public URL on both (as behind one load balancer): the issuer is a's.
    b = await startIssuer({ USERSVC_PUBLIC_URL: a.url }, { shareDatabaseWith: a });
    const client = await registerClient(a, { skip_consent: true });
    configA = await discover(a, client.clientId, client.clientSecret);
    // The same client, its token, userinfo and introspection requests sent to b.
    const { issuer, jwks_uri } = configA.serverMetadata();
    const endpoints = { introspection_endpoint: `${b.url}/oauth/introspect`, token_endpoint: `${b.url}/oauth/token`, userinfo_endpoint: `${b.url}/oauth/userinfo`, revocation_endpoint: `${b.url}/oauth/revoke` };
    configB = new oidc.Configuration({ issuer, jwks_uri, ...endpoints }, client.clientId, client.clientSecret!);
    oidc.allowInsecureRequests(configB);
  });
  if (SERVER_URL) afterAll(async () => {
    await b.stop();
    await a.stop();
  });

  test("a grant revoked on one instance is inactive on the other at the next request", async () => {
    const created = await createPlainUser(a);
    const person = { email: created.input.email, password: created.input.password };
    const flow = await codeFlow(configA);
    const callback = await walkAuthorization(new Browserless(a.url), flow.url, person);
    const tokens = await oidc.authorizationCodeGrant(configA, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    expect((await oidc.tokenIntrospection(configB, tokens.access_token)).active).toBe(true);
    await oidc.tokenRevocation(configA, tokens.refresh_token!);
    expect((await oidc.tokenIntrospection(configB, tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(configB, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
  });

  test("keys rotated on one instance: id_tokens and access tokens of either key verify on the other", async () => {
    const created = await createPlainUser(a);
    const person = { email: created.input.email, password: created.input.password };
    const grant = async () => {
      const flow = await codeFlow(configA);
      const callback = await walkAuthorization(new Browserless(a.url), flow.url, person);
      return oidc.authorizationCodeGrant(configA, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    };
    const before = await grant();
    await rotateKeys(a.core, CLI_ACTOR, { revokePrevious: false });
    const after = await grant();
    for (const tokens of [before, after]) expect((await oidc.tokenIntrospection(configB, tokens.access_token)).active).toBe(true);
    // A leaked key: everything it signed stops at once, on both.
    await rotateKeys(a.core, CLI_ACTOR, { revokePrevious: true });
    await b.core.tokens.reload();
    expect((await oidc.tokenIntrospection(configB, after.access_token)).active).toBe(false);
    const fresh = await grant();
    expect((await oidc.tokenIntrospection(configB, fresh.access_token)).active).toBe(true);
  });
});
