/**
 * Transaction-scoped advisory locks: they serialize one kind of change
 * across every connection and instance sharing the database, and are
 * released by commit or rollback (so also by a crash).
 */
import { is, sql } from "drizzle-orm";
import { PgTransaction } from "drizzle-orm/pg-core";
import type { Database, Db } from "./client.ts";

const LOCK_KEYS = {
  /** Appending to the audit hash chain. */
  audit: 0x75737631,
  /** Changes that could leave no active admin (LAST_ADMIN). */
  admins: 0x75737632,
} as const;

export async function lockFor(tx: Db, name: keyof typeof LOCK_KEYS): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_KEYS[name]})`);
}

/** Runs `work` in the caller's transaction, or in a new one when given the database itself. */
export function inTransaction<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  if (is(db, PgTransaction)) return work(db);
  return (db as Database).transaction((tx) => work(tx));
}
