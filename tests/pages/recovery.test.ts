/**
 * SPEC §7 and §8, the pages an email leads to, walked with a cookie-jar
 * browser and a real SMTP receiver: /forgot-password (the same answer for
 * any address), the emailed /reset-password link (a weak password does not
 * spend it; success ends every session, this browser's too; a spent link is
 * dead on GET and POST), /verify-email by link (GET shows a button and
 * verifies nothing; the POST does) or by the 6-digit code, and an email
 * change asked for on /account applied through /verify-email.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Browserless, errorCodeOf, formOf, headingOf, type PageResponse } from "../support/browserless.ts";
import { deliverUntilIdle, turnsUntil } from "../support/hooks.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";
import { type ReceivedMail, type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// More than bun's 5 s default: a real server on a real database, an SMTP server, many password hashes per test.
setDefaultTimeout(30_000);

const PUBLIC_URL = "https://id.example.test";
const SESSION = "__Host-usersvc_session";

let smtp: SmtpReceiver;
let server: TestServer;
beforeAll(async () => {
  smtp = await startSmtpReceiver();
  server = await startTestServer({ USERSVC_PUBLIC_URL: PUBLIC_URL, USERSVC_SMTP_URL: smtp.url, USERSVC_EMAIL_COOLDOWN: "0" });
});
afterAll(async () => {
  await server.stop();
  await smtp.stop();
});

const browser = () => new Browserless(server.url);

/**
 * Runs delivery until an email to `to` whose subject matches has arrived
 * (some requests, like forgot-password, write their email after answering).
 */
function mailTo(to: string, subject: RegExp): Promise<ReceivedMail> {
  return turnsUntil(`an email to ${to} matching ${subject}`, async () => {
    await deliverUntilIdle(server.core);
    return smtp.to(to).find((m) => subject.test(m.subject));
  });
}

/** The emailed link as a path of this test server (links are built on the public URL). */
function pathOf(link: string | null, page: string): string {
  const url = new URL(link!);
  expect(url.origin + url.pathname).toBe(`${PUBLIC_URL}${page}`);
  return url.pathname + url.search;
}

const codeOf = (mail: ReceivedMail) => /enter this code where you were asked for it: (\d{6})/.exec(mail.text)![1]!;

async function signIn(b: Browserless, identifier: string, password: string): Promise<PageResponse> {
  const done = await b.submit(await b.get("/login"), "/login", { identifier, password });
  expect(done.location).toBe("/account");
  return done;
}

async function me(access: string) {
  const res = await server.api("GET", "/api/v1/users/me", { token: access });
  expect(res.status).toBe(200);
  return res.body.data as { email: string; is_verified: boolean };
}

/** Asks for a reset on the page and answers the emailed link's path. */
async function resetLinkFor(b: Browserless, email: string): Promise<string> {
  const sent = await b.submit(await b.get("/forgot-password"), "/forgot-password", { email });
  expect(headingOf(sent.html)).toBe("Check your email");
  return pathOf((await mailTo(email, /Reset your password/)).link, "/reset-password");
}

describe("/forgot-password", () => {
  test("answers the same page for a known and an unknown address; only the known one gets an email", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = browser();
    const page = await b.get("/forgot-password");
    expect(page.status).toBe(200);
    const unknownEmail = newUser().email;
    const known = await b.submit(page, "/forgot-password", { email: input.email });
    const unknown = await b.submit(page, "/forgot-password", { email: unknownEmail });
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(200);
    expect(headingOf(known.html)).toBe("Check your email");
    expect(known.html).toContain(`If an account uses ${input.email}`);
    expect(known.html.replaceAll(input.email, "ADDRESS")).toBe(unknown.html.replaceAll(unknownEmail, "ADDRESS"));
    await mailTo(input.email, /Reset your password/);
    await deliverUntilIdle(server.core);
    expect(smtp.to(unknownEmail)).toEqual([]);
  });

  test("a malformed address is a VALIDATION_ERROR on the form, which keeps what was typed", async () => {
    const b = browser();
    const bad = await b.submit(await b.get("/forgot-password"), "/forgot-password", { email: "not-an-address" });
    expect(bad.status).toBe(422);
    expect(errorCodeOf(bad.html)).toBe("VALIDATION_ERROR");
    expect(formOf(bad.html, "/forgot-password").fields.email).toBe("not-an-address");
  });
});

