/**
 * The OpenID Foundation's Basic OP and Config OP checks, transcribed (the
 * suite itself needs Docker, MongoDB and Maven Central: none are here).
 * Each test is named after the suite's module. openid-client is the client
 * where it is used; the raw requests are the suite's own.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { decodeProtectedHeader } from "jose";
import { createPlainUser } from "../support/admin.ts";
import { Browserless, codeFlow, discover, oidc, REDIRECT_URI, registerClient, startIssuer, walkAuthorization } from "../support/oidc.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: a real server on a real database, and password hashes for every sign-in.
setDefaultTimeout(30_000);

let server: TestServer;
let person: { email: string; password: string };
let userId: string;
let client: { clientId: string; clientSecret: string | null };
let config: oidc.Configuration;
/** Signed in once: most checks run with a live session, as the suite's browser has. */
let browser: Browserless;

beforeAll(async () => {
  server = await startIssuer();
  const created = await createPlainUser(server);
  person = { email: created.input.email, password: created.input.password };
  userId = created.id;
  client = await registerClient(server, { skip_consent: true });
  config = await discover(server, client.clientId, client.clientSecret);
  browser = new Browserless(server.url);
  await signIn(browser);
});
afterAll(() => server.stop());

async function signIn(into: Browserless) {
  const page = await into.get("/login");
  const done = await into.submit(page, "/login", { identifier: person.email, password: person.password });
  expect(done.status).toBe(303);
}

/** The provider's answer to an authorization request, followed through the pages (signing in if asked). */
async function authorize(parameters: Record<string, string>, using = browser) {
  const flow = await codeFlow(config, parameters);
  return { flow, callback: await walkAuthorization(using, flow.url, person) };
}

async function exchange(flow: { verifier: string; state: string; nonce: string }, callback: URL, checks: Partial<oidc.AuthorizationCodeGrantChecks> = {}) {
  return oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce, ...checks });
}

/** A hand-made authorization request (what openid-client would refuse to build), answered without following redirects. */
async function rawAuthorize(parameters: Record<string, string>, using = browser) {
  const url = new URL("/oauth/authorize", server.url);
  for (const [name, value] of Object.entries(parameters)) url.searchParams.set(name, value);
  return using.get(url.pathname + url.search);
}

const base = () => ({
  client_id: client.clientId,
  redirect_uri: REDIRECT_URI,
  response_type: "code",
  scope: "openid",
  state: "xyz",
  code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
  code_challenge_method: "S256",
});

