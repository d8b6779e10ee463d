/**
 * The hosted pages' headers and what they echo (SPEC §7): every page answer
 * (pages, error re-renders, 303s, and what a page path answers before a page
 * runs) is unframeable, uncached, with a CSP of `default-src 'none'` (scripts
 * from its own origin only, never inline) and
 * `Referrer-Policy: same-origin`; pages load nothing from elsewhere; whatever
 * a visitor types or puts in a link comes back escaped; sign-in and reset
 * failures do not tell known from unknown accounts; the API's login limit
 * holds on /login; and only form posts of at most 64 KiB reach the pages.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Browserless, errorCodeOf, formOf, type PageResponse } from "../support/browserless.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, and sign-ups (password hashing) in most tests.
setDefaultTimeout(60_000);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

async function apiUser() {
  const input = newUser();
  const res = await server.api("POST", "/api/v1/users", { body: input });
  expect(res.status).toBe(201);
  return { input, id: res.body.data.id as string };
}

async function signedIn(userAgent?: string) {
  const { input, id } = await apiUser();
  const browser = new Browserless(server.url);
  const headers: Record<string, string> = userAgent ? { "user-agent": userAgent } : {};
  const page = await browser.get("/login", headers);
  const res = await browser.post("/login", { ...formOf(page.html, "/login").fields, identifier: input.email, password: input.password }, headers);
  expect(res.status).toBe(303);
  return { browser, input, id };
}

function expectPageHeaders(res: PageResponse, what: string): void {
  const csp = res.headers.get("content-security-policy");
  expect(csp, `${what}: content-security-policy`).not.toBeNull();
  const directives = csp!.split(";").map((d) => d.trim());
  expect(directives, what).toContain("default-src 'none'");
  expect(directives, what).toContain("frame-ancestors 'none'");
  // Nothing that would let injected markup run.
  expect(csp, what).not.toContain("unsafe-inline");
  expect(csp, what).not.toContain("unsafe-eval");
  // Scripts, where a page has any (the passkey scripts), only from usersvc's own origin, never inline.
  for (const directive of directives.filter((d) => d.startsWith("script-src") || d.startsWith("connect-src"))) {
    expect(directive.split(" ").slice(1), what).toEqual(["'self'"]);
  }
  expect(res.headers.get("x-frame-options"), what).toBe("DENY");
  // Not no-referrer: Chromium would then send `Origin: null` with the pages' own form posts.
  expect(res.headers.get("referrer-policy"), what).toBe("same-origin");
  expect(res.headers.get("cache-control"), what).toBe("no-store");
  expect(res.headers.get("x-content-type-options"), what).toBe("nosniff");
}

/** Every src, href, action and srcset on the page points at this server (a path), never at another origin. */
function expectOnlyOwnResources(html: string, what: string): void {
  for (const match of html.matchAll(/\s(src|href|action|srcset|formaction|poster|data)\s*=\s*"([^"]*)"/gi)) {
    const value = match[2]!;
    const own = (value.startsWith("/") && !value.startsWith("//") && !value.startsWith("/\\")) || value.startsWith("#");
    expect(own ? "own" : value, `${what}: ${match[0]}`).toBe("own");
  }
  // The only scripts: files of usersvc's own (/assets/) and JSON data, never inline code.
  for (const [tag] of html.matchAll(/<script\b[^>]*>/gi)) {
    const own = /^<script src="\/assets\/[a-z-]+\.js">$/.test(tag) || /^<script type="application\/json" id="[a-z-]+">$/.test(tag);
    expect(own ? "own" : tag, what).toBe("own");
  }
  expect(html, what).not.toMatch(/<(iframe|object|embed|base)\b/i);
  expect(html, what).not.toMatch(/url\(\s*['"]?(https?:)?\/\//i);
  expect(html, what).not.toMatch(/@import/i);
}

describe("every page answer carries the pages' headers", () => {
  test("GET pages, signed out and signed in", async () => {
    const anonymous = new Browserless(server.url);
    const paths = [
      "/login",
      "/login?login_hint=someone",
      "/login/mfa",
      "/register",
      "/forgot-password",
      "/reset-password",
      "/reset-password?token=not-a-live-token",
      "/verify-email",
      "/verify-email?token=not-a-live-token",
      "/account",
    ];
    for (const path of paths) {
      const res = await anonymous.get(path);
      expect([200, 303, 400]).toContain(res.status);
      expectPageHeaders(res, `GET ${path} (${res.status})`);
      if (res.status !== 303) expectOnlyOwnResources(res.html, `GET ${path}`);
    }
    const { browser } = await signedIn();
    for (const path of ["/account", "/account?done=profile", "/login", "/register", "/forgot-password", "/verify-email"]) {
      const res = await browser.get(path);
      expectPageHeaders(res, `signed in: GET ${path} (${res.status})`);
      if (res.status !== 303) expectOnlyOwnResources(res.html, `signed in: GET ${path}`);
    }
  });

  test("error re-renders and 303s of the forms", async () => {
    const { input } = await apiUser();
    const browser = new Browserless(server.url);
    const login = await browser.get("/login");
    const answers: [string, PageResponse][] = [
      ["wrong password", await browser.submit(login, "/login", { identifier: input.email, password: "not the password" })],
      ["missing field", await browser.submit(login, "/login", { identifier: "", password: "" })],
      ["CSRF refusal", await browser.post("/login", { identifier: input.email, password: input.password })],
      ["weak password on /register", await browser.submit(await browser.get("/register"), "/register", { ...newUser(), password: "password" })],
      ["bad email on /forgot-password", await browser.submit(await browser.get("/forgot-password"), "/forgot-password", { email: "not an email" })],
      ["forgot-password sent", await browser.submit(await browser.get("/forgot-password"), "/forgot-password", { email: input.email })],
      ["dead reset token posted", await browser.post("/reset-password", { ...formOf(login.html, "/login").fields, token: "dead", new_password: "a fine new passphrase" })],
      ["wrong verification code", await browser.submit(await browser.get("/verify-email"), "/verify-email", { email: input.email, code: "000000" })],
      ["sign-in (303)", await browser.submit(login, "/login", { identifier: input.email, password: input.password })],
    ];
    const account = await browser.get("/account");
    answers.push(["account form error", await browser.submit(account, "/account/password", { current_password: "wrong one!", new_password: "a fine new passphrase" })]);
    answers.push(["account form success (303)", await browser.submit(account, "/account/profile", { username: `renamed${Date.now().toString(36)}` })]);
    answers.push(["logout (303)", await browser.submit(await browser.get("/account"), "/logout")]);
    for (const [what, res] of answers) {
      expectPageHeaders(res, `${what} (${res.status})`);
      if (res.status !== 303) expectOnlyOwnResources(res.html, what);
    }
    expect(answers.map(([, res]) => res.status)).toEqual([401, 422, 403, 422, 422, 200, 400, 400, 303, 400, 303, 303]);
  });

  test("what a page path answers before any page runs (413, 415, 404) is just as unframeable and uncached", async () => {
    const answers: [string, Response][] = [
      ["413", await fetch(`${server.url}/login`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `a=${"x".repeat(100_000)}` })],
      ["415", await fetch(`${server.url}/login`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })],
      ["404", await fetch(`${server.url}/account/nothing-here`)],
    ];
    for (const [what, res] of answers) {
      expect(String(res.status)).toBe(what);
      await res.text();
      expectPageHeaders({ status: res.status, headers: res.headers, html: "", cookies: [], location: null }, what);
    }
  });

  test("the stylesheet and logo are served from the binary and the logo is no active content", async () => {
    const css = await fetch(`${server.url}/assets/theme.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toStartWith("text/css");
    const text = await css.text();
    expect(text).not.toMatch(/url\(\s*['"]?(https?:)?\/\//i);
    expect(text).not.toMatch(/@import/i);
    const logo = await fetch(`${server.url}/assets/logo.svg`);
    expect(logo.headers.get("content-type")).toBe("image/svg+xml");
    expect(logo.headers.get("x-content-type-options")).toBe("nosniff");
    const svg = await logo.text();
    expect(svg).not.toMatch(/<script\b|\son\w+\s*=|javascript:|href="https?:/i);
  });
});

describe("what a visitor types or links comes back escaped", () => {
  const XSS = `"><img src=x onerror=alert(1)><script>alert(2)</script>'`;

  function expectEscaped(html: string, what: string): void {
    expect(html, what).not.toContain("<img src=x");
    expect(html, what).not.toContain("<script>");
    expect(html, what).not.toContain("onerror=alert(1)>");
  }

  test("a username with markup is refused by the username rules", async () => {
    const browser = new Browserless(server.url);
    const res = await browser.submit(await browser.get("/register"), "/register", { ...newUser(), username: "<img src=x onerror=alert(1)>" });
    expect(res.status).toBe(422);
    expect(errorCodeOf(res.html)).toBe("VALIDATION_ERROR");
    expectEscaped(res.html, "register");
    // Echoed in its field, escaped: the value reads back exactly.
    expect(formOf(res.html, "/register").fields.username).toBe("<img src=x onerror=alert(1)>");
  });

  test("the identifier of a failed sign-in, the email of /forgot-password and /register, and the verification form's email", async () => {
    const browser = new Browserless(server.url);
    const login = await browser.submit(await browser.get("/login"), "/login", { identifier: XSS, password: "whatever it is" });
    expect(login.status).toBe(401);
    expectEscaped(login.html, "login");
    expect(formOf(login.html, "/login").fields.identifier).toBe(XSS.trim());

    const forgot = await browser.submit(await browser.get("/forgot-password"), "/forgot-password", { email: XSS });
    expect(forgot.status).toBe(422);
    expectEscaped(forgot.html, "forgot-password");
    expect(formOf(forgot.html, "/forgot-password").fields.email).toBe(XSS.trim());

    const register = await browser.submit(await browser.get("/register"), "/register", { email: XSS, username: XSS, password: "a fine passphrase" });
    expect(register.status).toBe(422);
    expectEscaped(register.html, "register");

    const verify = await browser.submit(await browser.get("/verify-email"), "/verify-email", { email: XSS, code: "123456" });
    expect(verify.status).toBeGreaterThanOrEqual(400);
    expectEscaped(verify.html, "verify-email");
  });

  test("an address the rules accept, with & ' and a {placeholder}, reaches the 'link sent' page as text only", async () => {
    // Quotes and angle brackets make an address invalid; & ' { } do not.
    const browser = new Browserless(server.url);
    const email = "o'b&lt{product}@example.com";
    const res = await browser.submit(await browser.get("/forgot-password"), "/forgot-password", { email });
    expect(res.status).toBe(200);
    // "&lt" stays four characters (not "<"), and {product} is not filled in.
    expect(res.html).toContain("o&#39;b&amp;lt{product}@example.com");
    expect(res.html).not.toContain("o'b&lt");
  });

  test("query parameters login_hint, email, ui_locales and return_to", async () => {
    const browser = new Browserless(server.url);
    const q = encodeURIComponent(XSS);
    for (const path of [
      `/login?login_hint=${q}`,
      `/forgot-password?email=${q}`,
      `/verify-email?email=${q}`,
      `/login?ui_locales=${q}`,
      `/register?ui_locales=${q}`,
      `/login?return_to=${q}`,
      `/login?login_hint=${q}&ui_locales=de&return_to=${q}`,
    ]) {
      const res = await browser.get(path);
      expect(res.status).toBe(200);
      expectEscaped(res.html, path);
      expectOnlyOwnResources(res.html, path);
    }
    expect(formOf((await browser.get(`/login?login_hint=${q}`)).html, "/login").fields.identifier).toBe(XSS);
  });

  test("a User-Agent with markup, listed among the sessions on /account, is escaped", async () => {
    const { browser } = await signedIn(`Mozilla/5.0 ${XSS}`);
    const page = await browser.get("/account");
    expect(page.status).toBe(200);
    expectEscaped(page.html, "account");
    expect(page.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });
});

describe("failures do not tell known accounts from unknown ones", () => {
  /** The page with `value` (what was typed, echoed back) replaced. */
  const without = (html: string, value: string) => html.replaceAll(value, "TYPED");

  test("/login: unknown email, wrong password and deleted account answer the same status and page", async () => {
    const { input } = await apiUser();
    const deleted = await apiUser();
    const token = (await server.api("POST", "/api/v1/auth/login", { body: { email: deleted.input.email, password: deleted.input.password } })).body.data.access_token;
    expect((await server.api("DELETE", "/api/v1/users/me", { token, body: { password: deleted.input.password } })).status).toBe(200);
    const browser = new Browserless(server.url);
    const page = await browser.get("/login");
    const unknownEmail = `nobody${Date.now().toString(36)}@example.com`;
    const unknown = await browser.submit(page, "/login", { identifier: unknownEmail, password: "a wrong passphrase" });
    const wrong = await browser.submit(page, "/login", { identifier: input.email, password: "a wrong passphrase" });
    const gone = await browser.submit(page, "/login", { identifier: deleted.input.email, password: deleted.input.password });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(gone.status).toBe(401);
    expect(errorCodeOf(wrong.html)).toBe("INVALID_CREDENTIALS");
    expect(without(wrong.html, input.email)).toBe(without(unknown.html, unknownEmail));
    expect(without(gone.html, deleted.input.email)).toBe(without(unknown.html, unknownEmail));
    // By username the same.
    const unknownName = await browser.submit(page, "/login", { identifier: `nobody${Date.now().toString(36)}`, password: "a wrong passphrase" });
    const wrongName = await browser.submit(page, "/login", { identifier: input.username, password: "a wrong passphrase" });
    expect(unknownName.status).toBe(wrongName.status);
    expect(without(wrongName.html, input.username)).toBe(without(unknownName.html, /value="(nobody[^"]*)"/.exec(unknownName.html)![1]!));
  });

  test("/login: unknown and wrong, from two browsers, differ only in the csrf token", async () => {
    const { input } = await apiUser();
    const a = new Browserless(server.url);
    const b = new Browserless(server.url);
    const unknownEmail = `x${input.email.slice(1)}`;
    const wrong = await a.submit(await a.get("/login"), "/login", { identifier: input.email, password: "a wrong passphrase" });
    const unknown = await b.submit(await b.get("/login"), "/login", { identifier: unknownEmail, password: "a wrong passphrase" });
    const strip = (html: string) => html.replace(/name="csrf_token" value="[^"]*"/g, "CSRF").replace(/value="[^"]*@example\.com"/, "VALUE");
    expect(wrong.status).toBe(unknown.status);
    expect(strip(wrong.html)).toBe(strip(unknown.html));
    expect(wrong.cookies.filter((line) => !line.startsWith("usersvc_csrf="))).toEqual(unknown.cookies.filter((line) => !line.startsWith("usersvc_csrf=")));
  });

  test("/forgot-password: a known and an unknown address get the same page", async () => {
    const { input } = await apiUser();
    const browser = new Browserless(server.url);
    const unknownEmail = `nobody${Date.now().toString(36)}@example.com`;
    const known = await browser.submit(await browser.get("/forgot-password"), "/forgot-password", { email: input.email });
    const unknown = await browser.submit(await browser.get("/forgot-password"), "/forgot-password", { email: unknownEmail });
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(200);
    expect(without(known.html, input.email)).toBe(without(unknown.html, unknownEmail));
    expect(known.headers.get("content-length")).toBe(String(Number(unknown.headers.get("content-length")) + input.email.length - unknownEmail.length));
  });

  test("/verify-email by code: a known address with a wrong code and an unknown address get the same page", async () => {
    const { input } = await apiUser();
    const browser = new Browserless(server.url);
    const unknownEmail = `nobody${Date.now().toString(36)}@example.com`;
    const known = await browser.submit(await browser.get("/verify-email"), "/verify-email", { email: input.email, code: "000000" });
    const unknown = await browser.submit(await browser.get("/verify-email"), "/verify-email", { email: unknownEmail, code: "000000" });
    expect(known.status).toBe(400);
    expect(unknown.status).toBe(400);
    expect(errorCodeOf(known.html)).toBe("INVALID_OR_EXPIRED_TOKEN");
    expect(without(known.html, input.email)).toBe(without(unknown.html, unknownEmail));
  });

  test("/register with a taken email or username says EMAIL_TAKEN / USERNAME_TAKEN, as the API does (an enumeration SPEC §4 accepts)", async () => {
    const { input } = await apiUser();
    const browser = new Browserless(server.url);
    const email = await browser.submit(await browser.get("/register"), "/register", { ...newUser(), email: input.email.toUpperCase() });
    expect(email.status).toBe(409);
    expect(errorCodeOf(email.html)).toBe("EMAIL_TAKEN");
    const name = await browser.submit(await browser.get("/register"), "/register", { ...newUser(), username: input.username.toUpperCase() });
    expect(name.status).toBe(409);
    expect(errorCodeOf(name.html)).toBe("USERNAME_TAKEN");
    const api = await server.api("POST", "/api/v1/users", { body: { ...newUser(), email: input.email } });
    expect(api.body.error.code).toBe("EMAIL_TAKEN");
  });
});

describe("the login limit on /login (USERSVC_LOGIN_MAX_ATTEMPTS=3)", () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ USERSVC_LOGIN_MAX_ATTEMPTS: "3", USERSVC_LOGIN_WINDOW: "600" });
  });
  afterAll(() => limited.stop());

  test("the 4th wrong password answers 429 RATE_LIMITED with Retry-After; the right one is refused while limited and works after the window", async () => {
    const input = newUser();
    expect((await limited.api("POST", "/api/v1/users", { body: input })).status).toBe(201);
    const browser = new Browserless(limited.url);
    const page = await browser.get("/login");
    for (let i = 0; i < 3; i++) {
      const res = await browser.submit(page, "/login", { identifier: input.email, password: `wrong password ${i}` });
      expect(res.status).toBe(401);
    }
    const fourth = await browser.submit(page, "/login", { identifier: input.email, password: "wrong password 3" });
    expect(fourth.status).toBe(429);
    expect(errorCodeOf(fourth.html)).toBe("RATE_LIMITED");
    const retryAfter = Number(fourth.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(600);
    expectPageHeaders(fourth, "429");

    const right = await browser.submit(page, "/login", { identifier: input.email, password: input.password });
    expect(right.status).toBe(429);
    expect(errorCodeOf(right.html)).toBe("RATE_LIMITED");
    expect(browser.cookie("usersvc_session")).toBeUndefined();
    // By username, the same account is limited too.
    const byName = await browser.submit(page, "/login", { identifier: input.username, password: input.password });
    expect(byName.status).toBe(429);

    limited.clock.advance(retryAfter + 1);
    const later = await browser.submit(page, "/login", { identifier: input.email, password: input.password });
    expect(later.status).toBe(303);
  });
});

