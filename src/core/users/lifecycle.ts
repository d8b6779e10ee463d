/**
 * Lifecycle changes made by admins (API or CLI) and by the users themselves:
 * block, unblock, soft delete, restore, purge, force logout. Each is one
 * transaction: the change, the session revocations it implies, and its audit
 * entry. Existing tokens stop working on the next request because every
 * authenticated request re-reads the user's status (sessions/authenticate.ts).
 */
import { and, eq, isNotNull, lte, sql } from "drizzle-orm";
import { type Actor, SYSTEM_ACTOR } from "../audit/actor.ts";
import { recordChange } from "../events/record.ts";
import { deleteExpiredLimits } from "../rate-limits/throttle.ts";
import { pruneActivityCounts } from "../stats/activity-counts.ts";
import type { Principal } from "../sessions/session-tokens.ts";
import { checkCurrentPassword, requirePrivileged } from "../sessions/step-up.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { outboxEvents, users } from "../db/schema.ts";
import { DomainError, validationError } from "../errors.ts";
import { revokeUserSessions } from "../sessions/queries.ts";
import { assertNotLastAdmin } from "./last-admin.ts";
import { deleteUser, findPasswordHash, findUserById, updateUser } from "./queries.ts";
import type { UserRecord } from "./user-record.ts";

export interface BlockInput {
  reason?: string | null;
  /** ISO-8601 time at which the block ends by itself; absent: until unblocked. */
  until?: string | null;
}

export async function blockUser(core: Core, actor: Actor, userId: string, input: BlockInput): Promise<UserRecord> {
  const now = core.now();
  const reason = input.reason?.trim() || null;
  const until = parseUntil(input.until, now);
  if (reason && reason.length > 500) throw invalid("reason", "must be at most 500 characters");
  return core.db.transaction(async (tx) => {
    const user = await requireLiveUser(tx, userId);
    await assertNotLastAdmin(tx, user, now);
    const updated = await mustUpdate(tx, userId, { status: "blocked", blockedReason: reason, blockedUntil: until }, now);
    const revoked = await revokeUserSessions(tx, userId, "blocked", now);
    const data = { reason, until: until?.toISOString() ?? null, sessions_revoked: revoked };
    await recordChange(core, tx, { type: "user.blocked", actor, user: updated, data });
    return updated;
  });
}

export async function unblockUser(core: Core, actor: Actor, userId: string): Promise<UserRecord> {
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const user = await requireLiveUser(tx, userId);
    if (user.status !== "blocked") return user;
    const updated = await mustUpdate(tx, userId, { status: "active", blockedReason: null, blockedUntil: null }, now);
    await recordChange(core, tx, { type: "user.unblocked", actor, user: updated });
    return updated;
  });
}

export async function softDeleteUser(core: Core, actor: Actor, userId: string): Promise<UserRecord> {
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const user = await requireUser(tx, userId);
    if (user.status === "deleted") return user;
    await assertNotLastAdmin(tx, user, now);
    const updated = await mustUpdate(
      tx,
      userId,
      { status: "deleted", deletedAt: now, blockedReason: null, blockedUntil: null },
      now,
    );
    const revoked = await revokeUserSessions(tx, userId, "deleted", now);
    await recordChange(core, tx, { type: "user.deleted", actor, user: updated, data: { sessions_revoked: revoked } });
    return updated;
  });
}

/**
 * DELETE /users/me: the password again, then a soft delete like an admin's.
 * A user without a password (signed up with a provider) proves it is them by
 * a sign-in within USERSVC_PRIVILEGED_MAX_AGE instead.
 */
export async function deleteOwnAccount(core: Core, actor: Actor, principal: Principal, password: string | undefined): Promise<UserRecord> {
  const { user, session } = principal;
  if (await findPasswordHash(core.db, user.id)) {
    if (password === undefined) throw validationError([{ field: "password", message: "is required" }]);
    await checkCurrentPassword(core, user, password, actor.ip);
  } else {
    await requirePrivileged(core, user, session, undefined, actor.ip);
  }
  return softDeleteUser(core, actor, user.id);
}

export async function restoreUser(core: Core, actor: Actor, userId: string): Promise<UserRecord> {
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const user = await requireUser(tx, userId);
    if (user.status !== "deleted") return user;
    const updated = await mustUpdate(tx, userId, { status: "active", deletedAt: null }, now);
    await recordChange(core, tx, { type: "user.restored", actor, user: updated });
    return updated;
  });
}

