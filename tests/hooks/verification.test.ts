/**
 * docs/hooks.md "Email verification and password reset" (SPEC §4 verify and
 * reset routes), in-process. The tokens reach the test the way they reach a
 * host project: in the events user.verification_requested and
 * user.password_reset_requested, delivered to a webhook receiver of the
 * test's own. Expiry is checked by moving the server's clock. At the end,
 * every plain token seen is looked for in the server's logs, in every
 * response of this file, and in every table but the outbox.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import { oneTimeTokens } from "../../src/core/db/schema.ts";
import { rows } from "../../src/core/db/migrate.ts";
import type { HookUser, UsersvcEvent } from "../../src/hooks/types.ts";
import { deliverUntilIdle, newWebhookSecret, outboxRows, startWebhookReceiver, turnsUntil, type WebhookReceiver } from "../support/hooks.ts";
import { type Api, type CallOptions, newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const DAY = 24 * 3600;
const HOUR = 3600;
const TOKEN = /^[A-Za-z0-9_-]{43}$/; // 32 random bytes, base64url

const INVALID_TOKEN = {
  success: false,
  data: null,
  error: { code: "INVALID_OR_EXPIRED_TOKEN", message: "The token is invalid, expired or already used" },
};

/** A server with a webhook receiver, whose API calls are all remembered (to look for tokens in them). */
interface Setup {
  server: TestServer;
  receiver: WebhookReceiver;
  api: Api;
}

const responses: string[] = [];
const setups: Setup[] = [];

async function startSetup(env: Record<string, string> = {}): Promise<Setup> {
  const secret = newWebhookSecret();
  const receiver = startWebhookReceiver(secret);
  const server = await startTestServer({
    USERSVC_WEBHOOK_URL: receiver.url,
    USERSVC_WEBHOOK_SECRET: secret,
    // The tests below log in with old passwords on purpose; keep the login limit out of the way.
    USERSVC_LOGIN_MAX_ATTEMPTS: "100",
    ...env,
  });
  const api: Api = async (method: string, path: string, options?: CallOptions) => {
    const res = await server.api(method, path, options);
    responses.push(JSON.stringify(res.body), JSON.stringify([...res.headers]));
    return res;
  };
  const setup = { server, receiver, api };
  setups.push(setup);
  return setup;
}

/** Delivers what is due and returns the newest event of `type` about `userId` that reached the receiver. */
async function lastEvent({ server, receiver }: Setup, type: string, userId: string): Promise<UsersvcEvent> {
  await deliverUntilIdle(server.core);
  const event = receiver
    .delivered()
    .map((r) => r.event)
    .filter((e) => e.type === type && e.data.user?.id === userId)
    .at(-1);
  if (!event) throw new Error(`no ${type} event for ${userId}`);
  return event;
}

async function eventsOf({ server, receiver }: Setup, type: string, userId: string): Promise<UsersvcEvent[]> {
  await deliverUntilIdle(server.core);
  return receiver
    .delivered()
    .map((r) => r.event)
    .filter((e) => e.type === type && e.data.user?.id === userId);
}

