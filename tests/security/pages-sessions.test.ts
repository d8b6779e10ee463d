/**
 * Browser sessions and their cookies (SPEC §7), attacked: a fixated cookie is
 * never adopted, the cookies carry the attributes that keep them from other
 * sites and scripts (and the `__Host-` prefix plus Secure on https), the
 * database and the logs never hold the cookie's secret, a guessed or altered
 * secret opens nothing, and every way a session ends (logout, logout-all,
 * block, deletion, password change and reset, the absolute and the idle
 * lifetime, another instance's logout) ends the browser's too, from the very
 * next request.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { Secret, TOTP } from "otpauth";
import { auditLog, outboxEvents, sessions, users } from "../../src/core/db/schema.ts";
import { sha256Hex } from "../../src/core/digest.ts";
import { updateUser } from "../../src/core/users/queries.ts";
import { createAdmin } from "../support/admin.ts";
import { Browserless, formOf, type PageResponse } from "../support/browserless.ts";
import { SERVER_URL } from "../support/database.ts";
import { issueResetToken, newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, and sign-ups (password hashing) in every test.
setDefaultTimeout(60_000);

const MAX_AGE = 7200;
const IDLE = 1800;
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ USERSVC_SESSION_MAX_AGE: String(MAX_AGE), USERSVC_REFRESH_TTL: String(IDLE) });
});
afterAll(() => server.stop());

interface Person {
  browser: Browserless;
  input: ReturnType<typeof newUser>;
  id: string;
}

/** Someone registered through the API, then signed in on /login in their own browser. */
async function signedIn(target: TestServer = server): Promise<Person> {
  const input = newUser();
  const registered = await target.api("POST", "/api/v1/users", { body: input });
  expect(registered.status).toBe(201);
  const browser = new Browserless(target.url);
  const res = await signIn(browser, input);
  expect(res.status).toBe(303);
  return { browser, input, id: registered.body.data.id };
}

async function signIn(browser: Browserless, input: { email: string; password: string }): Promise<PageResponse> {
  return browser.submit(await browser.get("/login"), "/login", { identifier: input.email, password: input.password });
}

async function apiToken(input: { email: string; password: string }, target: TestServer = server): Promise<string> {
  const res = await target.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
  expect(res.status).toBe(200);
  return res.body.data.access_token;
}

/** The browser's /account: 200 while signed in, else a 303 to /login (and the cookie is dropped). */
async function expectSignedIn(person: Person): Promise<void> {
  const page = await person.browser.get("/account");
  expect(page.status).toBe(200);
  expect(page.html).toContain(person.input.email);
}

async function expectSignedOut(browser: Browserless, name = "usersvc_session"): Promise<void> {
  const page = await browser.get("/account");
  expect(page.status).toBe(303);
  expect(page.location).toStartWith("/login");
  expect(browser.cookie(name)).toBeUndefined();
}

/** The attributes of one Set-Cookie line, lower-cased names. */
function parseSetCookie(line: string): { name: string; value: string; attributes: Map<string, string> } {
  const [pair = "", ...rest] = line.split(";");
  const eq = pair.indexOf("=");
  const attributes = new Map<string, string>();
  for (const part of rest) {
    const [key = "", ...value] = part.trim().split("=");
    attributes.set(key.toLowerCase(), value.join("="));
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes };
}

function cookieLine(response: PageResponse, name: string): ReturnType<typeof parseSetCookie> {
  // The last one for the name: it is the one the browser keeps.
  const line = response.cookies.map(parseSetCookie).findLast((cookie) => cookie.name === name);
  if (!line) throw new Error(`no Set-Cookie for ${name} in ${JSON.stringify(response.cookies)}`);
  return line;
}

function expectPageCookie(cookie: ReturnType<typeof parseSetCookie>, secure: boolean): void {
  expect(cookie.attributes.has("httponly")).toBe(true);
  expect(cookie.attributes.get("samesite")).toBe("Lax");
  expect(cookie.attributes.get("path")).toBe("/");
  // A Domain attribute would hand the cookie to every subdomain (and is forbidden with __Host-).
  expect(cookie.attributes.has("domain")).toBe(false);
  expect(cookie.attributes.has("secure")).toBe(secure);
  expect(cookie.name.startsWith("__Host-")).toBe(secure);
}

