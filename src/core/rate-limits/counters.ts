/**
 * The rate-limit counters table: fixed windows counted with one atomic
 * upsert per batch of hits. Plain queries on `db`; the limits built on them
 * (what is counted, how much is allowed) are in throttle.ts and attempts.ts.
 */
import { and, eq, lt, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { rows } from "../db/migrate.ts";
import { rateLimits } from "../db/schema.ts";

export interface CountedKey {
  key: string;
  count: number;
  started: Date;
}

/** A key's count in its current window: 0 when it has none or its window has ended. */
export async function readHits(db: Db, key: string, now: Date, windowMs: number): Promise<{ count: number; started: Date }> {
  const [row] = await db.select().from(rateLimits).where(eq(rateLimits.key, key));
  if (!row || row.windowStartedAt.getTime() + windowMs <= now.getTime()) return { count: 0, started: now };
  return { count: row.count, started: row.windowStartedAt };
}

/**
 * Adds `hits` to each key's count in one atomic upsert, starting a new window
 * for a key whose window has ended; returns the counts. Keys must be
 * distinct; they are written in sorted order so that two batches never wait
 * on each other's rows in opposite orders.
 */
export async function addHits(db: Db, counts: { key: string; hits: number }[], now: Date, windowMs: number): Promise<CountedKey[]> {
  if (counts.length === 0) return [];
  const windowStart = new Date(now.getTime() - windowMs).toISOString();
  const sorted = [...counts].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const values = sql.join(
    sorted.map(({ key, hits }) => sql`(${key}, ${hits}::int, ${now.toISOString()}::timestamptz)`),
    sql`, `,
  );
  const counted = rows<{ key: string; count: number; started: string | Date }>(
    await db.execute(sql`
      insert into ${rateLimits} (key, count, window_started_at) values ${values}
      on conflict (key) do update set
        count = case when ${rateLimits.windowStartedAt} <= ${windowStart}::timestamptz
          then excluded.count else ${rateLimits.count} + excluded.count end,
        window_started_at = case when ${rateLimits.windowStartedAt} <= ${windowStart}::timestamptz
          then excluded.window_started_at else ${rateLimits.windowStartedAt} end
      returning key, count, window_started_at as started`),
  );
  return counted.map((row) => ({ key: row.key, count: Number(row.count), started: new Date(row.started) }));
}

/**
 * Takes one hit back from a key's count (an attempt reserved and then not held against anyone),
 * only from the window it was counted in: a later window's count is not the slot's to lower.
 */
export async function releaseHit(db: Db, slot: Pick<CountedKey, "key" | "started">): Promise<void> {
  await db
    .update(rateLimits)
    .set({ count: sql`greatest(${rateLimits.count} - 1, 0)` })
    .where(and(eq(rateLimits.key, slot.key), eq(rateLimits.windowStartedAt, slot.started)));
}

/** Forgets one key's count (a success clears the account's failures). */
export async function deleteCounter(db: Db, key: string): Promise<void> {
  await db.delete(rateLimits).where(eq(rateLimits.key, key));
}

/** Drops counters whose window started before `cutoff`. */
export async function deleteCountersBefore(db: Db, cutoff: Date): Promise<void> {
  await db.delete(rateLimits).where(lt(rateLimits.windowStartedAt, cutoff));
}
