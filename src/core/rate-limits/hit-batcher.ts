/**
 * Rate-limit counts kept in memory and added to the shared `rate_limits`
 * table in batches, for the throttled route where one write and commit per
 * request would be most of its cost (refresh).
 *
 * A key's first hit, and its first after FLUSH_MS without one, reads the
 * shared count (every hit waiting on that key shares the read). Hits then add
 * up here, and every FLUSH_MS one upsert adds them to the table and brings
 * back what the other instances counted. On one instance the limit is exact;
 * across instances a key can overshoot it by what the others admitted in
 * the last one or two FLUSH_MS. A crash loses at most FLUSH_MS of counting.
 */
import type { Database } from "../db/client.ts";
import type { Logger } from "../../logger.ts";
import { addHits, readHits } from "./counters.ts";

const FLUSH_MS = 100;
const BATCH_KEYS = 500;

interface Entry {
  /** The shared count at the last read or flush, with the window it belongs to. */
  count: number;
  started: number;
  syncedAt: number;
  /** Hits counted here and not yet written; `writing`: in the flush under way. */
  pending: number;
  writing: number;
  /** Settles when the first read of the shared count has. */
  ready: Promise<void>;
  loading: boolean;
}

export interface HitBatcher {
  /** Counts one hit on `key`; returns the count in the current window and the seconds until it ends. */
  hit(key: string): Promise<{ count: number; retryAfter: number }>;
  /** Writes every pending hit and stops the timer (serve calls it before closing the database). */
  close(): Promise<void>;
}

export function createHitBatcher(db: Database, windowSeconds: number, now: () => Date, logger: Logger): HitBatcher {
  const windowMs = windowSeconds * 1000;
  const entries = new Map<string, Entry>();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let flushing: Promise<void> = Promise.resolve();
  let closed = false;

  /** Quiet for a flush interval, or its window is over, and nothing of it is being read or waits to be written. */
  const stale = (entry: Entry, at: number): boolean =>
    !entry.loading &&
    entry.pending === 0 &&
    entry.writing === 0 &&
    (at - entry.syncedAt > FLUSH_MS || entry.started + windowMs <= at);

  function read(key: string, at: number): Entry {
    const entry: Entry = { count: 0, started: at, syncedAt: at, pending: 0, writing: 0, ready: Promise.resolve(), loading: true };
    entry.ready = readHits(db, key, now(), windowMs).then(
      (shared) => {
        Object.assign(entry, { count: shared.count, started: shared.started.getTime(), syncedAt: now().getTime(), loading: false });
      },
      (error) => {
        if (entries.get(key) === entry) entries.delete(key);
        throw error;
      },
    );
    entries.set(key, entry);
    return entry;
  }

  function schedule(): void {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = null;
      void flush();
    }, FLUSH_MS);
    timer.unref?.();
  }

  async function write(): Promise<void> {
    const batch: { key: string; hits: number; entry: Entry }[] = [];
    for (const [key, entry] of entries) {
      if (entry.pending > 0) {
        batch.push({ key, hits: entry.pending, entry });
        entry.writing = entry.pending;
        entry.pending = 0;
      }
    }
    for (let i = 0; i < batch.length; i += BATCH_KEYS) {
      const chunk = batch.slice(i, i + BATCH_KEYS);
      try {
        const counted = new Map((await addHits(db, chunk, now(), windowMs)).map((row) => [row.key, row]));
        for (const { key, entry } of chunk) {
          const row = counted.get(key);
          if (row) Object.assign(entry, { count: row.count, started: row.started.getTime(), syncedAt: now().getTime() });
          entry.writing = 0;
        }
      } catch (error) {
        // Kept for the next flush: a database hiccup loses no counting.
        for (const { entry } of chunk) {
          entry.pending += entry.writing;
          entry.writing = 0;
        }
        logger.warn({ err: error, keys: chunk.length }, "rate-limit counts not written; retrying");
      }
    }
    const at = now().getTime();
    for (const [key, entry] of entries) if (stale(entry, at)) entries.delete(key);
    if ([...entries.values()].some((entry) => entry.pending > 0)) schedule();
  }

  function flush(): Promise<void> {
    flushing = flushing.then(write).catch((error) => logger.error({ err: error }, "rate-limit flush failed"));
    return flushing;
  }

  async function close(): Promise<void> {
    closed = true;
    if (timer) clearTimeout(timer);
    timer = null;
    await flush();
  }

  return {
    async hit(key) {
      const at = now().getTime();
      const known = entries.get(key);
      const entry = known && !stale(known, at) ? known : read(key, at);
      await entry.ready;
      if (entry.started + windowMs <= at) {
        // A new window: hits of the ended one not yet written no longer count.
        Object.assign(entry, { count: 0, pending: 0, started: at });
      }
      entry.pending += 1;
      schedule();
      const count = entry.count + entry.writing + entry.pending;
      return { count, retryAfter: Math.max(1, Math.ceil((entry.started + windowMs - at) / 1000)) };
    },
    close,
  };
}
