/**
 * Findings of a review of the issue-10 changes read as an attacker would:
 * requests the limiter refuses must count against nobody else, a slot given
 * back must come out of the window it was taken from, a revoked signing key
 * must not survive in the verified-token cache, and a host hook's database
 * error must not carry a plain token into the log.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { like, sql } from "drizzle-orm";
import { Secret, TOTP } from "otpauth";
import { reserveAttempt } from "../../src/core/rate-limits/attempts.ts";
import { rotateSigningKeys } from "../../src/core/tokens/signing-keys.ts";
import { rateLimits } from "../../src/core/db/schema.ts";
import { updateUser } from "../../src/core/users/queries.ts";
import { RateLimitError } from "../../src/core/errors.ts";
import { deliverUntilIdle, hooksDir, outboxRows, pollFor, writeHookFile } from "../support/hooks.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const MAX = 5;
const LIMITS = { USERSVC_LOGIN_MAX_ATTEMPTS: String(MAX), USERSVC_LOGIN_WINDOW: "600", USERSVC_RATE_LIMIT_PER_IP: "100000", USERSVC_TRUST_PROXY: "1" };

let ipCounter = 0;
const freshIp = () => `10.77.${(ipCounter >> 8) & 255}.${ipCounter++ & 255}`;

describe("the login limiter", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(LIMITS);
  });
  afterAll(() => server.stop());

  const login = (body: Record<string, string>, ip = freshIp()) =>
    server.api("POST", "/api/v1/auth/login", { body, headers: { "x-forwarded-for": ip } });
  const register = async () => {
    const input = newUser();
    expect((await server.api("POST", "/api/v1/users", { body: input, headers: { "x-forwarded-for": freshIp() } })).status).toBe(201);
    return input;
  };
  /** Spends every attempt of `ip` on names nobody has. */
  const exhaustIp = async (ip: string) => {
    for (let i = 0; i < MAX; i++) expect((await login({ email: `nobody${i}-${ip}@example.com`, password: "wrong password!!" }, ip)).status).toBe(401);
  };

  test("a client IP past its limit counts no failure against an account: one IP cannot lock every account out", async () => {
    const attacker = freshIp();
    await exhaustIp(attacker);
    const victims = [await register(), await register()];
    for (const victim of victims) {
      for (let i = 0; i < MAX + 1; i++) expect((await login({ email: victim.email, password: "wrong password!!" }, attacker)).status).toBe(429);
    }
    for (const victim of victims) expect((await login({ email: victim.email, password: victim.password })).status).toBe(200);
  });

  test("a client IP past its limit adds no counter row for each name it types (the table does not grow without bound)", async () => {
    const attacker = freshIp();
    await exhaustIp(attacker);
    const tag = `spray-${Date.now().toString(36)}`;
    for (let i = 0; i < 30; i++) expect((await login({ email: `${tag}-${i}@example.com`, password: "wrong password!!" }, attacker)).status).toBe(429);
    const rows = await server.core.db.select().from(rateLimits).where(like(rateLimits.key, `login:account:${tag}%`));
    expect(rows.length).toBe(0);
  });

  test("logins refused because the account is limited do not use up the client IP's attempts (no lock-out of a shared IP)", async () => {
    const locked = await register();
    for (let i = 0; i < MAX; i++) expect((await login({ email: locked.email, password: "wrong password!!" })).status).toBe(401);
    // An office behind one IP keeps trying the locked account, then someone there signs in.
    const office = freshIp();
    for (let i = 0; i < MAX + 2; i++) expect((await login({ email: locked.email, password: locked.password }, office)).status).toBe(429);
    const colleague = await register();
    expect((await login({ email: colleague.email, password: colleague.password }, office)).status).toBe(200);
  });

  test("one IPv6 host is one client: addresses of one /64 share the per-IP limit (it may rotate through 2^64 of them)", async () => {
    const prefix = `2001:db8:${(ipCounter++).toString(16)}:7`;
    const statuses: number[] = [];
    for (let i = 1; i <= MAX + 3; i++) {
      const res = await login({ email: `v6-${prefix}-${i}@example.com`, password: "wrong password!!" }, `${prefix}::${i.toString(16)}`);
      statuses.push(res.status);
    }
    expect(statuses.slice(0, MAX).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(MAX).every((s) => s === 429)).toBe(true);
    // The same /64 written out in full is the same client; the next /64 is another one.
    expect((await login({ email: `v6-${prefix}-full@example.com`, password: "x wrong password" }, `${prefix.replace(":7", ":0007")}:0:0:0:ff`)).status).toBe(429);
    expect((await login({ email: `v6-${prefix}-next@example.com`, password: "x wrong password" }, `${prefix.replace(/:7$/, ":8")}::1`)).status).toBe(401);
  });

  test("wrong codes at /users/me/mfa/confirm count on the account's attempts like every other TOTP code", async () => {
    const { input, user, tokens } = await registerAndLogin(server.api);
    await updateUser(server.core.db, user.id, { isVerified: true }, server.clock.now());
    const token = tokens.access_token;
    const secret = (await server.api("POST", "/api/v1/users/me/mfa/enroll", { token })).body.data.secret as string;
    const totp = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" });
    const now = server.clock.now().getTime();
    const valid = new Set([-30_000, 0, 30_000].map((offset) => totp.generate({ timestamp: now + offset })));
    const wrong = Array.from({ length: 1000 }, (_, i) => String(i).padStart(6, "0")).filter((code) => !valid.has(code));
    const confirm = (code: string) =>
      server.api("POST", "/api/v1/users/me/mfa/confirm", { token, body: { code }, headers: { "x-forwarded-for": freshIp() } });
    for (let i = 0; i < MAX; i++) expect((await confirm(wrong[i]!)).status).toBe(401);
    const limited = await confirm(totp.generate({ timestamp: now }));
    expect([limited.status, limited.body.error?.code]).toEqual([429, "RATE_LIMITED"]);
    expect((await login({ email: input.email, password: input.password })).status).toBe(429);
  });

  test("a slot given back after its window ended is not taken out of the next window's count", async () => {
    const account = { userId: crypto.randomUUID() };
    // Reserved at the very end of a window (a correct password, a second factor to come)…
    const straddling = await reserveAttempt(server.core, account, null);
    server.clock.advance(601);
    // …the next window fills up with failures meanwhile…
    for (let i = 0; i < MAX; i++) await reserveAttempt(server.core, account, null);
    // …and only then is the first one's slot given back: the new window must stay full.
    await straddling.passed();
    await expect(reserveAttempt(server.core, account, null)).rejects.toBeInstanceOf(RateLimitError);
  });
});

