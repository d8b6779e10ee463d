/**
 * SPEC §7 with USERSVC_REQUIRE_VERIFIED_EMAIL=true (its own server, as the
 * setting holds for every sign-in): /register asks the person to follow the
 * emailed link instead of signing them in, /login refuses with
 * EMAIL_NOT_VERIFIED until the link is followed, then signs in.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { Browserless, errorCodeOf, headingOf } from "../support/browserless.ts";
import { deliverUntilIdle } from "../support/hooks.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";
import { type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// More than bun's 5 s default: a real server on a real database and an SMTP server.
setDefaultTimeout(30_000);

const PUBLIC_URL = "https://id.example.test";
const SESSION = "__Host-usersvc_session";

let smtp: SmtpReceiver;
let server: TestServer;
beforeAll(async () => {
  smtp = await startSmtpReceiver();
  server = await startTestServer({
    USERSVC_PUBLIC_URL: PUBLIC_URL,
    USERSVC_SMTP_URL: smtp.url,
    USERSVC_EMAIL_COOLDOWN: "0",
    USERSVC_REQUIRE_VERIFIED_EMAIL: "true",
  });
});
afterAll(async () => {
  await server.stop();
  await smtp.stop();
});

test("/register shows the check-your-email page and sets no session; /login says EMAIL_NOT_VERIFIED until the link is followed", async () => {
  const b = new Browserless(server.url);
  const input = newUser();
  const registered = await b.submit(await b.get("/register"), "/register", input);
  expect(registered.status).toBe(200);
  expect(headingOf(registered.html)).toBe("Check your email");
  expect(registered.html).toContain(`We sent a link to ${input.email}.`);
  expect(registered.cookies.some((c) => c.startsWith(`${SESSION}=`))).toBe(false);
  expect(b.cookie(SESSION)).toBeUndefined();
  expect((await b.get("/account")).location).toStartWith("/login?");

  const refused = await b.submit(await b.get("/login"), "/login", { identifier: input.email, password: input.password });
  expect(refused.status).toBe(403);
  expect(errorCodeOf(refused.html)).toBe("EMAIL_NOT_VERIFIED");
  expect(b.cookie(SESSION)).toBeUndefined();

  await deliverUntilIdle(server.core);
  const mail = await smtp.waitFor(input.email, /Confirm your email/);
  const link = new URL(mail.link!);
  expect(link.origin + link.pathname).toBe(`${PUBLIC_URL}/verify-email`);
  const confirm = await b.get(link.pathname + link.search);
  const confirmed = await b.submit(confirm, "/verify-email");
  expect(headingOf(confirmed.html)).toBe("Email address confirmed");

  const signedIn = await b.submit(await b.get("/login"), "/login", { identifier: input.username, password: input.password });
  expect({ status: signedIn.status, location: signedIn.location }).toEqual({ status: 303, location: "/account" });
  expect(b.cookie(SESSION)).toBeString();
});

test("a wrong password of an unverified account is still INVALID_CREDENTIALS, not EMAIL_NOT_VERIFIED", async () => {
  const b = new Browserless(server.url);
  const input = newUser();
  await b.submit(await b.get("/register"), "/register", input);
  const wrong = await b.submit(await b.get("/login"), "/login", { identifier: input.email, password: "not the password at all" });
  expect(wrong.status).toBe(401);
  expect(errorCodeOf(wrong.html)).toBe("INVALID_CREDENTIALS");
});
