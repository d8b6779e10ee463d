/**
 * JavaScriptCore lets garbage grow in proportion to the heap, and on the
 * embedded database PGlite's WebAssembly memory (~270 MB) counts as heap: a
 * burst of requests grew the process by 200–400 MB of garbage before a
 * collection ran (docs/performance.md, "Footprint of the embedded default").
 * Asking for a collection each time the resident size has grown by `growth`
 * since the last one keeps the peak near what is live, and costs nothing
 * while nothing is allocated.
 */
export function startGarbageGuard(intervalMs = 100, growth = 16 * 1024 * 1024): () => void {
  let since = process.memoryUsage.rss();
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss - since > growth) {
      Bun.gc(false);
      since = rss;
    } else if (rss < since) {
      since = rss;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
