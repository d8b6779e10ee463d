/**
 * The per-instance cache of session checks (core/sessions/auth-cache.ts) and
 * the announcements it relies on (core/db/change-announcements.ts): what it may reuse,
 * and every way a change must reach it.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { changed } from "../../src/core/db/change-announcements.ts";
import { sessions, users } from "../../src/core/db/schema.ts";
import { createAuthCache, type SessionWithUser } from "../../src/core/sessions/auth-cache.ts";
import { updateUser } from "../../src/core/users/queries.ts";
import { createAdmin, createPlainUser } from "../support/admin.ts";
import { jwtClaims } from "../support/hooks.ts";
import { registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

function sample(sessionId: string, userId: string): SessionWithUser {
  return { session: { id: sessionId, userId } as SessionWithUser["session"], user: { id: userId } as SessionWithUser["user"] };
}

/** The cache's clock, moved by the test: no sleeping. */
function manualClock() {
  let ms = 1_000_000;
  const clock = () => ms;
  clock.advance = (by: number) => {
    ms += by;
  };
  return clock;
}

/** A read that counts its calls and answers a fresh copy of `value` each time (kept in `results`). */
function countingRead(value: SessionWithUser) {
  const read = async () => {
    read.calls += 1;
    const result = { session: { ...value.session }, user: { ...value.user } };
    read.results.push(result);
    return result;
  };
  read.calls = 0;
  read.results = [] as SessionWithUser[];
  return read;
}

describe("the auth cache", () => {
  test("reuses a read within its lifetime, reads again after it, and hands out frozen objects", async () => {
    const clock = manualClock();
    const cache = createAuthCache(server.core.db, 150, clock);
    const read = countingRead(sample("s-ttl", "u-ttl"));
    const first = await cache.sessionWithUser("s-ttl", read);
    expect(await cache.sessionWithUser("s-ttl", read)).toBe(first!);
    expect(read.calls).toBe(1);
    expect(Object.isFrozen(first!.user) && Object.isFrozen(first!.session)).toBe(true);
    clock.advance(150);
    await cache.sessionWithUser("s-ttl", read);
    expect(read.calls).toBe(2);
  });

  test("an entry used past half its lifetime is read again in the background; the request does not wait", async () => {
    const clock = manualClock();
    const cache = createAuthCache(server.core.db, 200, clock);
    const read = countingRead(sample("s-ahead", "u-ahead"));
    const first = await cache.sessionWithUser("s-ahead", read);
    clock.advance(120);
    // Served from the entry at once, while a fresh read starts.
    expect(await cache.sessionWithUser("s-ahead", read)).toBe(first!);
    expect(read.calls).toBe(2);
    await Bun.sleep(0); // the background read settles
    clock.advance(110);
    // 230 ms after the first read, past its lifetime: answered from the entry the background read
    // stored, not by a read of its own (which would answer a newer copy).
    const later = await cache.sessionWithUser("s-ahead", read);
    expect(later).toBe(read.results[1]!);
  });

  test("a clock set back (the wall clock can be) does not stretch an entry's life: it is read again", async () => {
    const clock = manualClock();
    const cache = createAuthCache(server.core.db, 1000, clock);
    const read = countingRead(sample("s-back", "u-back"));
    await cache.sessionWithUser("s-back", read);
    clock.advance(-3_600_000);
    await cache.sessionWithUser("s-back", read);
    expect(read.calls).toBe(2);
  });

  test("with a lifetime of 0 (USERSVC_AUTH_CACHE_MS=0) every check reads", async () => {
    const cache = createAuthCache(server.core.db, 0, manualClock());
    const read = countingRead(sample("s-zero", "u-zero"));
    for (let i = 0; i < 3; i += 1) await cache.sessionWithUser("s-zero", read);
    expect(read.calls).toBe(3);
  });

  test("a change to the session or to its user drops the entry; other users' entries stay", async () => {
    const cache = createAuthCache(server.core.db, 60_000, manualClock());
    const mine = countingRead(sample("s-mine", "u-mine"));
    const other = countingRead(sample("s-other", "u-other"));
    await cache.sessionWithUser("s-mine", mine);
    await cache.sessionWithUser("s-other", other);

    changed(server.core.db, { sessionId: "s-mine" });
    await cache.sessionWithUser("s-mine", mine);
    changed(server.core.db, { userId: "u-mine" });
    await cache.sessionWithUser("s-mine", mine);
    await cache.sessionWithUser("s-other", other);
    expect({ mine: mine.calls, other: other.calls }).toEqual({ mine: 3, other: 1 });
  });

  test("a read that overlapped a change serves its request but is not kept", async () => {
    const cache = createAuthCache(server.core.db, 60_000, manualClock());
    const gate = Promise.withResolvers<void>();
    let calls = 0;
    const slowRead = async () => {
      calls += 1;
      await gate.promise;
      return sample("s-race", "u-race");
    };
    const pending = cache.sessionWithUser("s-race", slowRead);
    changed(server.core.db, { userId: "somebody-else" });
    gate.resolve();
    expect((await pending)?.session.id).toBe("s-race");
    await cache.sessionWithUser("s-race", slowRead);
    expect(calls).toBe(2);
  });

  test("checks that miss at once share one read, but not one that started before a change", async () => {
    const cache = createAuthCache(server.core.db, 60_000, manualClock());
    let calls = 0;
    const gates: PromiseWithResolvers<void>[] = [];
    const gatedRead = async () => {
      calls += 1;
      const gate = Promise.withResolvers<void>();
      gates.push(gate);
      await gate.promise;
      return sample("s-flight", "u-flight");
    };
    const first = cache.sessionWithUser("s-flight", gatedRead);
    const second = cache.sessionWithUser("s-flight", gatedRead);
    expect(calls).toBe(1);
    changed(server.core.db, { userId: "u-flight" });
    const third = cache.sessionWithUser("s-flight", gatedRead);
    expect(calls).toBe(2);
    for (const gate of gates) gate.resolve();
    expect((await Promise.all([first, second, third])).map((v) => v?.session.id)).toEqual(["s-flight", "s-flight", "s-flight"]);
  });

  test("a change inside a transaction is announced after the commit: a read stored while it was open is dropped", async () => {
    const cache = createAuthCache(server.core.db, 60_000, manualClock());
    const { id } = await createPlainUser(server);
    const read = countingRead(sample("s-tx", id));
    await server.core.db.transaction(async (tx) => {
      await updateUser(tx, id, { metadata: { during: "transaction" } }, new Date());
      // Not announced yet: this read (of the row before the commit) is stored...
      await cache.sessionWithUser("s-tx", read);
      await cache.sessionWithUser("s-tx", read);
      expect(read.calls).toBe(1);
    });
    // ...and dropped once the commit is announced.
    await cache.sessionWithUser("s-tx", read);
    expect(read.calls).toBe(2);
  });

  test("a rolled-back transaction is announced too (nothing stale survives a failed write)", async () => {
    const cache = createAuthCache(server.core.db, 60_000, manualClock());
    const read = countingRead(sample("s-rollback", "u-rollback"));
    await cache.sessionWithUser("s-rollback", read);
    const failed = server.core.db.transaction(async (tx) => {
      changed(tx, { sessionId: "s-rollback" });
      throw new Error("rolled back");
    });
    expect(failed).rejects.toThrow("rolled back");
    await failed.catch(() => {});
    await cache.sessionWithUser("s-rollback", read);
    expect(read.calls).toBe(2);
  });
});