describe("/reset-password", () => {
  test("the emailed link opens the form; a weak or short password re-renders it and the link still works", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = browser();
    const path = await resetLinkFor(b, input.email);
    const token = new URL(path, PUBLIC_URL).searchParams.get("token")!;
    const page = await b.get(path);
    expect(page.status).toBe(200);
    expect(headingOf(page.html)).toBe("Choose a new password");
    expect(formOf(page.html, "/reset-password").fields).toEqual(expect.objectContaining({ token, new_password: "" }));

    const weak = await b.submit(page, "/reset-password", { new_password: "password123" });
    expect(weak.status).toBe(422);
    expect(errorCodeOf(weak.html)).toBe("WEAK_PASSWORD");
    const short = await b.submit(weak, "/reset-password", { new_password: "short" });
    expect(short.status).toBe(422);
    expect(errorCodeOf(short.html)).toBe("VALIDATION_ERROR");
    expect(short.html).toContain('id="f-new_password-error"');
    // The re-rendered form still carries the token, and the token is still live.
    expect(formOf(short.html, "/reset-password").fields.token).toBe(token);
    expect((await b.get(path)).status).toBe(200);
    const done = await b.submit(short, "/reset-password", { new_password: "a brand new horse battery" });
    expect(done.status).toBe(200);
    expect(headingOf(done.html)).toBe("Your password is changed");
  });

  test("success: the old password fails, the new one signs in, and every earlier session ends, this browser's included", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const b = browser();
    await signIn(b, input.email, input.password);
    const oldCookie = b.cookie(SESSION)!;
    const path = await resetLinkFor(b, input.email);
    const page = await b.get(path);
    const newPassword = "a completely new horse battery";
    const done = await b.submit(page, "/reset-password", { new_password: newPassword });
    expect(done.status).toBe(200);
    expect(headingOf(done.html)).toBe("Your password is changed");
    expect(done.html).toContain("You were signed out everywhere.");
    expect(done.cookies.some((c) => c.startsWith(`${SESSION}=;`) && c.includes("Max-Age=0"))).toBe(true);
    expect(b.cookie(SESSION)).toBeUndefined();

    // The old cookie opens nothing, and the API session of before is over too.
    const replay = browser();
    replay.jar.set(SESSION, oldCookie);
    expect((await replay.get("/account")).location).toStartWith("/login?");
    const refresh = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
    expect(refresh.status).toBe(401);

    const login = await b.get("/login");
    const old = await b.submit(login, "/login", { identifier: input.email, password: input.password });
    expect(errorCodeOf(old.html)).toBe("INVALID_CREDENTIALS");
    const signedIn = await b.submit(login, "/login", { identifier: input.email, password: newPassword });
    expect({ status: signedIn.status, location: signedIn.location }).toEqual({ status: 303, location: "/account" });
  });

  test("a spent link shows INVALID_OR_EXPIRED_TOKEN on GET and on POST, and changes nothing", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = browser();
    const path = await resetLinkFor(b, input.email);
    const page = await b.get(path);
    expect((await b.submit(page, "/reset-password", { new_password: "the first new horse battery" })).status).toBe(200);

    const again = await b.get(path);
    expect(again.status).toBe(400);
    expect(errorCodeOf(again.html)).toBe("INVALID_OR_EXPIRED_TOKEN");
    expect(again.html).not.toContain('name="new_password"');
    const reposted = await b.submit(page, "/reset-password", { new_password: "the second new horse battery" });
    expect(reposted.status).toBe(400);
    expect(errorCodeOf(reposted.html)).toBe("INVALID_OR_EXPIRED_TOKEN");
    const second = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: "the second new horse battery" } });
    expect(second.body.error.code).toBe("INVALID_CREDENTIALS");
  });

  test("a made-up token is a dead link", async () => {
    const dead = await browser().get("/reset-password?token=not-a-real-token");
    expect(dead.status).toBe(400);
    expect(errorCodeOf(dead.html)).toBe("INVALID_OR_EXPIRED_TOKEN");
  });
});

