/**
 * The balance ledger: integer minor units, never below zero, every change a
 * row with its actor, reason and the balance after it. The balance itself is
 * changed by one conditional UPDATE, so concurrent adjustments serialize on
 * the user's row and none is lost; an idempotency key applies a change once.
 */
import { and, count, desc, eq } from "drizzle-orm";
import type { Actor } from "../audit/actor.ts";
import { recordChange } from "../events/record.ts";
import { addToBalance } from "../users/queries.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { uniqueViolation } from "../db/pg-errors.ts";
import { balanceTransactions, users } from "../db/schema.ts";
import { DomainError, type FieldProblem } from "../errors.ts";
import { throwIfProblems } from "../users/validation.ts";

export interface BalanceAdjustment {
  amount: number;
  reason: string;
  idempotency_key?: string;
}

export interface TransactionView {
  id: string;
  amount: number;
  balance_after: number;
  reason: string;
  actor: { type: string; id: string | null };
  idempotency_key: string | null;
  created_at: string;
}

type TransactionRow = typeof balanceTransactions.$inferSelect;

const MAX_AMOUNT = 1e15; // well inside bigint and exact in a JS number

export async function adjustBalance(
  core: Core,
  actor: Actor,
  userId: string,
  input: BalanceAdjustment,
): Promise<{ balance: number; transaction: TransactionView }> {
  const problems: FieldProblem[] = [];
  if (!Number.isSafeInteger(input.amount) || input.amount === 0 || Math.abs(input.amount) > MAX_AMOUNT) {
    problems.push({ field: "amount", message: "must be a non-zero integer (minor units) of at most 10^15" });
  }
  const reason = input.reason.trim();
  if (reason.length === 0 || reason.length > 500) problems.push({ field: "reason", message: "must be 1-500 characters" });
  const key = input.idempotency_key;
  if (key !== undefined && (key.length === 0 || key.length > 200)) {
    problems.push({ field: "idempotency_key", message: "must be 1-200 characters" });
  }
  throwIfProblems(problems);

  if (key !== undefined) {
    const first = await findByKey(core.db, userId, key);
    if (first) return { balance: first.balanceAfter, transaction: toView(first) };
  }
  const now = core.now();
  try {
    const row = await core.db.transaction(async (tx) => {
      const updated = await addToBalance(tx, userId, input.amount, now);
      if (!updated) {
        const [exists] = await tx.select({ status: users.status }).from(users).where(eq(users.id, userId));
        if (!exists || exists.status === "deleted") throw new DomainError("USER_NOT_FOUND");
        throw new DomainError("INSUFFICIENT_BALANCE");
      }
      const [inserted] = await tx
        .insert(balanceTransactions)
        .values({
          userId,
          amount: input.amount,
          balanceAfter: updated.balance,
          reason,
          actorType: actor.type,
          actorId: actor.id,
          idempotencyKey: key ?? null,
          createdAt: now,
        })
        .returning();
      const data = { amount: input.amount, balance_after: updated.balance, transaction_id: inserted!.id, reason };
      await recordChange(core, tx, { type: "balance.changed", actor, user: updated, data });
      return inserted!;
    });
    return { balance: row.balanceAfter, transaction: toView(row) };
  } catch (error) {
    // A concurrent request with the same key won the race: answer with its result.
    if (key !== undefined && uniqueViolation(error) !== null) {
      const first = await findByKey(core.db, userId, key);
      if (first) return { balance: first.balanceAfter, transaction: toView(first) };
    }
    throw error;
  }
}

export async function listTransactions(
  core: Core,
  userId: string,
  page: { limit: number; offset: number },
): Promise<{ items: TransactionView[]; total: number; limit: number; offset: number }> {
  const where = eq(balanceTransactions.userId, userId);
  const [rows, [totals]] = await Promise.all([
    core.db
      .select()
      .from(balanceTransactions)
      .where(where)
      .orderBy(desc(balanceTransactions.createdAt), desc(balanceTransactions.id))
      .limit(page.limit)
      .offset(page.offset),
    core.db.select({ n: count() }).from(balanceTransactions).where(where),
  ]);
  return { items: rows.map(toView), total: Number(totals?.n ?? 0), ...page };
}

async function findByKey(db: Db, userId: string, key: string): Promise<TransactionRow | null> {
  const [row] = await db
    .select()
    .from(balanceTransactions)
    .where(and(eq(balanceTransactions.userId, userId), eq(balanceTransactions.idempotencyKey, key)))
    .limit(1);
  return row ?? null;
}

function toView(row: TransactionRow): TransactionView {
  return {
    id: row.id,
    amount: row.amount,
    balance_after: row.balanceAfter,
    reason: row.reason,
    actor: { type: row.actorType, id: row.actorId },
    idempotency_key: row.idempotencyKey,
    created_at: row.createdAt.toISOString(),
  };
}
