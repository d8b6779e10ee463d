/**
 * Two `usersvc serve` processes on one PostgreSQL database: each keeps a
 * per-instance cache of session checks (USERSVC_AUTH_CACHE_MS, 1 s), so a
 * logout, block or deletion made on one instance must be honoured by the
 * other within 1 s, and by the instance that made it on the very next
 * request. Both instances have just answered for the token, so the other's
 * cache is warm when the change is made.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { buildBinary, callApi, createMigratedTestDatabase, run, startServe, type ServeProcess } from "../support/binary.ts";
import { SERVER_URL, type TestDatabase } from "../support/database.ts";

setDefaultTimeout(120_000);

/** The bound the instances promise, plus what one HTTP round trip on a loaded 2-core machine may add. */
const WITHIN_MS = 1_000;
const ROUND_TRIP_SLACK_MS = 250;

describe.skipIf(!SERVER_URL)("two serve processes on one PostgreSQL: changes made on one are honoured by the other within 1 s", () => {
  let database: TestDatabase;
  let one: ServeProcess;
  let two: ServeProcess;
  let adminToken: string;
  let serial = 0;

  // Hooks only when the block runs: bun lists hooks of a skipped block as extra unnamed skips.
  if (SERVER_URL) beforeAll(async () => {
    await buildBinary();
    database = await createMigratedTestDatabase();
    const env = { ...database.env, USERSVC_RATE_LIMIT_PER_IP: "10000" };
    const created = await run(["create-admin", "--email", "root@example.com", "--username", "root", "--password-stdin"], {
      env,
      stdin: "instance admin password 1\n",
    });
    expect(created.exitCode).toBe(0);
    one = await startServe({ env });
    two = await startServe({ env });
    adminToken = (await callApi(one.url, "POST", "/api/v1/auth/login", { body: { email: "root@example.com", password: "instance admin password 1" } }))
      .body.data.access_token;
  });
  if (SERVER_URL) afterAll(async () => {
    expect((await two.stop()).exitCode).toBe(0);
    expect((await one.stop()).exitCode).toBe(0);
    await database.drop();
  });

  /** A new user, logged in on instance one; the token has just worked on both instances. */
  async function warmUser(): Promise<{ id: string; token: string; password: string }> {
    serial += 1;
    const password = "instance user password 1";
    const email = `instance${serial}@example.com`;
    expect((await callApi(one.url, "POST", "/api/v1/users", { body: { email, username: `instance${serial}`, password } })).status).toBe(201);
    const login = await callApi(one.url, "POST", "/api/v1/auth/login", { body: { email, password } });
    const token = login.body.data.access_token as string;
    for (const instance of [one, two]) expect((await callApi(instance.url, "GET", "/api/v1/users/me", { token })).status).toBe(200);
    const id = (await callApi(two.url, "GET", "/api/v1/users/me", { token })).body.data.id as string;
    return { id, token, password };
  }

  /** Milliseconds from now until `instance` answers GET /users/me with `status`. */
  async function msUntil(instance: ServeProcess, token: string, status: number): Promise<number> {
    const started = performance.now();
    for (;;) {
      const answer = await callApi(instance.url, "GET", "/api/v1/users/me", { token });
      const elapsed = performance.now() - started;
      if (answer.status === status) return elapsed;
      expect(answer.status).toBe(200);
      if (elapsed > 5_000) throw new Error(`still ${answer.status} after 5 s`);
      await Bun.sleep(20);
    }
  }

  test("logout on one: 401 at once there, and on the other within 1 s", async () => {
    const user = await warmUser();
    expect((await callApi(one.url, "POST", "/api/v1/auth/logout", { token: user.token })).status).toBe(200);
    const [here, there] = await Promise.all([msUntil(one, user.token, 401), msUntil(two, user.token, 401)]);
    expect(here).toBeLessThan(ROUND_TRIP_SLACK_MS);
    expect(there).toBeLessThan(WITHIN_MS + ROUND_TRIP_SLACK_MS);
    // The first request on instance one after the logout was already refused.
    expect((await callApi(one.url, "GET", "/api/v1/users/me", { token: user.token })).body.error.code).toBe("SESSION_REVOKED");
  });

  test("a block by an admin on one (it ends the user's sessions): 401 at once there, and on the other within 1 s", async () => {
    const user = await warmUser();
    const blocked = await callApi(one.url, "POST", `/api/v1/admin/users/${user.id}/block`, { token: adminToken, body: { reason: "test" } });
    expect(blocked.status).toBe(200);
    const first = await callApi(one.url, "GET", "/api/v1/users/me", { token: user.token });
    expect(first.status).toBe(401);
    expect(await msUntil(two, user.token, 401)).toBeLessThan(WITHIN_MS + ROUND_TRIP_SLACK_MS);
  });

  test("deleting the account on the other instance: 401 at once there, and on the first within 1 s", async () => {
    const user = await warmUser();
    const deleted = await callApi(two.url, "DELETE", "/api/v1/users/me", { token: user.token, body: { password: user.password } });
    expect(deleted.status).toBe(200);
    expect((await callApi(two.url, "GET", "/api/v1/users/me", { token: user.token })).status).toBe(401);
    expect(await msUntil(one, user.token, 401)).toBeLessThan(WITHIN_MS + ROUND_TRIP_SLACK_MS);
  });
});