/** expires_at is `seconds` after the token was issued (which is a moment before the event's occurred_at). */
function expectLifetime(event: UsersvcEvent, seconds: number): void {
  const lifetimeMs = Date.parse(event.data.expires_at as string) - Date.parse(event.occurred_at);
  expect(lifetimeMs).toBeLessThanOrEqual(seconds * 1000);
  expect(lifetimeMs).toBeGreaterThan(seconds * 1000 - 1000);
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

async function registered(setup: Setup, overrides: Parameters<typeof newUser>[0] = {}) {
  const input = newUser(overrides);
  const res = await setup.api("POST", "/api/v1/users", { body: input });
  expect(res.status).toBe(201);
  return { input, user: res.body.data as HookUser };
}

function login(setup: Setup, email: string, password: string) {
  return setup.api("POST", "/api/v1/auth/login", { body: { email, password } });
}

afterAll(async () => {
  for (const { server, receiver } of setups) {
    await server.stop();
    await receiver.stop();
  }
});

describe("email verification", () => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await startSetup();
  });

  test("a sign-up sends user.verification_requested with a 32-byte token and a 6-digit code, stored only as SHA-256 digests, for 24 h", async () => {
    const { user } = await registered(setup);
    expect(user.is_verified).toBe(false);
    const event = await lastEvent(setup, "user.verification_requested", user.id);
    expect(event.data).toEqual({ user, token: expect.stringMatching(TOKEN), code: expect.stringMatching(/^\d{6}$/), expires_at: expect.any(String) });
    expectLifetime(event, DAY);

    const stored = (await setup.server.core.db.select().from(oneTimeTokens)).filter((t) => t.userId === user.id);
    expect(
      stored.map((t) => ({ tokenHash: t.tokenHash, codeHash: t.codeHash, purpose: t.purpose, usedAt: t.usedAt, expiresAt: t.expiresAt.toISOString() })),
    ).toEqual([
      {
        tokenHash: sha256(event.data.token!),
        codeHash: sha256(`${user.id}:${event.data.code}`),
        purpose: "verify_email",
        usedAt: null,
        expiresAt: event.data.expires_at as string,
      },
    ]);
  });

  test("POST /auth/verify-email with the token answers 200 with the verified user and records user.verified; a second use answers 400 INVALID_OR_EXPIRED_TOKEN", async () => {
    const { user } = await registered(setup);
    const { token } = (await lastEvent(setup, "user.verification_requested", user.id)).data;
    const res = await setup.api("POST", "/api/v1/auth/verify-email", { body: { token } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, error: null, data: { ...user, is_verified: true, updated_at: expect.any(String) } });
    const verified = await lastEvent(setup, "user.verified", user.id);
    expect(verified.data.user).toEqual(expect.objectContaining({ id: user.id, is_verified: true }));

    const again = await setup.api("POST", "/api/v1/auth/verify-email", { body: { token } });
    expect({ status: again.status, body: again.body }).toEqual({ status: 400, body: INVALID_TOKEN });
  });

  test("a verification token works until 24 h after it was issued, and not after", async () => {
    const early = await registered(setup);
    const late = await registered(setup);
    const earlyToken = (await lastEvent(setup, "user.verification_requested", early.user.id)).data.token;
    const lateToken = (await lastEvent(setup, "user.verification_requested", late.user.id)).data.token;

    setup.server.clock.advance(DAY - 30);
    expect((await setup.api("POST", "/api/v1/auth/verify-email", { body: { token: earlyToken } })).status).toBe(200);
    setup.server.clock.advance(31); // 24 h + 1 s
    const expired = await setup.api("POST", "/api/v1/auth/verify-email", { body: { token: lateToken } });
    expect({ status: expired.status, body: expired.body }).toEqual({ status: 400, body: INVALID_TOKEN });
  });

  test("tokens that were never issued are refused alike", async () => {
    for (const token of ["", "x", "A".repeat(43), "A".repeat(500)]) {
      const res = await setup.api("POST", "/api/v1/auth/verify-email", { body: { token } });
      expect({ token, status: res.status, body: res.body }).toEqual({ token, status: 400, body: INVALID_TOKEN });
    }
  });

  test("resend answers 202 with a new token; the earlier one stops working; once verified, resend sends nothing", async () => {
    const { input, user } = await registered(setup);
    const first = (await lastEvent(setup, "user.verification_requested", user.id)).data.token;
    const access = (await login(setup, input.email, input.password)).body.data.access_token;

    expect((await setup.api("POST", "/api/v1/auth/verify-email/resend")).status).toBe(401);
    const resent = await setup.api("POST", "/api/v1/auth/verify-email/resend", { token: access });
    expect({ status: resent.status, body: resent.body }).toEqual({ status: 202, body: { success: true, error: null, data: { accepted: true } } });
    const second = (await lastEvent(setup, "user.verification_requested", user.id)).data.token;
    expect(second).toMatch(TOKEN);
    expect(second).not.toBe(first);

    expect((await setup.api("POST", "/api/v1/auth/verify-email", { body: { token: first } })).status).toBe(400);
    const verified = await setup.api("POST", "/api/v1/auth/verify-email", { body: { token: second } });
    expect(verified.status).toBe(200);
    expect(verified.body.data.is_verified).toBe(true);

    const again = await setup.api("POST", "/api/v1/auth/verify-email/resend", { token: access });
    expect(again.status).toBe(202);
    expect(await eventsOf(setup, "user.verification_requested", user.id)).toHaveLength(2);
  });
});

