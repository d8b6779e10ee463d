/**
 * The tamper-evident audit log. Entries are appended under a transaction-
 * scoped advisory lock so ids and the hash chain stay linear across every
 * instance sharing the database; each hash covers the entry and the hash of
 * the one before, so `verifyAuditChain` names the first edited or removed
 * entry. Removing the newest entries cannot be detected from the chain alone.
 */
import { createHash } from "node:crypto";
import { and, asc, count, desc, eq, gt, gte, lt, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { inTransaction, lockFor } from "../db/locks.ts";
import { auditCheckpoints, auditLog } from "../db/schema.ts";
import type { Actor } from "./actor.ts";

export const GENESIS = "0".repeat(64);

export interface AuditInput {
  event: string;
  actor: Actor;
  targetId: string | null;
  data?: Record<string, unknown>;
}

type AuditRow = typeof auditLog.$inferSelect;

export async function appendAudit(db: Db, entry: AuditInput, now: Date): Promise<void> {
  await inTransaction(db, async (tx) => {
    await lockFor(tx, "audit");
    const [last] = await tx
      .select({ id: auditLog.id, hash: auditLog.hash })
      .from(auditLog)
      .orderBy(desc(auditLog.id))
      .limit(1);
    const row = {
      id: (last?.id ?? 0) + 1,
      occurredAt: now,
      event: entry.event,
      actorType: entry.actor.type,
      actorId: entry.actor.id,
      targetId: entry.targetId,
      ip: entry.actor.ip,
      data: entry.data ?? {},
      prevHash: last?.hash ?? GENESIS,
    };
    await tx.insert(auditLog).values({ ...row, hash: hashEntry(row) });
  });
}

/** The hash of an entry: SHA-256 of the previous hash, a newline and the entry as canonical JSON (exported for the benchmark's bulk loader). */
export function hashEntry(row: Omit<AuditRow, "hash">): string {
  const content = canonicalJson({
    id: row.id,
    occurred_at: row.occurredAt.toISOString(),
    event: row.event,
    actor_type: row.actorType,
    actor_id: row.actorId,
    target_id: row.targetId,
    ip: row.ip,
    data: row.data,
  });
  return createHash("sha256").update(`${row.prevHash}\n${content}`).digest("hex");
}

/** JSON with object keys sorted at every level: jsonb does not keep key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

export interface ChainReport {
  ok: boolean;
  /** Entries whose hashes were checked this time. */
  checked: number;
  /** The id of the last entry found intact: the length of the chain when ok. */
  total: number;
  /** The checkpoint the check started after (its entry id), 0 from the start. */
  from: number;
  broken: { id: number; reason: string } | null;
}

/**
 * Checks the chain from the last checkpoint (the entry where the previous
 * verification ended, which must still have the hash it had then), or with
 * `full` from the first entry, comparing every checkpoint on the way. An
 * intact chain leaves a checkpoint at its last entry, so a verification costs
 * what was appended since the one before. An edit before the checkpoint that
 * leaves the checkpointed entry's hash alone is found only by `full`.
 */
