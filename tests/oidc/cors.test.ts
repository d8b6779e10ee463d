/**
 * SPEC §9 CORS: the token, userinfo, revocation and introspection endpoints
 * answer for the origins a client registered (and only those); the
 * authorization endpoint never does, even with USERSVC_CORS_ORIGINS=*.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createPlainUser } from "../support/admin.ts";
import { Browserless, codeFlow, discover, oidc, REDIRECT_URI, registerClient, startIssuer, walkAuthorization } from "../support/oidc.ts";
import type { TestServer } from "../support/server.ts";

// More than bun's 5 s default: a real server on a real database, and a password hash for the sign-in.
setDefaultTimeout(30_000);

const SPA = "https://spa.example.test";
const OTHER = "https://other.example.test";
let server: TestServer;
let clientId: string;
let accessToken: string;

beforeAll(async () => {
  server = await startIssuer({ USERSVC_CORS_ORIGINS: "*" });
  const client = await registerClient(server, { public: true, skip_consent: false, cors_origins: [SPA] });
  clientId = client.clientId;
  const config = await discover(server, client.clientId, null);
  const created = await createPlainUser(server);
  const flow = await codeFlow(config);
  const callback = await walkAuthorization(new Browserless(server.url), flow.url, { email: created.input.email, password: created.input.password });
  accessToken = (await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce })).access_token;
});
afterAll(() => server.stop());

const preflight = (path: string, origin: string) =>
  fetch(`${server.url}${path}`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" } });

test("a preflight from a registered origin is allowed on the client endpoints, from any other origin it is not", async () => {
  for (const path of ["/oauth/token", "/oauth/userinfo", "/oauth/revoke", "/oauth/introspect"]) {
    const allowed = await preflight(path, SPA);
    expect([allowed.status, allowed.headers.get("access-control-allow-origin")]).toEqual([204, SPA]);
    expect(allowed.headers.get("access-control-allow-methods")).toContain("POST");
    const refused = await preflight(path, OTHER);
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
  }
});

test("the token endpoint answers CORS for the client's own origin only", async () => {
  const ask = (origin: string) =>
    fetch(`${server.url}/oauth/token`, {
      method: "POST",
      headers: { origin, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "x", client_id: clientId }),
    });
  expect((await ask(SPA)).headers.get("access-control-allow-origin")).toBe(SPA);
  expect((await ask(OTHER)).headers.get("access-control-allow-origin")).toBeNull();
});

test("userinfo answers CORS for a registered origin", async () => {
  const info = await fetch(`${server.url}/oauth/userinfo`, { headers: { origin: SPA, authorization: `Bearer ${accessToken}` } });
  expect([info.status, info.headers.get("access-control-allow-origin")]).toEqual([200, SPA]);
});

test("the authorization endpoint and the consent page never answer CORS, whatever USERSVC_CORS_ORIGINS says", async () => {
  const flow = `/oauth/authorize?client_id=${clientId}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&response_type=code`;
  for (const path of [flow, "/consent"]) {
    const answer = await fetch(`${server.url}${path}`, { redirect: "manual", headers: { origin: SPA } });
    expect(answer.headers.get("access-control-allow-origin")).toBeNull();
    const pre = await preflight(path.split("?")[0]!, SPA);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
  }
  // The API keeps USERSVC_CORS_ORIGINS.
  expect((await fetch(`${server.url}/api/v1/users/me`, { headers: { origin: OTHER } })).headers.get("access-control-allow-origin")).toBe("*");
});