/** A user with TOTP on (through the API), and a function for the current code. */
async function mfaUser(target: TestServer) {
  const input = newUser();
  const registered = await target.api("POST", "/api/v1/users", { body: input });
  await updateUser(target.core.db, registered.body.data.id, { isVerified: true }, target.clock.now());
  const token = await apiToken(input, target);
  const enroll = await target.api("POST", "/api/v1/users/me/mfa/enroll", { token });
  const secret = enroll.body.data.secret as string;
  const code = () => new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" }).generate({ timestamp: target.clock.now().getTime() });
  expect((await target.api("POST", "/api/v1/users/me/mfa/confirm", { token, body: { code: code() } })).status).toBe(200);
  target.clock.advance(30);
  return { input, code };
}

describe("session fixation", () => {
  test("a session cookie planted before sign-in is dropped and never adopted: sign-in issues a new value of a new session", async () => {
    const { input, id } = await (async () => {
      const fresh = newUser();
      const res = await server.api("POST", "/api/v1/users", { body: fresh });
      return { input: fresh, id: res.body.data.id as string };
    })();
    const victim = new Browserless(server.url);
    const planted = `${crypto.randomUUID()}.${"A".repeat(43)}`;
    victim.jar.set("usersvc_session", planted);
    const page = await victim.get("/login");
    // Naming no live session, it is cleared at once.
    expect(cookieLine(page, "usersvc_session").attributes.get("max-age")).toBe("0");
    victim.jar.set("usersvc_session", planted);
    const res = await victim.submit(page, "/login", { identifier: input.email, password: input.password });
    expect(res.status).toBe(303);
    const issued = cookieLine(res, "usersvc_session").value;
    expect(issued).not.toBe(planted);
    expect(issued.split(".")[0]).not.toBe(planted.split(".")[0]);
    const rows = await server.core.db.select().from(sessions).where(eq(sessions.userId, id));
    expect(rows.map((row) => row.id)).toEqual([issued.split(".")[0]!]);
    // The attacker's copy opens nothing.
    const attacker = new Browserless(server.url);
    attacker.jar.set("usersvc_session", planted);
    await expectSignedOut(attacker);
  });

  test("an attacker's own live session cookie planted in the victim's browser is replaced at the victim's sign-in; the attacker's cookie never becomes the victim's", async () => {
    const attacker = await signedIn();
    const victim = await (async () => {
      const input = newUser();
      expect((await server.api("POST", "/api/v1/users", { body: input })).status).toBe(201);
      return input;
    })();
    const attackerCookie = attacker.browser.cookie("usersvc_session")!;
    const browser = new Browserless(server.url);
    browser.jar.set("usersvc_session", attackerCookie);
    // The planted session shows the attacker's account; the victim notices, signs out and signs in as themselves.
    const shown = await browser.get("/account");
    expect(shown.html).toContain(attacker.input.email);
    expect((await browser.submit(shown, "/logout")).status).toBe(303);
    const res = await signIn(browser, victim);
    expect(res.status).toBe(303);
    expect(browser.cookie("usersvc_session")).not.toBe(attackerCookie);
    const page = await browser.get("/account");
    expect(page.html).toContain(victim.email);
    // The attacker's cookie was ended by that logout and never sees the victim's account.
    const again = await attacker.browser.get("/account");
    expect(again.status).toBe(303);
    expect(again.html).not.toContain(victim.email);
  });

  test("signing in again while signed in issues another session and cookie", async () => {
    const person = await signedIn();
    const first = person.browser.cookie("usersvc_session")!;
    // A signed-in browser's forms carry the session-bound token (/login itself redirects to /account).
    const token = formOf((await person.browser.get("/account")).html, "/logout").fields.csrf_token!;
    const res = await person.browser.post("/login", { csrf_token: token, identifier: person.input.email, password: person.input.password });
    expect(res.status).toBe(303);
    const second = person.browser.cookie("usersvc_session")!;
    expect(second).not.toBe(first);
    expect(second.split(".")[0]).not.toBe(first.split(".")[0]);
    // The session the browser had ends: it would otherwise live on, unseen.
    const [old] = await server.core.db.select().from(sessions).where(eq(sessions.id, first.split(".")[0]!));
    expect(old!.revokedAt).not.toBeNull();
    const replay = new Browserless(server.url);
    replay.jar.set("usersvc_session", first);
    await expectSignedOut(replay);
  });
});

