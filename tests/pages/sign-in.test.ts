/**
 * SPEC §7, walked as a person would with a cookie-jar browser: /register,
 * /login (by email in any case or by username), /login/mfa (TOTP and
 * recovery codes, an expired challenge), return_to, POST /logout; the API's
 * rules on the pages: identical failures for unknown and wrong, a blocked
 * account, the beforeRegister / beforeLogin hooks. The browser session is a
 * usersvc session: the API lists it, and its end is seen by both.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { Secret, TOTP } from "otpauth";
import { createAdmin, loginAs } from "../support/admin.ts";
import { Browserless, errorCodeOf, formOf, headingOf, type PageResponse } from "../support/browserless.ts";
import { deliverUntilIdle, hooksDir, writeHookFile } from "../support/hooks.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";
import { type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// More than bun's 5 s default: a real server on a real database, an SMTP server, many password hashes per test.
setDefaultTimeout(30_000);

const PUBLIC_URL = "https://id.example.test";
/** On an https public URL every cookie carries the __Host- prefix (SPEC §7). */
const SESSION = "__Host-usersvc_session";
const MFA = "__Host-usersvc_mfa";

const HOOKS = `
export default {
  beforeRegister(input: { email: string }) {
    if (input.email.endsWith("@closed.example")) return { reject: "Sign-ups from closed.example are closed" };
  },
  beforeLogin(input: { user: { username: string } }) {
    if (input.user.username.startsWith("banned")) return { reject: "This account may not sign in here" };
  },
};
`;

let smtp: SmtpReceiver;
let server: TestServer;
let dir: string;
beforeAll(async () => {
  smtp = await startSmtpReceiver();
  dir = hooksDir("usersvc-pages-hooks-");
  server = await startTestServer({
    USERSVC_PUBLIC_URL: PUBLIC_URL,
    USERSVC_SMTP_URL: smtp.url,
    USERSVC_EMAIL_COOLDOWN: "0",
    USERSVC_HOOKS: writeHookFile(dir, "hooks.ts", HOOKS),
  });
});
afterAll(async () => {
  await server.stop();
  await smtp.stop();
  rmSync(dir, { recursive: true, force: true });
});

const browser = () => new Browserless(server.url);

/** The session ids of the user's sessions, as the API lists them (through a fresh API login of that user). */
async function apiSessionIds(input: { email: string; password: string }): Promise<string[]> {
  const tokens = await loginAs(server.api, input);
  const listed = await server.api("GET", "/api/v1/users/me/sessions", { token: tokens.access_token });
  expect(listed.status).toBe(200);
  return (listed.body.data as { id: string }[]).map((s) => s.id);
}

/** The id of the browser session in the jar (the cookie is `<session id>.<secret>`). */
function sessionIdOf(b: Browserless): string {
  const cookie = b.cookie(SESSION);
  expect(cookie).toMatch(/^[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);
  return cookie!.split(".")[0]!;
}

async function signIn(b: Browserless, identifier: string, password: string, path = "/login"): Promise<PageResponse> {
  return b.submit(await b.get(path), "/login", { identifier, password });
}

/** Verifies the user's address with the emailed link, through the API. */
async function verifyByEmail(email: string): Promise<void> {
  await deliverUntilIdle(server.core);
  const mail = await smtp.waitFor(email, /Confirm your email/);
  const token = new URL(mail.link!).searchParams.get("token");
  expect((await server.api("POST", "/api/v1/auth/verify-email", { body: { token } })).status).toBe(200);
}

const totpOf = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" });
const codeNow = (secret: string) => totpOf(secret).generate({ timestamp: server.clock.now().getTime() });
/** A six-digit code that is surely not the current one. */
const wrongCode = (secret: string) => String((Number(codeNow(secret)) + 500_000) % 1_000_000).padStart(6, "0");

/** A verified user with TOTP turned on through the API; the clock is moved past the confirming code's step. */
async function userWithTotp() {
  const { input, tokens } = await registerAndLogin(server.api);
  await verifyByEmail(input.email);
  const token = tokens.access_token;
  const enrolled = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token, body: {} });
  expect(enrolled.status).toBe(200);
  const secret: string = enrolled.body.data.secret;
  const confirmed = await server.api("POST", "/api/v1/users/me/mfa/confirm", { token, body: { code: codeNow(secret) } });
  expect(confirmed.status).toBe(200);
  server.clock.advance(30);
  return { input, secret, recovery: confirmed.body.data.recovery_codes as string[] };
}