describe("what a user sees through the cache", () => {
  test("an admin's balance adjustment and a direct profile change show on the user's very next GET /users/me", async () => {
    const admin = await createAdmin(server);
    const user = await createPlainUser(server);
    const before = await server.api("GET", "/api/v1/users/me", { token: user.token });
    expect(before.body.data.balance).toBe(0);
    const credited = await server.api("POST", `/api/v1/admin/users/${user.id}/balance`, {
      token: admin.token,
      body: { amount: 250, reason: "cache test" },
    });
    expect(credited.status).toBe(200);
    expect((await server.api("GET", "/api/v1/users/me", { token: user.token })).body.data.balance).toBe(250);

    await server.api("PATCH", "/api/v1/users/me", { token: user.token, body: { metadata: { plan: "gold" } } });
    expect((await server.api("GET", "/api/v1/users/me", { token: user.token })).body.data.metadata).toEqual({ plan: "gold" });
  });

  test("a change written behind the instance's back (SQL, another instance) shows within USERSVC_AUTH_CACHE_MS", async () => {
    const user = await createPlainUser(server);
    expect((await server.api("GET", "/api/v1/users/me", { token: user.token })).status).toBe(200);
    await server.core.db.update(users).set({ status: "deleted", deletedAt: new Date() }).where(eq(users.id, user.id));
    server.clock.advance(server.core.config.authCacheMs / 1000);
    expect((await server.api("GET", "/api/v1/users/me", { token: user.token })).status).toBe(401);
  });

  test("requests racing a logout: whatever they answered, every request after the logout's answer is refused", async () => {
    const { input } = await registerAndLogin(server.api);
    for (let round = 0; round < 10; round += 1) {
      const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
      const token = login.body.data.access_token as string;
      expect((await server.api("GET", "/api/v1/users/me", { token })).status).toBe(200);
      const racing = Array.from({ length: 20 }, () => server.api("GET", "/api/v1/users/me", { token }));
      const logout = await server.api("POST", "/api/v1/auth/logout", { token });
      expect(logout.status).toBe(200);
      const after = await Promise.all(Array.from({ length: 5 }, () => server.api("GET", "/api/v1/users/me", { token })));
      expect(after.map((answer) => answer.status)).toEqual([401, 401, 401, 401, 401]);
      for (const answer of await Promise.all(racing)) expect([200, 401]).toContain(answer.status);
    }
  });

  test("a token checked before is refused as expired once the clock passes its exp", async () => {
    const user = await createPlainUser(server);
    expect((await server.api("GET", "/api/v1/users/me", { token: user.token })).status).toBe(200);
    server.clock.advance(server.core.config.accessTtl + 1);
    const answer = await server.api("GET", "/api/v1/users/me", { token: user.token });
    expect({ status: answer.status, code: answer.body.error.code }).toEqual({ status: 401, code: "TOKEN_EXPIRED" });
  });
});

