/**
 * The per-instance cache behind authenticate(): a session and its user, as
 * read from the database, reused for at most USERSVC_AUTH_CACHE_MS (1 s).
 *
 * - A change made on this instance (logout, block, deletion, a profile or
 *   role update...) drops the affected entries once it has committed, so the
 *   very next request reads the database again (db/change-announcements.ts).
 * - A change made by another instance, or by the CLI on PostgreSQL, is seen
 *   once the entry has expired: within 1 s.
 * - A read that overlapped any change is used for its own request but not
 *   stored: it may have seen the row from before the commit.
 * - Requests that miss at the same moment share one read, unless a change
 *   was announced after it started; an entry in use past half its lifetime
 *   is read again in the background, so a busy session never waits for the
 *   database.
 */
import type { Database } from "../db/client.ts";
import { watchChanges, type Change } from "../db/change-announcements.ts";
import type { UserRecord } from "../users/user-record.ts";
import type { SessionRow } from "./queries.ts";

export interface SessionWithUser {
  session: SessionRow;
  user: UserRecord;
}

export interface AuthCache {
  /** The cached entry for `sessionId`, or what `read` returns (stored when safe). */
  sessionWithUser(sessionId: string, read: () => Promise<SessionWithUser | null>): Promise<SessionWithUser | null>;
}

/**
 * Entries are kept in the order they were stored, so expired ones are
 * dropped from the front at every store: the cache holds only sessions seen
 * within the last USERSVC_AUTH_CACHE_MS, and never more than this many
 * (about 10 KB each at most, with 8 KiB of metadata).
 */
const MAX_ENTRIES = 10_000;

interface Entry {
  value: SessionWithUser;
  storedAt: number;
}

/** `clock` is the core's, in milliseconds: tests move it instead of sleeping. */
export function createAuthCache(db: Database, ttlMs: number, clock: () => number): AuthCache {
  if (ttlMs <= 0) return { sessionWithUser: (_id, read) => read() };
  const entries = new Map<string, Entry>();
  const reading = new Map<string, { epoch: number; value: Promise<SessionWithUser | null> }>();
  const sessionsOfUser = new Map<string, Set<string>>();
  // Bumped by every change: a read that saw it move must not be stored.
  let epoch = 0;

  function drop(sessionId: string): void {
    const entry = entries.get(sessionId);
    if (!entry) return;
    entries.delete(sessionId);
    const userId = entry.value.user.id;
    const ofUser = sessionsOfUser.get(userId);
    ofUser?.delete(sessionId);
    if (ofUser?.size === 0) sessionsOfUser.delete(userId);
  }

  function store(sessionId: string, value: SessionWithUser): void {
    drop(sessionId);
    const now = clock();
    for (const [oldestId, oldest] of entries) {
      if (entries.size < MAX_ENTRIES && now - oldest.storedAt < ttlMs) break;
      drop(oldestId);
    }
    // Shared by concurrent requests: nobody may change it in place.
    Object.freeze(value.session);
    Object.freeze(value.user);
    entries.set(sessionId, { value: Object.freeze(value), storedAt: now });
    let ofUser = sessionsOfUser.get(value.user.id);
    if (!ofUser) sessionsOfUser.set(value.user.id, (ofUser = new Set()));
    ofUser.add(sessionId);
  }

  watchChanges(db, (change: Change) => {
    epoch += 1;
    if ("sessionId" in change) drop(change.sessionId);
    else for (const sessionId of [...(sessionsOfUser.get(change.userId) ?? [])]) drop(sessionId);
  });

  /** One read per session at a time (unless a change was announced since it started); stored when safe. */
  function load(sessionId: string, read: () => Promise<SessionWithUser | null>): Promise<SessionWithUser | null> {
    const shared = reading.get(sessionId);
    if (shared && shared.epoch === epoch) return shared.value;
    const before = epoch;
    const pending = read()
      .then((value) => {
        if (value && epoch === before) store(sessionId, value);
        else drop(sessionId);
        return value;
      })
      .finally(() => {
        if (reading.get(sessionId)?.value === pending) reading.delete(sessionId);
      });
    reading.set(sessionId, { epoch: before, value: pending });
    return pending;
  }

  return {
    sessionWithUser(sessionId, read) {
      const entry = entries.get(sessionId);
      const age = entry ? clock() - entry.storedAt : Number.POSITIVE_INFINITY;
      // A clock set back (the wall clock can be) makes the age negative: read again, never trust it longer.
      if (age >= ttlMs || age < 0) return load(sessionId, read);
      // Past half its life, a busy entry is read again in the background, so requests
      // never wait for the database while it is in use (the bound still holds: an
      // entry is never served longer than USERSVC_AUTH_CACHE_MS after its read).
      if (age >= ttlMs / 2) load(sessionId, read).catch(() => {});
      return Promise.resolve(entry!.value);
    },
  };
}
