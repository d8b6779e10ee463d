/**
 * Password hashing on dedicated worker threads running at a lower CPU
 * priority than the event loop.
 *
 * argon2id keeps a core busy for ~50–100 ms per hash. On Bun's shared thread
 * pool at normal priority, a burst of logins held every core and token checks
 * waited for CPU behind it (the event loop is one thread among the hashing
 * ones). Here each hash runs on one of `size` threads that lowered their own
 * priority (hash-worker.ts): when token checks need the CPU they get it at
 * once, and hashing takes everything left over. Jobs beyond `size` queue here.
 */
export type HashJob =
  | { kind: "niceness"; niceness: number }
  | { kind: "hash"; password: string; memoryKib: number; timeCost: number }
  | { kind: "verify"; password: string; hash: string };

/**
 * The hashing threads' niceness unless USERSVC_HASH_NICENESS says otherwise: at 4 a busy
 * event loop (0) gets ~2.4× a hashing thread's share of a core. Measured in docs/performance.md
 * ("Logins under token-check load"): at 4 logins kept ≥ 40 % of their rate and token checks a
 * p99 ≤ ×3 under each other's load on both databases; 0–2 cost the checks' p99, 5–10 the logins.
 */
export const DEFAULT_HASH_NICENESS = 4;

export type HashReply = { result: string | boolean } | { error: string };

/**
 * Run from source, the worker is the file next to this one. In the binary,
 * scripts/build.ts adds it as a second entrypoint, laid out as under src/.
 */
const WORKER_ENTRY = import.meta.url.startsWith("file:///$bunfs/")
  ? "/$bunfs/root/core/passwords/hash-worker.ts"
  : new URL("./hash-worker.ts", import.meta.url).href;

export interface HashWorkers {
  run(job: Extract<HashJob, { kind: "hash" }>): Promise<string>;
  run(job: Extract<HashJob, { kind: "verify" }>): Promise<boolean>;
}

interface Queued {
  job: HashJob;
  resolve(result: string | boolean): void;
  reject(error: Error): void;
}

interface Thread {
  worker: Worker;
  /** The one job this thread is working on. */
  current: Queued | null;
}

export function createHashWorkers(size: number, niceness = DEFAULT_HASH_NICENESS): HashWorkers {
  const threads: Thread[] = [];
  const queue: Queued[] = [];

  function spawn(): Thread {
    const thread: Thread = { worker: new Worker(WORKER_ENTRY), current: null };
    // An idle hashing thread never keeps a CLI command (or a test) alive; a busy one does.
    thread.worker.unref();
    thread.worker.onmessage = ({ data }: MessageEvent<HashReply>) => {
      const done = thread.current;
      thread.current = null;
      thread.worker.unref();
      if ("error" in data) done?.reject(new Error(data.error));
      else done?.resolve(data.result);
      next();
    };
    thread.worker.onerror = (event) => retire(thread, event.message);
    thread.worker.addEventListener("close", () => retire(thread, "it exited"));
    // Before any job: the thread lowers its own priority (a message is answered only for jobs).
    thread.worker.postMessage({ kind: "niceness", niceness } satisfies HashJob);
    threads.push(thread);
    return thread;
  }

  /** A thread that died takes its job with it (that request fails); the next job starts a new thread. */
  function retire(thread: Thread, why: string): void {
    const index = threads.indexOf(thread);
    if (index < 0) return;
    threads.splice(index, 1);
    thread.worker.terminate();
    thread.current?.reject(new Error(`password hashing thread failed: ${why}`));
    thread.current = null;
    next();
  }

  function next(): void {
    while (queue.length > 0) {
      let thread = threads.find((t) => !t.current);
      if (!thread && threads.length < size) {
        try {
          thread = spawn();
        } catch (error) {
          queue.shift()!.reject(error as Error);
          continue;
        }
      }
      if (!thread) return;
      thread.current = queue.shift()!;
      thread.worker.ref();
      thread.worker.postMessage(thread.current.job);
    }
  }

  return {
    run: (job: HashJob) =>
      new Promise<string | boolean>((resolve, reject) => {
        queue.push({ job, resolve, reject });
        next();
      }),
  } as HashWorkers;
}
