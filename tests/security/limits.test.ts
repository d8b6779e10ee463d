/**
 * Issue 10 §1: the login limit holds under concurrency, across identifiers
 * typed for one account, across instances, and for every check of a secret
 * (password, TOTP, recovery code, current password on authenticated routes).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { Secret, TOTP } from "otpauth";
import { oneTimeTokens } from "../../src/core/db/schema.ts";
import { updateUser } from "../../src/core/users/queries.ts";
import { SERVER_URL } from "../support/database.ts";
import { pollFor } from "../support/hooks.ts";
import { type Api, newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const MAX = 5;
const LIMITS = { USERSVC_LOGIN_MAX_ATTEMPTS: String(MAX), USERSVC_LOGIN_WINDOW: "600", USERSVC_RATE_LIMIT_PER_IP: "100000", USERSVC_TRUST_PROXY: "1" };

let server: TestServer;
let ipCounter = 0;
/** A fresh client IP per call, so only the per-account counter can trip. */
const freshIp = () => `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter++ & 255}`;

beforeAll(async () => {
  server = await startTestServer(LIMITS);
});

/** The server's API from a fresh client IP per request, unless the test names one. */
const call: Api = (method, path, options = {}) =>
  server.api(method, path, { ...options, headers: { "x-forwarded-for": freshIp(), ...options.headers } });
afterAll(() => server.stop());

function login(target: TestServer, body: Record<string, string>, ip = freshIp()) {
  return target.api("POST", "/api/v1/auth/login", { body, headers: { "x-forwarded-for": ip } });
}

/** Counts the password verifications `server` performs while `run` runs. */
async function countVerifications<T>(target: TestServer, run: () => Promise<T>): Promise<{ result: T; verified: number }> {
  const passwords = target.core.passwords;
  const original = passwords.verify.bind(passwords);
  let verified = 0;
  passwords.verify = async (password: string, hash: string) => {
    verified += 1;
    return original(password, hash);
  };
  try {
    return { result: await run(), verified };
  } finally {
    passwords.verify = original;
  }
}

describe("a concurrent burst", () => {
  test("41 concurrent logins (40 wrong, then the right password) evaluate at most the limit's passwords; the rest answer 429", async () => {
    const { input } = await registerAndLogin(call);
    const { result, verified } = await countVerifications(server, () =>
      Promise.all([
        ...Array.from({ length: 40 }, () => login(server, { email: input.email, password: "wrong password!!" })),
        login(server, { email: input.email, password: input.password }),
      ]),
    );
    const statuses = result.map((r) => r.status);
    expect(verified).toBeLessThanOrEqual(MAX);
    expect(statuses.filter((s) => s !== 429).length).toBeLessThanOrEqual(MAX);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(41 - MAX);
    // The burst used the account's attempts: the right password now waits for the window too.
    expect((await login(server, { email: input.email, password: input.password })).status).toBe(429);
  });

  test("one client IP spraying many accounts concurrently is held to the limit as well", async () => {
    const ip = freshIp();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => login(server, { email: `spray${i}-${Date.now()}@example.com`, password: "whatever pass" }, ip)),
    );
    expect(answers.filter((r) => r.status === 401).length).toBeLessThanOrEqual(MAX);
    expect(answers.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(20 - MAX);
  });
});

