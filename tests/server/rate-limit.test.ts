import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { rateLimits } from "../../src/core/db/schema.ts";
import { SERVER_URL } from "../support/database.ts";
import { pollFor } from "../support/hooks.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const LIMITS = { USERSVC_LOGIN_MAX_ATTEMPTS: "3", USERSVC_LOGIN_WINDOW: "600", USERSVC_RATE_LIMIT_PER_IP: "4" };

async function register(server: TestServer, ip: string) {
  const input = newUser();
  const res = await server.api("POST", "/api/v1/users", { body: input, headers: { "x-forwarded-for": ip } });
  return { input, res };
}

function refresh(server: TestServer, ip: string) {
  return server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: "not.a.token" }, headers: { "x-forwarded-for": ip } });
}

async function storedCount(server: TestServer, key: string): Promise<number | undefined> {
  const [row] = await server.core.db.select().from(rateLimits).where(eq(rateLimits.key, key));
  return row?.count;
}

function login(server: TestServer, body: Record<string, string>, ip: string) {
  return server.api("POST", "/api/v1/auth/login", { body, headers: { "x-forwarded-for": ip } });
}

describe("login brute-force limits", () => {
  let server: TestServer;
  beforeAll(async () => {
    // Trusting X-Forwarded-For lets one test play several client IPs.
    server = await startTestServer({ ...LIMITS, USERSVC_RATE_LIMIT_PER_IP: "1000", USERSVC_TRUST_PROXY: "true" });
  });
  afterAll(() => server.stop());

  test("after the maximum of failures for one account, even the right password answers 429 with Retry-After", async () => {
    const { input } = await register(server, "198.51.100.1");
    for (let i = 0; i < 3; i++) {
      // A different IP each time: the account's own count trips the limit.
      expect((await login(server, { email: input.email, password: "wrong password!" }, `203.0.113.${i}`)).status).toBe(401);
    }
    const limited = await login(server, { email: input.email, password: input.password }, "203.0.113.99");
    expect([limited.status, limited.body.error.code]).toEqual([429, "RATE_LIMITED"]);
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(600);

    server.clock.advance(601);
    expect((await login(server, { email: input.email, password: input.password }, "203.0.113.99")).status).toBe(200);
  });

  test("after the maximum of failures from one IP, logins to other accounts from it are refused too", async () => {
    const victim = (await register(server, "198.51.100.2")).input;
    for (let i = 0; i < 3; i++) {
      await login(server, { email: `nobody${i}@example.com`, password: "whatever password" }, "192.0.2.50");
    }
    const fromAttacker = await login(server, { email: victim.email, password: victim.password }, "192.0.2.50");
    expect(fromAttacker.status).toBe(429);
    // The account itself is not locked for everyone else.
    expect((await login(server, { email: victim.email, password: victim.password }, "192.0.2.51")).status).toBe(200);
  });

  test("a successful login clears the account's failures", async () => {
    const { input } = await register(server, "198.51.100.3");
    for (let i = 0; i < 2; i++) await login(server, { email: input.email, password: "wrong password!" }, `198.51.100.${10 + i}`);
    expect((await login(server, { email: input.email, password: input.password }, "198.51.100.20")).status).toBe(200);
    for (let i = 0; i < 2; i++) await login(server, { email: input.email, password: "wrong password!" }, `198.51.100.${30 + i}`);
    expect((await login(server, { email: input.email, password: input.password }, "198.51.100.40")).status).toBe(200);
  });

  test("unknown accounts are counted like known ones (no enumeration through the limiter)", async () => {
    for (let i = 0; i < 3; i++) await login(server, { email: "ghost@example.com", password: "whatever password" }, `192.0.2.${100 + i}`);
    const res = await login(server, { email: "ghost@example.com", password: "whatever password" }, "192.0.2.200");
    expect(res.status).toBe(429);
  });
});

