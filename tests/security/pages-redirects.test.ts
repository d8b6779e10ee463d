/**
 * Open redirects on the hosted pages (SPEC §7: `return_to`, in the query or
 * the hidden field, is followed only to the public URL or an allowed prefix;
 * anything else lands on /account). Every hostile value an attacker might
 * hand a victim in a link is tried on /login (query and hidden field), after
 * the two-factor step, on /register, on /logout and on a signed-in visit to
 * /login; the Location is always usersvc's own or the allowed prefix.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Secret, TOTP } from "otpauth";
import { updateUser } from "../../src/core/users/queries.ts";
import { Browserless, formOf, type PageResponse } from "../support/browserless.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: a real server on a real database, and a sign-in (password hashing) per case.
setDefaultTimeout(60_000);

const PUBLIC = "http://id.example.test";
const ALLOWED = "https://app.example.test/callback";

let server: TestServer;
let port: string;
/** One account, signed in again and again in fresh browsers. */
let account: ReturnType<typeof newUser>;
beforeAll(async () => {
  server = await startTestServer({ USERSVC_PUBLIC_URL: PUBLIC, USERSVC_ALLOWED_RETURN_URLS: ALLOWED });
  port = new URL(server.url).port;
  account = newUser();
  expect((await server.api("POST", "/api/v1/users", { body: account })).status).toBe(201);
});
afterAll(() => server.stop());

/** What an attacker might put in return_to; every one must land on /account. */
function hostileValues(): [string, string][] {
  return [
    ["another site", "https://evil.test"],
    ["another site, with a path", "https://evil.test/phish?x=1"],
    ["a scheme-relative URL", "//evil.test"],
    ["a scheme-relative URL with a path", "//evil.test/account"],
    ["a slash and a backslash", "/\\evil.test"],
    ["two backslashes", "\\\\evil.test"],
    ["a slash and two backslashes", "/\\\\evil.test"],
    ["this server's host and port as a subdomain of another site", `https://127.0.0.1:${port}.evil.test/`],
    ["the public host as a subdomain of another site", "http://id.example.test.evil.test/"],
    ["the public host as the user part of another site", "http://id.example.test@evil.test/"],
    ["a user name before the public host", "http://user@id.example.test/"],
    ["user and password before the public host", "http://user:secret@id.example.test/account"],
    ["a full-width dot that IDNA turns into a subdomain", "http://id.example.test\uff0eevil.test/"],
    ["javascript:", "javascript:alert(1)"],
    ["javaScript: in mixed case", "JaVaScRiPt:alert(document.cookie)"],
    ["javascript: after a tab", "java\tscript:alert(1)"],
    ["data:", "data:text/html,<script>alert(1)</script>"],
    ["a tab that the URL parser would drop, leaving //evil.test", "/\t/evil.test"],
    ["a newline that the URL parser would drop, leaving //evil.test", "/\n/evil.test"],
    ["a carriage return and newline (header splitting)", "/account\r\nSet-Cookie: a=b"],
    ["a leading space before another site", " https://evil.test/"],
    ["https: without slashes (another scheme, so another host)", "https:evil.test"],
    ["the allowed prefix without its path boundary", "https://app.example.test/callbackevil"],
    ["another path of the allowed host", "https://app.example.test/other"],
    ["the allowed path reached back out of by ..", "https://app.example.test/callback/../other"],
    ["the allowed path reached back out of by an encoded ..", "https://app.example.test/callback/%2e%2e/other"],
    ["the allowed host over http", "http://app.example.test/callback/x"],
    ["the allowed host on another port", "https://app.example.test:8443/callback/x"],
    ["the allowed host as a subdomain of another site", "https://app.example.test.evil.test/callback/x"],
    ["the public host over https (another origin)", "https://id.example.test/account"],
    ["the public host on another port", "http://id.example.test:8080/account"],
    ["the listening address (not the public URL)", `http://127.0.0.1:${port}/account`],
    ["a very long value (over 4 KiB)", `/account?${"a".repeat(5000)}`],
  ];
}