describe("one account, whatever identifier is typed", () => {
  test("failures typed as the email in other cases and as the username count on one counter", async () => {
    const input = newUser();
    expect((await call("POST", "/api/v1/users", { body: input })).status).toBe(201);
    const typed: Record<string, string>[] = [
      { email: input.email.toUpperCase() },
      { email: ` ${input.email} ` },
      { username: input.username },
      { username: input.username.toUpperCase() },
      { email: input.email.replace(/^u/, "U") },
    ];
    for (const identifier of typed) {
      expect((await login(server, { ...identifier, password: "wrong password!!" } as unknown as Record<string, string>)).status).toBe(401);
    }
    expect((await login(server, { username: input.username, password: input.password })).status).toBe(429);
    expect((await login(server, { email: input.email, password: input.password })).status).toBe(429);
  });

  test("Unicode case variants of an email (İ) reach the same account and the same counter", async () => {
    const tag = `${Date.now().toString(36)}${ipCounter}`;
    const input = newUser({ email: `İnci${tag}@example.com` });
    expect((await call("POST", "/api/v1/users", { body: input })).status).toBe(201);
    const variants = [`İNCI${tag}@EXAMPLE.COM`, `i̇nci${tag}@example.com`, `İnci${tag}@Example.com`];
    for (const email of variants) {
      const res = await login(server, { email, password: "wrong password!!" });
      expect(res.status).toBe(401);
    }
    for (let i = variants.length; i < MAX; i++) await login(server, { email: input.email, password: "wrong password!!" });
    expect((await login(server, { email: input.email, password: input.password })).status).toBe(429);
  });
});

describe("second factor on the same counter", () => {
  const codeAt = (secret: string, at: Date) =>
    new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" }).generate({ timestamp: at.getTime() });

  async function enrolledUser() {
    const { input, user, tokens } = await registerAndLogin(call);
    await updateUser(server.core.db, user.id, { isVerified: true }, server.clock.now());
    const token = tokens.access_token;
    const secret = (await call("POST", "/api/v1/users/me/mfa/enroll", { token })).body.data.secret;
    expect((await call("POST", "/api/v1/users/me/mfa/confirm", { token, body: { code: codeAt(secret, server.clock.now()) } })).status).toBe(200);
    server.clock.advance(30);
    return { input, secret };
  }

  test("wrong codes lock the account: login then answers 429 instead of handing out useless challenges", async () => {
    const { input } = await enrolledUser();
    const challenge = (await login(server, { email: input.email, password: input.password })).body.data.mfa_token;
    // One attempt went to the correct password above; it is given back, so all MAX go to codes.
    for (let i = 0; i < MAX; i++) {
      const res = await call("POST", "/api/v1/auth/mfa/verify", { body: { mfa_token: challenge, code: "000000" } });
      expect(res.status).toBe(401);
    }
    const again = await login(server, { email: input.email, password: input.password });
    expect([again.status, again.body.error?.code]).toEqual([429, "RATE_LIMITED"]);
  });

  test("wrong passwords and wrong codes add up on one counter, and a correct password does not reset it", async () => {
    const { input, secret } = await enrolledUser();
    for (let i = 0; i < 2; i++) expect((await login(server, { email: input.email, password: "wrong password!!" })).status).toBe(401);
    for (let i = 0; i < 2; i++) {
      const challenge = (await login(server, { email: input.email, password: input.password })).body.data.mfa_token;
      expect((await call("POST", "/api/v1/auth/mfa/verify", { body: { mfa_token: challenge, code: "000000" } })).status).toBe(401);
    }
    // 4 failures so far: the fifth attempt may still be made, the sixth is refused.
    const challenge = (await login(server, { email: input.email, password: input.password })).body.data.mfa_token;
    expect((await call("POST", "/api/v1/auth/mfa/verify", { body: { mfa_token: challenge, code: "000001" } })).status).toBe(401);
    const limited = await call("POST", "/api/v1/auth/mfa/verify", { body: { mfa_token: challenge, code: codeAt(secret, server.clock.now()) } });
    expect(limited.status).toBe(429);
  });
});

