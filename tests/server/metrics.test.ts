import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { serveMetricsOnPort } from "../../src/server/metrics.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

/** The value of one sample line of the Prometheus text, e.g. metric{a="b"}. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

describe("GET /metrics", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  test("counts requests by route pattern and status, logins by outcome, and times password hashing", async () => {
    const { input } = await registerAndLogin(server.api);
    await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: "definitely wrong" } });
    await server.api("GET", "/api/v1/does-not-exist/12345");
    const res = await fetch(`${server.url}/metrics`);
    const text = await res.text();
    expect(res.headers.get("content-type")).toStartWith("text/plain");
    expect(sample(text, "usersvc_http_requests_total", { route: "/api/v1/users", status: "201" })).toBe(1);
    expect(sample(text, "usersvc_logins_total", { outcome: "success" })).toBe(1);
    expect(sample(text, "usersvc_logins_total", { outcome: "INVALID_CREDENTIALS" })).toBe(1);
    expect(sample(text, "usersvc_password_hash_duration_seconds_count", { kind: "hash" })).toBeGreaterThanOrEqual(1);
    // Unknown paths never become label values.
    expect(text).not.toContain("does-not-exist");
    expect(sample(text, "usersvc_http_requests_total", { route: "(unmatched)", status: "404" })).toBe(1);
    expect(text).toMatch(/^usersvc_outbox_backlog \d+$/m);
  });

  test("process metrics carry the usersvc_ prefix once: usersvc_process_*, usersvc_nodejs_*", async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/^usersvc_process_cpu_user_seconds_total \S+$/m);
    expect(text).toMatch(/^usersvc_process_resident_memory_bytes \S+$/m);
    expect(text).toMatch(/^usersvc_nodejs_eventloop_lag_seconds \S+$/m);
    expect(text).not.toContain("usersvc_process_process_");
    expect(text).not.toContain("usersvc_process_nodejs_");
  });

  test("reports the database pool: its size, and on PostgreSQL this instance's connections by state", async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const postgres = server.core.dbKind === "postgres";
    expect(text).toMatch(new RegExp(`^usersvc_db_pool_max_connections ${postgres ? 10 : 1}$`, "m"));
    if (postgres) {
      // The scrape's own query is running on one of them.
      expect(sample(text, "usersvc_db_pool_connections", { state: "active" })).toBeGreaterThanOrEqual(1);
      expect(text).toMatch(/^usersvc_db_pool_connections\{state="idle"\} \d+$/m);
    } else {
      expect(text).not.toContain("usersvc_db_pool_connections");
    }
  });
});

describe("USERSVC_METRICS", () => {
  test("off removes the route", async () => {
    const server = await startTestServer({ USERSVC_METRICS: "off" });
    try {
      expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
      expect((await server.api("POST", "/api/v1/users", { body: newUser() })).status).toBe(201);
    } finally {
      await server.stop();
    }
  });
});

describe("USERSVC_METRICS_TOKEN", () => {
  const TOKEN = "metrics-scrape-token-0123456789";
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ USERSVC_METRICS_TOKEN: TOKEN });
  });
  afterAll(() => server.stop());

  /** The status of GET /metrics at this base URL with each Authorization header (null: none). */
  async function statuses(baseUrl: string, authorizations: (string | null)[]): Promise<number[]> {
    const results = [];
    for (const authorization of authorizations) {
      const headers: Record<string, string> = authorization === null ? {} : { authorization };
      results.push((await fetch(`${baseUrl}/metrics`, { headers })).status);
    }
    return results;
  }

  const REFUSED = [null, "Bearer", "Bearer wrong", `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${btoa(`u:${TOKEN}`)}`, TOKEN];

  test("GET /metrics on the API port needs the bearer token: 401 without it or with any other", async () => {
    expect(await statuses(server.url, REFUSED)).toEqual(REFUSED.map(() => 401));
    const refused = await fetch(`${server.url}/metrics`);
    expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="metrics"');
    expect(await refused.text()).not.toContain("usersvc_");
  });

  test("the right token gets the metrics; the scheme is case-insensitive", async () => {
    for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`]) {
      const res = await fetch(`${server.url}/metrics`, { headers: { authorization } });
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^usersvc_outbox_backlog \d+$/m);
    }
  });

  test("the rest of the API does not ask for it", async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await server.api("POST", "/api/v1/users", { body: newUser() })).status).toBe(201);
  });

  test("the separate metrics port (USERSVC_METRICS=<port>) needs it too", async () => {
    const port = serveMetricsOnPort(server.core.metrics, "127.0.0.1", 0, server.core.config.metricsToken);
    try {
      const url = `http://127.0.0.1:${port.port}`;
      expect(await statuses(url, REFUSED)).toEqual(REFUSED.map(() => 401));
      expect(await statuses(url, [`Bearer ${TOKEN}`])).toEqual([200]);
      expect((await fetch(`${url}/other`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    } finally {
      port.stop();
    }
  });
});
