/**
 * The OpenID Connect provider (SPEC §9) read as an attacker would: open
 * redirects through redirect_uri, post_logout_redirect_uri and return_to;
 * CSRF on consent, logout and disconnecting an application; code
 * substitution, replay and racing exchanges; PKCE downgrade; refresh races
 * and cross-client refresh; token confusion between usersvc's own tokens,
 * the provider's access, refresh and id tokens and forged ones; client
 * authentication; what introspection and revocation tell or do to another
 * client; scope escalation; CORS; secrets in logs; hostile parameters on the
 * pages. Each finding of the review has the test named after its attack.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { oauthCodes, oauthConsents } from "../../src/core/db/schema.ts";
import { removeClient, rotateClientSecret, updateClient } from "../../src/core/oidc/client-admin.ts";
import { createAdmin, createPlainUser } from "../support/admin.ts";
import { errorCodeOf } from "../support/browserless.ts";
import { Browserless, freePort, POST_LOGOUT_URI, REDIRECT_URI, registerClient } from "../support/oidc.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: a real server on a real database, and a password hash behind every sign-in.
setDefaultTimeout(30_000);

const GLOBAL_ORIGIN = "https://global.example";
let server: TestServer;
beforeAll(async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // usersvc's own issuer set to the public URL (the provider's issuer): the harder case for token confusion.
  // A global CORS origin, which must never reach the provider's endpoints or the pages.
  server = await startTestServer({ USERSVC_PUBLIC_URL: url, USERSVC_ISSUER: url, USERSVC_CORS_ORIGINS: GLOBAL_ORIGIN }, { port });
});
afterAll(() => server.stop());

interface Client {
  clientId: string;
  clientSecret: string | null;
}

async function client(input: Parameters<typeof registerClient>[1] = {}): Promise<Client> {
  return registerClient(server, { skip_consent: true, ...input });
}

async function person() {
  const created = await createPlainUser(server);
  return { id: created.id, email: created.input.email, password: created.input.password, token: created.token, tokens: created.tokens };
}

async function signedIn(who?: Awaited<ReturnType<typeof person>>) {
  const someone = who ?? (await person());
  const browser = new Browserless(server.url);
  const page = await browser.get("/login");
  const done = await browser.submit(page, "/login", { identifier: someone.email, password: someone.password });
  if (done.status !== 303) throw new Error(`sign-in failed: ${done.status}`);
  return { browser, person: someone };
}

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

function authorizePath(clientId: string, parameters: Record<string, string> = {}): string {
  const query = new URLSearchParams({
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    response_type: "code",
    scope: "openid profile email",
    code_challenge: pkce().challenge,
    code_challenge_method: "S256",
    state: "state-1",
    ...parameters,
  });
  return `/oauth/authorize?${query}`;
}

/** A code for `c`, issued to the signed-in browser. */
async function codeFor(browser: Browserless, c: Client, parameters: Record<string, string> = {}) {
  const { verifier, challenge } = pkce();
  const answer = await browser.get(authorizePath(c.clientId, { code_challenge: challenge, ...parameters }));
  const location = new URL(answer.location ?? "about:blank");
  const code = location.searchParams.get("code");
  if (!code) throw new Error(`no code: ${answer.status} ${answer.location} ${answer.html.slice(0, 300)}`);
  return { code, verifier, redirectUri: parameters.redirect_uri ?? REDIRECT_URI };
}

interface OAuthAnswer {
  status: number;
  headers: Headers;
  body: any;
}

