/**
 * SPEC §7 /account, walked with a cookie-jar browser: each form is one of
 * the API's use cases, with the API's rules (step-up, current password,
 * verified email for two-factor) and the API's statuses on errors; a success
 * is a 303 back to /account?done=…. The browser session is a usersvc
 * session: the API's sessions of the same user are listed and revoked here,
 * and a password change or logout-all here ends them.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Secret, TOTP } from "otpauth";
import { loginAs } from "../support/admin.ts";
import { Browserless, errorCodeOf, formOf, headingOf, type PageResponse } from "../support/browserless.ts";
import { deliverUntilIdle, jwtClaims } from "../support/hooks.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";
import { type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// More than bun's 5 s default: a real server on a real database, an SMTP server, many password hashes per test.
setDefaultTimeout(30_000);

const PUBLIC_URL = "https://id.example.test";
const SESSION = "__Host-usersvc_session";
const PRIVILEGED_MAX_AGE = 300;

let smtp: SmtpReceiver;
let server: TestServer;
beforeAll(async () => {
  smtp = await startSmtpReceiver();
  server = await startTestServer({
    USERSVC_PUBLIC_URL: PUBLIC_URL,
    USERSVC_SMTP_URL: smtp.url,
    USERSVC_EMAIL_COOLDOWN: "0",
    USERSVC_PRIVILEGED_MAX_AGE: String(PRIVILEGED_MAX_AGE),
  });
});
afterAll(async () => {
  await server.stop();
  await smtp.stop();
});

/** A user registered through the API (with an API session), signed in on a browser of its own at /account. */
async function signedIn(options: { verified?: boolean } = {}) {
  const registered = await registerAndLogin(server.api);
  if (options.verified) await verifyByEmail(registered.input.email);
  const b = new Browserless(server.url);
  const done = await b.submit(await b.get("/login"), "/login", { identifier: registered.input.email, password: registered.input.password });
  expect(done.location).toBe("/account");
  const account = await b.get("/account");
  expect(account.status).toBe(200);
  return { ...registered, b, account };
}

async function verifyByEmail(email: string): Promise<void> {
  await deliverUntilIdle(server.core);
  const mail = await smtp.waitFor(email, /Confirm your email/);
  const token = new URL(mail.link!).searchParams.get("token");
  expect((await server.api("POST", "/api/v1/auth/verify-email", { body: { token } })).status).toBe(200);
}

const refresh = (refresh_token: string) => server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token } });

/** A success: 303 to /account?done=<notice>#<section>. */
function expectDone(res: PageResponse, done: string, section: string) {
  expect({ status: res.status, location: res.location, error: errorCodeOf(res.html) }).toEqual({
    status: 303,
    location: `/account?done=${done}#${section}`,
    error: null,
  });
}

function expectError(res: PageResponse, status: number, code: string) {
  expect({ status: res.status, code: errorCodeOf(res.html), heading: headingOf(res.html) }).toEqual({ status, code, heading: "Your account" });
}

const codeNow = (secret: string) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" }).generate({ timestamp: server.clock.now().getTime() });
const secretOn = (html: string) => /<code class="secret">([A-Z2-7]+)<\/code>/.exec(html)?.[1] ?? null;
const codesOn = (html: string) => [...html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);

describe("/account", () => {
  test("without a session redirects to /login?return_to=/account, and the sign-in comes back there", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = new Browserless(server.url);
    const away = await b.get("/account");
    expect({ status: away.status, location: away.location }).toEqual({ status: 303, location: "/login?return_to=%2Faccount" });
    const login = await b.get(away.location!);
    expect(formOf(login.html, "/login").fields.return_to).toBe("/account");
    const done = await b.submit(login, "/login", { identifier: input.email, password: input.password });
    expect(done.location).toBe("/account");
  });

  test("a form posted without a session leads to /login and changes nothing", async () => {
    const b = new Browserless(server.url);
    const page = await b.get("/login");
    const res = await b.post("/account/profile", { csrf_token: formOf(page.html, "/login").fields.csrf_token!, username: "nobody" });
    expect(res.status).toBe(303);
    expect(res.location).toStartWith("/login?");
  });
});

