/**
 * npm run bench -- --scale — how usersvc's costs grow with its data, on
 * PostgreSQL. A scratch database is grown to each size in turn (10k, 100k
 * and 1M users unless BENCH_SCALE_SIZES says otherwise), with 3 sessions and
 * 10 audit entries per user, by INSERT … SELECT generate_series. At each
 * size it measures
 *   over HTTP, the real server (dist/usersvc serve) on that database: login as
 *   random users (vs the argon2 verify ceiling), GET /users/me and forward auth
 *   (vs the bare floor) and rotating refreshes (vs the write floor of
 *   bench/db-floors.ts), with 32 random users' tokens, each baseline measured
 *   around its phase; and the admin console's users list, first page and a search
 *   (one match; median ms of 30);
 *   in this process, the core functions serve's timer and the CLI run: audit
 *   verify from its checkpoint after 100 new entries, the maintenance sweep with
 *   nothing due, and with 100 ended blocks and 100 purges due.
 * Prints each cost at each size and relative to the smallest (flat: within
 * ±20 %), and writes the chart docs/performance/scale.svg (or BENCH_SCALE_CHART).
 *
 *   npm run bench -- --scale
 *   BENCH_SCALE_SIZES=10000,100000 DATABASE_URL=postgres://… npm run bench -- --scale
 *   BENCH_KEEP=1 npm run bench -- --scale      # keep the scratch database (its URL is printed)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import postgres from "postgres";
import * as vega from "vega";
import { compile } from "vega-lite";
import { SYSTEM_ACTOR } from "../src/core/audit/actor.ts";
import { appendAudit, hashEntry, verifyAuditChain } from "../src/core/audit/audit.ts";
import { auditCheckpoints, auditLog } from "../src/core/db/schema.ts";
import { runMaintenance } from "../src/core/maintenance.ts";
import { loadConfig } from "../src/config.ts";
import { openUsersvc } from "../src/core/start-up.ts";
import { createLogger } from "../src/logger.ts";
import { desc } from "drizzle-orm";
import { PageSession } from "./page-session.ts";
import {
  BENCH_PASSWORD,
  binary,
  CHAINS,
  COST,
  cores,
  mean,
  must,
  passwordCeiling,
  prepare,
  randomPort,
  root,
  seconds,
  serverEnv,
  settle,
  startDbFloors,
  startFloor,
  waitReady,
  wrk,
} from "./tools.ts";

prepare();
const sizes = (process.env.BENCH_SCALE_SIZES ?? "10000,100000,1000000").split(",").map(Number);
must(sizes.every((n, i) => Number.isInteger(n) && n >= 5000 && (i === 0 || n > sizes[i - 1]!)), "BENCH_SCALE_SIZES: increasing whole numbers, each at least 5000");
const chartPath = process.env.BENCH_SCALE_CHART ?? join(root, "docs", "performance", "scale.svg");
const serverUrl = process.env.DATABASE_URL?.trim() || "postgres://postgres@127.0.0.1:5432/test";
const name = `usersvc_bench_scale_${process.pid}`;
const rootDb = postgres(serverUrl, { max: 1, onnotice: () => {} });
await rootDb.unsafe(`create database ${name}`);
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${name}`;
const env = serverEnv({ databaseUrl: dbUrl.toString() });
must(Bun.spawnSync({ cmd: [binary, "init-db"], env, stdout: "ignore", stderr: "inherit" }).exitCode === 0, "init-db failed");
const config = loadConfig(env);
const usersvc = await openUsersvc(config, createLogger("warn", { write: () => {} }));
const core = await usersvc.core();
const scratch = postgres(dbUrl.toString(), { max: 1, onnotice: () => {} });
const passwordHash = await Bun.password.hash(BENCH_PASSWORD, COST);
const floor = await startFloor();
// The write floor's table lives in the scratch database, beside the seeded sessions.
const dbFloors = await startDbFloors(dbUrl.toString());

// Seeded user g: user<g>@example<g % 50>.com, created at EPOCH + g seconds; every 20th blocked (every
// 40th until next week), every 33rd deleted yesterday, every 10th support. bench/lua/login-random.lua knows this.
const EPOCH = "timestamptz '2026-01-01 00:00:00+00'";
async function grow(from: number, to: number): Promise<number> {
  const started = performance.now();
  const newUsers = `u.created_at > ${EPOCH} + ${from} * interval '1 second' and u.username like 'user\\_%'`;
  await scratch.unsafe(
    `insert into users (email, username, password_hash, roles, status, is_verified, blocked_reason, blocked_until, deleted_at, created_at, updated_at)
     select 'user' || g || '@example' || (g % 50) || '.com', 'user_' || g, $1,
            case when g % 10 = 0 then array['user', 'support'] else array['user'] end,
            case when g % 20 = 0 then 'blocked' when g % 33 = 0 then 'deleted' else 'active' end, true,
            case when g % 20 = 0 then 'bench' end,
            case when g % 40 = 0 then now() + interval '7 days' end,
            case when g % 33 = 0 and g % 20 <> 0 then now() - interval '1 day' end,
            ${EPOCH} + g * interval '1 second', ${EPOCH} + g * interval '1 second'
     from generate_series(${from + 1}, ${to}) g`,
    [passwordHash],
  );
  // Three sessions each over the last 30 days, the third of them ended.
  await scratch.unsafe(`
    insert into sessions (user_id, refresh_jti, created_at, last_used_at, expires_at, revoked_at)
    select user_id, gen_random_uuid()::text, at, at, at + interval '30 days', case when s = 3 then at end
    from (select u.id as user_id, s, now() - random() * interval '30 days' as at from users u, generate_series(1, 3) s where ${newUsers}) x`);
  // Ten audit entries each (hashes left out: the checkpoint below vouches for what is before it).
  const [{ last }] = await scratch.unsafe<[{ last: number }]>("select coalesce(max(id), 0)::int as last from audit_log");
  await scratch.unsafe(`
    insert into audit_log (id, occurred_at, event, actor_type, actor_id, target_id, data, prev_hash, hash)
    select ${last} + (extract(epoch from u.created_at - ${EPOCH})::bigint - ${from + 1}) * 10 + e,
           u.created_at + e * interval '1 minute', case when e = 1 then 'user.registered' else 'user.login' end,
           'user', u.id, u.id, '{}', 'bench', 'bench'
    from users u, generate_series(1, 10) e where ${newUsers}`);
  // As if `audit verify` had run on the log so far: the newest entry hashed for real and checkpointed.
  const [newest] = await core.db.select().from(auditLog).orderBy(desc(auditLog.id)).limit(1);
  const hash = hashEntry(newest!);
  await scratch.unsafe("update audit_log set hash = $1 where id = $2", [hash, newest!.id]);
  await core.db.insert(auditCheckpoints).values({ entryId: newest!.id, entryHash: hash, verifiedAt: new Date() });
  // What autovacuum leaves after a load this size: visibility maps and the planner's statistics.
  await scratch.unsafe("vacuum analyze users, sessions, audit_log");
  // And the load's dirty pages written out now, not by a checkpoint in the middle of the phases.
  await scratch.unsafe("checkpoint");
  return performance.now() - started;
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** A measurement at one size: a cost (ms per operation, or the inverse of a share of its baseline: lower is better). */
interface Figure {
  measure: string;
  unit: string;
  value: number;
  /** What the chart and the flatness check compare: the cost, in any unit where higher is slower. */
  cost: number;
}

