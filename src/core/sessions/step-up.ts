/**
 * Checks of who is at the keyboard before a sensitive change: the current
 * password (counted with the account's login attempts), or — for changes
 * that allow it — a sign-in recent enough (USERSVC_PRIVILEGED_MAX_AGE), like
 * Kratos' privileged sessions.
 */
import type { Core } from "../core.ts";
import { DomainError } from "../errors.ts";
import { findPasswordHash } from "../users/queries.ts";
import type { UserRecord } from "../users/user-record.ts";
import { reserveAttempt } from "../rate-limits/attempts.ts";

/** Throws WRONG_PASSWORD (or RATE_LIMITED once the account's attempts are spent). */
export async function checkCurrentPassword(core: Core, user: UserRecord, password: string, ip: string | null): Promise<void> {
  const attempt = await reserveAttempt(core, { userId: user.id }, ip);
  const hash = await findPasswordHash(core.db, user.id);
  if (!hash || !(await core.passwords.verify(password, hash))) throw new DomainError("WRONG_PASSWORD");
  // Not a sign-in: the slot is given back, earlier failures (codes included) stay counted.
  await attempt.passed();
}

/**
 * The current password when given; otherwise the session must have signed
 * in within USERSVC_PRIVILEGED_MAX_AGE seconds, else REAUTHENTICATION_REQUIRED.
 */
export async function requirePrivileged(
  core: Core,
  user: UserRecord,
  session: { createdAt: Date },
  password: string | undefined,
  ip: string | null,
): Promise<void> {
  if (password !== undefined) return checkCurrentPassword(core, user, password, ip);
  const age = core.now().getTime() - session.createdAt.getTime();
  if (age > core.config.privilegedMaxAge * 1000) throw new DomainError("REAUTHENTICATION_REQUIRED");
}