// Refresh never goes through the cache: which refresh token is current must be read at that moment.
const refreshOn = (on: TestServer, token: string) => on.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: token } });
const claimsOf = (token: string) => jwtClaims(token) as { sid: string; jti: string };

/** Logs in, rotates once, and has the instance cache the session (through /users/me). */
async function cachedSession(on: TestServer) {
  const { user, tokens } = await registerAndLogin(on.api);
  const rotated = (await refreshOn(on, tokens.refresh_token)).body.data;
  expect((await on.api("GET", "/api/v1/users/me", { token: rotated.access_token })).status).toBe(200);
  return { user, first: tokens, rotated, sessionId: claimsOf(rotated.refresh_token).sid };
}

/** What another instance does on a refresh of `spent`: the next token, written without telling this instance. */
async function rotateElsewhere(on: TestServer, userId: string, sessionId: string, spent: string): Promise<string> {
  const nextJti = crypto.randomUUID();
  await on.core.db
    .update(sessions)
    .set({ refreshJti: nextJti, previousJti: claimsOf(spent).jti, rotatedAt: on.clock.now() })
    .where(eq(sessions.id, sessionId));
  return on.core.tokens.mint({ sub: userId, sid: sessionId, jti: nextJti, type: "refresh", ttlSeconds: 3600 });
}

describe("refresh and the cache", () => {
  const refresh = (token: string) => refreshOn(server, token);

  test("a logout on this instance refuses the session's refresh token on the very next request", async () => {
    const { rotated } = await cachedSession(server);
    expect((await server.api("POST", "/api/v1/auth/logout", { token: rotated.access_token })).status).toBe(200);
    const answer = await refresh(rotated.refresh_token);
    expect({ status: answer.status, code: answer.body.error.code }).toEqual({ status: 401, code: "SESSION_REVOKED" });
  });

  test("a revocation written behind the instance's back (SQL, another instance) refuses the refresh at once", async () => {
    const { rotated, sessionId } = await cachedSession(server);
    await server.core.db.update(sessions).set({ revokedAt: new Date(), revokedReason: "test" }).where(eq(sessions.id, sessionId));
    const answer = await refresh(rotated.refresh_token);
    expect({ status: answer.status, code: answer.body.error.code }).toEqual({ status: 401, code: "SESSION_REVOKED" });
  });

  test("a token rotated by another instance since this one cached the session is rotated here, not taken for a reuse", async () => {
    const { user, rotated, sessionId } = await cachedSession(server);
    const next = await rotateElsewhere(server, user.id, sessionId, rotated.refresh_token);
    const answer = await refresh(next);
    expect(answer.status).toBe(200);
    const [row] = await server.core.db.select().from(sessions).where(eq(sessions.id, sessionId));
    expect(row!.revokedAt).toBeNull();
    expect((await refresh(answer.body.data.refresh_token)).status).toBe(200);
  });

  test("an old token presented to an instance with a cached session is detected as reused, and the session revoked", async () => {
    const { first, rotated } = await cachedSession(server);
    const reused = await refresh(first.refresh_token);
    expect({ status: reused.status, code: reused.body.error.code }).toEqual({ status: 401, code: "REFRESH_TOKEN_REUSED" });
    expect((await refresh(rotated.refresh_token)).status).toBe(401);
    expect((await server.api("GET", "/api/v1/users/me", { token: rotated.access_token })).status).toBe(401);
  });
});

describe("refresh and the cache, with a grace", () => {
  let graced: TestServer;
  beforeAll(async () => {
    graced = await startTestServer({ USERSVC_REFRESH_GRACE: "60" });
  });
  afterAll(() => graced.stop());

  test("a stolen spent token is a reuse once another instance has rotated again, even while this one has the session cached", async () => {
    // t1 spent, t2 current; the instance caches: current t2, previous t1.
    const { user, first: t1, rotated: t2, sessionId } = await cachedSession(graced);
    // The owner refreshes t2 on another instance: t3 is current, t2 previous.
    const t3 = await rotateElsewhere(graced, user.id, sessionId, t2.refresh_token);

    // Within the grace of t1's rotation, but t1 is two rotations old: a thief's replay.
    const stolen = await refreshOn(graced, t1.refresh_token);
    expect({ status: stolen.status, code: stolen.body.error.code }).toEqual({ status: 401, code: "REFRESH_TOKEN_REUSED" });
    expect((await refreshOn(graced, t3)).status).toBe(401); // the whole session is gone
  });
});