describe("per-IP limits on register, forgot-password and refresh", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ ...LIMITS, USERSVC_TRUST_PROXY: "true" });
  });
  afterAll(() => server.stop());

  test("the fifth sign-up from one IP in a window answers 429; another IP is not affected", async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await register(server, "203.0.113.77")).res.status);
    expect(statuses).toEqual([201, 201, 201, 201, 429]);
    expect((await register(server, "203.0.113.78")).res.status).toBe(201);
  });

  test("forgot-password is limited per IP with the same answer otherwise", async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      const res = await server.api("POST", "/api/v1/auth/forgot-password", {
        body: { email: `someone${i}@example.com` },
        headers: { "x-forwarded-for": "203.0.113.90" },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([202, 202, 202, 202, 429]);
  });

  test("refresh is limited per IP", async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await refresh(server, "203.0.113.91")).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
  });

  // Refresh counts are kept in memory and written in batches (core/rate-limits/hit-batcher.ts).
  test("of 12 concurrent refreshes from one IP, exactly the limit (4) get past the limiter", async () => {
    const statuses = await Promise.all(Array.from({ length: 12 }, () => refresh(server, "203.0.113.92").then((r) => r.status)));
    expect(statuses.filter((s) => s === 401)).toHaveLength(4);
    expect(statuses.filter((s) => s === 429)).toHaveLength(8);
  });

  test("refresh counts reach the shared table within a fraction of a second, every hit counted", async () => {
    for (let i = 0; i < 6; i++) await refresh(server, "203.0.113.93");
    const stored = await pollFor("the batched count to be written", async () => {
      const count = await storedCount(server, "refresh:ip:203.0.113.93");
      return count === 6 ? count : undefined;
    }, { timeoutMs: 1000, intervalMs: 20 });
    expect(stored).toBe(6);
  });

  test("a refresh count starts again when its window ends", async () => {
    for (let i = 0; i < 5; i++) await refresh(server, "203.0.113.94");
    expect((await refresh(server, "203.0.113.94")).status).toBe(429);
    server.clock.advance(601);
    expect((await refresh(server, "203.0.113.94")).status).toBe(401);
  });

  test("without USERSVC_TRUST_PROXY, X-Forwarded-For is ignored: the socket's address is counted", async () => {
    const plain = await startTestServer({ ...LIMITS });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++) {
        const res = await plain.api("POST", "/api/v1/users", { body: newUser(), headers: { "x-forwarded-for": `10.9.9.${i}` } });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([201, 201, 201, 201, 429]);
    } finally {
      await plain.stop();
    }
  });
});

describe.skipIf(!SERVER_URL)("limits across two instances on one PostgreSQL", () => {
  let a: TestServer;
  let b: TestServer;
  // Hooks only when the block runs: bun lists hooks of a skipped block as extra unnamed skips.
  if (SERVER_URL) beforeAll(async () => {
    a = await startTestServer({ ...LIMITS, USERSVC_RATE_LIMIT_PER_IP: "1000", USERSVC_TRUST_PROXY: "true" });
    b = await startTestServer({ ...LIMITS, USERSVC_RATE_LIMIT_PER_IP: "1000", USERSVC_TRUST_PROXY: "true" }, { shareDatabaseWith: a });
  });
  if (SERVER_URL) afterAll(async () => {
    await b.stop();
    await a.stop();
  });

  test("failures counted on one instance limit logins on the other", async () => {
    const { input } = await register(a, "198.51.100.200");
    await login(a, { email: input.email, password: "wrong password!" }, "203.0.113.201");
    await login(b, { email: input.email, password: "wrong password!" }, "203.0.113.202");
    await login(a, { email: input.email, password: "wrong password!" }, "203.0.113.203");
    expect((await login(b, { email: input.email, password: input.password }, "203.0.113.204")).status).toBe(429);
  });

  test("refreshes counted on one instance count on the other once written (within a fraction of a second)", async () => {
    const limited = { ...LIMITS, USERSVC_TRUST_PROXY: "true" };
    const c = await startTestServer(limited, { shareDatabaseWith: a });
    const d = await startTestServer(limited, { shareDatabaseWith: a });
    try {
      for (let i = 0; i < 3; i++) expect((await refresh(c, "203.0.113.210")).status).toBe(401);
      await pollFor("c's count to be written", async () => ((await storedCount(c, "refresh:ip:203.0.113.210")) === 3 ? true : undefined), {
        timeoutMs: 1000,
        intervalMs: 20,
      });
      // d has never seen this IP: it reads the shared count (3) before counting its own.
      expect((await refresh(d, "203.0.113.210")).status).toBe(401);
      expect((await refresh(d, "203.0.113.210")).status).toBe(429);

      // An instance that was quiet reads the shared count again before counting: it does not reuse its old one.
      const ip = "203.0.113.211";
      const written = (count: number) => async () => ((await storedCount(c, `refresh:ip:${ip}`)) === count ? true : undefined);
      expect((await refresh(c, ip)).status).toBe(401);
      await pollFor("c's hit to be written", written(1), { timeoutMs: 1000, intervalMs: 20 });
      for (let i = 0; i < 2; i++) expect((await refresh(d, ip)).status).toBe(401);
      await pollFor("d's hits to be written", written(3), { timeoutMs: 1000, intervalMs: 20 });
      c.clock.advance(0.2); // c has been quiet for longer than a flush interval (100 ms)
      expect((await refresh(c, ip)).status).toBe(401);
      expect((await refresh(c, ip)).status).toBe(429);
    } finally {
      await d.stop();
      await c.stop();
    }
  });
});
