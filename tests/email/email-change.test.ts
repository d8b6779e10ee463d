/**
 * Issue 12 §7: POST /api/v1/users/me/email {new_email, password} → 202; a
 * confirmation link goes to the new address, and the change applies only
 * when it is followed (POST /auth/verify-email {token}); the old address is
 * then told. Step-up as for the other sensitive changes.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { deliverUntilIdle } from "../support/hooks.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";
import { type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const PUBLIC_URL = "https://id.example.test";
let smtp: SmtpReceiver;
let server: TestServer;
beforeAll(async () => {
  smtp = await startSmtpReceiver();
  server = await startTestServer({ USERSVC_SMTP_URL: smtp.url, USERSVC_PUBLIC_URL: PUBLIC_URL, USERSVC_EMAIL_COOLDOWN: "0" });
});
afterAll(async () => {
  await server.stop();
  await smtp.stop();
});


const change = (access: string, body: unknown) => server.api("POST", "/api/v1/users/me/email", { token: access, body });
const tokenOf = (link: string | null) => new URL(link!).searchParams.get("token")!;

describe("changing one's email address", () => {
  test("the change waits for the link sent to the new address, then applies verified, and the old address is told", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const newEmail = `moved-${Date.now()}@example.com`;
    const asked = await change(tokens.access_token, { new_email: ` ${newEmail.toUpperCase()} `, password: input.password });
    expect({ status: asked.status, body: asked.body }).toEqual({ status: 202, body: { success: true, data: { accepted: true }, error: null } });
    // Nothing changed yet.
    expect((await server.api("GET", "/api/v1/users/me", { token: tokens.access_token })).body.data.email).toBe(input.email);
    await deliverUntilIdle(server.core);
    const mail = await smtp.waitFor(newEmail, /Confirm your new email address/);
    expect(mail.text).toContain(`You asked to use ${newEmail} for your account instead of ${input.email}.`);
    expect(mail.link).toStartWith(`${PUBLIC_URL}/verify-email?token=`);

    const confirmed = await server.api("POST", "/api/v1/auth/verify-email", { body: { token: tokenOf(mail.link) } });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.data).toEqual(expect.objectContaining({ email: newEmail, is_verified: true }));
    // The session goes on, and sign-in is by the new address.
    expect((await server.api("GET", "/api/v1/users/me", { token: tokens.access_token })).body.data.email).toBe(newEmail);
    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: newEmail, password: input.password } });
    expect(login.status).toBe(200);
    await deliverUntilIdle(server.core);
    const notice = await smtp.waitFor(input.email, /Your email address was changed/);
    expect(notice.text).toContain(`changed from ${input.email} to ${newEmail}`);
    expect(notice.text).toContain("contact support");
    // The link is single-use.
    expect((await server.api("POST", "/api/v1/auth/verify-email", { body: { token: tokenOf(mail.link) } })).body.error.code).toBe("INVALID_OR_EXPIRED_TOKEN");
  });

  test("a wrong password answers WRONG_PASSWORD and sends nothing; the current address or a malformed one is a 422", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const target = `never-${Date.now()}@example.com`;
    const wrong = await change(tokens.access_token, { new_email: target, password: "not the password" });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe("WRONG_PASSWORD");
    for (const new_email of [input.email, "not-an-address"]) {
      const res = await change(tokens.access_token, { new_email, password: input.password });
      expect(res.status).toBe(422);
      expect(res.body.error.details).toEqual([expect.objectContaining({ field: "new_email" })]);
    }
    await deliverUntilIdle(server.core);
    expect(smtp.to(target)).toEqual([]);
  });

  test("an address another account has answers 409 EMAIL_TAKEN; one taken while the link waits is refused at the link", async () => {
    const first = await registerAndLogin(server.api);
    const other = await registerAndLogin(server.api);
    const taken = await change(first.tokens.access_token, { new_email: other.input.email, password: first.input.password });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe("EMAIL_TAKEN");

    const wanted = newUser().email;
    expect((await change(first.tokens.access_token, { new_email: wanted, password: first.input.password })).status).toBe(202);
    await deliverUntilIdle(server.core);
    const mail = await smtp.waitFor(wanted, /Confirm your new email address/);
    // Someone signs up with that address before the link is followed.
    expect((await server.api("POST", "/api/v1/users", { body: newUser({ email: wanted }) })).status).toBe(201);
    const late = await server.api("POST", "/api/v1/auth/verify-email", { body: { token: tokenOf(mail.link) } });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe("EMAIL_TAKEN");
    expect((await server.api("GET", "/api/v1/users/me", { token: first.tokens.access_token })).body.data.email).toBe(first.input.email);
  });

  test("a newer request replaces the older one: only the latest link applies", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const [a, b] = [newUser().email, newUser().email];
    await change(tokens.access_token, { new_email: a, password: input.password });
    await change(tokens.access_token, { new_email: b, password: input.password });
    await deliverUntilIdle(server.core);
    const older = await smtp.waitFor(a, /Confirm your new email address/);
    const newer = await smtp.waitFor(b, /Confirm your new email address/);
    expect((await server.api("POST", "/api/v1/auth/verify-email", { body: { token: tokenOf(older.link) } })).status).toBe(400);
    expect((await server.api("POST", "/api/v1/auth/verify-email", { body: { token: tokenOf(newer.link) } })).body.data.email).toBe(b);
  });

  test("without a password, a session signed in long ago must re-authenticate", async () => {
    const { tokens } = await registerAndLogin(server.api);
    server.clock.advance(server.core.config.privilegedMaxAge + 1);
    // A fresh access token of the same session: refresh does not make the sign-in recent.
    const refreshed = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
    expect(refreshed.status).toBe(200);
    const res = await change(refreshed.body.data.access_token, { new_email: newUser().email });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("REAUTHENTICATION_REQUIRED");
  });
});
