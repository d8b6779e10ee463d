/**
 * The database floors: bare Bun.serve routes that do only what a request of
 * usersvc must do in the database, through the driver usersvc uses —
 * postgres.js with usersvc's pool settings, or an embedded PGlite in a
 * directory of its own (the server holds the bench's).
 *   GET /        the read floor: one row by primary key (what /users/me would cost uncached)
 *   POST /write  the write floor: refresh's rotation alone, the single conditional
 *                UPDATE … WHERE id = $1 AND refresh_jti = $2 AND revoked_at IS NULL
 *                RETURNING *, on a table shaped like sessions. The body and answer
 *                carry the row's current token ("row:jti") as refresh_token, so
 *                the same wrk script (refresh-chain.lua) drives it and refresh;
 *                GET /tokens gives the rows' current tokens to start from.
 * A refresh does that write and more (two signatures, JSON), so it cannot beat it.
 *
 *   bun bench/db-floors.ts PORT [DATABASE_URL]     (started by bench/run.ts)
 */
import { PGlite } from "@electric-sql/pglite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

const [port, url] = process.argv.slice(2);
const FLOOR_ROWS = 64;

const table = `create table if not exists bench_floor_sessions (
  id uuid primary key, user_id uuid not null, refresh_jti text not null, previous_jti text, generation integer not null default 0,
  created_at timestamptz not null default now(), last_used_at timestamptz not null default now(), rotated_at timestamptz,
  expires_at timestamptz not null, revoked_at timestamptz);
  create index if not exists bench_floor_sessions_user_id_idx on bench_floor_sessions (user_id)`;
const rotate = `update bench_floor_sessions set refresh_jti = $3, previous_jti = $2, rotated_at = now(), last_used_at = now(), expires_at = now() + interval '30 days'
  where id = $1 and refresh_jti = $2 and revoked_at is null returning *`;
const ids = Array.from({ length: FLOOR_ROWS }, () => crypto.randomUUID());
/** Each row's current token, for GET /tokens: where the next measurement starts. */
const current = ids.map((id) => `${id}-0`);

let query: (text: string, params: unknown[]) => Promise<unknown[]>;
if (url) {
  const sql = postgres(url, { max: 10, prepare: false, onnotice: () => {} });
  query = (text, params) => sql.unsafe(text, params as string[]);
} else {
  const db = new PGlite(mkdtempSync(join(tmpdir(), "usersvc-db-floors-")));
  query = async (text, params) => (await db.query(text, params)).rows;
}
for (const statement of table.split(";")) await query(statement, []);
for (const id of ids) await query("insert into bench_floor_sessions (id, user_id, refresh_jti, expires_at) values ($1, $2, $3, now() + interval '30 days')", [id, crypto.randomUUID(), `${id}-0`]);

Bun.serve({
  port: Number(port),
  hostname: "127.0.0.1",
  async fetch(request) {
    if (new URL(request.url).pathname === "/tokens") return new Response(current.map((jti, row) => `${row}:${jti}`).join(" "));
    if (request.method !== "POST") return Response.json({ ok: true, rows: (await query("select id, user_id, refresh_jti from bench_floor_sessions where id = $1", [ids[0]])).length });
    const [row, jti] = String(((await request.json()) as { refresh_token: string }).refresh_token).split(":");
    const next = crypto.randomUUID();
    const updated = await query(rotate, [ids[Number(row)], jti, next]);
    if (updated.length !== 1) return Response.json({ error: { code: "INVALID_TOKEN" } }, { status: 401 });
    current[Number(row)] = next;
    return Response.json({ data: { refresh_token: `${row}:${next}` } });
  },
});
console.log("up");