describe("cookie attributes on an http public URL", () => {
  test("usersvc_session, usersvc_csrf and usersvc_mfa are HttpOnly, SameSite=Lax, Path=/, without Secure or __Host-", async () => {
    const browser = new Browserless(server.url);
    const page = await browser.get("/login");
    expectPageCookie(cookieLine(page, "usersvc_csrf"), false);
    const input = newUser();
    expect((await server.api("POST", "/api/v1/users", { body: input })).status).toBe(201);
    const res = await browser.submit(page, "/login", { identifier: input.email, password: input.password });
    const session = cookieLine(res, "usersvc_session");
    expectPageCookie(session, false);
    // It lasts no longer than the session may.
    expect(session.attributes.get("max-age")).toBe(String(MAX_AGE));

    const { input: withMfa } = await mfaUser(server);
    const other = new Browserless(server.url);
    const challenge = await signIn(other, withMfa);
    expect(challenge.location).toContain("/login/mfa");
    const mfa = cookieLine(challenge, "usersvc_mfa");
    expectPageCookie(mfa, false);
    expect(Number(mfa.attributes.get("max-age"))).toBeGreaterThan(0);
    expect(Number(mfa.attributes.get("max-age"))).toBeLessThanOrEqual(600);
    // No session before the code.
    expect(challenge.cookies.some((line) => line.startsWith("usersvc_session="))).toBe(false);
  });

  test("logout clears the session cookie with the same attributes, and the cleared value opens nothing when replayed", async () => {
    const person = await signedIn();
    const old = person.browser.cookie("usersvc_session")!;
    const out = await person.browser.submit(await person.browser.get("/account"), "/logout");
    const cleared = cookieLine(out, "usersvc_session");
    expect(cleared.value).toBe("");
    expect(cleared.attributes.get("max-age")).toBe("0");
    expectPageCookie(cleared, false);
    const replay = new Browserless(server.url);
    replay.jar.set("usersvc_session", old);
    await expectSignedOut(replay);
  });
});

describe("cookie attributes on an https public URL", () => {
  let secure: TestServer;
  beforeAll(async () => {
    secure = await startTestServer({ USERSVC_PUBLIC_URL: "https://id.example.test" });
  });
  afterAll(() => secure.stop());

  test("__Host-usersvc_session, __Host-usersvc_csrf and __Host-usersvc_mfa: Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", async () => {
    const browser = new Browserless(secure.url);
    const page = await browser.get("/login");
    expectPageCookie(cookieLine(page, "__Host-usersvc_csrf"), true);
    expect(page.cookies.some((line) => line.startsWith("usersvc_"))).toBe(false);
    const person = await signedIn(secure);
    const res = await signIn(new Browserless(secure.url), person.input);
    expectPageCookie(cookieLine(res, "__Host-usersvc_session"), true);
    expect(res.cookies.some((line) => line.startsWith("usersvc_session="))).toBe(false);

    const { input } = await mfaUser(secure);
    const challenge = await signIn(new Browserless(secure.url), input);
    expectPageCookie(cookieLine(challenge, "__Host-usersvc_mfa"), true);
  });

  test("a valid session value under the unprefixed name (as another host or plain http could set it) is ignored", async () => {
    const person = await signedIn(secure);
    const value = person.browser.cookie("__Host-usersvc_session")!;
    const tossed = new Browserless(secure.url);
    tossed.jar.set("usersvc_session", value);
    const page = await tossed.get("/account");
    expect(page.status).toBe(303);
    expect(page.location).toStartWith("/login");
    // Under its own name it works: the refusal above was the prefix.
    const right = new Browserless(secure.url);
    right.jar.set("__Host-usersvc_session", value);
    expect((await right.get("/account")).status).toBe(200);
  });
});

