/**
 * Rate limits kept in the database, so they hold across every instance
 * sharing it: fixed windows of USERSVC_LOGIN_WINDOW seconds, counted with one
 * atomic upsert per hit.
 *
 * - Attempts at a secret (login, second factor, current password): per
 *   account and per client IP, reserved before checking (attempts.ts).
 * - Register, forgot-password, refresh, email verification, MFA codes,
 *   passkey sign-in options and sign-ins with a provider (started):
 *   every request per client IP, at most USERSVC_RATE_LIMIT_PER_IP a window.
 */
import { isIP } from "node:net";
import type { Core } from "../core.ts";
import { RateLimitError } from "../errors.ts";
import { addHits, deleteCounter, deleteCountersBefore } from "./counters.ts";

export type ThrottledAction = "register" | "forgot_password" | "refresh" | "verify_email" | "resend_verification" | "mfa" | "change_email" | "passkey" | "provider";

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
  await deleteCounter(core.db, key);
}

/** Drops counters whose window has ended (the maintenance sweep). */
export async function deleteExpiredLimits(core: Core): Promise<void> {
  const longest = Math.max(core.config.loginWindow, core.config.emailCooldown);
  const cutoff = new Date(core.now().getTime() - longest * 1000);
  await deleteCountersBefore(core.db, cutoff);
}