describe("Basic OP", () => {
  test("oidcc-server: code flow with client_secret_basic", async () => {
    const { flow, callback } = await authorize({});
    const tokens = await exchange(flow, callback);
    expect(tokens.claims()!.sub).toBe(userId);
  });

  test("oidcc-client-secret-post", async () => {
    const post = await discover(server, client.clientId, client.clientSecret, oidc.ClientSecretPost(client.clientSecret!));
    const flow = await codeFlow(post);
    const callback = await walkAuthorization(browser, flow.url, person);
    const tokens = await oidc.authorizationCodeGrant(post, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    expect(tokens.claims()!.sub).toBe(userId);
  });

  test("oidcc-response-type-missing: invalid_request back to the client, with its state", async () => {
    const { response_type: _, ...rest } = base();
    const answer = await rawAuthorize(rest);
    const location = new URL(answer.location!);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get("error")).toBe("invalid_request");
    expect(location.searchParams.get("state")).toBe("xyz");
    expect(location.searchParams.get("iss")).toBe(server.url);
  });

  test("oidcc-idtoken-signature and oidcc-idtoken-rs256: RS256 with a kid; oidcc-idtoken-unsigned: `none` is not offered", async () => {
    const { flow, callback } = await authorize({});
    const tokens = await exchange(flow, callback);
    const header = decodeProtectedHeader(tokens.id_token!);
    expect(header.alg).toBe("RS256");
    expect(header.kid).toBeString();
    const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
    expect(discovery.id_token_signing_alg_values_supported).not.toContain("none");
  });

  test("oidcc-userinfo-get, oidcc-userinfo-post-header, oidcc-userinfo-post-body", async () => {
    const { flow, callback } = await authorize({});
    const tokens = await exchange(flow, callback);
    expect((await oidc.fetchUserInfo(config, tokens.access_token, userId)).sub).toBe(userId);
    const header = await fetch(`${server.url}/oauth/userinfo`, { method: "POST", headers: { authorization: `Bearer ${tokens.access_token}` } });
    const body = await fetch(`${server.url}/oauth/userinfo`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `access_token=${tokens.access_token}`,
    });
    expect([header.status, body.status]).toEqual([200, 200]);
  });

  test("oidcc-ensure-request-without-nonce-succeeds-for-code-flow", async () => {
    const { flow, callback } = await authorize({ nonce: "" });
    const tokens = await exchange(flow, callback, { expectedNonce: undefined });
    expect(tokens.claims()!.nonce).toBeUndefined();
  });

  test("oidcc-scope-profile, -email, -address, -phone, -all: known scopes release their claims, unknown ones are ignored", async () => {
    for (const scope of ["openid profile", "openid email", "openid address", "openid phone", "openid profile email address phone"]) {
      const { flow, callback } = await authorize({ scope });
      const tokens = await exchange(flow, callback);
      const info = await oidc.fetchUserInfo(config, tokens.access_token, userId);
      expect(info.preferred_username !== undefined).toBe(scope.includes("profile"));
      expect(info.email !== undefined).toBe(scope.includes("email"));
    }
  });

  test("oidcc-ensure-other-scope-order-succeeds", async () => {
    const { flow, callback } = await authorize({ scope: "email openid" });
    expect((await exchange(flow, callback)).claims()!.email).toBe(person.email);
  });

  test("oidcc-display-page and oidcc-display-popup: accepted", async () => {
    for (const display of ["page", "popup"]) {
      const { flow, callback } = await authorize({ display });
      expect((await exchange(flow, callback)).claims()!.sub).toBe(userId);
    }
  });

  test("oidcc-prompt-login: the sign-in is asked again and auth_time moves", async () => {
    const first = await exchange(...(Object.values(await authorize({})) as [never, URL]));
    server.clock.advance(2);
    const flow = await codeFlow(config, { prompt: "login" });
    const answer = await browser.get(flow.url);
    expect(answer.location).toStartWith("/login?");
    expect(new URLSearchParams(answer.location!.split("?")[1]).get("prompt")).toBe("login");
    const login = await browser.get(answer.location!);
    expect(login.status).toBe(200);
    const callback = await walkAuthorization(browser, answer.location!, person);
    const again = await exchange(flow, callback);
    expect(again.claims()!.auth_time!).toBeGreaterThan(first.claims()!.auth_time!);
  });

  test("oidcc-prompt-none-not-logged-in: login_required", async () => {
    const answer = await rawAuthorize({ ...base(), prompt: "none" }, new Browserless(server.url));
    const location = new URL(answer.location!);
    expect(location.searchParams.get("error")).toBe("login_required");
    expect(location.searchParams.get("state")).toBe("xyz");
  });

  test("oidcc-prompt-none-logged-in: a code, no page", async () => {
    const flow = await codeFlow(config, { prompt: "none" });
    const answer = await browser.get(flow.url);
    expect(answer.location).toStartWith(REDIRECT_URI);
    expect((await exchange(flow, new URL(answer.location!))).claims()!.sub).toBe(userId);
  });

  test("oidcc-max-age-1: an older sign-in is asked again and auth_time is fresh", async () => {
    const fresh = new Browserless(server.url);
    await signIn(fresh);
    server.clock.advance(2);
    const flow = await codeFlow(config, { max_age: "1" });
    const answer = await fresh.get(flow.url);
    expect(answer.location).toStartWith("/login?");
    const callback = await walkAuthorization(fresh, answer.location!, person);
    const tokens = await exchange(flow, callback, { maxAge: 1 });
    expect(Math.abs(tokens.claims()!.auth_time! - server.clock.now().getTime() / 1000)).toBeLessThan(2);
  });

  test("oidcc-max-age-10000: no new sign-in", async () => {
    const flow = await codeFlow(config, { max_age: "10000" });
    const answer = await browser.get(flow.url);
    expect(answer.location).toStartWith(REDIRECT_URI);
    expect((await exchange(flow, new URL(answer.location!), { maxAge: 10000 })).claims()!.auth_time).toBeNumber();
  });

  test("oidcc-ensure-request-with-unknown-parameter-succeeds", async () => {
    const { flow, callback } = await authorize({ extra_parameter: "ignored", another: "x" });
    expect((await exchange(flow, callback)).claims()!.sub).toBe(userId);
  });

  test("oidcc-id-token-hint: prompt=none with the id_token of the session", async () => {
    const first = await authorize({});
    const tokens = await exchange(first.flow, first.callback);
    const { flow, callback } = await authorize({ prompt: "none", id_token_hint: tokens.id_token! });
    expect((await exchange(flow, callback)).claims()!.sub).toBe(userId);
  });

  test("oidcc-login-hint: the sign-in page is filled in", async () => {
    const flow = await codeFlow(config, { login_hint: "hint@example.test" });
    const answer = await new Browserless(server.url).get(flow.url);
    const login = await new Browserless(server.url).get(answer.location!);
    expect(login.html).toContain('value="hint@example.test"');
  });

  test("oidcc-ui-locales: the sign-in page speaks the asked language", async () => {
    const flow = await codeFlow(config, { ui_locales: "de" });
    const anonymous = new Browserless(server.url);
    const answer = await anonymous.get(flow.url);
    const login = await anonymous.get(answer.location!);
    expect(login.html).toContain('lang="de"');
  });

  test("oidcc-claims-locales and oidcc-ensure-request-with-acr-values-succeeds", async () => {
    const { flow, callback } = await authorize({ claims_locales: "de", acr_values: "urn:usersvc:acr:pwd" });
    expect((await exchange(flow, callback)).claims()!.acr).toBe("urn:usersvc:acr:pwd");
  });

  test("oidcc-codereuse and oidcc-codereuse-30seconds: the second use fails and revokes what the first issued", async () => {
    const { flow, callback } = await authorize({});
    const tokens = await exchange(flow, callback);
    server.clock.advance(30);
    const code = callback.searchParams.get("code")!;
    const again = await fetch(`${server.url}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${btoa(`${client.clientId}:${client.clientSecret}`)}` },
      body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, code_verifier: flow.verifier }),
    });
    expect(again.status).toBe(400);
    expect(((await again.json()) as { error: string }).error).toBe("invalid_grant");
    await expect(oidc.fetchUserInfo(config, tokens.access_token, userId)).rejects.toBeDefined();
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
  });

  test("oidcc-ensure-registered-redirect-uri: an error page, never a redirect", async () => {
    for (const redirect_uri of ["https://evil.example/callback", `${REDIRECT_URI}/more`, `${REDIRECT_URI}?x=1`, "https://APP.example.test/callback"]) {
      const answer = await rawAuthorize({ ...base(), redirect_uri });
      expect(answer.status).toBe(400);
      expect(answer.location).toBeNull();
      expect(answer.html).toContain('data-error-code="invalid_request"');
    }
    const unknown = await rawAuthorize({ ...base(), client_id: "no-such-client" });
    expect([unknown.status, unknown.location]).toEqual([400, null]);
  });

  test("oidcc-ensure-post-request-succeeds: POST to the authorization endpoint", async () => {
    const flow = await codeFlow(config);
    const url = new URL(flow.url);
    const answer = await browser.post("/oauth/authorize", Object.fromEntries(url.searchParams), { origin: "https://app.example.test" });
    expect(answer.location).toStartWith(REDIRECT_URI);
    expect((await exchange(flow, new URL(answer.location!))).claims()!.sub).toBe(userId);
  });

  test("oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported and oidcc-request-uri-unsigned", async () => {
    const object = await rawAuthorize({ ...base(), request: "eyJhbGciOiJub25lIn0.e30." });
    expect(new URL(object.location!).searchParams.get("error")).toBe("request_not_supported");
    const uri = await rawAuthorize({ ...base(), request_uri: "https://app.example.test/request.jwt" });
    expect(new URL(uri.location!).searchParams.get("error")).toBe("request_uri_not_supported");
  });

  test("oidcc-claims-essential: the claims parameter is ignored, the flow succeeds", async () => {
    const { flow, callback } = await authorize({ claims: JSON.stringify({ userinfo: { email: { essential: true } } }) });
    expect((await exchange(flow, callback)).claims()!.sub).toBe(userId);
  });

  test("oidcc-refresh-token", async () => {
    const refreshing = await registerClient(server, { skip_consent: true });
    const refreshConfig = await discover(server, refreshing.clientId, refreshing.clientSecret);
    const flow = await codeFlow(refreshConfig);
    const callback = await walkAuthorization(browser, flow.url, person);
    const tokens = await oidc.authorizationCodeGrant(refreshConfig, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    const refreshed = await oidc.refreshTokenGrant(refreshConfig, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
  });

  describe("PKCE (OAuth 2.1)", () => {
    test("oidcc-ensure-pkce-required: no code_challenge is refused", async () => {
      const { code_challenge: _, code_challenge_method: __, ...rest } = base();
      expect(new URL((await rawAuthorize(rest)).location!).searchParams.get("error")).toBe("invalid_request");
    });

    test("plain is refused, and a challenge without a method (which means plain)", async () => {
      const plain = await rawAuthorize({ ...base(), code_challenge_method: "plain" });
      expect(new URL(plain.location!).searchParams.get("error")).toBe("invalid_request");
      const { code_challenge_method: _, ...rest } = base();
      expect(new URL((await rawAuthorize(rest)).location!).searchParams.get("error")).toBe("invalid_request");
    });

    test("downgrade: a code exchanged without its verifier, or with another one, is refused", async () => {
      for (const verifier of [undefined, oidc.randomPKCECodeVerifier()]) {
        const { flow, callback } = await authorize({});
        const body = new URLSearchParams({ grant_type: "authorization_code", code: callback.searchParams.get("code")!, redirect_uri: REDIRECT_URI });
        if (verifier) body.set("code_verifier", verifier);
        const answer = await fetch(`${server.url}/oauth/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${btoa(`${client.clientId}:${client.clientSecret}`)}` },
          body,
        });
        expect(answer.status).toBe(400);
        expect(((await answer.json()) as { error: string }).error).toBe("invalid_grant");
        void flow;
      }
    });
  });
});