describe("the cookie's secret", () => {
  test("the database stores only its SHA-256; the secret is in no sessions row, event, audit entry or log line", async () => {
    const person = await signedIn();
    const cookie = person.browser.cookie("usersvc_session")!;
    const [sessionId, secret] = cookie.split(".") as [string, string];
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [row] = await server.core.db.select().from(sessions).where(eq(sessions.id, sessionId));
    expect(row!.cookieHash).toBe(sha256Hex(secret));
    // Use the session a little, so anything it writes is written.
    await expectSignedIn(person);
    const allSessions = JSON.stringify(await server.core.db.select().from(sessions));
    const events = JSON.stringify(await server.core.db.select().from(outboxEvents));
    const audit = JSON.stringify(await server.core.db.select().from(auditLog));
    const userRows = JSON.stringify(await server.core.db.select().from(users).where(eq(users.id, person.id)));
    for (const text of [allSessions, events, audit, userRows, server.logs.join("\n")]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(cookie);
    }
    expect(server.logs.length).toBeGreaterThan(0);
  });

  test("the right session id with a wrong, truncated, extended or empty secret opens nothing and the cookie is cleared", async () => {
    const person = await signedIn();
    const [sessionId, secret] = person.browser.cookie("usersvc_session")!.split(".") as [string, string];
    const flipped = `${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`;
    for (const value of [
      `${sessionId}.${flipped}`,
      `${sessionId}.${secret.slice(0, 42)}`,
      `${sessionId}.${secret.slice(0, 8)}`,
      `${sessionId}.${secret}A`,
      `${sessionId}.`,
      sessionId,
      `${sessionId}.${sha256Hex(secret)}`,
      `.${secret}`,
      `${sessionId}..${secret}`,
    ]) {
      const attacker = new Browserless(server.url);
      attacker.jar.set("usersvc_session", value);
      const res = await attacker.get("/account");
      expect(res.status).toBe(303);
      expect(res.location).toStartWith("/login");
      expect(cookieLine(res, "usersvc_session").attributes.get("max-age")).toBe("0");
    }
    // The real cookie still works: the refusals were the secret.
    await expectSignedIn(person);
  });

  test("a session of tokens (no cookie hash) cannot be opened as a browser session by its id", async () => {
    const input = newUser();
    expect((await server.api("POST", "/api/v1/users", { body: input })).status).toBe(201);
    await apiToken(input);
    const [row] = await server.core.db.select().from(sessions).where(eq(sessions.userId, (await server.core.db.select().from(users).where(eq(users.email, input.email)))[0]!.id));
    expect(row!.cookieHash).toBeNull();
    const attacker = new Browserless(server.url);
    for (const secret of ["", "A".repeat(43), sha256Hex("")]) {
      attacker.jar.set("usersvc_session", `${row!.id}.${secret}`);
      expect((await attacker.get("/account")).status).toBe(303);
    }
  });

  test("the session id in upper case is the same session: it ends with the logout too, at the very next request", async () => {
    const person = await signedIn();
    const [sessionId, secret] = person.browser.cookie("usersvc_session")!.split(".") as [string, string];
    const upper = new Browserless(server.url);
    upper.jar.set("usersvc_session", `${sessionId.toUpperCase()}.${secret}`);
    // Whether or not it opens the session, it must not outlive it.
    await upper.get("/account");
    const out = await person.browser.submit(await person.browser.get("/account"), "/logout");
    expect(out.status).toBe(303);
    upper.jar.set("usersvc_session", `${sessionId.toUpperCase()}.${secret}`);
    await expectSignedOut(upper);
  });
});

