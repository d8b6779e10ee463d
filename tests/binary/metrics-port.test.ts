/** USERSVC_METRICS=<port>: /metrics moves off the API listener onto a port of its own. */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { buildBinary, createMigratedTestDatabase, startServe } from "../support/binary.ts";
import type { TestDatabase } from "../support/database.ts";

setDefaultTimeout(120_000);

let database: TestDatabase;
beforeAll(async () => {
  await buildBinary();
  database = await createMigratedTestDatabase();
});
afterAll(() => database.drop());

/** A port nobody listens on right now. */
function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

test("serve answers /metrics on the metrics port only, and 404 there for anything else", async () => {
  const metricsPort = freePort();
  await using serve = await startServe({ env: { ...database.env, USERSVC_METRICS: String(metricsPort) } });
  const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  expect(metrics.status).toBe(200);
  expect(await metrics.text()).toMatch(/^usersvc_outbox_backlog \d+$/m);
  expect((await fetch(`http://127.0.0.1:${metricsPort}/api/v1/users/me`)).status).toBe(404);
  expect((await fetch(`${serve.url}/metrics`)).status).toBe(404);
  expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);
  expect((await serve.stop()).exitCode).toBe(0);
});

test("with USERSVC_METRICS_TOKEN, the metrics port answers 401 without the bearer token and 200 with it", async () => {
  const metricsPort = freePort();
  const token = "scrape-token-for-the-metrics-port";
  await using serve = await startServe({
    env: { ...database.env, USERSVC_METRICS: String(metricsPort), USERSVC_METRICS_TOKEN: token },
  });
  const url = `http://127.0.0.1:${metricsPort}/metrics`;
  expect((await fetch(url)).status).toBe(401);
  expect((await fetch(url, { headers: { authorization: "Bearer not-the-token" } })).status).toBe(401);
  const metrics = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  expect(metrics.status).toBe(200);
  expect(await metrics.text()).toMatch(/^usersvc_outbox_backlog \d+$/m);
  expect((await serve.stop()).exitCode).toBe(0);
});
