/**
 * The refresh phase's second baseline: a bare Bun.serve route that reads one
 * row by primary key per request, through the driver usersvc uses —
 * postgres.js with usersvc's pool settings, or an embedded PGlite in a
 * directory of its own (the server holds the bench's). A refresh does that
 * read and more (two signatures, JSON), so it cannot beat this.
 *
 *   bun bench/read-floor.ts PORT [DATABASE_URL]     (started by bench/run.ts)
 */
import { PGlite } from "@electric-sql/pglite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

const [port, url] = process.argv.slice(2);
const id = crypto.randomUUID();
let read: () => Promise<number>;
if (url) {
  const sql = postgres(url, { max: 10, prepare: false, onnotice: () => {} });
  read = async () => (await sql`select id, user_id, refresh_jti from sessions where id = ${id}`).length;
} else {
  const db = new PGlite(mkdtempSync(join(tmpdir(), "usersvc-read-floor-")));
  await db.exec("create table sessions (id uuid primary key, user_id uuid not null, refresh_jti text not null)");
  await db.query("insert into sessions values ($1, $2, $3)", [id, crypto.randomUUID(), crypto.randomUUID()]);
  read = async () => (await db.query("select id, user_id, refresh_jti from sessions where id = $1", [id])).rows.length;
}
Bun.serve({ port: Number(port), hostname: "127.0.0.1", fetch: async () => Response.json({ ok: true, rows: await read() }) });
console.log("up");
