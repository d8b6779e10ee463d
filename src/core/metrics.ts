/**
 * Prometheus metrics (prom-client): one registry per core, so every test
 * server and every instance counts on its own. Core code reports through the
 * named methods; the HTTP layer adds request metrics and serves the text.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { sql } from "drizzle-orm";
import { type Database, poolInfo } from "./db/client.ts";
import { rows } from "./db/migrate.ts";
import { outboxBacklog } from "./events/outbox-queries.ts";

export interface Metrics {
  readonly registry: Registry;
  loginOutcome(outcome: string): void;
  passwordWork(kind: "hash" | "verify", seconds: number): void;
  httpRequest(method: string, route: string, status: number, seconds: number): void;
}

export function createMetrics(db: Database): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "usersvc_" });
  const requests = new Counter({
    name: "usersvc_http_requests_total",
    help: "HTTP requests by method, route pattern and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "usersvc_http_request_duration_seconds",
    help: "HTTP request duration by method, route pattern and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const logins = new Counter({
    name: "usersvc_logins_total",
    help: "Login attempts by outcome (success, mfa_required, or the error code)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const hashing = new Histogram({
    name: "usersvc_password_hash_duration_seconds",
    help: "argon2id work per call, waiting for a slot included",
    labelNames: ["kind"] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2],
    registers: [registry],
  });
  new Gauge({
    name: "usersvc_outbox_backlog",
    help: "Events waiting for delivery (pending outbox rows)",
    registers: [registry],
    async collect() {
      this.set(await outboxBacklog(db));
    },
  });
  const pool = poolInfo(db);
  if (pool) {
    new Gauge({
      name: "usersvc_db_pool_max_connections",
      help: "Connections the database pool may open (1: the embedded database)",
      registers: [registry],
    }).set(pool.max);
  }
  const applicationName = pool?.applicationName;
  if (applicationName) {
    new Gauge({
      name: "usersvc_db_pool_connections",
      help: "This instance's open database connections by state, as PostgreSQL reports them (the scrape's own query is one active)",
      labelNames: ["state"] as const,
      registers: [registry],
      async collect() {
        const counted = rows<{ state: string; n: number }>(
          await db.execute(sql`select coalesce(state, 'unknown') as state, count(*)::int as n
            from pg_stat_activity where application_name = ${applicationName} group by 1`),
        );
        this.reset();
        for (const state of ["active", "idle", "idle in transaction"]) this.set({ state }, 0);
        for (const { state, n } of counted) this.set({ state }, Number(n));
      },
    });
  }
  return {
    registry,
    loginOutcome: (outcome) => logins.inc({ outcome }),
    passwordWork: (kind, seconds) => hashing.observe({ kind }, seconds),
    httpRequest(method, route, status, seconds) {
      const labels = { method, route, status: String(status) };
      requests.inc(labels);
      latency.observe(labels, seconds);
    },
  };
}