describe("only form posts of at most 64 KiB reach the pages", () => {
  test("JSON posted to /login → 415, and no session", async () => {
    const { input } = await apiUser();
    const res = await fetch(`${server.url}/login`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: server.url },
      body: JSON.stringify({ identifier: input.email, password: input.password }),
    });
    expect(res.status).toBe(415);
    expect(res.headers.getSetCookie().some((line) => line.startsWith("usersvc_session="))).toBe(false);
  });

  test("text/plain and multipart posts to the pages → 415 (the cross-site 'simple' bodies)", async () => {
    for (const type of ["text/plain", "multipart/form-data; boundary=x"]) {
      for (const path of ["/login", "/register", "/account/delete", "/logout"]) {
        const res = await fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": type }, body: "identifier=a&password=b" });
        expect(res.status).toBe(415);
        await res.text();
      }
    }
  });

  test("a form posted to the API's /auth/login → 415", async () => {
    const { input } = await apiUser();
    const res = await fetch(`${server.url}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email: input.email, password: input.password }).toString(),
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  test("a 100 KB form → 413, declared or streamed without a length", async () => {
    const body = `identifier=a&password=${"x".repeat(100_000)}`;
    const declared = await fetch(`${server.url}/login`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { error: { code: string } }).error.code).toBe("PAYLOAD_TOO_LARGE");
    const bytes = new TextEncoder().encode(body);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
        controller.close();
      },
    });
    const streamed = await fetch(`${server.url}/register`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: stream });
    expect(streamed.status).toBe(413);
    await streamed.text();
  });
});