/** A form post to one of the provider's client endpoints, authenticated as `as` (Basic with a secret, else client_id in the form). */
async function post(path: string, as: Client | null, form: Record<string, string>, headers: Record<string, string> = {}): Promise<OAuthAnswer> {
  const sent: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", ...headers };
  let fields = form;
  if (as?.clientSecret) sent.authorization = `Basic ${btoa(`${as.clientId}:${as.clientSecret}`)}`;
  else if (as) fields = { client_id: as.clientId, ...form };
  const response = await fetch(`${server.url}${path}`, { method: "POST", headers: sent, body: new URLSearchParams(fields) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body };
}

async function exchange(c: Client, issued: { code: string; verifier: string; redirectUri: string }): Promise<OAuthAnswer> {
  return post("/oauth/token", c, { grant_type: "authorization_code", code: issued.code, redirect_uri: issued.redirectUri, code_verifier: issued.verifier });
}

/** Tokens of a fresh grant of `c` for a new person (or the signed-in `browser`'s). */
async function grant(c: Client, parameters: Record<string, string> = {}, browser?: Browserless) {
  const b = browser ?? (await signedIn()).browser;
  const answer = await exchange(c, await codeFor(b, c, parameters));
  if (answer.status !== 200) throw new Error(`exchange failed: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as { access_token: string; refresh_token: string; id_token?: string; scope: string };
}

async function isActive(c: Client, token: string): Promise<boolean> {
  return (await post("/oauth/introspect", c, { token })).body.active;
}

async function userinfo(token: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  return { status: response.status, headers: response.headers, body: (await response.json().catch(() => null)) as any };
}

function jwt(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ""): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part(header)}.${part(payload)}.${signature}`;
}

describe("redirects", () => {
  const LOOPBACK = "http://127.0.0.1/cb";
  const LOOPBACK6 = "http://[::1]/cb";
  let app: Client;
  let browser: Browserless;
  beforeAll(async () => {
    app = await client({ redirect_uris: [REDIRECT_URI, LOOPBACK, LOOPBACK6] });
    browser = (await signedIn()).browser;
  });

  test("redirect_uri look-alikes (case, slash, encoding, user info, ports, loopback suffixes, IPv6 spellings, fragments) get an error page, never a redirect", async () => {
    const lookAlikes = [
      "https://app.example.test/Callback",
      "HTTPS://app.example.test/callback",
      "https://app.example.test/callback/",
      "https://app.example.test/callback%2F..%2Fevil",
      "https://app.example.test/%63allback",
      "https://app.example.test:443/callback",
      "https://app.example.test:8443/callback",
      "https://evil.test@app.example.test/callback",
      "https://app.example.test@evil.test/callback",
      "https://app.example.test.evil.test/callback",
      "https://app.example.test/callback#@evil.test",
      "https://app.example.test/callback?next=https://evil.test",
      "http://app.example.test/callback",
      "//app.example.test/callback",
      "http://127.0.0.1.evil.test/cb",
      "http://127.0.0.1.nip.io:8080/cb",
      "http://127.0.0.1:8080@evil.test/cb",
      "http://127.0.0.1:8080\\@evil.test/cb",
      "http://127.0.0.1:8080/cb#@evil.test",
      "http://127.0.0.1:8080/cb/../evil",
      "http://127.0.0.1:8080/cb?x=1",
      "http://127.0.0.1:/cb",
      "http://localhost:8080/cb",
      "http://127.1:8080/cb",
      "http://2130706433:8080/cb",
      "http://[0:0:0:0:0:0:0:1]:8080/cb",
      "http://[::ffff:127.0.0.1]:8080/cb",
      "http://[::1].evil.test/cb",
      "https://127.0.0.1:8080/cb",
      "HTTP://127.0.0.1:8080/cb",
    ];
    for (const redirect_uri of lookAlikes) {
      const answer = await browser.get(authorizePath(app.clientId, { redirect_uri }));
      expect({ redirect_uri, status: answer.status, location: answer.location, code: errorCodeOf(answer.html) ?? answer.html.match(/data-error-code="([a-z_]+)"/)?.[1] }).toEqual({
        redirect_uri,
        status: 400,
        location: null,
        code: "invalid_request",
      });
    }
  });

  test("the loopback rule gives any port on the registered loopback URI, and nothing else", async () => {
    for (const redirect_uri of ["http://127.0.0.1:54321/cb", "http://[::1]:8080/cb", LOOPBACK]) {
      const answer = await browser.get(authorizePath(app.clientId, { redirect_uri }));
      expect(answer.location).toStartWith(`${redirect_uri}?code=`);
    }
  });

  test("a loopback redirect_uri with a port past 65535 is refused on a page, not a 500 and no code stored", async () => {
    const before = (await server.core.db.select().from(oauthCodes).where(eq(oauthCodes.clientId, app.clientId))).length;
    const answer = await browser.get(authorizePath(app.clientId, { redirect_uri: "http://127.0.0.1:99999/cb" }));
    expect([answer.status, answer.location]).toEqual([400, null]);
    expect((await server.core.db.select().from(oauthCodes).where(eq(oauthCodes.clientId, app.clientId))).length).toBe(before);
    // The sign-in page on the way to such a request opens too (it reads the client's redirect for its CSP).
    const returnTo = authorizePath(app.clientId, { redirect_uri: "http://127.0.0.1:99999/cb" });
    const login = await new Browserless(server.url).get(`/login?${new URLSearchParams({ return_to: returnTo })}`);
    expect(login.status).toBe(200);
    // And /consent with it.
    const consent = await browser.get(`/consent?${new URL(returnTo, server.url).searchParams}`);
    expect(consent.status).toBe(400);
  });

  test("an authorization error goes back only to a registered URI, with state encoded (no header injection)", async () => {
    const state = "x\r\nSet-Cookie: planted=1\r\nLocation: https://evil.test/";
    const answer = await browser.get(authorizePath(app.clientId, { code_challenge_method: "plain", state }));
    const location = new URL(answer.location!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect([location.searchParams.get("error"), location.searchParams.get("state")]).toEqual(["invalid_request", state]);
    expect(answer.cookies.some((cookie) => cookie.includes("planted"))).toBe(false);
    expect(answer.headers.get("location")).not.toContain("\n");
  });

  test("post_logout_redirect_uri of another client, unregistered or without a client is shown as an error, signed in or not", async () => {
    const other = await client({ post_logout_redirect_uris: ["https://other.example.test/bye"] });
    const anonymous = new Browserless(server.url);
    const { browser: signedInBrowser } = await signedIn();
    const attempts: Record<string, string>[] = [
      { client_id: app.clientId, post_logout_redirect_uri: "https://other.example.test/bye" },
      { client_id: app.clientId, post_logout_redirect_uri: "https://evil.test/" },
      { client_id: app.clientId, post_logout_redirect_uri: `${POST_LOGOUT_URI}/` },
      { client_id: other.clientId, post_logout_redirect_uri: POST_LOGOUT_URI },
      { post_logout_redirect_uri: POST_LOGOUT_URI },
      { client_id: "no-such-client", post_logout_redirect_uri: POST_LOGOUT_URI },
    ];
    for (const attempt of attempts) {
      for (const b of [anonymous, signedInBrowser]) {
        const answer = await b.get(`/oauth/logout?${new URLSearchParams(attempt)}`);
        expect({ attempt, status: answer.status, location: answer.location }).toEqual({ attempt, status: 400, location: null });
      }
    }
    // Still signed in: none of them signed anyone out.
    expect((await signedInBrowser.get("/account")).status).toBe(200);
  });

  test("return_to through /login never leaves for another site, however it is spelled", async () => {
    const someone = await person();
    for (const returnTo of ["https://evil.test/", "//evil.test/", "/\\evil.test/", `${server.url}@evil.test/`, `${server.url}.evil.test/`, "javascript:alert(1)"]) {
      const b = new Browserless(server.url);
      const page = await b.get(`/login?${new URLSearchParams({ return_to: returnTo })}`);
      const done = await b.submit(page, "/login", { identifier: someone.email, password: someone.password });
      expect({ returnTo, location: done.location }).toEqual({ returnTo, location: "/account" });
    }
  });

  test("the pages' CSP form-action names only an origin the client registered, whatever the query says", async () => {
    const evil = authorizePath(app.clientId, { redirect_uri: "https://evil.test/callback" });
    const login = await new Browserless(server.url).get(`/login?${new URLSearchParams({ return_to: evil })}`);
    expect(login.headers.get("content-security-policy")).toContain("form-action 'self';");
    const consent = await browser.get(`/consent?${new URL(evil, server.url).searchParams}`);
    expect([consent.status, consent.headers.get("content-security-policy")?.includes("evil.test")]).toEqual([400, false]);
    // Another client's redirect URI named with this client's id adds nothing either.
    await client({ redirect_uris: ["https://other.example.test/cb"] });
    const mixed = authorizePath(app.clientId, { redirect_uri: "https://other.example.test/cb" });
    const page = await new Browserless(server.url).get(`/login?${new URLSearchParams({ return_to: mixed })}`);
    expect(page.headers.get("content-security-policy")).not.toContain("other.example.test");
    // The genuine one is added, and only on the way to that client.
    const genuine = await new Browserless(server.url).get(`/login?${new URLSearchParams({ return_to: authorizePath(app.clientId) })}`);
    expect(genuine.headers.get("content-security-policy")).toContain("form-action 'self' https://app.example.test;");
  });
});

describe("consent, logout and disconnecting: CSRF and hostile input", () => {
  let thirdParty: Client;
  beforeAll(async () => {
    thirdParty = await registerClient(server, { name: `<img src=x onerror=alert(1)> "app"` });
  });

  async function consentPage(browser: Browserless, parameters: Record<string, string> = {}) {
    let answer = await browser.get(authorizePath(thirdParty.clientId, parameters));
    while (answer.location?.startsWith("/")) answer = await browser.get(answer.location);
    return answer;
  }

  test("a forged consent post (another origin, no token, another session's token) grants nothing", async () => {
    const victim = await signedIn();
    const attacker = await signedIn();
    const page = await consentPage(victim.browser);
    expect(page.status).toBe(200);
    const attackerPage = await consentPage(attacker.browser);
    const fields = Object.fromEntries(new URL(authorizePath(thirdParty.clientId), server.url).searchParams);
    const attempts: [string, Record<string, string>, Record<string, string>][] = [
      ["no token", { ...fields, decision: "allow" }, {}],
      ["the attacker's token", { ...fields, decision: "allow", csrf_token: /name="csrf_token" value="([^"]+)"/.exec(attackerPage.html)![1]! }, {}],
      ["another origin", { ...fields, decision: "allow", csrf_token: /name="csrf_token" value="([^"]+)"/.exec(page.html)![1]! }, { origin: "https://evil.test" }],
      ["Origin null", { ...fields, decision: "allow", csrf_token: /name="csrf_token" value="([^"]+)"/.exec(page.html)![1]! }, { origin: "null" }],
    ];
    for (const [what, form, headers] of attempts) {
      const answer = await victim.browser.post("/consent", form, headers);
      expect({ what, status: answer.status, location: answer.location }).toEqual({ what, status: 403, location: null });
    }
    const stored = await server.core.db.select().from(oauthConsents).where(eq(oauthConsents.userId, victim.person.id));
    expect(stored).toEqual([]);
  });

  test("a forged disconnect of a connected application (no token, another origin) revokes nothing", async () => {
    const { browser } = await signedIn();
    const first = await client({ name: "Connected" });
    const tokens = await grant(first, {}, browser);
    const account = await browser.get("/account");
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(account.html)![1]!;
    await browser.post("/account/apps/revoke", { client_id: first.clientId });
    await browser.post("/account/apps/revoke", { client_id: first.clientId, csrf_token: csrf }, { origin: "https://evil.test" });
    expect(await isActive(first, tokens.access_token)).toBe(true);
    expect((await browser.get("/account")).html).toContain("Connected");
  });

  test("a forged RP-initiated logout (a link, a post without the page's token, another origin) signs nobody out", async () => {
    const { browser } = await signedIn();
    const link = await browser.get(`/oauth/logout?client_id=${thirdParty.clientId}`);
    expect(link.status).toBe(200);
    expect(link.html).toContain('action="/oauth/logout"');
    const bare = await browser.post("/oauth/logout", { client_id: thirdParty.clientId });
    expect(bare.status).toBe(200);
    const forged = await browser.post("/oauth/logout", { client_id: thirdParty.clientId, csrf_token: "forged" });
    expect(forged.status).toBe(403);
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(link.html)![1]!;
    const elsewhere = await browser.post("/oauth/logout", { client_id: thirdParty.clientId, csrf_token: csrf }, { origin: "https://evil.test" });
    expect(elsewhere.status).toBe(403);
    expect((await browser.get("/account")).status).toBe(200);
  });

  test("markup in the client's name, state, nonce and login_hint is printed as text on the consent page", async () => {
    const { browser } = await signedIn();
    const payload = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;
    const page = await consentPage(browser, { state: payload, nonce: payload, login_hint: payload });
    expect(page.status).toBe(200);
    expect(page.html).not.toContain("<script>alert");
    expect(page.html).not.toContain("<img src=x");
    expect(page.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(page.headers.get("content-security-policy")).toStartWith("default-src 'none'");
  });

  test("the consent page for an unknown client or an unregistered redirect_uri is an error page, never a redirect", async () => {
    const { browser } = await signedIn();
    const attempts: Record<string, string>[] = [{ client_id: "no-such-client" }, { redirect_uri: "https://evil.test/cb" }, { client_id: "" }];
    for (const parameters of attempts) {
      const query = new URL(authorizePath(thirdParty.clientId, parameters), server.url).searchParams;
      const shown = await browser.get(`/consent?${query}`);
      const posted = await browser.post("/consent", { ...Object.fromEntries(query), decision: "deny" });
      expect([shown.status, shown.location, posted.status, posted.location]).toEqual([400, null, 400, null]);
    }
  });

  test("prompt=none asking for a scope beyond the one consented to is consent_required, not a code", async () => {
    const { browser } = await signedIn();
    const page = await consentPage(browser, { scope: "openid" });
    const allowed = await browser.submit(page, "/consent", { decision: "allow" });
    const code = await browser.get(allowed.location!);
    expect(new URL(code.location!).searchParams.get("code")).toBeString();
    const wider = await browser.get(authorizePath(thirdParty.clientId, { scope: "openid email", prompt: "none" }));
    expect(new URL(wider.location!).searchParams.get("error")).toBe("consent_required");
    expect(new URL(wider.location!).searchParams.get("code")).toBeNull();
  });

  test("an app posing as a public native client (another loopback port, its own PKCE) gets no code from consent given to the real one", async () => {
    const native = await registerClient(server, { name: "Native", public: true, redirect_uris: ["http://127.0.0.1/callback", "com.example.native:/callback"] });
    const spa = await registerClient(server, { name: "SPA", public: true, redirect_uris: [REDIRECT_URI] });
    const { browser } = await signedIn();
    const consentThenCode = async (c: Client, redirect_uri: string) => {
      let answer = await browser.get(authorizePath(c.clientId, { redirect_uri }));
      while (answer.location?.startsWith("/")) answer = await browser.get(answer.location);
      if (answer.status === 200 && answer.html.includes('action="/consent"')) {
        answer = await browser.submit(answer, "/consent", { decision: "allow" });
        while (answer.location?.startsWith("/")) answer = await browser.get(answer.location);
      }
      return answer.location;
    };
    // The genuine app: the person consents, and the app gets its code.
    expect(await consentThenCode(native, "http://127.0.0.1:50001/callback")).toStartWith("http://127.0.0.1:50001/callback?code=");
    // Any other program on the device can listen on a loopback port or claim the scheme (RFC 8252 §8.6):
    // it is asked again, never answered silently.
    for (const redirect_uri of ["http://127.0.0.1:50002/callback", "com.example.native:/callback"]) {
      const silent = await browser.get(authorizePath(native.clientId, { redirect_uri, prompt: "none" }));
      expect(new URL(silent.location!).searchParams.get("error")).toBe("consent_required");
      const asked = await browser.get(authorizePath(native.clientId, { redirect_uri }));
      expect(asked.location).toStartWith("/consent?");
    }
    // A public client whose redirect URI is https is the web origin's alone: its consent is remembered.
    expect(await consentThenCode(spa, REDIRECT_URI)).toStartWith(`${REDIRECT_URI}?code=`);
    const again = await browser.get(authorizePath(spa.clientId, { prompt: "none" }));
    expect(again.location).toStartWith(`${REDIRECT_URI}?code=`);
  });

  test("oversized state and nonce are refused; a huge scope of unknown names is ignored", async () => {
    const { browser } = await signedIn();
    const longState = await browser.get(authorizePath(thirdParty.clientId, { state: "s".repeat(2049) }));
    expect(new URL(longState.location!).searchParams.get("error")).toBe("invalid_request");
    const longNonce = await browser.get(authorizePath(thirdParty.clientId, { nonce: "n".repeat(513) }));
    expect(new URL(longNonce.location!).searchParams.get("error")).toBe("invalid_request");
    const manyScopes = await browser.post("/oauth/authorize", Object.fromEntries(new URL(authorizePath(thirdParty.clientId, { scope: `openid ${"x ".repeat(20_000)}` }), server.url).searchParams));
    expect([manyScopes.status, manyScopes.location?.startsWith("/consent?")]).toEqual([303, true]);
  });
});

describe("codes", () => {
  let a: Client;
  let b: Client;
  beforeAll(async () => {
    a = await client();
    b = await client();
  });

  test("code substitution: another client's code, or the code with another redirect_uri, is invalid_grant", async () => {
    const { browser } = await signedIn();
    const stolen = await codeFor(browser, a);
    expect((await exchange(b, stolen)).body.error).toBe("invalid_grant");
    const other = await codeFor(browser, a);
    expect((await exchange(a, { ...other, redirectUri: "https://app.example.test/other" })).body.error).toBe("invalid_grant");
  });

  test("PKCE downgrade: no challenge or plain is refused at authorization; no, a plain or another verifier at the token endpoint", async () => {
    const { browser } = await signedIn();
    const downgrades: Record<string, string>[] = [{ code_challenge_method: "plain" }, { code_challenge: "" }, { code_challenge_method: "" }, { code_challenge: "short" }];
    for (const parameters of downgrades) {
      const answer = await browser.get(authorizePath(a.clientId, parameters));
      expect(new URL(answer.location!).searchParams.get("error")).toBe("invalid_request");
    }
    for (const verifier of [undefined, "challenge-as-verifier", pkce().verifier]) {
      const { challenge } = pkce();
      const answer = await browser.get(authorizePath(a.clientId, { code_challenge: challenge }));
      const code = new URL(answer.location!).searchParams.get("code")!;
      const form: Record<string, string> = { grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI };
      if (verifier) form.code_verifier = verifier === "challenge-as-verifier" ? challenge : verifier;
      expect((await post("/oauth/token", a, form)).body.error).toBe("invalid_grant");
    }
  });

  test("a replayed code revokes what its first use issued", async () => {
    const { browser } = await signedIn();
    const issued = await codeFor(browser, a);
    const first = await exchange(a, issued);
    expect(first.status).toBe(200);
    expect((await exchange(a, issued)).body.error).toBe("invalid_grant");
    expect(await isActive(a, first.body.access_token)).toBe(false);
    expect((await post("/oauth/token", a, { grant_type: "refresh_token", refresh_token: first.body.refresh_token })).body.error).toBe("invalid_grant");
  });

  test("a replayed code racing its first exchange: never two grants, and the one that answered tokens is revoked", async () => {
    const { browser } = await signedIn();
    for (let round = 0; round < 6; round++) {
      const issued = await codeFor(browser, a);
      const answers = await Promise.all([1, 2, 3, 4].map(() => exchange(a, issued)));
      const won = answers.filter((answer) => answer.status === 200);
      expect(won.length).toBeLessThanOrEqual(1);
      expect(answers.filter((answer) => answer.status === 400).length).toBeGreaterThanOrEqual(3);
      for (const answer of won) {
        expect(await isActive(a, answer.body.access_token)).toBe(false);
        expect((await userinfo(answer.body.access_token)).status).toBe(401);
      }
    }
  });

  test("the code of a user blocked since the sign-in is invalid_grant", async () => {
    const admin = await createAdmin(server);
    const { browser, person: someone } = await signedIn();
    const issued = await codeFor(browser, a);
    expect((await server.api("POST", `/api/v1/admin/users/${someone.id}/block`, { token: admin.token, body: { reason: "review" } })).status).toBe(200);
    expect((await exchange(a, issued)).body.error).toBe("invalid_grant");
  });
});

describe("refresh", () => {
  let a: Client;
  let b: Client;
  beforeAll(async () => {
    a = await client({ scopes: ["openid", "profile", "email", "offline_access", "roles"] });
    b = await client();
  });
  const refresh = (c: Client, refreshToken: string, extra: Record<string, string> = {}) =>
    post("/oauth/token", c, { grant_type: "refresh_token", refresh_token: refreshToken, ...extra });

  test("cross-client refresh: another client's refresh token is invalid_grant and leaves the grant alone", async () => {
    const tokens = await grant(a);
    expect((await refresh(b, tokens.refresh_token)).body.error).toBe("invalid_grant");
    const publicClient = await registerClient(server, { public: true, skip_consent: true, redirect_uris: [REDIRECT_URI] });
    expect((await refresh(publicClient, tokens.refresh_token)).body.error).toBe("invalid_grant");
    expect((await refresh(a, tokens.refresh_token)).status).toBe(200);
  });

  test("concurrent refreshes with one token: at most one answers tokens", async () => {
    const tokens = await grant(a);
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => refresh(a, tokens.refresh_token)));
    expect(answers.filter((answer) => answer.status === 200).length).toBeLessThanOrEqual(1);
    expect(answers.every((answer) => answer.status === 200 || answer.body.error === "invalid_grant")).toBe(true);
  });

  test("a refresh asking for a wider scope is refused without spending the refresh token", async () => {
    const tokens = await grant(a, { scope: "openid email" });
    const wider = await refresh(a, tokens.refresh_token, { scope: "openid email roles" });
    expect([wider.status, wider.body.error]).toEqual([400, "invalid_scope"]);
    // The refusal changed nothing: the same token still refreshes, and the grant is not revoked as reused.
    const next = await refresh(a, tokens.refresh_token);
    expect(next.status).toBe(200);
    expect(next.body.scope.split(" ").sort()).toEqual(["email", "openid"]);
  });

  test("a scope taken from the client stops reaching its live grants", async () => {
    const narrowed = await client({ scopes: ["openid", "profile", "email", "roles"] });
    const tokens = await grant(narrowed, { scope: "openid email roles" });
    expect((await userinfo(tokens.access_token)).body.roles).toEqual(["user"]);
    await updateClient(server.core, CLI_ACTOR, narrowed.clientId, { scopes: ["openid", "profile", "email"] });
    const next = await refresh(narrowed, tokens.refresh_token);
    expect(next.status).toBe(200);
    expect(next.body.scope.split(" ").sort()).toEqual(["email", "openid"]);
    const claims = JSON.parse(Buffer.from(next.body.access_token.split(".")[1], "base64url").toString());
    expect(claims.roles).toBeUndefined();
    const info = await userinfo(next.body.access_token);
    expect([info.status, info.body.roles, info.body.email]).toEqual([200, undefined, expect.any(String)]);
    // Nor does the access token minted before the change read the claim any longer.
    expect((await userinfo(tokens.access_token)).body.roles).toBeUndefined();
  });

  test("a refresh token of a client removed since is refused", async () => {
    const gone = await client();
    const tokens = await grant(gone);
    await removeClient(server.core, CLI_ACTOR, gone.clientId);
    expect((await refresh(gone, tokens.refresh_token)).body.error).toBe("invalid_client");
    expect((await userinfo(tokens.access_token)).status).toBe(401);
    const { browser } = await signedIn();
    const page = await browser.get(authorizePath(gone.clientId));
    expect([page.status, page.location]).toEqual([400, null]);
  });
});

describe("token confusion", () => {
  let app: Client;
  let other: Client;
  let machine: Client;
  let edClient: Client;
  beforeAll(async () => {
    app = await client();
    other = await client();
    machine = await client({ grant_types: ["client_credentials"], redirect_uris: [], scopes: [] });
    edClient = await client({ id_token_alg: "EdDSA" });
  });

  test("usersvc's own access and refresh tokens (same issuer) open nothing of the provider's", async () => {
    const someone = await person();
    for (const own of [someone.tokens.access_token, someone.tokens.refresh_token]) {
      expect((await userinfo(own)).status).toBe(401);
      expect((await post("/oauth/introspect", app, { token: own })).body).toEqual({ active: false });
      expect((await post("/oauth/token", app, { grant_type: "refresh_token", refresh_token: own })).body.error).toBe("invalid_grant");
      expect((await post("/oauth/revoke", app, { token: own })).status).toBe(200);
    }
    // The revocation attempts did nothing to the user's own session.
    expect((await server.api("GET", "/api/v1/users/me", { token: someone.token })).status).toBe(200);
  });

  test("the provider's access, refresh and id tokens open nothing of usersvc's own API", async () => {
    const tokens = await grant(app);
    for (const token of [tokens.access_token, tokens.refresh_token, tokens.id_token!]) {
      expect((await server.api("GET", "/api/v1/users/me", { token })).status).toBe(401);
      expect((await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: token } })).status).toBe(401);
    }
  });

  test("an id_token (RS256 or EdDSA), a refresh token and a client_credentials token are not access tokens at userinfo", async () => {
    const rs = await grant(app);
    const ed = await grant(edClient);
    const machineToken = (await post("/oauth/token", machine, { grant_type: "client_credentials" })).body.access_token;
    for (const token of [rs.id_token!, ed.id_token!, rs.refresh_token, machineToken]) {
      const answer = await userinfo(token);
      expect([answer.status, answer.body.error]).toEqual([401, "invalid_token"]);
    }
    expect((await userinfo(rs.access_token)).status).toBe(200);
  });

  test("forged tokens (alg none, HS256 keyed with a published key, a claims edit, an access token signed by the RS256 key) are invalid_token", async () => {
    const tokens = await grant(app);
    const [header, payload] = tokens.access_token.split(".").slice(0, 2).map((part) => JSON.parse(Buffer.from(part, "base64url").toString()));
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; kty: string; x?: string; n?: string }[] };
    const ed = jwks.keys.find((key) => key.kty === "OKP")!;
    const rsa = jwks.keys.find((key) => key.kty === "RSA")!;
    const hmac = (key: string, h: Record<string, unknown>, p: Record<string, unknown>) => {
      const unsigned = jwt(h, p).slice(0, -1);
      return `${unsigned}.${createHmac("sha256", key).update(unsigned).digest("base64url")}`;
    };
    const signature = tokens.access_token.split(".")[2]!;
    const forged = [
      jwt({ ...header, alg: "none" }, payload),
      hmac(JSON.stringify(ed), { ...header, alg: "HS256" }, payload),
      hmac(ed.x!, { ...header, alg: "HS256" }, payload),
      hmac(rsa.n!, { ...header, alg: "HS256", kid: rsa.kid }, payload),
      jwt(header, { ...payload, sub: (await person()).id }, signature),
      jwt({ ...header, kid: rsa.kid, alg: "RS256" }, payload, signature),
      jwt(header, { ...payload, client_id: other.clientId }, signature),
      // Genuinely signed, by the provider's RS256 (id_token) key, in an access token's shape.
      server.core.tokens.signJwt("RS256", { typ: "at+jwt" }, payload),
    ];
    for (const token of forged) {
      expect((await userinfo(token)).status).toBe(401);
      expect((await post("/oauth/introspect", app, { token })).body).toEqual({ active: false });
      expect((await server.api("GET", "/api/v1/users/me", { token })).status).toBe(401);
    }
    // The genuine token still works: the refusals were the forgeries'.
    expect((await userinfo(tokens.access_token)).status).toBe(200);
  });

  test("introspection tells another client nothing, and revocation by another client does nothing", async () => {
    const tokens = await grant(app);
    const publicClient = await registerClient(server, { public: true, skip_consent: true, redirect_uris: [REDIRECT_URI] });
    for (const stranger of [other, publicClient, machine]) {
      for (const token of [tokens.access_token, tokens.refresh_token]) {
        const introspected = await post("/oauth/introspect", stranger, { token });
        // Anyone can name a public client: it may not introspect at all; a confidential stranger learns nothing.
        if (stranger === publicClient) expect([introspected.status, introspected.body.error]).toEqual([401, "invalid_client"]);
        else expect(introspected.body).toEqual({ active: false });
        expect((await post("/oauth/revoke", stranger, { token })).status).toBe(200);
      }
    }
    expect(await isActive(app, tokens.access_token)).toBe(true);
    expect(await isActive(app, tokens.refresh_token)).toBe(true);
    // Its own client's revocation works, at once, on userinfo too.
    expect((await post("/oauth/revoke", app, { token: tokens.access_token })).status).toBe(200);
    expect((await userinfo(tokens.access_token)).status).toBe(401);
  });
});

