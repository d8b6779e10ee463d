/**
 * Checks of who is at the keyboard before a sensitive change: the current
 * password (counted with the account's login attempts), or — for changes
 * that allow it — a sign-in recent enough (USERSVC_PRIVILEGED_MAX_AGE), like
 * Kratos' privileged sessions.
 */
import { adminActor } from "../audit/actor.ts";
import { appendAudit } from "../audit/audit.ts";
import type { Core } from "../core.ts";
import { markSteppedUp } from "./queries.ts";
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

/** When the session last proved its user: the sign-in, or a later password confirmation (confirmPassword). */
export function lastAuthenticated(session: { createdAt: Date; stepUpAt: Date | null }): Date {
  return session.stepUpAt && session.stepUpAt > session.createdAt ? session.stepUpAt : session.createdAt;
}

/** Whether the session proved its user within `maxAgeSeconds` (the admin console's USERSVC_ADMIN_MAX_AGE). */
export function authenticatedWithin(core: Core, session: { createdAt: Date; stepUpAt: Date | null }, maxAgeSeconds: number): boolean {
  return core.now().getTime() - lastAuthenticated(session).getTime() <= maxAgeSeconds * 1000;
}

/**
 * The admin console's step-up: the current password, checked as a sensitive
 * change's is, then remembered on the session (sessions.step_up_at), so the
 * actions of the next USERSVC_ADMIN_MAX_AGE seconds need no second one.
 */
export async function confirmPassword(core: Core, principal: { user: UserRecord; session: { id: string } }, password: string, ip: string | null): Promise<void> {
  const { user, session } = principal;
  const entry = (event: string) => ({ event, actor: adminActor(user.id, ip), targetId: user.id, data: { session_id: session.id } });
  try {
    await checkCurrentPassword(core, user, password, ip);
  } catch (error) {
    // A stolen console cookie guessing the password leaves a trace (the attempts are limited like a login's).
    if (error instanceof DomainError && error.code === "WRONG_PASSWORD") await appendAudit(core.db, entry("session.step_up_failed"), core.now());
    throw error;
  }
  await markSteppedUp(core.db, session.id, core.now());
  await appendAudit(core.db, entry("session.stepped_up"), core.now());
}
