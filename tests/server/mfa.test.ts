import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Secret, TOTP } from "otpauth";
import { updateUser } from "../../src/core/users/queries.ts";
import { createAdmin } from "../support/admin.ts";
import { issueResetToken, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ USERSVC_LOGIN_MAX_ATTEMPTS: "3", USERSVC_TRUST_PROXY: "1" });
  // Each request from its own client IP: these tests trip the per-account limit, never the per-IP one.
  const api = server.api;
  let ip = 0;
  server.api = (method, path, options = {}) =>
    api(method, path, { ...options, headers: { "x-forwarded-for": `10.1.${(ip >> 8) & 255}.${ip++ & 255}`, ...options.headers } });
});

/** Registers, marks the email verified (as following the emailed link would) and logs in. */
async function verifiedUser() {
  const registered = await registerAndLogin(server.api);
  await updateUser(server.core.db, registered.user.id, { isVerified: true }, server.clock.now());
  return registered;
}
afterAll(() => server.stop());

function codeAt(secret: string, offsetSteps = 0): string {
  const totp = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" });
  return totp.generate({ timestamp: server.clock.now().getTime() + offsetSteps * 30_000 });
}

/** A user with a confirmed TOTP factor; the clock is moved past the confirming code's step. */
async function enrolledUser() {
  const { input, user, tokens } = await verifiedUser();
  const token = tokens.access_token;
  const enroll = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token });
  const secret: string = enroll.body.data.secret;
  const confirm = await server.api("POST", "/api/v1/users/me/mfa/confirm", { token, body: { code: codeAt(secret) } });
  expect(confirm.status).toBe(200);
  server.clock.advance(30);
  return { input, user, secret, token, refreshToken: tokens.refresh_token, recovery: confirm.body.data.recovery_codes as string[] };
}

const login = (input: { email: string; password: string }) =>
  server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
const verify = (mfa_token: string, code: string | number) => server.api("POST", "/api/v1/auth/mfa/verify", { body: { mfa_token, code } });