describe("/verify-email", () => {
  test("the emailed link shows a confirm button; GET alone verifies nothing, the POST does, and the link is spent", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const mail = await mailTo(input.email, /Confirm your email/);
    const path = pathOf(mail.link, "/verify-email");
    const b = browser();
    const page = await b.get(path);
    expect(page.status).toBe(200);
    expect(headingOf(page.html)).toBe("Confirm your email address");
    expect(formOf(page.html, "/verify-email").fields.token).toBe(new URL(path, PUBLIC_URL).searchParams.get("token")!);
    expect(page.html).toMatch(/<button type="submit">Confirm<\/button>/);
    // A mail scanner fetching the link twice spends nothing.
    expect((await b.get(path)).status).toBe(200);
    expect((await me(tokens.access_token)).is_verified).toBe(false);

    const done = await b.submit(page, "/verify-email");
    expect(done.status).toBe(200);
    expect(headingOf(done.html)).toBe("Email address confirmed");
    expect(done.html).toContain(`${input.email} is confirmed.`);
    expect((await me(tokens.access_token)).is_verified).toBe(true);

    const spent = await b.get(path);
    expect(spent.status).toBe(400);
    expect(errorCodeOf(spent.html)).toBe("INVALID_OR_EXPIRED_TOKEN");
    const reposted = await b.submit(page, "/verify-email");
    expect(errorCodeOf(reposted.html)).toBe("INVALID_OR_EXPIRED_TOKEN");
  });

  test("the 6-digit code form (email + code) verifies; a wrong code gives INVALID_OR_EXPIRED_TOKEN", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const code = codeOf(await mailTo(input.email, /Confirm your email/));
    const b = browser();
    const page = await b.get(`/verify-email?email=${encodeURIComponent(input.email)}`);
    expect(page.status).toBe(200);
    const form = formOf(page.html, "/verify-email");
    expect(form.fields).toEqual(expect.objectContaining({ email: input.email, code: "" }));
    expect(form.fields).not.toHaveProperty("token");

    const wrongCode = String((Number(code) + 1) % 1_000_000).padStart(6, "0");
    const wrong = await b.submit(page, "/verify-email", { code: wrongCode });
    expect(wrong.status).toBe(400);
    expect(errorCodeOf(wrong.html)).toBe("INVALID_OR_EXPIRED_TOKEN");
    expect(formOf(wrong.html, "/verify-email").fields.email).toBe(input.email);
    expect((await me(tokens.access_token)).is_verified).toBe(false);

    const right = await b.submit(wrong, "/verify-email", { code });
    expect(right.status).toBe(200);
    expect(headingOf(right.html)).toBe("Email address confirmed");
    expect((await me(tokens.access_token)).is_verified).toBe(true);
  });

  test("an email change asked for on /account is applied through /verify-email; the old address gets the notice", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const b = browser();
    await signIn(b, input.email, input.password);
    const account = await b.get("/account");
    const newEmail = newUser().email;
    const asked = await b.submit(account, "/account/email", { new_email: newEmail });
    expect({ status: asked.status, location: asked.location }).toEqual({ status: 303, location: "/account?done=email#email" });
    expect((await b.follow(asked)).html).toContain("A confirmation link is on its way to the new address.");
    expect((await me(tokens.access_token)).email).toBe(input.email);

    const mail = await mailTo(newEmail, /Confirm your new email address/);
    const page = await b.get(pathOf(mail.link, "/verify-email"));
    expect(page.status).toBe(200);
    const done = await b.submit(page, "/verify-email");
    expect(done.status).toBe(200);
    expect(headingOf(done.html)).toBe("Email address confirmed");
    expect(done.html).toContain(`${newEmail} is confirmed.`);
    expect(await me(tokens.access_token)).toEqual(expect.objectContaining({ email: newEmail, is_verified: true }));
    // Signed in, the confirmation leads back to the account page, which shows the new address.
    expect(formOf(done.html, "/logout").action).toBe("/logout");
    expect((await b.get("/account")).html).toContain(newEmail);

    const notice = await mailTo(input.email, /Your email address was changed/);
    expect(notice.text).toContain(`changed from ${input.email} to ${newEmail}`);
  });
});
