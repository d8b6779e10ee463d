/**
 * What the attacker review of the hosted pages found, each pinned:
 * a second session must not read or finish another one's TOTP enrolment;
 * a session cookie sent twice (one planted by a sibling host) is not trusted;
 * every answer under a page path keeps a CSP, assets are sandboxed;
 * a touch never revives an ended session; a sign-in renews the CSRF secret
 * and ends the session the browser had before.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { Secret, TOTP } from "otpauth";
import { sessions } from "../../src/core/db/schema.ts";
import { touchSession } from "../../src/core/sessions/queries.ts";
import { Browserless, errorCodeOf, formOf, type PageResponse } from "../support/browserless.ts";
import { deliverUntilIdle } from "../support/hooks.ts";
import { registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";
import { type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// More than bun's 5 s default: a real server on a real database, an SMTP server, password hashes per test.
setDefaultTimeout(30_000);

const SESSION = "usersvc_session";
let smtp: SmtpReceiver;
let server: TestServer;
beforeAll(async () => {
  smtp = await startSmtpReceiver();
  server = await startTestServer({ USERSVC_SMTP_URL: smtp.url, USERSVC_PUBLIC_URL: "http://id.example.test", USERSVC_EMAIL_COOLDOWN: "0" });
});
afterAll(async () => {
  await server.stop();
  await smtp.stop();
});

async function signIn(b: Browserless, identifier: string, password: string): Promise<PageResponse> {
  const done = await b.submit(await b.get("/login"), "/login", { identifier, password });
  expect(done.location).toBe("/account");
  return b.get("/account");
}

async function verifiedUser() {
  const registered = await registerAndLogin(server.api);
  await deliverUntilIdle(server.core);
  const token = new URL((await smtp.waitFor(registered.input.email, /Confirm your email/)).link!).searchParams.get("token");
  expect((await server.api("POST", "/api/v1/auth/verify-email", { body: { token } })).status).toBe(200);
  return registered;
}

const secretOn = (html: string) => /<code class="secret">([A-Z2-7]+)<\/code>/.exec(html)?.[1] ?? null;
const codeNow = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: server.clock.now().getTime() });

describe("a TOTP enrolment belongs to the answer that started it", () => {
  test("another session of the same user sees no secret on /account and cannot confirm without it", async () => {
    const { input, tokens } = await verifiedUser();
    const owner = new Browserless(server.url);
    const enrolled = await owner.submit(await signIn(owner, input.email, input.password), "/account/mfa/enroll");
    const secret = secretOn(enrolled.html)!;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);

    const other = new Browserless(server.url);
    const seen = await signIn(other, input.email, input.password);
    expect(secretOn(seen.html)).toBeNull();
    expect(seen.html).not.toContain(secret);
    expect(seen.html).not.toContain("<svg");
    // Knowing a valid code is not enough without the enrolment's secret in the form.
    for (const forged of [{}, { secret: "A".repeat(32) }] as Record<string, string>[]) {
      const refused = await other.post("/account/mfa/confirm", { ...formOf(seen.html, "/account/profile").fields, ...forged, code: codeNow(secret) });
      expect({ status: refused.status, code: errorCodeOf(refused.html) }).toEqual({ status: 422, code: "VALIDATION_ERROR" });
    }
    expect((await server.api("GET", "/api/v1/users/me/mfa", { token: tokens.access_token })).body.data).toEqual({ enabled: false, pending: true });

    // The owner's own confirm still works.
    const confirmed = await owner.submit(enrolled, "/account/mfa/confirm", { code: codeNow(secret) });
    expect(confirmed.status).toBe(200);
    expect((await server.api("GET", "/api/v1/users/me/mfa", { token: tokens.access_token })).body.data).toEqual({ enabled: true, pending: false });
  });
});

describe("a session cookie sent twice", () => {
  test("a second cookie of the same name (planted by a sibling host) makes neither count, and ours is not cleared", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = new Browserless(server.url);
    await signIn(b, input.email, input.password);
    const ours = b.cookie(SESSION)!;
    for (const header of [`${SESSION}=planted; ${SESSION}=${ours}`, `${SESSION}=${ours}; ${SESSION}=planted`]) {
      const res = await fetch(`${server.url}/account`, { redirect: "manual", headers: { cookie: header } });
      expect(res.status).toBe(303);
      expect(res.headers.getSetCookie().filter((c) => c.startsWith(`${SESSION}=`))).toEqual([]);
    }
    expect((await b.get("/account")).status).toBe(200);
  });
});

describe("first visits are rendered once", () => {
  test("two anonymous visitors of /login get the same page but each their own CSRF token, valid only with their own cookie", async () => {
    const first = new Browserless(server.url);
    const second = new Browserless(server.url);
    const [a, b] = [await first.get("/login"), await second.get("/login")];
    const tokenA = formOf(a.html, "/login").fields.csrf_token!;
    const tokenB = formOf(b.html, "/login").fields.csrf_token!;
    expect(tokenA).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokenB).not.toBe(tokenA);
    // The token is in each of the page's forms (the password form and the passkey form).
    expect(a.html.replaceAll(tokenA, "")).toBe(b.html.replaceAll(tokenB, ""));
    expect(a.html).not.toContain("\u0001");
    const { input } = await registerAndLogin(server.api);
    const swapped = await second.post("/login", { ...formOf(a.html, "/login").fields, identifier: input.email, password: input.password });
    expect(errorCodeOf(swapped.html)).toBe("FORBIDDEN");
    const own = await second.submit(b, "/login", { identifier: input.email, password: input.password });
    expect(own.location).toBe("/account");
  });
});

describe("headers under the page paths", () => {
  test("an error answer under /account and /login keeps a default-src 'none' CSP; assets are sandboxed", async () => {
    for (const path of ["/account/nothing-here", "/login/nothing-here"]) {
      const res = await fetch(server.url + path);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    }
    const logo = await fetch(`${server.url}/assets/logo.svg`);
    expect(logo.headers.get("content-security-policy")).toBe("default-src 'none'; style-src 'unsafe-inline'; sandbox");
    const json = await fetch(`${server.url}/login`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(json.status).toBe(415);
    expect(((await json.json()) as { error: { message: string } }).error.message).toContain("application/x-www-form-urlencoded");
  });
});

describe("sessions end and stay ended", () => {
  test("a touch that lands after the session's end does not move its end", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = new Browserless(server.url);
    await signIn(b, input.email, input.password);
    const id = b.cookie(SESSION)!.split(".")[0]!;
    const [before] = await server.core.db.select().from(sessions).where(eq(sessions.id, id));
    const afterEnd = new Date(before!.expiresAt.getTime() + 1000);
    await touchSession(server.core.db, id, afterEnd, new Date(afterEnd.getTime() + 86_400_000));
    const [after] = await server.core.db.select().from(sessions).where(eq(sessions.id, id));
    expect(after!.expiresAt.getTime()).toBe(before!.expiresAt.getTime());
  });

  test("signing in again in the same browser ends the session it had, and renews the CSRF secret", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = new Browserless(server.url);
    const account = await signIn(b, input.email, input.password);
    const firstId = b.cookie(SESSION)!.split(".")[0]!;
    const csrfBefore = b.cookie("usersvc_csrf");
    // A sign-in posted while signed in (another tab's form), with this session's token.
    const again = await b.post("/login", { ...formOf(account.html, "/logout").fields, identifier: input.email, password: input.password });
    expect(again.location).toBe("/account");
    expect(b.cookie(SESSION)!.split(".")[0]).not.toBe(firstId);
    const [first] = await server.core.db.select().from(sessions).where(eq(sessions.id, firstId));
    expect(first!.revokedAt).not.toBeNull();
    expect(b.cookie("usersvc_csrf")).not.toBe(csrfBefore);
    // A token of a page seen before the sign-in no longer passes.
    const stale = await b.post("/account/profile", { ...formOf(account.html, "/account/profile").fields, username: "renamed" });
    expect({ status: stale.status, code: errorCodeOf(stale.html) }).toEqual({ status: 403, code: "FORBIDDEN" });
  });
});
