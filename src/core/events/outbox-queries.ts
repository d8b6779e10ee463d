/**
 * Reading the outbox: plain queries on `db` for the CLI's listing and the
 * metrics. Writing and delivering it is outbox.ts.
 */
import { desc, eq, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { outboxEvents } from "../db/schema.ts";

export type EventTarget = "hooks" | "webhook" | "email";
export type OutboxRow = typeof outboxEvents.$inferSelect;

export interface OutboxView {
  seq: number;
  event_id: string;
  type: string;
  target: EventTarget;
  user_id: string | null;
  status: OutboxRow["status"];
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

export async function listOutbox(
  db: Db,
  options: { status?: OutboxRow["status"]; limit: number },
): Promise<OutboxView[]> {
  const found = await db
    .select()
    .from(outboxEvents)
    .where(options.status ? eq(outboxEvents.status, options.status) : undefined)
    .orderBy(desc(outboxEvents.seq))
    .limit(options.limit);
  return found.map((row) => ({
    seq: row.seq,
    event_id: row.eventId,
    type: row.type,
    target: row.target,
    user_id: row.userId,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: row.nextAttemptAt.toISOString(),
    last_error: row.lastError,
    created_at: row.createdAt.toISOString(),
    delivered_at: row.deliveredAt?.toISOString() ?? null,
  }));
}

/** Pending rows, for /readyz-style reporting and metrics. */
export async function outboxBacklog(db: Db): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(outboxEvents).where(eq(outboxEvents.status, "pending"));
  return row?.n ?? 0;
}

