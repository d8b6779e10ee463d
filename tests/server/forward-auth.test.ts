/**
 * GET /api/v1/auth/forward (SPEC §12), called as a reverse proxy calls it:
 * who is signed in (a bearer access token or the hosted pages' browser
 * session cookie) and the four X-Usersvc-* headers; 401 in the envelope, or
 * a 302 to /login with return_to for a browser; ?role=R; and every way a
 * session ends (logout, block, deletion, a demotion) applying from the next
 * request on. tests/security/forward-auth.test.ts attacks it;
 * tests/proxy/nginx-forward-auth.test.ts puts a real nginx in front.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { sessions } from "../../src/core/db/schema.ts";
import { createAdmin, createPlainUser, failureOf, type LoggedIn } from "../support/admin.ts";
import { Browserless } from "../support/browserless.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: a real server on a real database, and sign-ins (password hashing) in most tests.
setDefaultTimeout(60_000);

const PUBLIC = "http://id.example.test";
const APP = "https://app.example.test";
const FORWARD = "/api/v1/auth/forward";
const BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

let server: TestServer;
let admin: LoggedIn;
beforeAll(async () => {
  server = await startTestServer({ USERSVC_PUBLIC_URL: PUBLIC, USERSVC_ALLOWED_RETURN_URLS: `${APP}/` });
  admin = await createAdmin(server);
});
afterAll(() => server.stop());

interface Answer {
  status: number;
  headers: Headers;
  body: any;
  /** The four identity headers, null where absent. */
  identity: Record<string, string | null>;
}