describe("client authentication", () => {
  let confidential: Client;
  let publicClient: Client;
  beforeAll(async () => {
    confidential = await client({ grant_types: ["client_credentials"], redirect_uris: [], scopes: [] });
    publicClient = await registerClient(server, { public: true, redirect_uris: [REDIRECT_URI] });
  });
  const form = { grant_type: "client_credentials" };
  const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` });
  const raw = (headers: Record<string, string>, fields: Record<string, string>) => post("/oauth/token", null, fields, headers);

  test("a confidential client without its secret, with an empty or wrong one, or mixing methods, is refused", async () => {
    const refused = { status: 401, error: "invalid_client" };
    const mixed = { status: 400, error: "invalid_request" };
    const attempts: [string, Record<string, string>, Record<string, string>, { status: number; error: string }][] = [
      ["client_id only", {}, { ...form, client_id: confidential.clientId }, refused],
      ["empty post secret", {}, { ...form, client_id: confidential.clientId, client_secret: "" }, refused],
      ["empty Basic secret", basic(confidential.clientId, ""), form, refused],
      ["wrong Basic secret", basic(confidential.clientId, "x".repeat(43)), form, refused],
      ["the secret's hash", basic(confidential.clientId, createHash("sha256").update(confidential.clientSecret!).digest("hex")), form, refused],
      ["lower-case scheme", { authorization: `basic ${btoa(`${confidential.clientId}:${confidential.clientSecret}`)}` }, form, refused],
      ["no colon", { authorization: `Basic ${btoa(confidential.clientId)}` }, form, refused],
      ["bad percent-encoding", { authorization: `Basic ${btoa(`${confidential.clientId}:%zz`)}` }, form, refused],
      ["an oversized secret", basic(confidential.clientId, "x".repeat(10_000)), form, refused],
      ["Basic of a public client plus the confidential one's post secret", basic(publicClient.clientId, ""), { ...form, client_id: confidential.clientId, client_secret: confidential.clientSecret! }, mixed],
      ["the right Basic plus a post secret", basic(confidential.clientId, confidential.clientSecret!), { ...form, client_secret: "x" }, mixed],
    ];
    for (const [what, headers, fields, expected] of attempts) {
      const answer = await raw(headers, fields);
      expect({ what, status: answer.status, error: answer.body.error, token: answer.body.access_token }).toEqual({ what, ...expected, token: undefined });
    }
    expect((await raw(basic(confidential.clientId, confidential.clientSecret!), form)).status).toBe(200);
  });

  test("a public client presenting a secret is refused, and cannot take client_credentials", async () => {
    expect((await raw(basic(publicClient.clientId, "made-up"), form)).body.error).toBe("invalid_client");
    expect((await raw({}, { ...form, client_id: publicClient.clientId, client_secret: "made-up" })).body.error).toBe("invalid_client");
    expect((await raw({}, { ...form, client_id: publicClient.clientId })).body.error).toBe("unauthorized_client");
  });

  test("a NUL byte in a Basic client id is invalid_client, not a 500", async () => {
    const answer = await raw({ authorization: `Basic ${btoa(`%00${confidential.clientId}:secret`)}` }, form);
    expect([answer.status, answer.body.error]).toEqual([401, "invalid_client"]);
  });

  test("a token request with a JSON body (through /oauth/token or /oauth/token/) is refused before it is read: 415, and the code still works", async () => {
    const { browser } = await signedIn();
    const app = await client();
    const issued = await codeFor(browser, app);
    const bodies: Record<string, unknown>[] = [
      { grant_type: "authorization_code", code: [issued.code], redirect_uri: REDIRECT_URI, code_verifier: issued.verifier },
      { grant_type: "authorization_code", code: issued.code, redirect_uri: REDIRECT_URI, code_verifier: [issued.verifier] },
      { grant_type: "refresh_token", refresh_token: { a: 1 }, scope: ["openid"] },
      { grant_type: ["client_credentials"] },
      { grant_type: "client_credentials", client_id: confidential.clientId, client_secret: [confidential.clientSecret] },
    ];
    for (const path of ["/oauth/token", "/oauth/token/"]) {
      for (const body of bodies) {
        const response = await fetch(`${server.url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Basic ${btoa(`${app.clientId}:${app.clientSecret}`)}` },
          body: JSON.stringify(body),
        });
        expect({ path, body, status: response.status }).toEqual({ path, body, status: 415 });
      }
    }
    expect((await exchange(app, issued)).status).toBe(200);
  });
});

describe("CORS", () => {
  let spa: Client;
  beforeAll(async () => {
    spa = await registerClient(server, { public: true, skip_consent: true, redirect_uris: [REDIRECT_URI], cors_origins: ["https://spa.example.test"] });
    // Another client's origin: registered, so only the per-client rule keeps it out.
    await registerClient(server, { public: true, redirect_uris: [REDIRECT_URI], cors_origins: ["https://other-spa.example.test"] });
  });
  const allowOrigin = (headers: Headers) => headers.get("access-control-allow-origin");

  test("the authorization endpoint never answers CORS, for a client's origin, the global list or anyone", async () => {
    const { browser } = await signedIn();
    for (const origin of ["https://spa.example.test", GLOBAL_ORIGIN, "https://evil.test"]) {
      const answer = await browser.get(authorizePath(spa.clientId), { origin });
      const preflight = await fetch(`${server.url}/oauth/authorize`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "GET" } });
      expect([origin, allowOrigin(answer.headers), allowOrigin(preflight.headers)]).toEqual([origin, null, null]);
    }
  });

  test("pages never answer CORS for USERSVC_CORS_ORIGINS (/login, /consent/, /account, /oauth/logout)", async () => {
    const { browser } = await signedIn();
    for (const path of ["/login", "/consent", "/consent/", "/account", "/oauth/logout", "/register"]) {
      const answer = await browser.get(path, { origin: GLOBAL_ORIGIN });
      const preflight = await fetch(`${server.url}${path}`, { method: "OPTIONS", headers: { origin: GLOBAL_ORIGIN, "access-control-request-method": "POST" } });
      expect([path, allowOrigin(answer.headers), allowOrigin(preflight.headers)]).toEqual([path, null, null]);
    }
    // The API still does: the list is the API's.
    expect(allowOrigin((await server.api("GET", "/healthz", { headers: { origin: GLOBAL_ORIGIN } })).headers)).toBe(GLOBAL_ORIGIN);
  });

  test("the token endpoint answers CORS for the client's own origins only, never the global list's", async () => {
    const tokens = await grant(spa);
    const refreshWith = (origin: string) => post("/oauth/token", spa, { grant_type: "refresh_token", refresh_token: tokens.refresh_token }, { origin });
    expect(allowOrigin((await refreshWith(GLOBAL_ORIGIN)).headers)).toBeNull();
    expect(allowOrigin((await refreshWith("https://other-spa.example.test")).headers)).toBeNull();
    const preflight = await fetch(`${server.url}/oauth/token`, { method: "OPTIONS", headers: { origin: GLOBAL_ORIGIN, "access-control-request-method": "POST" } });
    expect(allowOrigin(preflight.headers)).toBeNull();
  });

  test("userinfo answers CORS only for the token's own client's origins", async () => {
    const tokens = await grant(spa);
    expect(allowOrigin((await userinfo(tokens.access_token, { origin: "https://spa.example.test" })).headers)).toBe("https://spa.example.test");
    expect(allowOrigin((await userinfo(tokens.access_token, { origin: "https://other-spa.example.test" })).headers)).toBeNull();
    expect(allowOrigin((await userinfo(tokens.access_token, { origin: GLOBAL_ORIGIN })).headers)).toBeNull();
  });
});

describe("prompts and sign-in age", () => {
  test("prompt=login and max_age=0 ask for the password again even with a session; prompt=none with a stale sign-in is login_required", async () => {
    const app = await client();
    const { browser } = await signedIn();
    const again: Record<string, string>[] = [{ prompt: "login" }, { max_age: "0" }];
    for (const parameters of again) {
      const answer = await browser.get(authorizePath(app.clientId, parameters));
      expect(answer.location).toStartWith("/login?");
      const login = await browser.get(answer.location!);
      expect([login.status, login.html.includes('action="/login"')]).toEqual([200, true]);
    }
    server.clock.advance(5);
    const stale = await browser.get(authorizePath(app.clientId, { prompt: "none", max_age: "1" }));
    expect(new URL(stale.location!).searchParams.get("error")).toBe("login_required");
  });
});

test("no code, client secret, token or state reaches the log", async () => {
  const app = await client();
  const { browser } = await signedIn();
  const state = `state-${randomBytes(8).toString("hex")}`;
  const issued = await codeFor(browser, app, { state });
  const tokens = (await exchange(app, issued)).body;
  await exchange(app, issued);
  await userinfo(tokens.access_token);
  await post("/oauth/introspect", app, { token: tokens.refresh_token });
  await post("/oauth/token", app, { grant_type: "refresh_token", refresh_token: tokens.refresh_token });
  // A client that puts the token in the query string gets no answer from it, and the query is not logged.
  expect((await fetch(`${server.url}/oauth/userinfo?access_token=${tokens.access_token}`)).status).toBe(401);
  await post("/oauth/revoke", app, { token: tokens.access_token });
  const secrets = [issued.code, issued.verifier, app.clientSecret!, tokens.access_token, tokens.refresh_token, tokens.id_token, state];
  const leaks = server.logs.flatMap((line) => secrets.filter((secret) => line.includes(secret)).map((secret) => `${secret.slice(0, 12)}… in ${line.slice(0, 200)}`));
  expect(leaks).toEqual([]);
  expect(server.logs.some((line) => line.includes('"route":"/oauth/token"'))).toBe(true);
});

describe("after the review", () => {
  test("a refresh asking for a narrower scope gets a narrower access token; userinfo follows the token, the grant keeps its scope", async () => {
    const app = await client();
    const tokens = await grant(app, { scope: "openid profile email" });
    const narrow = await post("/oauth/token", app, { grant_type: "refresh_token", refresh_token: tokens.refresh_token, scope: "openid profile" });
    expect([narrow.status, narrow.body.scope]).toEqual([200, "openid profile"]);
    const info = await userinfo(narrow.body.access_token);
    expect(info.status).toBe(200);
    expect(info.body.email).toBeUndefined();
    expect(info.body.preferred_username).toBeString();
    const full = await post("/oauth/token", app, { grant_type: "refresh_token", refresh_token: narrow.body.refresh_token });
    expect(full.body.scope).toBe("openid profile email");
  });

  test("a secret rotated on this instance stops working at once, though the client was just read (the client cache)", async () => {
    const machine = await client({ grant_types: ["client_credentials"], redirect_uris: [] });
    expect((await post("/oauth/token", machine, { grant_type: "client_credentials" })).status).toBe(200);
    const rotated = await rotateClientSecret(server.core, CLI_ACTOR, machine.clientId);
    expect((await post("/oauth/token", machine, { grant_type: "client_credentials" })).status).toBe(401);
    expect((await post("/oauth/token", { clientId: machine.clientId, clientSecret: rotated.client_secret }, { grant_type: "client_credentials" })).status).toBe(200);
  });

  test("an audience ending in :refresh (the audience of refresh tokens) is refused", async () => {
    await expect(client({ audience: "https://api.example.test:refresh" })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
  });

  test("a native app's private-use scheme is named as a scheme in the sign-in page's form-action", async () => {
    const native = await client({ public: true, skip_consent: false, redirect_uris: ["com.example.app:/callback"] });
    const page = await new Browserless(server.url).get(`/login?return_to=${encodeURIComponent(authorizePath(native.clientId, { redirect_uri: "com.example.app:/callback" }))}`);
    expect(page.headers.get("content-security-policy")).toContain("form-action 'self' com.example.app:;");
  });

  test("issuing a code writes nothing; the code is no token anywhere, and a tampered one is invalid_grant", async () => {
    const { browser } = await signedIn();
    const app = await client();
    const rows = async () => (await server.core.db.select().from(oauthCodes).where(eq(oauthCodes.clientId, app.clientId))).length;
    const issued = await codeFor(browser, app);
    expect(await rows()).toBe(0);
    expect((await userinfo(issued.code)).status).toBe(401);
    expect((await server.api("GET", "/api/v1/users/me", { token: issued.code })).status).toBe(401);
    expect((await post("/oauth/introspect", app, { token: issued.code })).body).toEqual({ active: false });
    const [header, payload, signature] = issued.code.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: "openid profile email roles" })).toString("base64url");
    const tampered = await exchange(app, { ...issued, code: `${header}.${widened}.${signature}` });
    expect([tampered.status, tampered.body.error]).toEqual([400, "invalid_grant"]);
    expect((await exchange(app, issued)).status).toBe(200);
    expect(await rows()).toBe(1);
  });

  test("a login_hint longer than an email address can be is not carried to the sign-in page", async () => {
    const app = await client();
    const answer = await new Browserless(server.url).get(authorizePath(app.clientId, { login_hint: "a".repeat(400) }));
    expect(answer.location).toStartWith("/login?");
    expect(new URLSearchParams(answer.location!.split("?")[1]).get("login_hint")).toBeNull();
  });
});