describe("password reset", () => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await startSetup();
  });

  function forgot(email: string) {
    return setup.api("POST", "/api/v1/auth/forgot-password", { body: { email } });
  }

  /** Waits (event-loop turns, not time) for the reset event forgot-password creates after answering. */
  async function resetRequested(userId: string, count: number): Promise<UsersvcEvent> {
    await turnsUntil(`user.password_reset_requested #${count} for ${userId}`, async () => {
      const found = (await outboxRows(setup.server.core.db)).filter((r) => r.type === "user.password_reset_requested" && r.userId === userId);
      return found.length >= count ? true : undefined;
    });
    return lastEvent(setup, "user.password_reset_requested", userId);
  }

  async function resetEventCount(): Promise<number> {
    return (await outboxRows(setup.server.core.db)).filter((r) => r.type === "user.password_reset_requested").length;
  }

  test("forgot-password answers 202 with the same body for a known and an unknown email; only the known one gets a 1-hour token", async () => {
    const { user } = await registered(setup);
    const before = await resetEventCount();
    const unknown = await forgot(`nobody${Date.now()}@example.com`);
    const known = await forgot(user.email.toUpperCase());
    expect({ status: known.status, body: known.body }).toEqual({ status: 202, body: { success: true, error: null, data: { accepted: true } } });
    expect({ status: unknown.status, body: unknown.body }).toEqual({ status: known.status, body: known.body });
    expect(unknown.headers.get("content-length")).toBe(known.headers.get("content-length"));

    const event = await resetRequested(user.id, 1);
    expect(event.data).toEqual({ user, token: expect.stringMatching(TOKEN), expires_at: expect.any(String) });
    expectLifetime(event, HOUR);
    // The unknown email's lookup ran first and found nobody.
    expect(await resetEventCount()).toBe(before + 1);
  });

  test("reset-password sets the new password, revokes every session, and the token is single-use", async () => {
    const { input, user } = await registered(setup);
    const first = (await login(setup, input.email, input.password)).body.data;
    const second = (await login(setup, input.email, input.password)).body.data;
    expect((await forgot(input.email)).status).toBe(202);
    const { token } = (await resetRequested(user.id, 1)).data;

    const newPassword = "a brand new horse battery";
    const reset = await setup.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: newPassword } });
    expect({ status: reset.status, body: reset.body }).toEqual({ status: 200, body: { success: true, error: null, data: { password_reset: true } } });

    for (const pair of [first, second]) {
      const me = await setup.api("GET", "/api/v1/users/me", { token: pair.access_token });
      expect({ status: me.status, code: me.body.error?.code }).toEqual({ status: 401, code: "SESSION_REVOKED" });
      const refreshed = await setup.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: pair.refresh_token } });
      expect({ status: refreshed.status, code: refreshed.body.error?.code }).toEqual({ status: 401, code: "SESSION_REVOKED" });
    }
    const old = await login(setup, input.email, input.password);
    expect({ status: old.status, code: old.body.error?.code }).toEqual({ status: 401, code: "INVALID_CREDENTIALS" });
    expect((await login(setup, input.email, newPassword)).status).toBe(200);

    const again = await setup.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: "yet another horse battery" } });
    expect({ status: again.status, body: again.body }).toEqual({ status: 400, body: INVALID_TOKEN });
    expect((await login(setup, input.email, newPassword)).status).toBe(200);

    const done = await lastEvent(setup, "user.password_reset", user.id);
    expect(done.data).toEqual({ user: expect.objectContaining({ id: user.id }), sessions_revoked: 2 });
  });

  test("a weak or short new password answers 422 and the token stays usable", async () => {
    const { input, user } = await registered(setup);
    await forgot(input.email);
    const { token } = (await resetRequested(user.id, 1)).data;
    const weak = await setup.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: "password123" } });
    expect({ status: weak.status, code: weak.body.error.code }).toEqual({ status: 422, code: "WEAK_PASSWORD" });
    const short = await setup.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: "short" } });
    expect({ status: short.status, code: short.body.error.code }).toEqual({ status: 422, code: "VALIDATION_ERROR" });
    expect(short.body.error.details).toEqual([{ field: "new_password", message: expect.any(String) }]);

    const ok = await setup.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: "a strong horse battery" } });
    expect(ok.status).toBe(200);
    expect((await login(setup, input.email, "a strong horse battery")).status).toBe(200);
  });

  test("a reset token works until 1 h after it was issued, not after; a new one replaces the earlier unused one", async () => {
    const { input, user } = await registered(setup);
    await forgot(input.email);
    const expiring = (await resetRequested(user.id, 1)).data.token;
    setup.server.clock.advance(HOUR + 1);
    const expired = await setup.api("POST", "/api/v1/auth/reset-password", { body: { token: expiring, new_password: "expired horse battery" } });
    expect({ status: expired.status, body: expired.body }).toEqual({ status: 400, body: INVALID_TOKEN });

    await forgot(input.email);
    const replaced = (await resetRequested(user.id, 2)).data.token;
    // Past the per-account cooldown (USERSVC_EMAIL_COOLDOWN, 60 s), a new request issues a new token.
    setup.server.clock.advance(61);
    await forgot(input.email);
    const current = (await resetRequested(user.id, 3)).data.token;
    expect(new Set([expiring, replaced, current]).size).toBe(3);
    const stale = await setup.api("POST", "/api/v1/auth/reset-password", { body: { token: replaced, new_password: "replaced horse battery" } });
    expect(stale.status).toBe(400);

    setup.server.clock.advance(HOUR - 91);
    const ok = await setup.api("POST", "/api/v1/auth/reset-password", { body: { token: current, new_password: "in time horse battery" } });
    expect(ok.status).toBe(200);
    expect((await login(setup, input.email, "in time horse battery")).status).toBe(200);
  });

  test("a deleted account gets no reset token", async () => {
    const gone = await registered(setup);
    const access = (await login(setup, gone.input.email, gone.input.password)).body.data.access_token;
    expect((await setup.api("DELETE", "/api/v1/users/me", { token: access, body: { password: gone.input.password } })).status).toBe(200);
    const active = await registered(setup);
    const before = await resetEventCount();
    expect((await forgot(gone.input.email)).status).toBe(202);
    expect((await forgot(active.input.email)).status).toBe(202);
    await resetRequested(active.user.id, 1);
    expect(await resetEventCount()).toBe(before + 1);
  });
});

