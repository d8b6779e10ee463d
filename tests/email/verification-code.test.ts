/**
 * Issue 12 §6: the verification email carries a 6-digit code beside the
 * link. `POST /api/v1/auth/verify-email {email, code}` verifies like the
 * token: single-use, as long-lived, stored as a digest, and each try counts
 * on the account's sign-in attempts like a TOTP code.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { deliverUntilIdle, outboxRows } from "../support/hooks.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";
import { type ReceivedMail, type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const MAX_ATTEMPTS = 3;
let smtp: SmtpReceiver;
let server: TestServer;
beforeAll(async () => {
  smtp = await startSmtpReceiver();
  // Each test comes from an IP of its own (X-Forwarded-For from the loopback proxy), so only its own tries count on it.
  server = await startTestServer({ USERSVC_PUBLIC_URL: "https://id.example.test", USERSVC_SMTP_URL: smtp.url, USERSVC_LOGIN_MAX_ATTEMPTS: String(MAX_ATTEMPTS), USERSVC_TRUST_PROXY: "loopback" });
});
afterAll(async () => {
  await server.stop();
  await smtp.stop();
});

async function signUp(): Promise<{ input: ReturnType<typeof newUser>; id: string; mail: ReceivedMail; code: string }> {
  const input = newUser();
  const registered = await server.api("POST", "/api/v1/users", { body: input });
  expect(registered.status).toBe(201);
  await deliverUntilIdle(server.core);
  const mail = await smtp.waitFor(input.email, /Confirm your email/);
  const code = /enter this code where you were asked for it: (\d{6})/.exec(mail.text)?.[1];
  expect(code).toMatch(/^\d{6}$/);
  return { input, id: registered.body.data.id, mail, code: code! };
}

let clientIp = "";
beforeEach(() => {
  clientIp = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
});
const verify = (body: unknown) => server.api("POST", "/api/v1/auth/verify-email", { body, headers: { "x-forwarded-for": clientIp } });
const EXPIRED = { success: false, data: null, error: { code: "INVALID_OR_EXPIRED_TOKEN", message: expect.any(String) } };

describe("the verification code", () => {
  test("is in both parts of the email; typed with spaces it verifies, once, and spends the link too", async () => {
    const { input, mail, code } = await signUp();
    expect(mail.html).toContain(`>${code}</p>`);
    const verified = await verify({ email: input.email.toUpperCase(), code: `${code.slice(0, 3)} ${code.slice(3)}` });
    expect(verified.status).toBe(200);
    expect(verified.body.data.is_verified).toBe(true);
    const again = await verify({ email: input.email, code });
    expect({ status: again.status, body: again.body }).toEqual({ status: 400, body: EXPIRED });
    const token = new URL(mail.link!).searchParams.get("token");
    expect((await verify({ token })).body).toEqual(EXPIRED);
  });

  test("leaves the outbox once the email is sent, like the token", async () => {
    const { id, code } = await signUp();
    const rows = (await outboxRows(server.core.db)).filter((r) => r.userId === id && r.type === "user.verification_requested");
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(JSON.stringify(row.payload)).not.toContain(`"code":"${code}"`);
  });

  test("a wrong code and an unknown address get the same answer; wrong codes count until even the right one is refused", async () => {
    const { input, code } = await signUp();
    const wrong = code === "000000" ? "000001" : "000000";
    const unknown = await server.api("POST", "/api/v1/auth/verify-email", {
      body: { email: `nobody-${Date.now()}@example.com`, code: wrong },
      headers: { "x-forwarded-for": "198.51.100.7" },
    });
    const miss = await verify({ email: input.email, code: wrong });
    expect({ status: unknown.status, body: unknown.body }).toEqual({ status: 400, body: EXPIRED });
    expect({ status: miss.status, body: miss.body }).toEqual({ status: unknown.status, body: unknown.body });
    for (let i = 1; i < MAX_ATTEMPTS; i++) expect((await verify({ email: input.email, code: wrong })).status).toBe(400);
    const limited = await verify({ email: input.email, code });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("RATE_LIMITED");
    // The account is still unverified, and the wait is the login window's.
    server.clock.advance(server.core.config.loginWindow + 1);
    expect((await verify({ email: input.email, code })).status).toBe(200);
  });

  test("the account's owner signing in between tries does not reset the count (signed up with an address not theirs)", async () => {
    const { input, code } = await signUp();
    const wrong = code === "000000" ? "000001" : "000000";
    // Each try from an address of its own, each sign-in too: only the account's count can stop this.
    let n = 0;
    const from = () => ({ "x-forwarded-for": `198.18.${Math.floor(Math.random() * 250)}.${++n}` });
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < MAX_ATTEMPTS - 1; i++) {
        statuses.push((await server.api("POST", "/api/v1/auth/verify-email", { body: { email: input.email, code: wrong }, headers: from() })).status);
      }
      const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password }, headers: from() });
      expect(login.status).toBe(200);
    }
    expect(statuses.slice(0, MAX_ATTEMPTS)).toEqual(Array(MAX_ATTEMPTS).fill(400));
    expect(statuses.slice(MAX_ATTEMPTS).every((s) => s === 429)).toBe(true);
    const right = await server.api("POST", "/api/v1/auth/verify-email", { body: { email: input.email, code }, headers: from() });
    expect(right.status).toBe(429);
  });

  test("a parallel burst checks at most the limit's number of codes", async () => {
    const { input, code } = await signUp();
    const wrong = code === "000000" ? "000001" : "000000";
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => server.api("POST", "/api/v1/auth/verify-email", {
      body: { email: input.email, code: wrong },
      headers: { "x-forwarded-for": `198.19.0.${i + 1}` },
    })));
    expect(burst.filter((r) => r.status === 400).length).toBe(MAX_ATTEMPTS);
    expect(burst.filter((r) => r.status === 429).length).toBe(20 - MAX_ATTEMPTS);
  });

  test("a malformed code or address is a 422 that counts no attempt", async () => {
    const { input, code } = await signUp();
    for (const body of [{ email: input.email, code: "12345" }, { email: input.email, code: "abcdef" }, { email: "not-an-address", code }]) {
      const res = await verify(body);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe("VALIDATION_ERROR");
    }
    for (let i = 0; i < MAX_ATTEMPTS + 2; i++) expect((await verify({ email: input.email, code: "1" })).status).toBe(422);
    expect((await verify({ email: input.email, code })).status).toBe(200);
  });

  test("a body with both a token and a code, or neither, is refused", async () => {
    for (const body of [{ token: "x", email: "a@example.com", code: "123456" }, {}, { email: "a@example.com" }]) {
      expect((await verify(body)).status).toBe(422);
    }
  });
});
