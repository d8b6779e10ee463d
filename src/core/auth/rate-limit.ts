/**
 * Rate limits kept in the database, so they hold across every instance
 * sharing it: fixed windows of USERSVC_LOGIN_WINDOW seconds, counted with one
 * atomic upsert per hit.
 *
 * - Attempts at a secret (login, second factor, current password): per
 *   account and per client IP, reserved before checking (attempts.ts).
 * - Register, forgot-password, refresh, email verification and MFA codes:
 *   every request per client IP, at most USERSVC_RATE_LIMIT_PER_IP a window.
 */
import { isIP } from "node:net";
import { and, eq, lt, sql } from "drizzle-orm";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { rows } from "../db/migrate.ts";
import { rateLimits } from "../db/schema.ts";
import { RateLimitError } from "../errors.ts";

export type ThrottledAction = "register" | "forgot_password" | "refresh" | "verify_email" | "resend_verification" | "mfa";

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
 * What a client IP is counted as: an IPv6 address by its /64, the block one host is given and may
 * pick any source address from (per address, each of 2^64 would get a limit of its own).
 */
export function limitedIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const [head = "", tail] = ip.split("%")[0]!.toLowerCase().split("::");
  // An embedded IPv4 (::ffff:1.2.3.4) is two groups.
  const groups = (part: string | undefined) =>
    (part ? part.split(":") : []).flatMap((g) => (g.includes(".") ? dottedGroups(g) : [parseInt(g, 16)]));
  const left = groups(head);
  const right = groups(tail);
  const full = [...left, ...Array<number>(Math.max(0, 8 - left.length - right.length)).fill(0), ...right];
  // ::ffff:1.2.3.4 (however written) is an IPv4 client, counted by its own address.
  if (full.slice(0, 5).every((g) => g === 0) && full[5] === 0xffff) return [full[6]! >> 8, full[6]! & 255, full[7]! >> 8, full[7]! & 255].join(".");
  return `${full.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

function dottedGroups(v4: string): number[] {
  const [a = 0, b = 0, c = 0, d = 0] = v4.split(".").map(Number);
  return [(a << 8) | b, (c << 8) | d];
}

/** One request of a throttled action from `ip` (none for CLI calls: nothing to count). */
export async function throttle(core: Core, action: ThrottledAction, ip: string | null): Promise<void> {
  if (!ip) return;
  const key = `${action}:ip:${limitedIp(ip)}`;
  // Refresh is the one throttled route hot enough for a write per request to be its main cost.
  const { count, retryAfter } = action === "refresh" ? await core.refreshHits.hit(key) : await countHit(core, key);
  if (count > core.config.rateLimitPerIp) throw new RateLimitError(retryAfter);
}

async function countHit(core: Core, key: string): Promise<{ count: number; retryAfter: number }> {
  const now = core.now();
  const windowMs = core.config.loginWindow * 1000;
  const [row] = await addHits(core.db, [{ key, hits: 1 }], now, windowMs);
  return { count: row!.count, retryAfter: Math.max(1, Math.ceil((row!.started.getTime() + windowMs - now.getTime()) / 1000)) };
}

export async function clearLimit(core: Core, key: string): Promise<void> {
  await core.db.delete(rateLimits).where(eq(rateLimits.key, key));
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

/** Drops counters whose window has ended (the maintenance sweep). */
export async function deleteExpiredLimits(core: Core): Promise<void> {
  const longest = Math.max(core.config.loginWindow, core.config.emailCooldown);
  const cutoff = new Date(core.now().getTime() - longest * 1000);
  await core.db.delete(rateLimits).where(and(lt(rateLimits.windowStartedAt, cutoff)));
}