describe("profile", () => {
  test("the username changes; one another account has gives USERNAME_TAKEN", async () => {
    const { b, account, tokens } = await signedIn();
    const wanted = newUser().username;
    const saved = await b.submit(account, "/account/profile", { username: wanted });
    expectDone(saved, "profile", "profile");
    const after = await b.follow(saved);
    expect(after.html).toContain("Your profile is saved.");
    expect(formOf(after.html, "/account/profile").fields.username).toBe(wanted);
    expect((await server.api("GET", "/api/v1/users/me", { token: tokens.access_token })).body.data.username).toBe(wanted);

    const other = await registerAndLogin(server.api);
    const taken = await b.submit(after, "/account/profile", { username: other.input.username });
    expectError(taken, 409, "USERNAME_TAKEN");
    expect((await server.api("GET", "/api/v1/users/me", { token: tokens.access_token })).body.data.username).toBe(wanted);
  });

  test("an unverified address can have its confirmation email sent again", async () => {
    const { b, account, input } = await signedIn();
    await deliverUntilIdle(server.core);
    const before = smtp.to(input.email).filter((m) => /Confirm your email/.test(m.subject)).length;
    expect(account.html).toContain("not confirmed");
    const resent = await b.submit(account, "/account/verify-email");
    expectDone(resent, "verification", "profile");
    await deliverUntilIdle(server.core);
    expect(smtp.to(input.email).filter((m) => /Confirm your email/.test(m.subject)).length).toBe(before + 1);
  });
});

describe("email change", () => {
  test("long after sign-in: no password → REAUTHENTICATION_REQUIRED, a wrong one → WRONG_PASSWORD, the right one → done=email", async () => {
    const { b, input } = await signedIn();
    server.clock.advance(PRIVILEGED_MAX_AGE + 1);
    const page = await b.get("/account");
    const newEmail = newUser().email;
    const noPassword = await b.submit(page, "/account/email", { new_email: newEmail });
    expectError(noPassword, 403, "REAUTHENTICATION_REQUIRED");
    const wrong = await b.submit(noPassword, "/account/email", { new_email: newEmail, password: "not the password at all" });
    expectError(wrong, 400, "WRONG_PASSWORD");
    const right = await b.submit(wrong, "/account/email", { new_email: newEmail, password: input.password });
    expectDone(right, "email", "email");
    await deliverUntilIdle(server.core);
    expect((await smtp.waitFor(newEmail, /Confirm your new email address/)).link).toStartWith(`${PUBLIC_URL}/verify-email?token=`);
  });
});

describe("password", () => {
  test("a change keeps this browser signed in and ends the other sessions; a wrong current password is WRONG_PASSWORD", async () => {
    const { b, account, input, tokens } = await signedIn();
    const wrong = await b.submit(account, "/account/password", { current_password: "not the password at all", new_password: "a brand new horse battery" });
    expectError(wrong, 400, "WRONG_PASSWORD");
    expect((await refresh(tokens.refresh_token)).status).toBe(200);

    const fresh = await loginAs(server.api, input);
    const changed = await b.submit(await b.get("/account"), "/account/password", { current_password: input.password, new_password: "a brand new horse battery" });
    expectDone(changed, "password", "password");
    const after = await b.follow(changed);
    expect(after.status).toBe(200);
    expect(after.html).toContain("Your password is changed. Your other sessions were signed out.");
    const other = await refresh(fresh.refresh_token);
    expect(other.status).toBe(401);
    const relogin = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: "a brand new horse battery" } });
    expect(relogin.status).toBe(200);
  });
});

describe("sessions", () => {
  test("the list shows the API session too; revoking it ends it, and revoking the current one signs out", async () => {
    const { b, account, tokens } = await signedIn();
    const apiSession = jwtClaims(tokens.access_token).sid as string;
    const browserSession = b.cookie(SESSION)!.split(".")[0]!;
    expect(account.html).toContain(`name="session_id" value="${apiSession}"`);
    expect(account.html).toContain(`name="session_id" value="${browserSession}"`);
    expect(account.html).toContain("this browser");

    const csrf = formOf(account.html, "/account/logout-all").fields.csrf_token!;
    const revoked = await b.post("/account/sessions/revoke", { csrf_token: csrf, session_id: apiSession });
    expectDone(revoked, "session", "sessions");
    expect((await refresh(tokens.refresh_token)).status).toBe(401);
    const after = await b.follow(revoked);
    expect(after.html).toContain("The session is signed out.");
    expect(after.html).not.toContain(`value="${apiSession}"`);

    const again = await b.post("/account/sessions/revoke", { csrf_token: csrf, session_id: apiSession });
    expectError(again, 404, "NOT_FOUND");

    const own = await b.post("/account/sessions/revoke", { csrf_token: csrf, session_id: browserSession });
    expect({ status: own.status, location: own.location }).toEqual({ status: 303, location: "/login" });
    expect(b.cookie(SESSION)).toBeUndefined();
    expect((await b.get("/account")).location).toStartWith("/login?");
  });

  test("logout-all signs this browser and every API session out", async () => {
    const { b, account, tokens } = await signedIn();
    const out = await b.submit(account, "/account/logout-all");
    expect({ status: out.status, location: out.location }).toEqual({ status: 303, location: "/login" });
    expect(b.cookie(SESSION)).toBeUndefined();
    expect((await b.get("/account")).location).toStartWith("/login?");
    expect((await refresh(tokens.refresh_token)).status).toBe(401);
  });
});