/** Values that may be followed, and the Location each must give. */
const ALLOWED_VALUES: [string, string][] = [
  // usersvc's own pages stay relative paths.
  ["/account?tab=sessions", "/account?tab=sessions"],
  [`${PUBLIC}/verify-email`, "/verify-email"],
  ["http://ID.EXAMPLE.TEST:80/account#x", "/account#x"],
  ["https://app.example.test/callback", "https://app.example.test/callback"],
  ["https://app.example.test/callback/x?code=1#done", "https://app.example.test/callback/x?code=1#done"],
  ["HTTPS://APP.EXAMPLE.TEST:443/callback/x", "https://app.example.test/callback/x"],
];

/** Where a finished sign-in may send the browser at all: a path of usersvc, the public URL, or under the allowed prefix. */
function expectSafeLocation(location: string | null): void {
  expect(location).not.toBeNull();
  // A browser reads `//host` (and `/\\host`) as another host, whatever the server meant.
  expect(location!.startsWith("//")).toBe(false);
  expect(location).not.toContain("\\");
  const url = new URL(location!, `${PUBLIC}/`);
  const underAllowed = url.origin === new URL(ALLOWED).origin && (url.pathname === "/callback" || url.pathname.startsWith("/callback/"));
  expect(url.origin === PUBLIC || underAllowed).toBe(true);
  expect(url.username).toBe("");
  expect(url.password).toBe("");
}

async function signIn(browser: Browserless, query = "", fields: Record<string, string> = {}): Promise<PageResponse> {
  const page = await browser.get(`/login${query}`);
  expect(page.status).toBe(200);
  return browser.submit(page, "/login", { identifier: account.email, password: account.password, ...fields });
}

/** A value of usersvc's own, as the pages carry it on: its parsed path, query and fragment. */
function ownPath(value: string): string {
  const url = new URL(value, `${PUBLIC}/`);
  return `${url.pathname}${url.search}${url.hash}`;
}

const q = (value: string) => `?return_to=${encodeURIComponent(value)}`;

describe("hostile return_to values land on /account", () => {
  for (const [name, value] of hostileValues()) {
    test(`${name}: ${JSON.stringify(value)}`, async () => {
      // In the link to /login: the page does not carry it on, and the sign-in lands on /account.
      const viaQuery = new Browserless(server.url);
      const page = await viaQuery.get(`/login${q(value)}`);
      expect(formOf(page.html, "/login").fields.return_to).toBeUndefined();
      expect(page.html).not.toContain("evil.test");
      const signedIn = await viaQuery.submit(page, "/login", { identifier: account.email, password: account.password });
      expect(signedIn.status).toBe(303);
      expect(signedIn.location).toBe("/account");

      // Signed in, a visit to /login with it goes to /account too.
      const again = await viaQuery.get(`/login${q(value)}`);
      expect(again.status).toBe(303);
      expect(again.location).toBe("/account");

      // Put into the hidden field by hand.
      const viaField = new Browserless(server.url);
      const byField = await signIn(viaField, "", { return_to: value });
      expect(byField.status).toBe(303);
      expect(byField.location).toBe("/account");

      // POST /logout with it: back to the sign-in page, not to the value.
      const out = await viaField.submit(await viaField.get("/account"), "/logout", { return_to: value });
      expect(out.status).toBe(303);
      expect(out.location).toStartWith("/login");
      expectSafeLocation(out.location);
    });
  }

  test("a hostile hidden field wins over an allowed query value: still /account (the field is what the form posted)", async () => {
    const browser = new Browserless(server.url);
    const res = await signIn(browser, q("/account?tab=x"), { return_to: "https://evil.test" });
    expect(res.location).toBe("/account");
  });

  test("/register with a hostile return_to (query or field) signs up and lands on /account", async () => {
    for (const value of ["https://evil.test", "//evil.test", "/\\evil.test", "javascript:alert(1)", "https://app.example.test/callbackevil"]) {
      const browser = new Browserless(server.url);
      const page = await browser.get(`/register${q(value)}`);
      expect(formOf(page.html, "/register").fields.return_to).toBeUndefined();
      const viaQuery = await browser.submit(page, "/register", newUser());
      expect(viaQuery.status).toBe(303);
      expect(viaQuery.location).toBe("/account");
      const other = new Browserless(server.url);
      const viaField = await other.submit(await other.get("/register"), "/register", { ...newUser(), return_to: value });
      expect(viaField.status).toBe(303);
      expect(viaField.location).toBe("/account");
    }
  });

  test("signed in, a visit to /register with a hostile return_to goes to /account", async () => {
    const browser = new Browserless(server.url);
    await signIn(browser);
    const res = await browser.get(`/register${q("//evil.test")}`);
    expect(res.status).toBe(303);
    expect(res.location).toBe("/account");
  });
});