async function forward(query = "", headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${server.url}${FORWARD}${query}`, { headers, redirect: "manual" });
  const text = await res.text();
  const names = ["x-usersvc-user-id", "x-usersvc-email", "x-usersvc-username", "x-usersvc-roles"];
  return {
    status: res.status,
    headers: res.headers,
    body: text ? JSON.parse(text) : null,
    identity: Object.fromEntries(names.map((name) => [name, res.headers.get(name)])),
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The cookie header of a browser signed in on the /login page as `who`. */
async function pageSignIn(who: LoggedIn): Promise<{ browser: Browserless; cookie: () => { cookie: string } }> {
  const browser = new Browserless(server.url);
  const res = await browser.submit(await browser.get("/login"), "/login", { identifier: who.input.email, password: who.input.password });
  expect(res.status).toBe(303);
  const value = browser.cookie("usersvc_session");
  expect(value).toBeDefined();
  return { browser, cookie: () => ({ cookie: `usersvc_session=${value}` }) };
}

function identityOf(who: LoggedIn, roles = "user"): Record<string, string> {
  return {
    "x-usersvc-user-id": who.id,
    "x-usersvc-email": who.input.email,
    "x-usersvc-username": who.input.username,
    "x-usersvc-roles": roles,
  };
}

const NO_IDENTITY = { "x-usersvc-user-id": null, "x-usersvc-email": null, "x-usersvc-username": null, "x-usersvc-roles": null };

describe("signed in", () => {
  test("a bearer access token: 200, the four headers and the same values as data, not cached", async () => {
    const user = await createPlainUser(server);
    const res = await forward("", bearer(user.token));
    expect({ status: res.status, identity: res.identity, body: res.body }).toEqual({
      status: 200,
      identity: identityOf(user),
      body: { success: true, data: { id: user.id, email: user.input.email, username: user.input.username, roles: ["user"] }, error: null },
    });
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  test("the browser session cookie of a sign-in on the /login page: 200 and the same headers", async () => {
    const user = await createPlainUser(server);
    const { cookie } = await pageSignIn(user);
    const res = await forward("", cookie());
    expect([res.status, res.identity]).toEqual([200, identityOf(user)]);
  });

  test("the cookie as a proxy passes it, among the application's own cookies", async () => {
    const user = await createPlainUser(server);
    const { cookie } = await pageSignIn(user);
    const res = await forward("", { cookie: `theme=dark; ${cookie().cookie}; app_session=abc` });
    expect(res.status).toBe(200);
  });

  test("roles are joined by commas, in the stored order", async () => {
    const res = await forward("", bearer(admin.token));
    expect(res.identity["x-usersvc-roles"]).toBe("user,admin");
    expect(res.body.data.roles).toEqual(["user", "admin"]);
  });

  test("a refused bearer token does not hide a live cookie: either credential, valid, is enough", async () => {
    const user = await createPlainUser(server);
    const { cookie } = await pageSignIn(user);
    const res = await forward("", { ...bearer(user.tokens.refresh_token), ...cookie() });
    expect([res.status, res.identity["x-usersvc-user-id"]]).toEqual([200, user.id]);
  });

  test("an Authorization header of another scheme (Basic, for the application) is ignored, the cookie still counts", async () => {
    const user = await createPlainUser(server);
    const { cookie } = await pageSignIn(user);
    const res = await forward("", { authorization: "Basic dXNlcjpwYXNz", ...cookie() });
    expect(res.status).toBe(200);
  });
});

describe("not signed in", () => {
  test("no credentials: 401 UNAUTHENTICATED in the envelope, no identity headers", async () => {
    const res = await forward();
    expect({ status: res.status, body: res.body, identity: res.identity }).toEqual({ status: 401, body: failureOf("UNAUTHENTICATED"), identity: NO_IDENTITY });
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="usersvc"');
    expect(res.headers.get("location")).toBeNull();
  });

  test("a refresh token as the bearer: 401 INVALID_TOKEN_TYPE", async () => {
    const user = await createPlainUser(server);
    const res = await forward("", bearer(user.tokens.refresh_token));
    expect([res.status, res.body]).toEqual([401, failureOf("INVALID_TOKEN_TYPE")]);
  });

  test("an expired access token: 401 TOKEN_EXPIRED, so a client knows to refresh", async () => {
    const user = await createPlainUser(server);
    server.clock.advance(3600);
    try {
      const res = await forward("", bearer(user.token));
      expect([res.status, res.body]).toEqual([401, failureOf("TOKEN_EXPIRED")]);
    } finally {
      server.clock.advance(-3600);
    }
  });

  test("garbage, altered and doubled cookies: 401", async () => {
    const user = await createPlainUser(server);
    const { cookie } = await pageSignIn(user);
    const good = cookie().cookie;
    const [id, secret] = good.slice("usersvc_session=".length).split(".");
    for (const header of [
      "usersvc_session=garbage",
      "usersvc_session=",
      `usersvc_session=${id}.${"A".repeat(secret!.length)}`,
      `usersvc_session=${crypto.randomUUID()}.${secret}`,
      `usersvc_session=${id}`,
      `usersvc_session=${"x".repeat(5000)}`,
      // Sent twice (a sibling host can plant a second one): neither copy is trusted.
      `${good}; usersvc_session=garbage`,
      // The https name on an http public URL is another cookie.
      `__Host-usersvc_session=${id}.${secret}`,
    ]) {
      const res = await forward("", { cookie: header });
      expect([header.slice(0, 80), res.status, res.body]).toEqual([header.slice(0, 80), 401, failureOf("UNAUTHENTICATED")]);
    }
  });

  test("?redirect=1: a 302 to /login under the public URL, return_to built from X-Forwarded-Proto/Host/Uri", async () => {
    const res = await forward("?redirect=1", { "x-forwarded-proto": "https", "x-forwarded-host": "app.example.test", "x-forwarded-uri": "/reports/2026?view=full#top" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(`${PUBLIC}/login?return_to=${encodeURIComponent(`${APP}/reports/2026?view=full#top`)}`);
    // Still the envelope, for anything that reads the body of a redirect; and never cached.
    expect(res.body).toEqual(failureOf("UNAUTHENTICATED"));
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.identity).toEqual(NO_IDENTITY);
  });

  test("?redirect=1 with X-Original-URL (the nginx convention)", async () => {
    const res = await forward("?redirect=1", { "x-original-url": `${APP}/dashboard?tab=2` });
    expect([res.status, res.headers.get("location")]).toEqual([302, `${PUBLIC}/login?return_to=${encodeURIComponent(`${APP}/dashboard?tab=2`)}`]);
  });

  test("X-Forwarded-Proto/Host/Uri win over X-Original-URL when all three are there", async () => {
    const res = await forward("?redirect=1", {
      "x-forwarded-proto": "https",
      "x-forwarded-host": "app.example.test",
      "x-forwarded-uri": "/from-forwarded",
      "x-original-url": `${APP}/from-original`,
    });
    expect(res.headers.get("location")).toBe(`${PUBLIC}/login?return_to=${encodeURIComponent(`${APP}/from-forwarded`)}`);
    // Two of the three only: X-Original-URL.
    const partial = await forward("?redirect=1", { "x-forwarded-host": "app.example.test", "x-forwarded-uri": "/from-forwarded", "x-original-url": `${APP}/from-original` });
    expect(partial.headers.get("location")).toBe(`${PUBLIC}/login?return_to=${encodeURIComponent(`${APP}/from-original`)}`);
  });

  test("a page of usersvc's own as the original URL stays a path, as the pages keep it", async () => {
    const res = await forward("?redirect=1", { "x-original-url": `${PUBLIC}/account?tab=sessions` });
    expect(res.headers.get("location")).toBe(`${PUBLIC}/login?return_to=${encodeURIComponent("/account?tab=sessions")}`);
  });

  test("a redirect without any forwarded header: plain /login", async () => {
    const res = await forward("?redirect=1");
    expect([res.status, res.headers.get("location")]).toEqual([302, `${PUBLIC}/login`]);
  });

  test("Accept: text/html (a browser's navigation) redirects too; ?redirect=0 never does; q=0 and other types do not", async () => {
    const original = { "x-original-url": `${APP}/x` };
    const location = `${PUBLIC}/login?return_to=${encodeURIComponent(`${APP}/x`)}`;
    const browser = await forward("", { accept: BROWSER_ACCEPT, ...original });
    expect([browser.status, browser.headers.get("location")]).toEqual([302, location]);
    expect((await forward("", { accept: "TEXT/HTML", ...original })).status).toBe(302);
    expect((await forward("?redirect=0", { accept: BROWSER_ACCEPT, ...original })).status).toBe(401);
    expect((await forward("", { accept: "text/html;q=0, application/json", ...original })).status).toBe(401);
    expect((await forward("", { accept: "application/json", ...original })).status).toBe(401);
    expect((await forward("", { accept: "*/*", ...original })).status).toBe(401);
    expect((await forward("", { accept: "application/xhtml+xml", ...original })).status).toBe(401);
  });

  test("a redirect for a refused token keeps its code in the body", async () => {
    const user = await createPlainUser(server);
    const res = await forward("?redirect=1", bearer(user.tokens.refresh_token));
    expect([res.status, res.body]).toEqual([302, failureOf("INVALID_TOKEN_TYPE")]);
  });

  test("?redirect takes 0 or 1 only, and an unknown parameter is refused: a configuration mistake fails, 422, even for an admin", async () => {
    for (const query of ["?redirect=yes", "?rol=admin", "?roles=admin"]) {
      const res = await forward(query, bearer(admin.token));
      expect([query, res.status, res.body]).toEqual([query, 422, failureOf("VALIDATION_ERROR")]);
    }
  });
});

describe("?role=R", () => {
  test("a plain user: 403 FORBIDDEN, by token and by cookie, without identity headers", async () => {
    const user = await createPlainUser(server);
    const byToken = await forward("?role=admin", bearer(user.token));
    expect({ status: byToken.status, body: byToken.body, identity: byToken.identity }).toEqual({ status: 403, body: failureOf("FORBIDDEN"), identity: NO_IDENTITY });
    const { cookie } = await pageSignIn(user);
    const byCookie = await forward("?role=admin&redirect=1", { ...cookie(), accept: BROWSER_ACCEPT });
    expect([byCookie.status, byCookie.headers.get("location")]).toEqual([403, null]);
  });

  test("an admin: 200 with the headers; a role the user has", async () => {
    const res = await forward("?role=admin", bearer(admin.token));
    expect([res.status, res.identity]).toEqual([200, identityOf(admin, "user,admin")]);
    const user = await createPlainUser(server);
    expect((await forward("?role=user", bearer(user.token))).status).toBe(200);
  });

  test("roles match exactly: no case folding, no prefix, and an empty role is no role at all", async () => {
    for (const role of ["ADMIN", "admi", "admin ", "user,admin", ""]) {
      const res = await forward(`?role=${encodeURIComponent(role)}`, bearer(admin.token));
      expect([role, res.status]).toEqual([role, 403]);
    }
  });

  test("not signed in with ?role: 401, or the redirect, as without it", async () => {
    expect((await forward("?role=admin")).status).toBe(401);
    const res = await forward("?role=admin&redirect=1", { "x-original-url": `${APP}/admin` });
    expect([res.status, res.headers.get("location")]).toEqual([302, `${PUBLIC}/login?return_to=${encodeURIComponent(`${APP}/admin`)}`]);
  });

  test("a demotion applies on the next request: the stored roles count, not the token's", async () => {
    const second = await createAdmin(server);
    expect((await forward("?role=admin", bearer(second.token))).status).toBe(200);
    const patch = await server.api("PATCH", `/api/v1/admin/users/${second.id}`, { token: admin.token, body: { roles: ["user"] } });
    expect(patch.status).toBe(200);
    expect((await forward("?role=admin", bearer(second.token))).status).toBe(403);
    expect((await forward("", bearer(second.token))).identity["x-usersvc-roles"]).toBe("user");
  });
});

describe("a session that ends is refused from the next request on", () => {
  test("API logout: the token's next forward is 401 SESSION_REVOKED", async () => {
    const user = await createPlainUser(server);
    expect((await forward("", bearer(user.token))).status).toBe(200);
    expect((await server.api("POST", "/api/v1/auth/logout", { token: user.token })).status).toBe(200);
    const res = await forward("", bearer(user.token));
    expect([res.status, res.body]).toEqual([401, failureOf("SESSION_REVOKED")]);
  });

  test("signing out on the pages: the cookie's next forward is 401", async () => {
    const user = await createPlainUser(server);
    const { browser, cookie } = await pageSignIn(user);
    expect((await forward("", cookie())).status).toBe(200);
    const out = await browser.submit(await browser.get("/account"), "/logout");
    expect(out.status).toBe(303);
    expect((await forward("", cookie())).status).toBe(401);
  });

  test("a block by an admin: the token and the cookie are refused with 401 (not 403)", async () => {
    const user = await createPlainUser(server);
    const { cookie } = await pageSignIn(user);
    expect((await forward("", bearer(user.token))).status).toBe(200);
    expect((await forward("", cookie())).status).toBe(200);
    expect((await server.api("POST", `/api/v1/admin/users/${user.id}/block`, { token: admin.token, body: { reason: "spam" } })).status).toBe(200);
    const byToken = await forward("", bearer(user.token));
    expect([byToken.status, byToken.body]).toEqual([401, failureOf("SESSION_REVOKED")]);
    expect((await forward("", cookie())).status).toBe(401);
    // Unblocked, the ended sessions stay ended.
    expect((await server.api("POST", `/api/v1/admin/users/${user.id}/unblock`, { token: admin.token })).status).toBe(200);
    expect((await forward("", bearer(user.token))).status).toBe(401);
  });

  test("the user deleting the account: 401 for the token and the cookie", async () => {
    const user = await createPlainUser(server);
    const { cookie } = await pageSignIn(user);
    expect((await server.api("DELETE", "/api/v1/users/me", { token: user.token, body: { password: user.input.password } })).status).toBe(200);
    expect((await forward("", bearer(user.token))).status).toBe(401);
    expect((await forward("", cookie())).status).toBe(401);
  });

  test("an admin revoking all of a user's sessions: 401 for both", async () => {
    const user = await createPlainUser(server);
    const { cookie } = await pageSignIn(user);
    expect((await server.api("POST", `/api/v1/admin/users/${user.id}/logout`, { token: admin.token })).status).toBe(200);
    expect((await forward("", bearer(user.token))).status).toBe(401);
    expect((await forward("", cookie())).status).toBe(401);
  });
});

describe("cost per request", () => {
  test("forward auth writes nothing: the session is touched at most once a minute, as on the pages; no audit or outbox row", async () => {
    const user = await createPlainUser(server);
    const { cookie } = await pageSignIn(user);
    const sessionId = cookie().cookie.slice("usersvc_session=".length).split(".")[0]!;
    const lastUsed = async () => (await server.core.db.select({ at: sessions.lastUsedAt }).from(sessions).where(eq(sessions.id, sessionId)))[0]!.at.getTime();
    const counts = async () =>
      (await server.core.db.execute(sql`select (select count(*) from audit_log)::int as audit, (select count(*) from outbox_events)::int as outbox`)) as unknown;
    const before = { at: await lastUsed(), counts: JSON.stringify(await counts()) };
    for (let i = 0; i < 20; i++) expect((await forward("", cookie())).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await forward("", bearer(user.token))).status).toBe(200);
    expect({ at: await lastUsed(), counts: JSON.stringify(await counts()) }).toEqual(before);
    // Past a minute, one request moves the idle end on; the next ones within the minute do not write again.
    server.clock.advance(61);
    try {
      expect((await forward("", cookie())).status).toBe(200);
      const touched = await lastUsed();
      expect(touched).toBeGreaterThan(before.at);
      for (let i = 0; i < 5; i++) expect((await forward("", cookie())).status).toBe(200);
      expect(await lastUsed()).toBe(touched);
    } finally {
      server.clock.advance(-61);
    }
  });
});

describe("/docs/json", () => {
  test("documents GET /api/v1/auth/forward: its query, 200, 302, 401, 403 and their codes", async () => {
    const document = (await server.api("GET", "/docs/json")).body;
    const operation = document.paths["/api/v1/auth/forward"].get;
    expect(operation.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`).sort()).toEqual(["query:redirect", "query:role"]);
    expect(Object.keys(operation.responses).sort()).toEqual(["200", "302", "401", "403", "422", "500"]);
    const codes = (status: string) => operation.responses[status].content["application/json"].schema.properties.error.properties.code.enum;
    expect(codes("401").sort()).toEqual(["INVALID_TOKEN", "INVALID_TOKEN_TYPE", "SESSION_REVOKED", "TOKEN_EXPIRED", "UNAUTHENTICATED"]);
    expect(codes("302").sort()).toEqual(codes("401").sort());
    expect(codes("403")).toEqual(["FORBIDDEN"]);
    expect(operation.description).toContain("X-Usersvc-Roles");
  });
});