describe("current-password checks on authenticated routes", () => {
  test("wrong current passwords on change-password, DELETE /users/me and MFA disable share the account's limit", async () => {
    const { input, tokens } = await registerAndLogin(call);
    const token = tokens.access_token;
    const headers = { "x-forwarded-for": freshIp() };
    const attempts = [
      () => call("POST", "/api/v1/auth/change-password", { token, headers, body: { current_password: "wrong password!!", new_password: "another long passphrase" } }),
      () => call("DELETE", "/api/v1/users/me", { token, headers, body: { password: "wrong password!!" } }),
      () => call("DELETE", "/api/v1/users/me/mfa", { token, headers, body: { password: "wrong password!!" } }),
    ];
    const statuses: number[] = [];
    for (let i = 0; i < MAX; i++) statuses.push((await attempts[i % attempts.length]!()).status);
    expect(statuses.every((s) => s === 400)).toBe(true);
    const limited = await call("POST", "/api/v1/auth/change-password", { token, body: { current_password: input.password, new_password: "another long passphrase" } });
    expect([limited.status, limited.body.error.code]).toEqual([429, "RATE_LIMITED"]);
    expect((await login(server, { email: input.email, password: input.password })).status).toBe(429);
  });

  test("a burst of concurrent wrong current passwords evaluates at most the limit", async () => {
    const { tokens } = await registerAndLogin(call);
    const token = tokens.access_token;
    const { result, verified } = await countVerifications(server, () =>
      Promise.all(
        Array.from({ length: 15 }, () =>
          call("DELETE", "/api/v1/users/me", { token, body: { password: "wrong password!!" }, headers: { "x-forwarded-for": freshIp() } }),
        ),
      ),
    );
    expect(verified).toBeLessThanOrEqual(MAX);
    expect(result.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(15 - MAX);
  });
});

describe("per-account cooldown on emails sent on request", () => {
  /** Single-use tokens issued to the user for `purpose` (each one is an email sent). */
  async function tokensIssued(purpose: "verify_email" | "reset_password", userId: string): Promise<number> {
    const found = await server.core.db
      .select()
      .from(oneTimeTokens)
      .where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, purpose)));
    return found.length;
  }

  test("forgot-password from many IPs for one email issues one token per cooldown, answering 202 each time", async () => {
    const { input, user } = await registerAndLogin(call);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        call("POST", "/api/v1/auth/forgot-password", { body: { email: input.email.toUpperCase() }, headers: { "x-forwarded-for": freshIp() } }),
      ),
    );
    expect(answers.every((r) => r.status === 202)).toBe(true);
    await pollFor("a reset token", async () => ((await tokensIssued("reset_password", user.id)) >= 1 ? true : undefined));
    await Bun.sleep(200);
    expect(await tokensIssued("reset_password", user.id)).toBe(1);
    server.clock.advance(61);
    expect((await call("POST", "/api/v1/auth/forgot-password", { body: { email: input.email } })).status).toBe(202);
    await pollFor("a second reset token", async () => ((await tokensIssued("reset_password", user.id)) === 2 ? true : undefined));
  });

  test("verification resend issues one token per cooldown, answering 202 each time", async () => {
    const { user, tokens } = await registerAndLogin(call);
    const before = await tokensIssued("verify_email", user.id);
    for (let i = 0; i < 4; i++) {
      const res = await call("POST", "/api/v1/auth/verify-email/resend", { token: tokens.access_token, headers: { "x-forwarded-for": freshIp() } });
      expect(res.status).toBe(202);
    }
    expect(await tokensIssued("verify_email", user.id)).toBe(before + 1);
  });
});

describe.skipIf(!SERVER_URL)("two instances sharing one database", () => {
  let second: TestServer;
  beforeAll(async () => {
    second = await startTestServer(LIMITS, { shareDatabaseWith: server });
  });
  afterAll(() => second?.stop());

  test("a burst split across both instances evaluates at most the limit's passwords in all", async () => {
    const { input } = await registerAndLogin(call);
    let verified = 0;
    const answers = await countVerifications(server, async () => {
      const inner = await countVerifications(second, () =>
        Promise.all(
          Array.from({ length: 30 }, (_, i) => login(i % 2 ? server : second, { email: input.email, password: "wrong password!!" })),
        ),
      );
      verified += inner.verified;
      return inner.result;
    });
    verified += answers.verified;
    expect(verified).toBeLessThanOrEqual(MAX);
    expect(answers.result.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(30 - MAX);
  });
});
