/** drizzle queries on passkeys and pending WebAuthn challenges; no rules here. */
import { and, asc, count, eq, lt, or, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { passkeys, webauthnChallenges } from "../db/schema.ts";

export type PasskeyRow = typeof passkeys.$inferSelect;
export type ChallengeRow = typeof webauthnChallenges.$inferSelect;

export async function insertChallenge(db: Db, row: ChallengeRow): Promise<void> {
  await db.insert(webauthnChallenges).values(row);
}

/** Deletes the challenge and answers it: a challenge can be spent once, by whichever request comes first. */
export async function spendChallenge(db: Db, challenge: string, purpose: ChallengeRow["purpose"]): Promise<ChallengeRow | null> {
  const [row] = await db
    .delete(webauthnChallenges)
    .where(and(eq(webauthnChallenges.challenge, challenge), eq(webauthnChallenges.purpose, purpose)))
    .returning();
  return row ?? null;
}

export async function sweepExpiredChallenges(db: Db, now: Date): Promise<void> {
  await db.delete(webauthnChallenges).where(lt(webauthnChallenges.expiresAt, now));
}

export async function passkeysOf(db: Db, userId: string): Promise<PasskeyRow[]> {
  return db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.createdAt), asc(passkeys.id));
}

export async function countPasskeys(db: Db, userId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(passkeys).where(eq(passkeys.userId, userId));
  return row?.n ?? 0;
}

export async function findPasskeyByCredentialId(db: Db, credentialId: string): Promise<PasskeyRow | null> {
  const [row] = await db.select().from(passkeys).where(eq(passkeys.credentialId, credentialId)).limit(1);
  return row ?? null;
}

/** One of the user's passkeys by its id; null when it is not theirs (or no UUID). */
export async function findOwnPasskey(db: Db, userId: string, id: string): Promise<PasskeyRow | null> {
  const [row] = await db.select().from(passkeys).where(and(eq(passkeys.id, id), eq(passkeys.userId, userId))).limit(1);
  return row ?? null;
}

/** Null when the credential id is registered already (to anyone). */
export async function insertPasskey(db: Db, row: typeof passkeys.$inferInsert): Promise<PasskeyRow | null> {
  const [created] = await db.insert(passkeys).values(row).onConflictDoNothing({ target: passkeys.credentialId }).returning();
  return created ?? null;
}

export async function renamePasskeyRow(db: Db, userId: string, id: string, name: string): Promise<PasskeyRow | null> {
  const [row] = await db.update(passkeys).set({ name }).where(and(eq(passkeys.id, id), eq(passkeys.userId, userId))).returning();
  return row ?? null;
}

export async function deletePasskeyRow(db: Db, userId: string, id: string): Promise<PasskeyRow | null> {
  const [row] = await db.delete(passkeys).where(and(eq(passkeys.id, id), eq(passkeys.userId, userId))).returning();
  return row ?? null;
}

/**
 * Records a use of the passkey when its signature counter moved forward (or
 * stays 0: an authenticator without a counter). Null when it did not: the
 * counter went back or stood still, a sign of a cloned authenticator — or of
 * another sign-in with it a moment ago, which this conditional write also orders.
 */
export async function recordPasskeyUse(db: Db, id: string, counter: number, backedUp: boolean, now: Date): Promise<PasskeyRow | null> {
  const [row] = await db
    .update(passkeys)
    .set({ counter, backedUp, lastUsedAt: now })
    .where(and(eq(passkeys.id, id), or(lt(passkeys.counter, counter), and(eq(passkeys.counter, 0), sql`${counter} = 0`))))
    .returning();
  return row ?? null;
}

