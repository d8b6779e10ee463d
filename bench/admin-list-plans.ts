/**
 * Query plans of the admin user list on a large table: seeds N users
 * (default 100,000) into a throwaway database, runs the real listUsers()
 * for the common filters, and prints EXPLAIN ANALYZE of each SQL statement it
 * issued, with its time. PostgreSQL when DATABASE_URL is set (a throwaway
 * database is created on that server and dropped), otherwise PGlite in a
 * temporary directory.
 *
 *   bun bench/admin-list-plans.ts [N]
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bun bench/admin-list-plans.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { loadConfig } from "../src/config.ts";
import { createCore } from "../src/core/core.ts";
import { type Database, openDatabase } from "../src/core/db/client.ts";
import { migrateDatabase } from "../src/core/db/migrate.ts";
import * as schema from "../src/core/db/schema.ts";
import { listUsers, type UserListQuery } from "../src/core/users/list.ts";
import { createLogger } from "../src/logger.ts";

const count = Number(process.argv[2] ?? 100_000);
const serverUrl = process.env.DATABASE_URL?.trim() || null;
const captured: { query: string; params: unknown[] }[] = [];
const logger = { logQuery: (query: string, params: unknown[]) => void captured.push({ query, params }) };

let explain: (query: string, params: unknown[]) => Promise<string[]>;
let db: Database;
let cleanup: () => Promise<void>;

if (serverUrl) {
  const name = `usersvc_plans_${process.pid}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const client = postgres(url.toString(), { max: 4, onnotice: () => {}, prepare: false });
  db = drizzlePostgres(client, { schema, logger });
  explain = async (query, params) =>
    (await client.unsafe(`explain (analyze, buffers off) ${query}`, params as never[])).map((r) => String(r["QUERY PLAN"]));
  cleanup = async () => {
    await client.end();
    await admin.unsafe(`drop database ${name} with (force)`);
    await admin.end();
  };
} else {
  const dir = mkdtempSync(join(tmpdir(), "usersvc-plans-"));
  const handle = await openDatabase({ databaseUrl: null, dataDir: dir });
  const client = (handle.db as unknown as { $client: PGlite }).$client;
  db = drizzlePglite(client, { schema, logger }) as unknown as Database;
  explain = async (query, params) =>
    (await client.query<Record<string, string>>(`explain (analyze) ${query}`, params)).rows.map((r) => String(r["QUERY PLAN"]));
  cleanup = async () => {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  };
}

await migrateDatabase(db);
const seeded = performance.now();
await db.execute(sql`
  insert into users (email, username, password_hash, roles, status, blocked_until, deleted_at, created_at)
  select 'user' || g || '@example' || (g % 50) || '.com',
         'user_' || g,
         '$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA',
         case when g % 1000 = 0 then array['user','admin'] when g % 10 = 0 then array['user','support'] else array['user'] end,
         case when g % 20 = 0 then 'blocked' when g % 33 = 0 then 'deleted' else 'active' end,
         case when g % 40 = 0 then now() + interval '7 days' end,
         case when g % 33 = 0 and g % 20 <> 0 then now() end,
         now() - (g || ' seconds')::interval
  from generate_series(1, ${count}) g`);
await db.execute(sql`analyze users`);
console.log(`${serverUrl ? "PostgreSQL" : "PGlite"}: seeded ${count} users in ${Math.round(performance.now() - seeded)} ms\n`);

const config = loadConfig({ LOG_LEVEL: "silent" });
const core = await createCore({ config, db, dbKind: serverUrl ? "postgres" : "pglite", logger: createLogger("silent") });

const cases: [string, UserListQuery][] = [
  ["first page, newest first (default)", {}],
  ["status=blocked", { status: "blocked" }],
  ["status=active, sort=created_at", { status: "active", sort: "created_at" }],
  ["role=admin", { role: "admin" }],
  ["q=ser4242 (substring)", { q: "ser4242" }],
  ["sort=email", { sort: "email" }],
  ["sort=username", { sort: "username" }],
];
for (const [title, query] of cases) {
  captured.length = 0;
  const first = await listUsers(core, { ...query, limit: 50 });
  const statements = [...captured];
  // The second page through the cursor, the way a client walks the list.
  captured.length = 0;
  if (first.next_cursor) await listUsers(core, { ...query, limit: 50, cursor: first.next_cursor });
  const cursorStatement = captured[0];
  console.log(`## ${title}: ${first.items.length} of ${first.total}`);
  for (const [label, statement] of [
    ["page", statements[0]],
    ["total", statements[1]],
    ["next page (cursor)", cursorStatement],
  ] as const) {
    if (!statement) continue;
    const plan = await explain(statement.query, statement.params);
    console.log(`-- ${label}`);
    for (const line of plan) console.log(`   ${line}`);
  }
  console.log();
}
await cleanup();