describe("Config OP (oidcc-discovery-endpoint-verification)", () => {
  let response: Response;
  let discovery: Record<string, unknown>;
  beforeAll(async () => {
    response = await fetch(`${server.url}/.well-known/openid-configuration`);
    discovery = (await response.clone().json()) as Record<string, unknown>;
  });

  test("200 with a JSON content type", () => {
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("application/json");
  });

  test("the issuer is exactly the URL the document was fetched under, and a valid URL", () => {
    expect(discovery.issuer).toBe(server.url);
    expect(() => new URL(String(discovery.issuer))).not.toThrow();
  });

  test("response_types_supported and subject_types_supported", () => {
    expect(discovery.response_types_supported).toEqual(["code"]);
    expect(discovery.subject_types_supported).toEqual(["public"]);
  });

  test("id_token_signing_alg_values_supported includes RS256", () => {
    expect(discovery.id_token_signing_alg_values_supported).toContain("RS256");
  });

  test("authorization, token and userinfo endpoints under the issuer", () => {
    for (const name of ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "revocation_endpoint", "introspection_endpoint", "end_session_endpoint"]) {
      expect(String(discovery[name])).toStartWith(`${server.url}/`);
    }
  });

  test("jwks_uri is fetchable; the JWKS is valid and has no private or symmetric key", async () => {
    const jwks = (await (await fetch(String(discovery.jwks_uri))).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.length).toBeGreaterThanOrEqual(2);
    for (const key of jwks.keys) {
      expect(key.kid).toBeString();
      expect(key.kty === "RSA" || key.kty === "OKP").toBe(true);
      for (const member of ["d", "p", "q", "dp", "dq", "qi", "k", "oth"]) expect(key[member]).toBeUndefined();
    }
    expect(jwks.keys.some((key) => key.alg === "RS256")).toBe(true);
  });

  test("scopes_supported contains openid; claims_supported and grant_types_supported are given", () => {
    expect(discovery.scopes_supported).toContain("openid");
    expect(discovery.claims_supported).toContain("sub");
    expect(discovery.grant_types_supported).toEqual(["authorization_code", "refresh_token", "client_credentials"]);
  });

  test("locales are BCP 47 tags; code_challenge_methods_supported is an array of S256 only", () => {
    for (const locale of discovery.ui_locales_supported as string[]) expect(locale).toMatch(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/);
    expect(discovery.code_challenge_methods_supported).toEqual(["S256"]);
  });

  test("every endpoint is https when the public URL is", async () => {
    const https = await startTestServer({ USERSVC_PUBLIC_URL: "https://id.example.test" });
    try {
      const document = (await (await fetch(`${https.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(document.issuer).toBe("https://id.example.test");
      const endpoints = Object.entries(document).filter(([name]) => name.endsWith("_endpoint") || name === "jwks_uri");
      expect(endpoints.length).toBeGreaterThanOrEqual(7);
      for (const [, value] of endpoints) expect(String(value)).toStartWith("https://id.example.test/");
    } finally {
      await https.stop();
    }
  });
});
