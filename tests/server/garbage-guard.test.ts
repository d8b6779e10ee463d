import { afterEach, expect, test } from "bun:test";
import { startGarbageGuard } from "../../src/server/garbage-guard.ts";

const MB = 1024 * 1024;
let stop = (): void => {};
afterEach(() => stop());

/** Waits (up to 2 s, for a loaded machine) until `done` holds. */
async function eventually(done: () => boolean): Promise<void> {
  for (let waited = 0; !done() && waited < 2000; waited += 5) await Bun.sleep(5);
}

/** A guard checking every 5 ms against a resident size the test sets, counting the collections it asks for. */
function guard(growth: number) {
  const state = { rss: 100 * MB, collections: 0, reads: 0 };
  stop = startGarbageGuard({ intervalMs: 5, growth, rss: () => (state.reads++, state.rss), collect: () => void (state.collections += 1) });
  return state;
}

test("a collection is asked for once the resident size has grown by more than the given amount since the last one", async () => {
  const state = guard(16 * MB);
  state.rss += 10 * MB;
  await Bun.sleep(30);
  expect(state.collections).toBe(0);
  state.rss += 10 * MB;
  await eventually(() => state.collections > 0);
  expect(state.collections).toBe(1);
  // What is live stays: no collection again until it grows by as much once more.
  await Bun.sleep(30);
  expect(state.collections).toBe(1);
  state.rss += 17 * MB;
  await eventually(() => state.collections > 1);
  expect(state.collections).toBe(2);
});

test("growth is counted from the lowest size seen since the last collection", async () => {
  const state = guard(16 * MB);
  state.rss -= 50 * MB;
  const read = state.reads;
  await eventually(() => state.reads > read + 1);
  state.rss += 20 * MB;
  await eventually(() => state.collections > 0);
  expect(state.collections).toBe(1);
});

test("stopped, it asks for nothing", async () => {
  const state = guard(MB);
  stop();
  state.rss += 100 * MB;
  await Bun.sleep(30);
  expect(state.collections).toBe(0);
});