describe("allowed return_to values are followed, exactly", () => {
  for (const [value, location] of ALLOWED_VALUES) {
    test(`${JSON.stringify(value)} → ${location}`, async () => {
      const viaQuery = new Browserless(server.url);
      const page = await viaQuery.get(`/login${q(value)}`);
      expect(formOf(page.html, "/login").fields.return_to).toBe(location);
      const res = await viaQuery.submit(page, "/login", { identifier: account.email, password: account.password });
      expect(res.status).toBe(303);
      expect(res.location).toBe(location);
      expectSafeLocation(res.location);

      const out = await viaQuery.submit(await viaQuery.get("/account"), "/logout", { return_to: value });
      expect(out.location).toBe(location);
    });
  }

  test("a path that normalizes to //evil.test is never given as a scheme-relative Location", async () => {
    for (const value of ["/.//evil.test", "/..//evil.test/x", "/a/..//evil.test", "/%2e//evil.test"]) {
      const browser = new Browserless(server.url);
      const res = await signIn(browser, q(value));
      expect(res.status).toBe(303);
      expectSafeLocation(res.location);
      expect(new URL(res.location!, `${PUBLIC}/`).host).toBe("id.example.test");
    }
  });

  test("/register follows an allowed return_to", async () => {
    const browser = new Browserless(server.url);
    const res = await browser.submit(await browser.get(`/register${q("https://app.example.test/callback/welcome")}`), "/register", newUser());
    expect(res.status).toBe(303);
    expect(res.location).toBe("https://app.example.test/callback/welcome");
  });

  test("the page's links to the other sign-in pages carry only the checked value", async () => {
    const browser = new Browserless(server.url);
    const kept = await browser.get(`/login${q("https://app.example.test/callback/a")}`);
    expect(kept.html).toContain(`/register?return_to=${encodeURIComponent("https://app.example.test/callback/a")}`);
    const dropped = await browser.get(`/login${q("https://evil.test/a")}`);
    expect(dropped.html).not.toContain("return_to=");
  });
});

describe("return_to through the two-factor step", () => {
  let secret: string;
  let person: { email: string; password: string };

  beforeAll(async () => {
    const { input, user, tokens } = await registerAndLogin(server.api);
    await updateUser(server.core.db, user.id, { isVerified: true }, server.clock.now());
    const enroll = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token: tokens.access_token });
    secret = enroll.body.data.secret;
    const confirm = await server.api("POST", "/api/v1/users/me/mfa/confirm", { token: tokens.access_token, body: { code: codeNow() } });
    expect(confirm.status).toBe(200);
    person = input;
  });

  function codeNow(): string {
    return new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" }).generate({ timestamp: server.clock.now().getTime() });
  }

  async function passwordStep(browser: Browserless, query: string): Promise<PageResponse> {
    // Each code is accepted once: a fresh time step for every sign-in.
    server.clock.advance(30);
    const res = await browser.submit(await browser.get(`/login${query}`), "/login", { identifier: person.email, password: person.password });
    expect(res.status).toBe(303);
    expect(res.location).toContain("/login/mfa");
    return browser.get(res.location!);
  }

  test("an allowed return_to survives the code step", async () => {
    const browser = new Browserless(server.url);
    const mfaPage = await passwordStep(browser, q("https://app.example.test/callback/after-mfa"));
    const res = await browser.submit(mfaPage, "/login/mfa", { code: codeNow() });
    expect(res.status).toBe(303);
    expect(res.location).toBe("https://app.example.test/callback/after-mfa");
  });

  test("a hostile return_to, in the query of /login or put into the code form by hand, lands on /account", async () => {
    const viaQuery = new Browserless(server.url);
    const mfaPage = await passwordStep(viaQuery, q("//evil.test"));
    expect(formOf(mfaPage.html, "/login/mfa").fields.return_to).toBeUndefined();
    const first = await viaQuery.submit(mfaPage, "/login/mfa", { code: codeNow() });
    expect(first.location).toBe("/account");

    const viaField = new Browserless(server.url);
    const page = await passwordStep(viaField, "");
    const second = await viaField.submit(page, "/login/mfa", { code: codeNow(), return_to: "https://evil.test" });
    expect(second.status).toBe(303);
    expect(second.location).toBe("/account");
  });
});