describe("/register", () => {
  test("signing up signs the person in: a session cookie, 303 to /account, and the API lists the session", async () => {
    const b = browser();
    const page = await b.get("/register");
    expect(page.status).toBe(200);
    expect(headingOf(page.html)).toBe("Create your account");
    const input = newUser();
    const done = await b.submit(page, "/register", input);
    expect({ status: done.status, location: done.location }).toEqual({ status: 303, location: "/account" });
    const setCookie = done.cookies.find((c) => c.startsWith(`${SESSION}=`));
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Lax");
    expect(setCookie).toContain("Secure");
    expect(setCookie).toContain("Path=/");
    const account = await b.follow(done);
    expect(account.status).toBe(200);
    expect(headingOf(account.html)).toBe("Your account");
    expect(account.html).toContain(input.email);
    expect(await apiSessionIds(input)).toContain(sessionIdOf(b));
  });

  test("a taken email re-renders the form with EMAIL_TAKEN and the typed values, and signs no one in", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = browser();
    const username = newUser().username;
    const again = await b.submit(await b.get("/register"), "/register", { email: input.email, username, password: input.password });
    expect(again.status).toBe(409);
    expect(errorCodeOf(again.html)).toBe("EMAIL_TAKEN");
    expect(formOf(again.html, "/register").fields).toEqual(expect.objectContaining({ email: input.email, username }));
    expect(b.cookie(SESSION)).toBeUndefined();
  });

  test("a beforeRegister hook's refusal shows HOOK_REJECTED with the hook's words; no account is made", async () => {
    const b = browser();
    const input = newUser({ email: `someone${Date.now()}@closed.example` });
    const refused = await b.submit(await b.get("/register"), "/register", input);
    expect(refused.status).toBe(403);
    expect(errorCodeOf(refused.html)).toBe("HOOK_REJECTED");
    expect(refused.html).toContain("Sign-ups from closed.example are closed");
    expect(b.cookie(SESSION)).toBeUndefined();
    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect(login.body.error.code).toBe("INVALID_CREDENTIALS");
  });
});

