import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Secret, TOTP } from "otpauth";
import { registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ USERSVC_LOGIN_MAX_ATTEMPTS: "3" });
});
afterAll(() => server.stop());

function codeAt(secret: string, offsetSteps = 0): string {
  const totp = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" });
  return totp.generate({ timestamp: server.clock.now().getTime() + offsetSteps * 30_000 });
}

/** A user with a confirmed TOTP factor; the clock is moved past the confirming code's step. */
async function enrolledUser() {
  const { input, tokens } = await registerAndLogin(server.api);
  const token = tokens.access_token;
  const enroll = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token });
  const secret: string = enroll.body.data.secret;
  const confirm = await server.api("POST", "/api/v1/users/me/mfa/confirm", { token, body: { code: codeAt(secret) } });
  expect(confirm.status).toBe(200);
  server.clock.advance(30);
  return { input, secret, token, recovery: confirm.body.data.recovery_codes as string[] };
}

const login = (input: { email: string; password: string }) =>
  server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
const verify = (mfa_token: string, code: string) => server.api("POST", "/api/v1/auth/mfa/verify", { body: { mfa_token, code } });

describe("TOTP enrollment", () => {
  test("enroll answers a base32 secret and an otpauth URI; until confirmed, login still answers tokens", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const enroll = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token: tokens.access_token });
    expect(enroll.status).toBe(200);
    expect(enroll.body.data.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(enroll.body.data.otpauth_uri).toStartWith(`otpauth://totp/usersvc:${encodeURIComponent(input.email)}?`);
    expect((await server.api("GET", "/api/v1/users/me/mfa", { token: tokens.access_token })).body.data).toEqual({ enabled: false, pending: true });
    expect((await login(input)).body.data.access_token).toBeString();
  });

  test("confirm refuses a wrong code and accepts the right one, answering ten distinct recovery codes", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const token = tokens.access_token;
    const secret = (await server.api("POST", "/api/v1/users/me/mfa/enroll", { token })).body.data.secret;
    const wrong = await server.api("POST", "/api/v1/users/me/mfa/confirm", { token, body: { code: "000000" } });
    expect([wrong.status, wrong.body.error.code]).toEqual([401, "INVALID_CREDENTIALS"]);
    const right = await server.api("POST", "/api/v1/users/me/mfa/confirm", { token, body: { code: codeAt(secret) } });
    expect(right.status).toBe(200);
    expect(new Set(right.body.data.recovery_codes).size).toBe(10);
    expect((await server.api("GET", "/api/v1/users/me/mfa", { token })).body.data).toEqual({ enabled: true, pending: false });
  });
});

describe("login with TOTP", () => {
  test("login answers an mfa_required challenge without tokens; a current code completes it", async () => {
    const { input, secret } = await enrolledUser();
    const first = await login(input);
    expect(first.status).toBe(200);
    expect(first.body.data).toEqual({ mfa_required: true, mfa_token: expect.any(String), expires_in: 300 });
    const done = await verify(first.body.data.mfa_token, codeAt(secret));
    expect(done.status).toBe(200);
    const me = await server.api("GET", "/api/v1/users/me", { token: done.body.data.access_token });
    expect(me.body.data.email).toBe(input.email);
  });

  test("a code that was already accepted is refused when replayed, even with a fresh challenge", async () => {
    const { input, secret } = await enrolledUser();
    const code = codeAt(secret);
    expect((await verify((await login(input)).body.data.mfa_token, code)).status).toBe(200);
    const replay = await verify((await login(input)).body.data.mfa_token, code);
    expect([replay.status, replay.body.error.code]).toEqual([401, "INVALID_CREDENTIALS"]);
  });

  test("a challenge is single-use", async () => {
    const { input, secret } = await enrolledUser();
    const challenge = (await login(input)).body.data.mfa_token;
    expect((await verify(challenge, codeAt(secret))).status).toBe(200);
    server.clock.advance(30);
    const again = await verify(challenge, codeAt(secret));
    expect([again.status, again.body.error.code]).toEqual([400, "INVALID_OR_EXPIRED_TOKEN"]);
  });

  test("a recovery code works once", async () => {
    const { input, recovery } = await enrolledUser();
    expect((await verify((await login(input)).body.data.mfa_token, recovery[0]!)).status).toBe(200);
    expect((await verify((await login(input)).body.data.mfa_token, recovery[0]!)).status).toBe(401);
  });

  test("a challenge expires after five minutes", async () => {
    const { input, secret } = await enrolledUser();
    const challenge = (await login(input)).body.data.mfa_token;
    server.clock.advance(301);
    expect((await verify(challenge, codeAt(secret))).body.error.code).toBe("INVALID_OR_EXPIRED_TOKEN");
  });

  test("wrong codes are rate-limited: after the maximum even the right code answers 429", async () => {
    const { input, secret } = await enrolledUser();
    const challenge = (await login(input)).body.data.mfa_token;
    for (const code of ["111111", "222222", "333333"]) expect((await verify(challenge, code)).status).toBe(401);
    const limited = await verify(challenge, codeAt(secret));
    expect([limited.status, limited.body.error.code]).toEqual([429, "RATE_LIMITED"]);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("disabling needs the password; afterwards login answers tokens again", async () => {
    const { input, token } = await enrolledUser();
    const wrong = await server.api("DELETE", "/api/v1/users/me/mfa", { token, body: { password: "not the password" } });
    expect([wrong.status, wrong.body.error.code]).toEqual([400, "WRONG_PASSWORD"]);
    expect((await server.api("DELETE", "/api/v1/users/me/mfa", { token, body: { password: input.password } })).status).toBe(200);
    expect((await login(input)).body.data.access_token).toBeString();
  });
});