describe("USERSVC_REQUIRE_VERIFIED_EMAIL=true", () => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await startSetup({ USERSVC_REQUIRE_VERIFIED_EMAIL: "true" });
  });

  test("an unverified user's correct login answers 403 EMAIL_NOT_VERIFIED, a wrong password 401; after verification the login works", async () => {
    const { input, user } = await registered(setup);
    const refused = await login(setup, input.email, input.password);
    expect({ status: refused.status, body: refused.body }).toEqual({
      status: 403,
      body: { success: false, data: null, error: { code: "EMAIL_NOT_VERIFIED", message: "The email address has not been verified" } },
    });
    const wrong = await login(setup, input.email, "not the right password");
    expect({ status: wrong.status, code: wrong.body.error.code }).toEqual({ status: 401, code: "INVALID_CREDENTIALS" });

    const failures = await eventsOf(setup, "user.login_failed", user.id);
    expect(failures.map((e) => e.data.reason)).toEqual(["email_not_verified", "wrong_password"]);

    const { token } = (await lastEvent(setup, "user.verification_requested", user.id)).data;
    expect((await setup.api("POST", "/api/v1/auth/verify-email", { body: { token } })).status).toBe(200);
    const ok = await login(setup, input.email, input.password);
    expect(ok.status).toBe(200);
    expect((await setup.api("GET", "/api/v1/users/me", { token: ok.body.data.access_token })).body.data.is_verified).toBe(true);
  });
});

describe("the plain tokens", () => {
  test("appear only in their events: never in the logs, in a response, or in a table other than the outbox (one_time_tokens keeps hashes)", async () => {
    const tokens = setups.flatMap(({ receiver }) =>
      receiver.delivered().map((r) => r.event.data.token).filter((t): t is string => typeof t === "string"),
    );
    expect(tokens.length).toBeGreaterThanOrEqual(15);
    expect(new Set(tokens).size).toBe(tokens.length);

    for (const { server } of setups) {
      const logs = server.logs.join("\n");
      const db = server.core.db;
      const tables = rows<{ table_name: string }>(
        await db.execute(sql`select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`),
      ).map((r) => r.table_name);
      expect(tables).toContain("one_time_tokens");
      const hashes = new Set((await db.select({ hash: oneTimeTokens.tokenHash }).from(oneTimeTokens)).map((r) => r.hash));
      const mine = tokens.filter((t) => hashes.has(sha256(t)));
      expect(mine.length).toBeGreaterThan(0);
      for (const token of mine) {
        expect(logs).not.toContain(token);
        for (const table of tables.filter((t) => t !== "outbox_events")) {
          const [found] = rows<{ n: number }>(
            await db.execute(sql`select count(*)::int as n from ${sql.identifier(table)} t where t::text like ${`%${token}%`}`),
          );
          expect({ table, n: Number(found?.n) }).toEqual({ table, n: 0 });
        }
      }
    }
    const everything = responses.join("\n");
    for (const token of tokens) expect(everything).not.toContain(token);
  });
});