describe("/login", () => {
  test("signs in by email typed in any case, and by username", async () => {
    const { input } = await registerAndLogin(server.api);
    for (const identifier of [input.email.toUpperCase(), ` ${input.email} `, input.username]) {
      const b = browser();
      const done = await signIn(b, identifier, input.password);
      expect({ identifier, status: done.status, location: done.location }).toEqual({ identifier, status: 303, location: "/account" });
      expect(headingOf((await b.follow(done)).html)).toBe("Your account");
    }
  });

  test("a wrong password and an unknown account give the same INVALID_CREDENTIALS page with the same status", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = browser();
    const page = await b.get("/login");
    const wrong = await b.submit(page, "/login", { identifier: input.email, password: "not the password at all" });
    const unknownEmail = newUser().email;
    const unknown = await b.submit(page, "/login", { identifier: unknownEmail, password: "not the password at all" });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(errorCodeOf(wrong.html)).toBe("INVALID_CREDENTIALS");
    expect(errorCodeOf(unknown.html)).toBe("INVALID_CREDENTIALS");
    expect(wrong.html).toContain("The sign-in details are not right.");
    // The only difference is the identifier typed, which the form keeps.
    expect(wrong.html.replaceAll(input.email, "IDENTIFIER")).toBe(unknown.html.replaceAll(unknownEmail, "IDENTIFIER"));
    expect(b.cookie(SESSION)).toBeUndefined();
  });

  test("an empty field gives VALIDATION_ERROR naming that field", async () => {
    const b = browser();
    const page = await b.get("/login");
    const noIdentifier = await b.submit(page, "/login", { identifier: "  ", password: "whatever it is" });
    expect(noIdentifier.status).toBe(422);
    expect(errorCodeOf(noIdentifier.html)).toBe("VALIDATION_ERROR");
    expect(noIdentifier.html).toContain('id="f-identifier-error"');
    expect(noIdentifier.html).not.toContain('id="f-password-error"');

    const noPassword = await b.submit(page, "/login", { identifier: "someone", password: "" });
    expect(noPassword.status).toBe(422);
    expect(errorCodeOf(noPassword.html)).toBe("VALIDATION_ERROR");
    expect(noPassword.html).toContain('id="f-password-error"');
    expect(noPassword.html).not.toContain('id="f-identifier-error"');
    // What was typed stays in the form.
    expect(formOf(noPassword.html, "/login").fields.identifier).toBe("someone");
  });

  test("an allowed return_to is followed after sign-in; one to another site lands on /account", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = browser();
    const page = await b.get(`/login?return_to=${encodeURIComponent("/account?x=1")}`);
    expect(formOf(page.html, "/login").fields.return_to).toBe("/account?x=1");
    const done = await b.submit(page, "/login", { identifier: input.username, password: input.password });
    expect({ status: done.status, location: done.location }).toEqual({ status: 303, location: "/account?x=1" });

    const other = browser();
    const evil = await other.get(`/login?return_to=${encodeURIComponent("https://evil.example/steal")}`);
    expect(formOf(evil.html, "/login").fields.return_to).toBeUndefined();
    const landed = await other.submit(evil, "/login", { identifier: input.username, password: input.password, return_to: "https://evil.example/steal" });
    expect(landed.location).toBe("/account");
  });

  test("GET /login and /register while signed in redirect to where the person was going", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = browser();
    await signIn(b, input.email, input.password);
    for (const path of ["/login", "/register"]) {
      const again = await b.get(path);
      expect({ path, status: again.status, location: again.location }).toEqual({ path, status: 303, location: "/account" });
    }
    expect((await b.get(`/login?return_to=${encodeURIComponent("/account?tab=2")}`)).location).toBe("/account?tab=2");
  });

  test("a blocked account gets ACCOUNT_BLOCKED after the right password only, and its open browser session ends", async () => {
    const admin = await createAdmin(server);
    const { input, user } = await registerAndLogin(server.api);
    const open = browser();
    await signIn(open, input.email, input.password);
    expect((await open.get("/account")).status).toBe(200);

    const blocked = await server.api("POST", `/api/v1/admin/users/${user.id}/block`, { token: admin.token, body: { reason: "testing" } });
    expect(blocked.status).toBe(200);
    const b = browser();
    const page = await b.get("/login");
    const wrong = await b.submit(page, "/login", { identifier: input.email, password: "not the password at all" });
    expect(errorCodeOf(wrong.html)).toBe("INVALID_CREDENTIALS");
    const right = await b.submit(page, "/login", { identifier: input.email, password: input.password });
    expect(right.status).toBe(403);
    expect(errorCodeOf(right.html)).toBe("ACCOUNT_BLOCKED");
    expect(b.cookie(SESSION)).toBeUndefined();
    // The browser that was signed in before the block is signed in no more.
    const after = await open.get("/account");
    expect(after.status).toBe(303);
    expect(after.location).toStartWith("/login?");
    expect(open.cookie(SESSION)).toBeUndefined();
  });

  test("a beforeLogin hook's refusal shows HOOK_REJECTED with the hook's words and starts no session", async () => {
    // Registered plainly: the hook refuses the API login of registerAndLogin too.
    const input = newUser({ username: `banned${Date.now()}` });
    expect((await server.api("POST", "/api/v1/users", { body: input })).status).toBe(201);
    const b = browser();
    const refused = await signIn(b, input.username, input.password);
    expect(refused.status).toBe(403);
    expect(errorCodeOf(refused.html)).toBe("HOOK_REJECTED");
    expect(refused.html).toContain("This account may not sign in here");
    expect(b.cookie(SESSION)).toBeUndefined();
  });
});

describe("POST /logout", () => {
  test("ends the session: the API lists it no more and the old cookie no longer opens /account", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = browser();
    await signIn(b, input.email, input.password);
    const id = sessionIdOf(b);
    const oldCookie = b.cookie(SESSION)!;
    expect(await apiSessionIds(input)).toContain(id);

    const out = await b.submit(await b.get("/account"), "/logout");
    expect({ status: out.status, location: out.location }).toEqual({ status: 303, location: "/login" });
    expect(out.cookies.some((c) => c.startsWith(`${SESSION}=;`) && c.includes("Max-Age=0"))).toBe(true);
    expect(b.cookie(SESSION)).toBeUndefined();
    expect(await apiSessionIds(input)).not.toContain(id);

    const replay = browser();
    replay.jar.set(SESSION, oldCookie);
    const account = await replay.get("/account");
    expect(account.status).toBe(303);
    expect(account.location).toStartWith("/login?");
  });
});