/** Removes the user for good; sessions and ledger rows go with it, audit entries keep the id. */
export async function purgeUser(core: Core, actor: Actor, userId: string): Promise<{ id: string; purged: true }> {
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const user = await requireUser(tx, userId);
    await assertNotLastAdmin(tx, user, now);
    await deleteUser(tx, userId);
    await recordChange(core, tx, { type: "user.purged", actor, user });
    return { id: userId, purged: true as const };
  });
}

export async function forceLogout(core: Core, actor: Actor, userId: string): Promise<{ revoked: number }> {
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const user = await requireUser(tx, userId);
    const revoked = await revokeUserSessions(tx, userId, "admin_logout", now);
    await recordChange(core, tx, { type: "session.revoked", actor, user, data: { reason: "admin_logout", sessions_revoked: revoked } });
    return { revoked };
  });
}

/**
 * The periodic sweep `serve` runs: records blocks that ended by themselves
 * and purges users soft-deleted more than USERSVC_PURGE_AFTER days ago.
 */
export async function runLifecycleSweep(core: Core): Promise<{ unblocked: number; purged: number }> {
  const now = core.now();
  const expiredBlocks = await core.db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.status, "blocked"), lte(users.blockedUntil, now)));
  let unblocked = 0;
  for (const { id } of expiredBlocks) {
    await core.db.transaction(async (tx) => {
      const stillExpired = and(eq(users.status, "blocked"), lte(users.blockedUntil, now));
      const done = await updateUser(tx, id, { status: "active", blockedReason: null, blockedUntil: null }, now, stillExpired);
      if (!done) return;
      unblocked += 1;
      await recordChange(core, tx, { type: "user.unblocked", actor: SYSTEM_ACTOR, user: done, data: { expired: true } });
    });
  }

  const cutoff = new Date(now.getTime() - core.config.purgeAfterDays * 86_400_000);
  const due = await core.db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.status, "deleted"), isNotNull(users.deletedAt), lte(users.deletedAt, cutoff)));
  let purged = 0;
  for (const { id } of due) {
    await core.db.transaction(async (tx) => {
      const gone = await deleteUser(tx, id, and(eq(users.status, "deleted"), lte(users.deletedAt, cutoff)));
      if (!gone) return;
      purged += 1;
      const data = { after_days: core.config.purgeAfterDays };
      await recordChange(core, tx, { type: "user.purged", actor: SYSTEM_ACTOR, user: gone, data });
    });
  }
  await deleteExpiredLimits(core);
  await pruneActivityCounts(core.db, now);
  // Delivered events keep user objects: drop them once they are a week old.
  await core.db
    .delete(outboxEvents)
    .where(and(eq(outboxEvents.status, "delivered"), lte(outboxEvents.deliveredAt, new Date(now.getTime() - DELIVERED_EVENTS_KEPT_MS))));
  return { unblocked, purged };
}

const DELIVERED_EVENTS_KEPT_MS = 7 * 86_400_000;

async function requireUser(tx: Db, userId: string): Promise<UserRecord> {
  // FOR UPDATE: concurrent lifecycle changes of one user take turns.
  await tx.execute(sql`select 1 from ${users} where ${users.id} = ${userId} for update`);
  const user = await findUserById(tx, userId);
  if (!user) throw new DomainError("USER_NOT_FOUND");
  return user;
}

async function requireLiveUser(tx: Db, userId: string): Promise<UserRecord> {
  const user = await requireUser(tx, userId);
  if (user.status === "deleted") throw new DomainError("USER_NOT_FOUND", "The user is deleted; restore it first");
  return user;
}

async function mustUpdate(tx: Db, userId: string, changes: Parameters<typeof updateUser>[2], now: Date): Promise<UserRecord> {
  const updated = await updateUser(tx, userId, changes, now);
  if (!updated) throw new DomainError("USER_NOT_FOUND");
  return updated;
}

/** An ISO-8601 date-time, or a date alone (YYYY-MM-DD: the start of that day, UTC). */
function parseUntil(until: string | null | undefined, now: Date): Date | null {
  if (until === undefined || until === null || until === "") return null;
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(until);
  const date = new Date(dateOnly ? `${until}T00:00:00Z` : until);
  // The round trip refuses a day the month does not have (2030-02-31), which Date would roll over.
  const valid = dateOnly ? !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === until : /^\d{4}-\d{2}-\d{2}T/.test(until);
  if (Number.isNaN(date.getTime()) || !valid) {
    throw invalid("until", "must be an ISO-8601 date (2030-01-31, the start of that day UTC) or date-time (2030-01-31T12:00:00Z)");
  }
  if (date <= now) throw invalid("until", "must be in the future");
  return date;
}

function invalid(field: string, message: string): DomainError {
  return new DomainError("VALIDATION_ERROR", `${field}: ${message}`, [{ field, message }]);
}