describe("TOTP enrollment", () => {
  test("enroll answers a base32 secret and an otpauth URI; until confirmed, login still answers tokens", async () => {
    const { input, tokens } = await verifiedUser();
    const enroll = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token: tokens.access_token });
    expect(enroll.status).toBe(200);
    expect(enroll.body.data.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(enroll.body.data.otpauth_uri).toStartWith(`otpauth://totp/usersvc:${encodeURIComponent(input.email)}?`);
    expect((await server.api("GET", "/api/v1/users/me/mfa", { token: tokens.access_token })).body.data).toEqual({ enabled: false, pending: true });
    expect((await login(input)).body.data.access_token).toBeString();
  });

  test("confirm refuses a wrong code and accepts the right one, answering ten distinct recovery codes", async () => {
    const { tokens } = await verifiedUser();
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

  test("one recovery code, or one TOTP code, sent at once with several challenges and spellings signs in exactly once", async () => {
    const { input, secret, recovery } = await enrolledUser();
    const challenges = async (n: number): Promise<string[]> => {
      const tokens: string[] = [];
      for (let i = 0; i < n; i++) tokens.push((await login(input)).body.data.mfa_token);
      return tokens;
    };
    const code = recovery[0]!;
    const spellings = [code, code.replace("-", ""), code.toUpperCase(), code.replace("-", " ")];
    const byRecovery = await Promise.all((await challenges(3)).map((challenge, i) => verify(challenge, spellings[i]!)));
    expect(byRecovery.filter((res) => res.status === 200).length).toBe(1);
    server.clock.advance(30);
    const totp = codeAt(secret);
    const byTotp = await Promise.all((await challenges(3)).map((challenge, i) => verify(challenge, i === 0 ? Number(totp) : `${totp.slice(0, 3)} ${totp.slice(3)}`)));
    expect(byTotp.filter((res) => res.status === 200).length).toBe(1);
  });

  test("a challenge expires after five minutes", async () => {
    const { input, secret } = await enrolledUser();
    const challenge = (await login(input)).body.data.mfa_token;
    server.clock.advance(301);
    expect((await verify(challenge, codeAt(secret))).body.error.code).toBe("INVALID_OR_EXPIRED_TOKEN");
  });

  test("a code is accepted as apps show it: with a space or dash, as a JSON number, a recovery code without its dash or in capitals", async () => {
    const { input, secret, recovery } = await enrolledUser();
    const spaced = codeAt(secret).replace(/^(\d{3})/, "$1 ");
    expect((await verify((await login(input)).body.data.mfa_token, spaced)).status).toBe(200);
    server.clock.advance(30);
    expect((await verify((await login(input)).body.data.mfa_token, Number(codeAt(secret)))).status).toBe(200);
    server.clock.advance(30);
    expect((await verify((await login(input)).body.data.mfa_token, codeAt(secret).replace(/^(\d{3})/, "$1-"))).status).toBe(200);
    expect((await verify((await login(input)).body.data.mfa_token, recovery[0]!.replace("-", ""))).status).toBe(200);
    expect((await verify((await login(input)).body.data.mfa_token, recovery[1]!.toUpperCase().replace("-", " "))).status).toBe(200);
  });

  test("a JSON number stands for a 6-digit code with its leading zeros lost", async () => {
    const { input, secret } = await enrolledUser();
    // Move the clock until the current code starts with a zero (about one step in ten).
    let steps = 0;
    while (!codeAt(secret).startsWith("0") && steps < 500) {
      server.clock.advance(30);
      steps++;
    }
    expect(codeAt(secret)).toStartWith("0");
    const done = await verify((await login(input)).body.data.mfa_token, Number(codeAt(secret)));
    expect(done.status).toBe(200);
  });

  test("malformed codes answer 422 and do not count toward the attempt limit", async () => {
    const { input, secret } = await enrolledUser();
    const challenge = (await login(input)).body.data.mfa_token;
    for (const code of ["12345", "1234567", "abcdef", "12345x", "", 1234567, 12.5, -1, "abcde-fghij"]) {
      const res = await verify(challenge, code);
      expect([code, res.status, res.body.error?.code, res.body.error?.details?.[0]?.field]).toEqual([code, 422, "VALIDATION_ERROR", "code"]);
    }
    // USERSVC_LOGIN_MAX_ATTEMPTS is 3 here: nine malformed codes counted would have locked the account.
    expect((await verify(challenge, codeAt(secret))).status).toBe(200);
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

describe("step-up and factors that need a verified email", () => {
  test("enrolling needs a verified email: otherwise 403 EMAIL_NOT_VERIFIED and nothing stored", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const res = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token: tokens.access_token });
    expect([res.status, res.body.error.code]).toEqual([403, "EMAIL_NOT_VERIFIED"]);
    expect((await server.api("GET", "/api/v1/users/me/mfa", { token: tokens.access_token })).body.data).toEqual({ enabled: false, pending: false });
  });

  test("past USERSVC_PRIVILEGED_MAX_AGE, enrol, disable and new recovery codes need the password", async () => {
    const { input, refreshToken } = await enrolledUser();
    // Refreshing keeps the session alive but does not make its sign-in any more recent.
    server.clock.advance(901);
    const token = await refreshed(refreshToken);
    for (const [method, path] of [["POST", "/api/v1/users/me/mfa/recovery-codes"], ["DELETE", "/api/v1/users/me/mfa"]] as const) {
      const res = await server.api(method, path, { token });
      expect([res.status, res.body.error.code]).toEqual([403, "REAUTHENTICATION_REQUIRED"]);
      const wrong = await server.api(method, path, { token, body: { password: "not the password" } });
      expect([wrong.status, wrong.body.error.code]).toEqual([400, "WRONG_PASSWORD"]);
    }
    const codes = await server.api("POST", "/api/v1/users/me/mfa/recovery-codes", { token, body: { password: input.password } });
    expect(codes.status).toBe(200);
    expect(codes.body.data.recovery_codes).toHaveLength(10);
    expect((await server.api("GET", "/api/v1/users/me/mfa", { token })).body.data.enabled).toBe(true);

    const fresh = await verifiedUser();
    server.clock.advance(901);
    const freshToken = await refreshed(fresh.tokens.refresh_token);
    const stale = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token: freshToken });
    expect([stale.status, stale.body.error.code]).toEqual([403, "REAUTHENTICATION_REQUIRED"]);
    const withPassword = await server.api("POST", "/api/v1/users/me/mfa/enroll", {
      token: freshToken,
      body: { password: fresh.input.password },
    });
    expect(withPassword.status).toBe(200);
  });

  test("within the privileged window, disabling needs no password", async () => {
    const { input, token } = await enrolledUser();
    expect((await server.api("DELETE", "/api/v1/users/me/mfa", { token })).status).toBe(200);
    expect((await login(input)).body.data.access_token).toBeString();
  });

  test("regenerated recovery codes replace the old ones", async () => {
    const { input, token, recovery } = await enrolledUser();
    const fresh = (await server.api("POST", "/api/v1/users/me/mfa/recovery-codes", { token })).body.data.recovery_codes as string[];
    expect((await verify((await login(input)).body.data.mfa_token, recovery[0]!)).status).toBe(401);
    expect((await verify((await login(input)).body.data.mfa_token, fresh[0]!)).status).toBe(200);
  });

  test("a password reset leaves the second factor in place: login still asks for a code", async () => {
    const { input, user } = await enrolledUser();
    const token = await issueResetToken(server, user.id);
    const newPassword = "a brand new passphrase";
    expect((await server.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: newPassword } })).status).toBe(200);
    const after = await login({ email: input.email, password: newPassword });
    expect(after.body.data).toEqual({ mfa_required: true, mfa_token: expect.any(String), expires_in: 300 });
  });
});

async function refreshed(refreshToken: string): Promise<string> {
  const res = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: refreshToken } });
  expect(res.status).toBe(200);
  return res.body.data.access_token;
}

describe("POST /api/v1/admin/users/{id}/mfa/reset", () => {
  test("an admin removes a user's factor (audited as user.mfa_reset); the user signs in with the password alone", async () => {
    const admin = await createAdmin(server);
    const { input, user, token } = await enrolledUser();
    const denied = await server.api("POST", `/api/v1/admin/users/${user.id}/mfa/reset`, { token });
    expect(denied.status).toBe(403);
    const reset = await server.api("POST", `/api/v1/admin/users/${user.id}/mfa/reset`, { token: admin.token });
    expect([reset.status, reset.body.data]).toEqual([200, { mfa_enabled: false, removed: true }]);
    expect((await login(input)).body.data.access_token).toBeString();
    const audit = await server.api("GET", `/api/v1/admin/audit?event=user.mfa_reset&user_id=${user.id}`, { token: admin.token });
    expect(audit.body.data.items).toEqual([expect.objectContaining({ event: "user.mfa_reset", actor: { type: "admin", id: admin.id }, target_id: user.id })]);
  });
});
