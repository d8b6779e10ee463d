/**
 * Attempts at a secret — a password at login, a TOTP or recovery code, the
 * current password on an authenticated route — limited per account and per
 * client IP (SPEC §4 login failures).
 *
 * A slot is reserved atomically (one upsert adding 1 and returning the
 * count, per counter) before the secret is checked, so a burst of any size,
 * on any number of instances sharing the database, checks at most
 * USERSVC_LOGIN_MAX_ATTEMPTS secrets a window; the others answer 429 without
 * checking anything, and hold no slot of anyone's. A correct secret gives its
 * slot back; a failure keeps it.
 */
import type { Core } from "../core.ts";
import { RateLimitError } from "../errors.ts";
import { addHits, type CountedKey, releaseHit } from "./counters.ts";
import { clearLimit, limitedIp } from "./throttle.ts";
import { sha256Hex } from "../digest.ts";

export interface Attempt {
  /** The secret was right and the sign-in is complete: the account's failures are forgotten. */
  succeeded(): Promise<void>;
  /** The secret was right but another step follows (a second factor): the slot is given back, failures stay. */
  passed(): Promise<void>;
}

/**
 * Which secrets an account's counter holds. `login`: passwords and second
 * factors, cleared by a complete sign-in. `verification_code`: the 6-digit
 * email code, a counter of its own that no sign-in clears — whoever tries
 * codes for an address they cannot read may well know the account's password
 * (they signed up with that address), and a sign-in between tries must not
 * hand them a fresh allowance. The client IP's counter is shared by both.
 */
export type AttemptScope = "login" | "verification_code";

/**
 * `account` is the user id once the account is known, or what was typed for
 * an unknown one (counted the same way, so the limiter reveals nothing).
 */
export async function reserveAttempt(
  core: Core,
  account: { userId: string } | { typed: string },
  ip: string | null,
  scope: AttemptScope = "login",
): Promise<Attempt> {
  const prefix = scope === "login" ? "login" : "verify_code";
  const accountKey = "userId" in account ? `${prefix}:user:${account.userId}` : `${prefix}:account:${typedKey(account.typed)}`;
  const ipKey = ip ? `login:ip:${limitedIp(ip)}` : null;
  const now = core.now();
  const windowMs = core.config.loginWindow * 1000;
  const reserve = async (key: string): Promise<CountedKey> => (await addHits(core.db, [{ key, hits: 1 }], now, windowMs))[0]!;
  const refuse = (row: CountedKey) => new RateLimitError(Math.max(Math.ceil((row.started.getTime() + windowMs - now.getTime()) / 1000), 1));
  // The client IP first: a request its IP may no longer make counts against no account (else one
  // IP could lock every account out) and adds no counter row for whatever name it typed.
  const ipSlot = ipKey ? await reserve(ipKey) : null;
  if (ipSlot && ipSlot.count > core.config.loginMaxAttempts) throw refuse(ipSlot);
  const accountSlot = await reserve(accountKey);
  if (accountSlot.count > core.config.loginMaxAttempts) {
    // Nothing was checked: the IP's slot is given back (people sharing the IP keep theirs).
    if (ipSlot) await releaseHit(core.db, ipSlot);
    throw refuse(accountSlot);
  }

  return {
    async succeeded() {
      await clearLimit(core, accountKey);
      if (ipSlot) await releaseHit(core.db, ipSlot);
    },
    async passed() {
      await Promise.all([accountSlot, ...(ipSlot ? [ipSlot] : [])].map((slot) => releaseHit(core.db, slot)));
    },
  };
}

/** The counter key of a name nobody has: a btree key, so a long name is stored as a digest. */
function typedKey(typed: string): string {
  const name = typed.trim().toLowerCase();
  return name.length > 256 ? `sha256:${sha256Hex(name)}` : name;
}

/**
 * One email sent on request (verification resend, password reset) per
 * account and cooldown: true for the first request of a cooldown, false for
 * the others, which the caller answers the same way but does not act on.
 */
export async function firstInCooldown(core: Core, purpose: string, userId: string): Promise<boolean> {
  const windowMs = core.config.emailCooldown * 1000;
  if (windowMs === 0) return true;
  const [row] = await addHits(core.db, [{ key: `cooldown:${purpose}:${userId}`, hits: 1 }], core.now(), windowMs);
  return row!.count === 1;
}
