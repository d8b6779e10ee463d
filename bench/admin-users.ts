/**
 * The admin console's users list and overview on 100,000 users (PostgreSQL):
 * seeds a scratch database with INSERT … SELECT generate_series (users, three
 * sessions each, their registrations in the audit log), starts the real
 * server in-process, signs an admin in on /login (a cookie jar), and times
 * GET /admin/users for the common views. Prints the median and p95 of the
 * request's wall time from this client and of the server's own duration_ms
 * (its request log), with GET /healthz of the same run as the baseline.
 *
 *   bun bench/admin-users.ts [N] [REQUESTS]
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun bench/admin-users.ts
 */
import postgres from "postgres";
import { CLI_ACTOR } from "../src/core/audit/actor.ts";
import { loadConfig } from "../src/config.ts";
import { openUsersvc } from "../src/core/start-up.ts";
import { createUser } from "../src/core/users/users.ts";
import { createLogger } from "../src/logger.ts";
import { createApp } from "../src/server/app.ts";
import { PageSession } from "./page-session.ts";

const count = Number(process.argv[2] ?? 100_000);
const requests = Number(process.argv[3] ?? 50);
const serverUrl = process.env.DATABASE_URL?.trim() || "postgres://postgres@127.0.0.1:5432/test";
const name = "usersvc_bench_admin";
const root = postgres(serverUrl, { max: 1, onnotice: () => {} });
await root.unsafe(`drop database if exists ${name} with (force)`);
await root.unsafe(`create database ${name}`);
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${name}`;

const logs: string[] = [];
const config = loadConfig({
  DATABASE_URL: dbUrl.toString(),
  LOG_LEVEL: "info",
  USERSVC_LOGIN_MAX_ATTEMPTS: "100000",
  USERSVC_RATE_LIMIT_PER_IP: "100000",
});
const usersvc = await openUsersvc(config, createLogger(config.logLevel, { write: (line: string) => void logs.push(line) }), { migrate: true });
const core = await usersvc.core();

const seeding = performance.now();
const scratch = postgres(dbUrl.toString(), { max: 1, onnotice: () => {} });
// Every 20th blocked (half of them until next week), every 33rd deleted, every 10th support, every 1000th admin.
await scratch.unsafe(`
  insert into users (email, username, password_hash, roles, status, blocked_reason, blocked_until, deleted_at, created_at)
  select 'user' || g || '@example' || (g % 50) || '.com',
         'user_' || g,
         '$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA',
         case when g % 1000 = 0 then array['user','admin'] when g % 10 = 0 then array['user','support'] else array['user'] end,
         case when g % 20 = 0 then 'blocked' when g % 33 = 0 then 'deleted' else 'active' end,
         case when g % 20 = 0 then 'bench' end,
         case when g % 40 = 0 then now() + interval '7 days' end,
         case when g % 33 = 0 and g % 20 <> 0 then now() end,
         now() - (g || ' seconds')::interval
  from generate_series(1, ${count}) g`);
// For the overview: three sessions per user over the last 30 days (a third of them ended), a registration
// audit entry per user, and sign-up and sign-in counters for every hour of the last 30 days.
await scratch.unsafe(`
  insert into sessions (user_id, refresh_jti, created_at, last_used_at, expires_at, revoked_at)
  select u.id, gen_random_uuid()::text, c.at, c.at, c.at + interval '30 days', case when random() < 0.33 then c.at end
  from users u, generate_series(1, 3) s, lateral (select now() - random() * interval '30 days' as at) c`);
await scratch.unsafe(`
  insert into audit_log (id, occurred_at, event, actor_type, actor_id, target_id, data, prev_hash, hash)
  select (select coalesce(max(id), 0) from audit_log) + row_number() over (order by created_at), created_at, 'user.registered', 'user', id, id, '{}', 'bench', 'bench'
  from users`);
await scratch.unsafe(`
  insert into activity_counts (hour, kind, count)
  select date_trunc('hour', now()) - h * interval '1 hour', k, (random() * 400)::int
  from generate_series(0, 30 * 24) h, unnest(array['sign_up', 'sign_in.succeeded', 'sign_in.failed', 'sign_in.blocked', 'sign_in.unverified']) k
  on conflict (hour, kind) do update set count = excluded.count`);
await scratch.unsafe("analyze");
console.log(`PostgreSQL: seeded ${count} users, ${3 * count} sessions and ${count} audit entries in ${Math.round(performance.now() - seeding)} ms`);

const app = createApp(core).listen({ hostname: "127.0.0.1", port: 0 });
const base = `http://127.0.0.1:${app.server!.port}`;

