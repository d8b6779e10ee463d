import { afterEach, expect, test } from "bun:test";
import { startGarbageGuard } from "../../src/server/garbage-guard.ts";

const realGc = Bun.gc;
let stop = (): void => {};
afterEach(() => {
  stop();
  Bun.gc = realGc;
});

function countCollections(): { count: number } {
  const calls = { count: 0 };
  Bun.gc = ((force?: boolean) => {
    calls.count += 1;
    return realGc(force);
  }) as typeof Bun.gc;
  return calls;
}

test("a collection is asked for once the resident size has grown by the given amount, and not again without more growth", async () => {
  const calls = countCollections();
  stop = startGarbageGuard(10, 8 * 1024 * 1024);
  await Bun.sleep(50);
  const before = calls.count;
  // 32 MB, every page touched: resident.
  const held = new Uint8Array(32 * 1024 * 1024).fill(1);
  await Bun.sleep(60);
  expect(calls.count).toBeGreaterThan(before);
  const after = calls.count;
  await Bun.sleep(60);
  expect(calls.count).toBe(after);
  expect(held[held.length - 1]).toBe(1);
});

test("stopped, it asks for nothing", async () => {
  const calls = countCollections();
  startGarbageGuard(10, 1024 * 1024)();
  const held = new Uint8Array(16 * 1024 * 1024).fill(1);
  await Bun.sleep(50);
  expect(calls.count).toBe(0);
  expect(held[0]).toBe(1);
});