describe("/login/mfa", () => {
  test("a TOTP user is sent to /login/mfa; a wrong code shows INVALID_CREDENTIALS, the right one signs in", async () => {
    const { input, secret } = await userWithTotp();
    const b = browser();
    const first = await signIn(b, input.email, input.password);
    expect({ status: first.status, location: first.location }).toEqual({ status: 303, location: "/login/mfa" });
    expect(b.cookie(SESSION)).toBeUndefined();
    expect(b.cookie(MFA)).toBeString();
    const page = await b.get(first.location!);
    expect(page.status).toBe(200);
    expect(headingOf(page.html)).toBe("Two-step verification");

    const wrong = await b.submit(page, "/login/mfa", { code: wrongCode(secret) });
    expect(wrong.status).toBe(401);
    expect(errorCodeOf(wrong.html)).toBe("INVALID_CREDENTIALS");
    expect(b.cookie(SESSION)).toBeUndefined();

    const right = await b.submit(wrong, "/login/mfa", { code: codeNow(secret) });
    expect({ status: right.status, location: right.location }).toEqual({ status: 303, location: "/account" });
    expect(b.cookie(MFA)).toBeUndefined();
    expect(headingOf((await b.follow(right)).html)).toBe("Your account");
  });

  test("return_to is carried from /login through /login/mfa and followed at the end", async () => {
    const { input, secret } = await userWithTotp();
    const b = browser();
    const first = await signIn(b, input.username, input.password, `/login?return_to=${encodeURIComponent("/account?x=1")}`);
    expect(first.status).toBe(303);
    expect(new URL(first.location!, PUBLIC_URL).searchParams.get("return_to")).toBe("/account?x=1");
    const page = await b.get(first.location!);
    expect(formOf(page.html, "/login/mfa").fields.return_to).toBe("/account?x=1");
    const done = await b.submit(page, "/login/mfa", { code: codeNow(secret) });
    expect({ status: done.status, location: done.location }).toEqual({ status: 303, location: "/account?x=1" });
  });

  test("a recovery code signs in once; the same code again is refused", async () => {
    const { input, recovery } = await userWithTotp();
    const code = recovery[0]!;
    const b = browser();
    const page = await b.follow(await signIn(b, input.email, input.password));
    const done = await b.submit(page, "/login/mfa", { code });
    expect({ status: done.status, location: done.location }).toEqual({ status: 303, location: "/account" });
    expect(b.cookie(SESSION)).toBeString();

    const again = browser();
    const second = await again.follow(await signIn(again, input.email, input.password));
    const refused = await again.submit(second, "/login/mfa", { code });
    expect(refused.status).toBe(401);
    expect(errorCodeOf(refused.html)).toBe("INVALID_CREDENTIALS");
    expect(again.cookie(SESSION)).toBeUndefined();
  });

  test("an expired challenge sends the person back to the password form with INVALID_OR_EXPIRED_TOKEN", async () => {
    const { input, secret } = await userWithTotp();
    const b = browser();
    const page = await b.follow(await signIn(b, input.email, input.password));
    expect(headingOf(page.html)).toBe("Two-step verification");
    server.clock.advance(5 * 60 + 1);
    const late = await b.submit(page, "/login/mfa", { code: codeNow(secret) });
    expect(late.status).toBe(400);
    expect(errorCodeOf(late.html)).toBe("INVALID_OR_EXPIRED_TOKEN");
    expect(headingOf(late.html)).toBe("Sign in");
    expect(formOf(late.html, "/login").fields).toHaveProperty("identifier");
    expect(b.cookie(MFA)).toBeUndefined();
    expect(b.cookie(SESSION)).toBeUndefined();
    // Without a challenge, /login/mfa itself leads back to /login.
    expect((await b.get("/login/mfa")).location).toBe("/login");
  });
});
