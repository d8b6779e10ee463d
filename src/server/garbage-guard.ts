/**
 * JavaScriptCore lets garbage grow in proportion to the heap, and on the
 * embedded database PGlite's WebAssembly memory (~270 MB) counts as heap: a
 * burst of requests grew the process by 200–400 MB of garbage before a
 * collection ran (docs/performance.md, "Footprint of the embedded default").
 * Asking for a collection each time the resident size has grown by `growth`
 * bytes since the last one keeps the peak near what is live, and costs
 * nothing while nothing is allocated.
 */
export interface GarbageGuardOptions {
  intervalMs?: number;
  growth?: number;
  /** The resident size (tests give their own). */
  rss?: () => number;
  collect?: () => void;
}

export function startGarbageGuard(options: GarbageGuardOptions = {}): () => void {
  const { intervalMs = 100, growth = 16 * 1024 * 1024, rss = () => process.memoryUsage.rss(), collect = () => Bun.gc(false) } = options;
  let since = rss();
  const timer = setInterval(() => {
    const now = rss();
    if (now - since > growth) {
      collect();
      since = now;
    } else if (now < since) {
      since = now;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