describe("keys rotate --revoke-previous", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  test("a token whose check was in flight while the key was revoked is not remembered as valid", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const token = tokens.access_token;
    await rotateSigningKeys(server.core.db, server.core.now(), { revokePrevious: true });

    // Hold every signature check until the reload is done, as a busy instance would.
    const subtle = crypto.subtle;
    const original = subtle.verify;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    subtle.verify = (async (...args: Parameters<SubtleCrypto["verify"]>) => {
      await gate;
      return original.apply(subtle, args);
    }) as SubtleCrypto["verify"];
    let inFlight: Promise<unknown>;
    try {
      inFlight = server.core.tokens.verify(token, "access").catch((error: unknown) => error);
      await Bun.sleep(10);
      await server.core.tokens.reload();
      open();
      await inFlight;
    } finally {
      subtle.verify = original;
    }
    await expect(server.core.tokens.verify(token, "access")).rejects.toMatchObject({ code: "INVALID_TOKEN" });
    expect((await server.api("GET", "/api/v1/users/me", { token })).status).toBe(401);
  });
});

describe("a host hook's database error", () => {
  let server: TestServer;
  const seen: { token?: string } = {};
  beforeAll(async () => {
    const dir = hooksDir();
    const path = writeHookFile(
      dir,
      "hooks.ts",
      `export default {
        async "user.password_reset_requested"(event) {
          // The host stores the token it is about to email, and its query fails.
          throw await globalThis.__hostQueryFailure(event.data.token);
        },
      };`,
    );
    (globalThis as Record<string, unknown>).__hostQueryFailure = async (token: string) => {
      seen.token = token;
      try {
        await server.core.db.execute(sql`select ${token}::int`);
      } catch (error) {
        return error;
      }
      return new Error("the query did not fail");
    };
    server = await startTestServer({ USERSVC_HOOKS: path });
  });
  afterAll(() => server.stop());

  test("never puts the plain reset token in the log or in the outbox's last_error", async () => {
    const { input } = await registerAndLogin(server.api);
    expect((await server.api("POST", "/api/v1/auth/forgot-password", { body: { email: input.email } })).status).toBe(202);
    await pollFor("the reset event", async () =>
      (await outboxRows(server.core.db)).some((row) => row.type === "user.password_reset_requested") ? true : undefined,
    );
    const from = server.logs.length;
    await deliverUntilIdle(server.core);
    expect(seen.token).toBeString();
    const failed = (await outboxRows(server.core.db)).find((row) => row.type === "user.password_reset_requested")!;
    expect(failed.lastError).toBeString();
    expect(failed.lastError).not.toContain(seen.token!);
    const log = server.logs.slice(from).join("\n");
    expect(log).toContain("event delivery failed");
    expect(log).not.toContain(seen.token!);
    expect(log).not.toMatch(/Failed query|params:/);
  });
});