describe("revoking someone else's session from /account", () => {
  test("posting another user's session id to /account/sessions/revoke revokes nothing", async () => {
    const attacker = await signedIn();
    const victim = await signedIn();
    const victimSession = victim.browser.cookie("usersvc_session")!.split(".")[0]!;
    const res = await attacker.browser.submit(await attacker.browser.get("/account"), "/account/sessions/revoke", { session_id: victimSession });
    expect(res.status).not.toBe(303);
    const [row] = await server.core.db.select().from(sessions).where(eq(sessions.id, victimSession));
    expect(row!.revokedAt).toBeNull();
    await expectSignedIn(victim);
    await expectSignedIn(attacker);
  });

  test("the browser session is listed in /users/me/sessions and the other sessions show on /account", async () => {
    const person = await signedIn();
    const token = await apiToken(person.input);
    const listed = await server.api("GET", "/api/v1/users/me/sessions", { token });
    const browserSession = person.browser.cookie("usersvc_session")!.split(".")[0]!;
    expect(listed.body.data.map((s: { id: string }) => s.id)).toContain(browserSession);
  });
});

describe("every end of a session ends the browser's at the next request", () => {
  test("API logout-all", async () => {
    const person = await signedIn();
    const token = await apiToken(person.input);
    await expectSignedIn(person);
    expect((await server.api("POST", "/api/v1/auth/logout-all", { token })).status).toBe(200);
    await expectSignedOut(person.browser);
  });

  test("API logout of the browser's session by its id (DELETE /users/me/sessions/:id)", async () => {
    const person = await signedIn();
    const token = await apiToken(person.input);
    await expectSignedIn(person);
    const id = person.browser.cookie("usersvc_session")!.split(".")[0]!;
    expect((await server.api("DELETE", `/api/v1/users/me/sessions/${id}`, { token })).status).toBe(200);
    await expectSignedOut(person.browser);
  });

  test("an admin blocks the user", async () => {
    const admin = await createAdmin(server);
    const person = await signedIn();
    await expectSignedIn(person);
    const res = await server.api("POST", `/api/v1/admin/users/${person.id}/block`, { token: admin.token, body: { reason: "test" } });
    expect(res.status).toBe(200);
    await expectSignedOut(person.browser);
  });

  test("a block with an end: the browser stays signed out while it lasts, even with a cookie kept aside", async () => {
    const admin = await createAdmin(server);
    const person = await signedIn();
    const cookie = person.browser.cookie("usersvc_session")!;
    const until = new Date(server.clock.now().getTime() + 600_000).toISOString();
    expect((await server.api("POST", `/api/v1/admin/users/${person.id}/block`, { token: admin.token, body: { until } })).status).toBe(200);
    const kept = new Browserless(server.url);
    kept.jar.set("usersvc_session", cookie);
    await expectSignedOut(kept);
  });

  test("an admin logs the user out", async () => {
    const admin = await createAdmin(server);
    const person = await signedIn();
    await expectSignedIn(person);
    expect((await server.api("POST", `/api/v1/admin/users/${person.id}/logout`, { token: admin.token })).status).toBe(200);
    await expectSignedOut(person.browser);
  });

  test("an admin deletes the user", async () => {
    const admin = await createAdmin(server);
    const person = await signedIn();
    await expectSignedIn(person);
    expect((await server.api("DELETE", `/api/v1/admin/users/${person.id}`, { token: admin.token })).status).toBe(200);
    await expectSignedOut(person.browser);
  });

  test("the user deletes their own account through the API", async () => {
    const person = await signedIn();
    const token = await apiToken(person.input);
    await expectSignedIn(person);
    expect((await server.api("DELETE", "/api/v1/users/me", { token, body: { password: person.input.password } })).status).toBe(200);
    await expectSignedOut(person.browser);
  });

  test("a password reset through the API", async () => {
    const person = await signedIn();
    await expectSignedIn(person);
    const token = await issueResetToken(server, person.id);
    const res = await server.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: "a completely new passphrase" } });
    expect(res.status).toBe(200);
    await expectSignedOut(person.browser);
  });

  test("a password change through the API (other sessions end)", async () => {
    const person = await signedIn();
    const token = await apiToken(person.input);
    await expectSignedIn(person);
    const res = await server.api("POST", "/api/v1/auth/change-password", {
      token,
      body: { current_password: person.input.password, new_password: "a completely new passphrase" },
    });
    expect(res.status).toBe(200);
    await expectSignedOut(person.browser);
  });

  test("a password change on /account keeps this browser and ends the user's other browser", async () => {
    const person = await signedIn();
    const other = new Browserless(server.url);
    expect((await signIn(other, person.input)).status).toBe(303);
    const res = await person.browser.submit(await person.browser.get("/account"), "/account/password", {
      current_password: person.input.password,
      new_password: "a completely new passphrase",
    });
    expect(res.status).toBe(303);
    await expectSignedIn(person);
    await expectSignedOut(other);
  });

  test("logout-all on /account ends every browser of the user, this one included", async () => {
    const person = await signedIn();
    const other = new Browserless(server.url);
    expect((await signIn(other, person.input)).status).toBe(303);
    const res = await person.browser.submit(await person.browser.get("/account"), "/account/logout-all");
    expect(res.status).toBe(303);
    await expectSignedOut(person.browser);
    await expectSignedOut(other);
  });
});