export async function verifyAuditChain(db: Db, options: { full?: boolean; now: Date }): Promise<ChainReport> {
  const newestFirst = db.select().from(auditCheckpoints).orderBy(desc(auditCheckpoints.entryId));
  const checkpoints = options.full ? await newestFirst : await newestFirst.limit(1);
  const start = options.full ? undefined : checkpoints[0];
  let previous = { id: 0, hash: GENESIS };
  let checked = 0;
  const report = (broken: ChainReport["broken"]): ChainReport => ({ ok: broken === null, checked, total: previous.id, from: start?.entryId ?? 0, broken });
  if (start) {
    const [row] = await db.select().from(auditLog).where(eq(auditLog.id, start.entryId));
    const broken = row ? checkpointProblem(row, start) : `entry ${start.entryId}, the last checkpoint, is missing (removed)`;
    if (broken) return report({ id: start.entryId, reason: broken });
    previous = { id: row!.id, hash: row!.hash };
  }
  const expected = new Map(options.full ? checkpoints.map((c) => [c.entryId, c]) : []);
  for (;;) {
    const batch = await db.select().from(auditLog).where(gt(auditLog.id, previous.id)).orderBy(asc(auditLog.id)).limit(1000);
    for (const row of batch) {
      const checkpoint = expected.get(row.id);
      const broken = judge(row, previous) ?? (checkpoint ? checkpointProblem(row, checkpoint) : null);
      if (broken) return report({ id: row.id, reason: broken });
      previous = { id: row.id, hash: row.hash };
      checked += 1;
    }
    if (batch.length < 1000) break;
  }
  const missing = options.full ? checkpoints.find((c) => c.entryId > previous.id) : undefined;
  if (missing) return report({ id: missing.entryId, reason: `entry ${missing.entryId}, checkpointed ${missing.verifiedAt.toISOString()}, is missing (removed)` });
  if (previous.id > (start?.entryId ?? 0)) {
    await db.insert(auditCheckpoints).values({ entryId: previous.id, entryHash: previous.hash, verifiedAt: options.now }).onConflictDoNothing();
  }
  return report(null);
}

/** What is wrong with an entry a checkpoint vouched for, or null. */
function checkpointProblem(row: AuditRow, checkpoint: { entryHash: string; verifiedAt: Date }): string | null {
  if (row.hash !== checkpoint.entryHash) return `its hash is not the one checkpointed ${checkpoint.verifiedAt.toISOString()} (the chain up to it was rewritten)`;
  if (hashEntry(row) !== row.hash) return "its content does not match its hash (edited)";
  return null;
}

function judge(row: AuditRow, previous: { id: number; hash: string }): string | null {
  if (row.id !== previous.id + 1) {
    const first = previous.id + 1;
    const last = row.id - 1;
    return first === last ? `entry ${first} is missing (removed)` : `entries ${first}-${last} are missing (removed)`;
  }
  if (row.prevHash !== previous.hash) return `its link to entry ${previous.id} does not match (entry ${previous.id} was edited or replaced)`;
  if (hashEntry(row) !== row.hash) return "its content does not match its hash (edited)";
  return null;
}

export interface AuditQuery {
  userId?: string;
  event?: string;
  actorId?: string;
  /** occurred_at at or after / before. */
  since?: Date;
  until?: Date;
  limit: number;
  offset: number;
}

export interface AuditView {
  id: number;
  occurred_at: string;
  event: string;
  actor: { type: string; id: string | null };
  target_id: string | null;
  ip: string | null;
  data: Record<string, unknown>;
}

const EARLIEST = new Date("0001-01-01T00:00:00Z");

export async function listAudit(db: Db, query: AuditQuery): Promise<{ items: AuditView[]; total: number }> {
  const conditions: SQL[] = [];
  if (query.userId) conditions.push(eq(auditLog.targetId, query.userId));
  if (query.event) conditions.push(eq(auditLog.event, query.event));
  if (query.actorId) conditions.push(eq(auditLog.actorId, query.actorId));
  // Before year 1 (0000-01-01T00:00:00Z parses in JavaScript) PostgreSQL cannot read the time as
  // written, which would be a 500: every entry is later than such a time anyway.
  if (query.since && query.since >= EARLIEST) conditions.push(gte(auditLog.occurredAt, query.since));
  if (query.until) conditions.push(query.until >= EARLIEST ? lt(auditLog.occurredAt, query.until) : sql`false`);
  const where = conditions.length ? and(...conditions) : undefined;
  const [rows, [totals]] = await Promise.all([
    db.select().from(auditLog).where(where).orderBy(desc(auditLog.id)).limit(query.limit).offset(query.offset),
    db.select({ n: count() }).from(auditLog).where(where),
  ]);
  return {
    total: Number(totals?.n ?? 0),
    items: rows.map((row) => ({
      id: row.id,
      occurred_at: row.occurredAt.toISOString(),
      event: row.event,
      actor: { type: row.actorType, id: row.actorId },
      target_id: row.targetId,
      ip: row.ip,
      data: row.data,
    })),
  };
}