describe("return_to in the page's HTML", () => {
  test('a value with "><script> is carried only URL-encoded and HTML-escaped: no markup breaks out, and the field gives back the exact URL', async () => {
    const value = `/account?x="><script>alert(1)</script>&y='a'#"><img src=x onerror=alert(1)>`;
    const browser = new Browserless(server.url);
    for (const path of ["/login", "/register", "/forgot-password"]) {
      const page = await browser.get(`${path}${q(value)}`);
      expect(page.status).toBe(200);
      expect(page.html).not.toContain("<script>");
      expect(page.html).not.toContain("<img src=x");
      const hidden = /<input type="hidden" name="return_to" value="([^"]*)">/.exec(page.html);
      expect(hidden).not.toBeNull();
      expect(hidden![1]).not.toMatch(/[<>'"]/);
      // The parsed URL (a path: it is usersvc's own), as the Location after sign-in will be.
      expect(formOf(page.html, path).fields.return_to).toBe(ownPath(value));
      // & is an entity inside the attribute.
      expect(hidden![1]).toContain("&amp;y=");
    }
    const res = await browser.submit(await browser.get(`/login${q(value)}`), "/login", { identifier: account.email, password: account.password });
    expect(res.location).toBe(ownPath(value));
    expect(res.location).not.toContain("<");
    expect(res.location).not.toContain('"');
  });

  test("a hostile return_to never appears in the page at all", async () => {
    const browser = new Browserless(server.url);
    const page = await browser.get(`/login${q('javascript:alert("x")//"><script>alert(1)</script>')}`);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain("javascript:");
    expect(page.html).not.toContain("<script>");
  });
});

describe("a public URL with a path", () => {
  let prefixed: TestServer;
  beforeAll(async () => {
    prefixed = await startTestServer({ USERSVC_PUBLIC_URL: "http://id.example.test/auth" });
    expect((await prefixed.api("POST", "/api/v1/users", { body: account })).status).toBe(201);
  });
  afterAll(() => prefixed.stop());

  test("return_to may point under the path only; other paths of the host, and the path without its boundary, land on the account page", async () => {
    const cases: [string, string][] = [
      ["http://id.example.test/auth/account?x=1", "/auth/account?x=1"],
      ["/other", "/auth/account"],
      ["http://id.example.test/authevil", "/auth/account"],
      ["http://id.example.test/", "/auth/account"],
      ["/auth/../other", "/auth/account"],
    ];
    for (const [value, location] of cases) {
      const browser = new Browserless(prefixed.url);
      // The form posts to /auth/login (the proxy's path); this server, reached directly, serves it at /login.
      const form = formOf((await browser.get(`/login${q(value)}`)).html, "/auth/login");
      const res = await browser.post("/login", { ...form.fields, identifier: account.email, password: account.password });
      expect(res.status).toBe(303);
      expect(res.location).toBe(location);
    }
  });
});