describe("session lifetime", () => {
  test(`a session in constant use ends USERSVC_SESSION_MAX_AGE (${MAX_AGE} s) after the sign-in`, async () => {
    const person = await signedIn();
    // Used every 20 minutes, well inside the idle limit: only the absolute limit can end it.
    for (let elapsed = 0; elapsed + 1200 < MAX_AGE; elapsed += 1200) {
      server.clock.advance(1200);
      await expectSignedIn(person);
    }
    server.clock.advance(1201);
    await expectSignedOut(person.browser);
  });

  test(`a session left idle for longer than USERSVC_REFRESH_TTL (${IDLE} s) is ended; used within it, it lives on`, async () => {
    const busy = await signedIn();
    const idle = await signedIn();
    server.clock.advance(IDLE - 60);
    await expectSignedIn(busy);
    server.clock.advance(120);
    // idle: unused for IDLE + 60 s; busy: used 120 s ago.
    await expectSignedOut(idle.browser);
    await expectSignedIn(busy);
  });
});

describe.skipIf(!SERVER_URL)("two instances sharing one PostgreSQL database", () => {
  let second: TestServer;
  beforeAll(async () => {
    second = await startTestServer({ USERSVC_AUTH_CACHE_MS: "1000" }, { shareDatabaseWith: server });
  });
  afterAll(() => second?.stop());

  test("a logout on instance A is seen by instance B within USERSVC_AUTH_CACHE_MS", async () => {
    const person = await signedIn();
    const onB = new Browserless(second.url);
    for (const [name, value] of person.browser.jar) onB.jar.set(name, value);
    // B has read the session (and may cache it).
    const before = await onB.get("/account");
    expect(before.status).toBe(200);
    expect(before.html).toContain(person.input.email);
    const out = await person.browser.submit(await person.browser.get("/account"), "/logout");
    expect(out.status).toBe(303);
    await expectSignedOut(person.browser);
    // B's cache may hold the session for at most USERSVC_AUTH_CACHE_MS: past it, B reads the ended session.
    second.clock.advance(1.001);
    await expectSignedOut(onB);
  });

  test("a sign-in on A opens /account on B; a block on B ends it on A within USERSVC_AUTH_CACHE_MS", async () => {
    const admin = await createAdmin(second);
    const person = await signedIn();
    const onB = new Browserless(second.url);
    for (const [name, value] of person.browser.jar) onB.jar.set(name, value);
    expect((await onB.get("/account")).status).toBe(200);
    await expectSignedIn(person);
    expect((await second.api("POST", `/api/v1/admin/users/${person.id}/block`, { token: admin.token, body: {} })).status).toBe(200);
    server.clock.advance(1.001);
    await expectSignedOut(person.browser);
  });
});