async function measureInProcess(): Promise<Figure[]> {
  await verifyAuditChain(core.db, { now: core.now() });
  const verifies: number[] = [];
  for (let round = 0; round < 9; round++) {
    for (let i = 0; i < 100; i++) await appendAudit(core.db, { event: "user.updated", actor: SYSTEM_ACTOR, targetId: null, data: { bench: i } }, core.now());
    verifies.push(await timed(async () => must((await verifyAuditChain(core.db, { now: core.now() })).checked === 100, "audit verify did not check the 100 new entries")));
  }
  const idleSweeps: number[] = [];
  for (let round = 0; round < 15; round++) idleSweeps.push(await timed(() => runMaintenance(core)));
  await scratch.unsafe(`update users set blocked_until = now() - interval '1 minute'
    where id in (select id from users where status = 'blocked' and blocked_until > now() order by created_at desc limit 100)`);
  await scratch.unsafe(`update users set deleted_at = now() - interval '400 days'
    where id in (select id from users where status = 'deleted' order by created_at desc limit 100)`);
  let swept = { unblocked: 0, purged: 0 };
  const dueSweep = await timed(async () => (swept = await runMaintenance(core)));
  must(swept.unblocked === 100 && swept.purged === 100, `the sweep did ${JSON.stringify(swept)}, not 100 unblocks and 100 purges`);
  const ms = (measure: string, value: number): Figure => ({ measure, unit: "ms", value, cost: value });
  return [
    ms("audit verify (checkpoint + 100)", median(verifies)),
    ms("sweep, nothing due", median(idleSweeps)),
    ms("sweep, 100 unblocks + 100 purges", dueSweep),
  ];
}

