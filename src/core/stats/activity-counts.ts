/**
 * Sign-ups and sign-ins counted per UTC hour (activity_counts), for the admin
 * console's overview. One upsert each, in the caller's transaction when it
 * has one. A refused sign-in leaves no audit entry, so counting it costs
 * neither the audit chain's lock nor an outbox row.
 */
import { lt, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { activityCounts } from "../db/schema.ts";

export const SIGN_IN_OUTCOMES = ["succeeded", "failed", "blocked", "unverified"] as const;
export type SignInOutcome = (typeof SIGN_IN_OUTCOMES)[number];
export type ActivityKind = "sign_up" | `sign_in.${SignInOutcome}`;

/** The outcome of a `user.login_failed` reason: blocked, unverified, else failed (wrong or unknown credentials, a bad passkey). */
export function refusalOutcome(reason: string): SignInOutcome {
  if (reason === "blocked") return "blocked";
  if (reason === "email_not_verified") return "unverified";
  return "failed";
}

export async function countActivity(db: Db, kind: ActivityKind, at: Date): Promise<void> {
  const hour = new Date(Math.floor(at.getTime() / 3_600_000) * 3_600_000);
  await db
    .insert(activityCounts)
    .values({ hour, kind, count: 1 })
    .onConflictDoUpdate({ target: [activityCounts.hour, activityCounts.kind], set: { count: sql`${activityCounts.count} + 1` } });
}

/** Counters kept for this long (the overview shows 14 days); older hours are dropped by the lifecycle sweep. */
const KEPT_MS = 90 * 86_400_000;

export async function pruneActivityCounts(db: Db, now: Date): Promise<void> {
  await db.delete(activityCounts).where(lt(activityCounts.hour, new Date(now.getTime() - KEPT_MS)));
}
