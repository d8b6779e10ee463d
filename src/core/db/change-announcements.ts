/**
 * Which users and sessions a write touched, announced once it is durable:
 * right after a statement run outside a transaction, after the end (commit
 * or rollback) of the transaction it ran in. The auth cache listens
 * (sessions/auth-cache.ts); the query functions that write users or
 * sessions call `changed`.
 *
 * Announcing after the commit, never before, is what makes the cache safe:
 * a read that overlaps the commit may have seen the old row, and the cache
 * drops every read that overlapped an announcement.
 */
import type { Database, Db } from "./client.ts";

export type Change = { userId: string } | { sessionId: string };
export type ChangeListener = (change: Change) => void;

const listeners = new WeakMap<Database, Set<ChangeListener>>();
/** Open transactions of a watched database, and what they have changed so far. */
const pendingIn = new WeakMap<object, Change[]>();

/** Calls `listener` for every committed change to users or sessions made through `db`. */
export function watchChanges(db: Database, listener: ChangeListener): void {
  let set = listeners.get(db);
  if (!set) {
    set = new Set();
    listeners.set(db, set);
    announceAfterTransactions(db);
  }
  set.add(listener);
}

/** Records that a write through `db` (the database or one of its transactions) touched `change`. */
export function changed(db: Db, change: Change): void {
  const pending = pendingIn.get(db);
  if (pending) pending.push(change);
  else announce(db as Database, change);
}

function announce(db: Database, change: Change): void {
  const set = listeners.get(db);
  if (set) for (const listener of set) listener(change);
}

/**
 * Wraps `db.transaction` (once per database) so that changes made inside a
 * transaction are held until it has ended. usersvc never nests transactions
 * (`tx.transaction`): a change inside a nested one would be announced before
 * the outer commit.
 */
function announceAfterTransactions(db: Database): void {
  const transaction = db.transaction.bind(db);
  db.transaction = (async (run, config) => {
    const changes: Change[] = [];
    try {
      return await transaction(async (tx) => {
        pendingIn.set(tx, changes);
        return run(tx);
      }, config);
    } finally {
      for (const change of changes) announce(db, change);
    }
  }) as typeof db.transaction;
}