async function measureOverHttp(size: number): Promise<Figure[]> {
  const port = randomPort(40000);
  const started = performance.now();
  const server = Bun.spawn({ cmd: [binary, "serve", "--port", String(port), "--no-docs"], env, stdout: "ignore", stderr: "inherit" });
  const base = `http://127.0.0.1:${port}`;
  await waitReady(base, started);

  // 32 random active users, signed in: their access tokens for /me and forward auth, a refresh chain each.
  const tokens: { access_token: string; refresh_token: string }[] = [];
  while (tokens.length < 32) {
    const g = 1 + Math.floor(Math.random() * size);
    if (g % 20 === 0 || g % 33 === 0) continue;
    const response = await fetch(`${base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: `user${g}@example${g % 50}.com`, password: BENCH_PASSWORD }),
    });
    must(response.status === 200, `logging in user ${g} answered ${response.status}`);
    tokens.push(((await response.json()) as { data: (typeof tokens)[number] }).data);
  }
  const vars = {
    BENCH_USERS: String(size),
    BENCH_TOKENS: tokens.map((t) => t.access_token).join(" "),
    BENCH_REFRESH_TOKENS: tokens.map((t) => t.refresh_token).join(" "),
  };
  const figures: Figure[] = [];
  /** A wrk phase as a share of its baseline measured right before and right after it. */
  async function share(measure: string, path: string, script: string, connections: number, baseline: () => Promise<number>, threads?: number): Promise<void> {
    await settle(server.pid);
    const before = await baseline();
    const result = await wrk(base + path, script, connections, vars, threads);
    must(result.errors === 0, `${measure}: ${result.errors} errors`);
    const ratio = result.rps / mean([before, await baseline()]);
    figures.push({ measure, unit: "share", value: ratio, cost: 1 / ratio });
  }
  const floorRps = async () => (await floor.measure()).rps;
  await share("login (vs argon2 verify)", "/api/v1/auth/login", "login-random.lua", cores * 4, () => passwordCeiling("verify"));
  await share("GET /users/me (vs floor)", "/api/v1/users/me", "bearer-random.lua", 32, floorRps);
  await share("forward auth (vs floor)", "/api/v1/auth/forward", "bearer-random.lua", 32, floorRps);
  await share("refresh, rotating (vs write floor)", "/api/v1/auth/refresh", "refresh-chain.lua", CHAINS, async () => (await dbFloors.write()).rps, CHAINS);

  const browser = new PageSession(base);
  await browser.signIn("bench-admin@scale.example", BENCH_PASSWORD);
  for (const [measure, path] of [
    ["admin users list, first page", "/admin/users"],
    ["admin users search (1 match)", "/admin/users?q=user4242%40"],
  ] as const) {
    const times: number[] = [];
    for (let i = 0; i < 31; i++) {
      const start = performance.now();
      const response = await browser.get(path);
      const html = await response.text();
      must(response.status === 200 && html.includes("users-total"), `${path} answered ${response.status}`);
      if (i > 0) times.push(performance.now() - start);
    }
    figures.push({ measure, unit: "ms", value: median(times), cost: median(times) });
  }
  server.kill("SIGTERM");
  await server.exited;
  return figures;
}

// The admin who signs in on /login for the console's pages, created at the start (so not on the first page's
// newest users, which are the seeded ones: they are created later in the seeded clock).
await scratch.unsafe(
  `insert into users (email, username, password_hash, roles, is_verified, created_at) values ('bench-admin@scale.example', 'bench_admin', $1, array['user', 'admin'], true, ${EPOCH})`,
  [passwordHash],
);

const results: { size: number; seedMs: number; figures: Figure[] }[] = [];
let seeded = 0;
for (const size of sizes) {
  const seedMs = await grow(seeded, size);
  seeded = size;
  const figures = [...(await measureInProcess()), ...(await measureOverHttp(size))];
  results.push({ size, seedMs, figures });
  console.log(`${size} users: seeded in ${(seedMs / 1000).toFixed(0)} s; ${figures.map((f) => `${f.measure} ${format(f)}`).join("; ")}`);
}

floor.stop();
await dbFloors.stop();
await usersvc.close();
await scratch.end();
// BENCH_KEEP=1 leaves the database at its largest size, for EXPLAIN ANALYZE by hand.
if (process.env.BENCH_KEEP === "1") console.log(`kept: ${dbUrl}`);
else await rootDb.unsafe(`drop database ${name} with (force)`);
await rootDb.end();

function format(figure: Figure): string {
  return figure.unit === "ms" ? `${figure.value.toFixed(figure.value < 10 ? 2 : 1)} ms` : `${(figure.value * 100).toFixed(1)} %`;
}
const label = (n: number): string => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));

// ---- report
const first = results[0]!;
const lastSize = results.at(-1)!;
console.log(`\nusersvc growth — PostgreSQL, ${cores} cores, ${seconds} s per wrk phase, ${new Date().toISOString()}`);
console.log(`each user: 3 sessions, 10 audit entries; shares are of the baseline measured around the phase (higher is better), ms are medians (lower is better)\n`);
const header = ["measure".padEnd(34), ...results.map((r) => `${label(r.size)} users`.padStart(12)), `cost ${label(lastSize.size)} vs ${label(first.size)}`.padStart(16)];
console.log(header.join(" "));
const outside: string[] = [];
for (const [index, figure] of first.figures.entries()) {
  const growth = lastSize.figures[index]!.cost / figure.cost;
  const flat = Math.abs(growth - 1) <= 0.2;
  if (!flat) outside.push(figure.measure);
  console.log(
    [figure.measure.padEnd(34), ...results.map((r) => format(r.figures[index]!).padStart(12)), `×${growth.toFixed(2)}${flat ? "" : " (!)"}`.padStart(16)].join(" "),
  );
}
console.log(`seeding: ${results.map((r) => `${label(r.size)} in ${(r.seedMs / 1000).toFixed(0)} s`).join(", ")}`);
console.log(outside.length ? `\noutside ±20 % of the cost at ${label(first.size)}: ${outside.join(", ")}` : `\nevery cost within ±20 % from ${label(first.size)} to ${label(lastSize.size)}`);

// ---- the chart: each cost relative to the smallest size, on a log axis of users, with the ±20 % band.
const values = results.flatMap((r) => r.figures.map((f, i) => ({ users: r.size, measure: f.measure, relative: f.cost / first.figures[i]!.cost })));
const spec = compile({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title: { text: "usersvc: cost per operation as users grow (PostgreSQL)", subtitle: `relative to ${label(first.size)} users; the band is ±20 %` },
  width: 600,
  height: 300,
  layer: [
    { data: { values: [{ low: 0.8, high: 1.2 }] }, mark: { type: "rect", color: "#e8f0e8" }, encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" } } },
    {
      data: { values },
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "users", type: "quantitative", scale: { type: "log", domain: [sizes[0]!, sizes.at(-1)!], nice: false }, axis: { values: sizes, labelExpr: "datum.value >= 1e6 ? datum.value / 1e6 + 'M' : datum.value / 1e3 + 'k'", title: "users" } },
        y: { field: "relative", type: "quantitative", title: `cost relative to ${label(first.size)} users`, scale: { zero: true } },
        color: { field: "measure", type: "nominal", title: null, legend: { orient: "bottom", columns: 2, labelLimit: 320 } },
      },
    },
  ],
} as never).spec;
const svg = await new vega.View(vega.parse(spec), { renderer: "none" }).toSVG();
mkdirSync(dirname(chartPath), { recursive: true });
writeFileSync(chartPath, svg);
console.log(`chart: ${chartPath}`);