describe("two-step verification", () => {
  test("an unverified address cannot turn it on: EMAIL_NOT_VERIFIED", async () => {
    const { b, account, tokens } = await signedIn();
    const refused = await b.submit(account, "/account/mfa/enroll");
    expectError(refused, 403, "EMAIL_NOT_VERIFIED");
    expect((await server.api("GET", "/api/v1/users/me/mfa", { token: tokens.access_token })).body.data).toEqual({ enabled: false, pending: false });
  });

  test("enrol: inline QR and secret; a wrong code is INVALID_CREDENTIALS with the QR still there; the right one shows 10 recovery codes", async () => {
    const { b, account, tokens, input } = await signedIn({ verified: true });
    expect(account.html).toContain("Turn on two-step verification");
    // The enrolment's own answer shows the secret; the account page opened later does not.
    const pending = await b.submit(account, "/account/mfa/enroll");
    expect(pending.status).toBe(200);
    expect(pending.html).toMatch(/<div class="qr"><svg role="img" aria-label="[^"]+"[^>]*>/);
    const secret = secretOn(pending.html);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    // The page loads nothing from outside: the QR is drawn in the page.
    expect(pending.html).not.toMatch(/<img[^>]+src="https?:/);

    const wrongCode = String((Number(codeNow(secret!)) + 500_000) % 1_000_000).padStart(6, "0");
    const wrong = await b.submit(pending, "/account/mfa/confirm", { code: wrongCode });
    expect({ status: wrong.status, code: errorCodeOf(wrong.html), heading: headingOf(wrong.html) }).toEqual({
      status: 401,
      code: "INVALID_CREDENTIALS",
      heading: "Set up two-step verification",
    });
    expect(wrong.html).toContain('<div class="qr"><svg');
    expect(secretOn(wrong.html)).toBe(secret);

    const right = await b.submit(wrong, "/account/mfa/confirm", { code: codeNow(secret!) });
    expect(right.status).toBe(200);
    expect(headingOf(right.html)).toBe("Two-step verification is on");
    const codes = codesOn(right.html);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    expect((await server.api("GET", "/api/v1/users/me/mfa", { token: tokens.access_token })).body.data).toEqual({ enabled: true, pending: false });
    // The API login now asks for the second step.
    expect((await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } })).body.data.mfa_required).toBe(true);
  });

  test("recovery codes can be made anew (10 others), and turning it off leaves the API saying enabled false", async () => {
    const { b, account, tokens } = await signedIn({ verified: true });
    const pending = await b.submit(account, "/account/mfa/enroll");
    const secret = secretOn(pending.html)!;
    const first = codesOn((await b.submit(pending, "/account/mfa/confirm", { code: codeNow(secret) })).html);
    expect(first).toHaveLength(10);

    const page = await b.get("/account");
    expect(page.html).toContain("Turn off two-step verification");
    const regenerated = await b.submit(page, "/account/mfa/recovery-codes");
    expect(regenerated.status).toBe(200);
    expect(headingOf(regenerated.html)).toBe("Your new recovery codes");
    const second = codesOn(regenerated.html);
    expect(second).toHaveLength(10);
    expect(second.filter((code) => first.includes(code))).toEqual([]);

    const disabled = await b.submit(await b.get("/account"), "/account/mfa/disable");
    expectDone(disabled, "mfa_disabled", "mfa");
    expect((await b.follow(disabled)).html).toContain("Two-step verification is turned off.");
    expect((await server.api("GET", "/api/v1/users/me/mfa", { token: tokens.access_token })).body.data).toEqual({ enabled: false, pending: false });
  });
});

describe("deleting the account", () => {
  test("a wrong password is WRONG_PASSWORD; the right one shows the deleted page, clears the cookie, and the account signs in no more", async () => {
    const { b, account, input } = await signedIn();
    const wrong = await b.submit(account, "/account/delete", { password: "not the password at all" });
    expectError(wrong, 400, "WRONG_PASSWORD");
    expect(b.cookie(SESSION)).toBeString();

    const deleted = await b.submit(wrong, "/account/delete", { password: input.password });
    expect(deleted.status).toBe(200);
    expect(headingOf(deleted.html)).toBe("Your account is deleted");
    expect(deleted.cookies.some((c) => c.startsWith(`${SESSION}=;`) && c.includes("Max-Age=0"))).toBe(true);
    expect(b.cookie(SESSION)).toBeUndefined();
    expect((await b.get("/account")).location).toStartWith("/login?");
    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect([login.status, login.body.error.code]).toEqual([401, "INVALID_CREDENTIALS"]);
  });
});