// The admin signs in on /login as a browser does: the CSRF cookie and token of the page, then the session cookie.
const password = "correct horse battery staple";
await createUser(core, { email: "bench-admin@example.org", username: "bench_admin", password }, { actor: CLI_ACTOR, roles: ["user", "admin"], isVerified: true });
const browser = new PageSession(base);
await browser.signIn("bench-admin@example.org", password);
const get = browser.get.bind(browser);

/** The 10th page: follow nine "Next page" links. */
async function tenthPagePath(): Promise<string> {
  let path = "/admin/users";
  for (let i = 0; i < 9; i++) {
    const html = await (await get(path)).text();
    const next = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(html)?.[1];
    if (!next) throw new Error(`no next page after page ${i + 1}`);
    path = next.replaceAll("&amp;", "&");
  }
  return path;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Row {
  title: string;
  rows: string;
  p50: number;
  p95: number;
  s50: number;
  s95: number;
}

async function time(title: string, path: string): Promise<Row> {
  const first = await get(path);
  const html = await first.text();
  if (first.status !== 200) throw new Error(`${path} answered ${first.status}`);
  const total = /id="users-total">(\d+)/.exec(html)?.[1] ?? "-";
  const wall: number[] = [];
  const server: number[] = [];
  for (let i = 0; i < requests; i++) {
    logs.length = 0;
    const start = performance.now();
    const response = await get(path);
    await response.arrayBuffer();
    wall.push(performance.now() - start);
    const line = logs.map((l) => JSON.parse(l) as { msg?: string; duration_ms?: number }).find((l) => l.msg === "request" && l.duration_ms !== undefined);
    if (line) server.push(line.duration_ms!);
  }
  wall.sort((a, b) => a - b);
  server.sort((a, b) => a - b);
  return { title, rows: total, p50: quantile(wall, 0.5), p95: quantile(wall, 0.95), s50: server.length ? quantile(server, 0.5) : NaN, s95: server.length ? quantile(server, 0.95) : NaN };
}

const results: Row[] = [];
results.push(await time("baseline GET /healthz", "/healthz"));
results.push(await time("first page (newest first)", "/admin/users"));
results.push(await time("q=ser4242 (inside the email)", "/admin/users?q=ser4242"));
results.push(await time("q=user1234 (a prefix)", "/admin/users?q=user1234"));
results.push(await time("q=example7.com (one domain in 50)", "/admin/users?q=example7.com"));
results.push(await time("q=user99999@ (rare: 1 row)", "/admin/users?q=user99999%40"));
results.push(await time("status=blocked", "/admin/users?status=blocked"));
results.push(await time("role=admin", "/admin/users?role=admin"));
results.push(await time("role=support", "/admin/users?role=support"));
results.push(await time("sort=email", "/admin/users?sort=email"));
results.push(await time("10th cursor page", await tenthPagePath()));
results.push(await time("the overview (/admin)", "/admin"));

const baseline = results[0]!.p50;
const f = (n: number) => (Number.isNaN(n) ? "-" : n.toFixed(1));
console.log(`\n${requests} requests each, one at a time; wall = this client's request time, server = the request log's duration_ms (ms)\n`);
console.log(`${"case".padEnd(40)} ${"matches".padStart(7)} ${"wall p50".padStart(9)} ${"wall p95".padStart(9)} ${"srv p50".padStart(8)} ${"srv p95".padStart(8)} ${"x base".padStart(7)}`);
for (const r of results) {
  console.log(`${r.title.padEnd(40)} ${r.rows.padStart(7)} ${f(r.p50).padStart(9)} ${f(r.p95).padStart(9)} ${f(r.s50).padStart(8)} ${f(r.s95).padStart(8)} ${(r.p50 / baseline).toFixed(1).padStart(7)}`);
}
// The 50 ms target is the users list's (issue 15); the overview is printed for comparison.
const slow = results.filter((r) => r.title !== results[0]!.title && !r.title.startsWith("the overview") && r.p50 > 50);
console.log(slow.length ? `\nusers list over the 50 ms target (p50): ${slow.map((r) => r.title).join(", ")}` : "\nevery users list page within the 50 ms target (p50)");

await app.stop();
await usersvc.close();
await scratch.end();
// BENCH_KEEP=1 leaves the database for EXPLAIN ANALYZE by hand.
if (process.env.BENCH_KEEP !== "1") await root.unsafe(`drop database ${name} with (force)`);
await root.end();
