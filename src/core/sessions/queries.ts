/** drizzle queries on sessions; no business rules here. */
import { and, desc, eq, getTableColumns, gt, isNull, lte, ne, type SQL, sql } from "drizzle-orm";
import { changed } from "../db/change-announcements.ts";
import type { Db } from "../db/client.ts";
import { sessions, users } from "../db/schema.ts";
import type { UserRecord } from "../users/user-record.ts";
import { userColumns } from "../users/queries.ts";

export type SessionRow = typeof sessions.$inferSelect;

export async function insertSession(db: Db, row: typeof sessions.$inferInsert): Promise<SessionRow> {
  const [created] = await db.insert(sessions).values(row).returning();
  if (!created) throw new Error("insert into sessions returned no row");
  return created;
}

export async function findSession(db: Db, id: string): Promise<SessionRow | null> {
  const [row] = await db.select().from(sessions).where(eq(sessions.id, id)).limit(1);
  return row ?? null;
}

/** One round trip for every authenticated request: the session and its user. */
export async function findSessionWithUser(
  db: Db,
  id: string,
): Promise<{ session: SessionRow; user: UserRecord } | null> {
  const [row] = await db
    .select({ session: sessions, user: userColumns })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(sessions.id, id))
    .limit(1);
  return row ?? null;
}

/**
 * Spends `spentJti` and makes `nextJti` the session's refresh token, only if
 * `spentJti` is still current: of concurrent refreshes, exactly one wins.
 */
export async function rotateRefreshJti(
  db: Db,
  sessionId: string,
  spentJti: string,
  nextJti: string,
  now: Date,
  expiresAt: Date,
): Promise<SessionRow | null> {
  const [row] = await db
    .update(sessions)
    .set({ refreshJti: nextJti, previousJti: spentJti, rotatedAt: now, lastUsedAt: now, expiresAt })
    .where(and(eq(sessions.id, sessionId), eq(sessions.refreshJti, spentJti), isNull(sessions.revokedAt)))
    .returning();
  changed(db, { sessionId });
  return row ?? null;
}

/**
 * A refresh's usual case in one round trip: spends `spentJti` of the session
 * and makes `nextJti` current, only if `spentJti` is current, the session is
 * `userId`'s, of `clientId`, live (not revoked, not expired at `now`), of a
 * generation no newer than `generation` (when the token has one), and its
 * user active. Null when any of that fails, for the caller to read the
 * session and judge why (a repeat, reuse, a block, an expiry).
 */
export async function rotateIfCurrent(
  db: Db,
  spend: { sessionId: string; userId: string; clientId: string | null; spentJti: string; nextJti: string; generation: number | undefined; now: Date; expiresAt: SQL },
): Promise<{ session: SessionRow; user: UserRecord } | null> {
  const [row] = await db
    .update(sessions)
    .set({ refreshJti: spend.nextJti, previousJti: spend.spentJti, rotatedAt: spend.now, lastUsedAt: spend.now, expiresAt: spend.expiresAt })
    .from(users)
    .where(
      and(
        eq(sessions.id, spend.sessionId),
        eq(sessions.userId, spend.userId),
        eq(sessions.refreshJti, spend.spentJti),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, spend.now),
        spend.clientId === null ? isNull(sessions.clientId) : eq(sessions.clientId, spend.clientId),
        spend.generation === undefined ? undefined : lte(sessions.generation, spend.generation),
        eq(users.id, sessions.userId),
        eq(users.status, "active"),
      ),
    )
    .returning({ session: getTableColumns(sessions), user: userColumns });
  // Only a rotation is a change: a miss must not make the auth cache drop what it was reading.
  if (row) changed(db, { sessionId: spend.sessionId });
  return row ?? null;
}

/** A new refresh token and a new generation: older access tokens of the session stop working. */
export async function renewSession(db: Db, sessionId: string, nextJti: string, now: Date): Promise<SessionRow | null> {
  const [row] = await db
    .update(sessions)
    .set({
      refreshJti: nextJti,
      previousJti: null,
      rotatedAt: now,
      lastUsedAt: now,
      generation: sql`${sessions.generation} + 1`,
    })
    .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
    .returning();
  changed(db, { sessionId });
  return row ?? null;
}

export async function revokeSession(db: Db, sessionId: string, reason: string, now: Date): Promise<number> {
  const revoked = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  changed(db, { sessionId });
  return revoked.length;
}

export async function revokeUserSessions(
  db: Db,
  userId: string,
  reason: string,
  now: Date,
  options: { except?: string } = {},
): Promise<number> {
  const conditions = [eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)];
  if (options.except) conditions.push(ne(sessions.id, options.except));
  const revoked = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(...conditions))
    .returning({ id: sessions.id });
  changed(db, { userId });
  return revoked.length;
}

/** Ends every grant one OpenID Connect client holds for one user (disconnecting the application). */
export async function revokeUserClientSessions(db: Db, userId: string, clientId: string, reason: string, now: Date): Promise<number> {
  const revoked = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.userId, userId), eq(sessions.clientId, clientId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  changed(db, { userId });
  return revoked.length;
}

/** Revokes every live grant (session) of an OpenID Connect client; returns how many. */
export async function revokeClientSessions(db: Db, clientId: string, reason: string, now: Date): Promise<number> {
  const revoked = await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.clientId, clientId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .returning({ id: sessions.id });
  for (const { id } of revoked) changed(db, { sessionId: id });
  return revoked.length;
}

/** A user's live sign-ins to usersvc itself; the grants of OpenID Connect clients are listed as connected applications. */
export async function listActiveSessions(db: Db, userId: string, now: Date): Promise<SessionRow[]> {
  return db
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now), isNull(sessions.clientId)))
    .orderBy(desc(sessions.createdAt));
}

/** A browser session in use: its idle end moves on (never past its absolute end, which the caller computes). */
export async function touchSession(db: Db, sessionId: string, now: Date, expiresAt: Date): Promise<void> {
  await db
    .update(sessions)
    .set({ lastUsedAt: now, expiresAt })
    // Neither a revoked session nor one that ended meanwhile (a revoke-all skips those) comes back.
    .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)));
  changed(db, { sessionId });
}

/** The session's user confirmed their password now (the admin console's step-up, step-up.ts). */
export async function markSteppedUp(db: Db, sessionId: string, now: Date): Promise<void> {
  await db.update(sessions).set({ stepUpAt: now }).where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)));
  changed(db, { sessionId });
}
