/**
 * The breached-password lookup (src/core/passwords/breached.ts) on a large file:
 * writes a sorted Have I Been Pwned-style SHA-1 file (CRLF lines, 10 million
 * by default) into a temporary directory, then times lookups one at a time —
 * present hashes and absent passwords — each beside two baselines measured
 * in the same loop: one fs.promises stat of the file and one 128-byte
 * positioned read on the same handle (one step of the search), plus a SHA-1
 * of the password. Prints median and p99 of each, and the ratios.
 *
 *   bun bench/breached-passwords.ts                 (BENCH_BREACHED_LINES=10000000, BENCH_QUERIES=20000)
 *
 * The file is freshly written, so it sits in the page cache: these are
 * warm-cache figures (see docs/performance.md for what a cold 40 GB file adds).
 */
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { open, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openBreachedPasswordList } from "../src/core/passwords/breached.ts";

const LINES = Number(process.env.BENCH_BREACHED_LINES ?? 10_000_000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 20_000);
const CHUNK_LINES = 65_536;

/**
 * Sorted by construction, no sort needed: line i's first 12 hex digits lie in
 * the i-th of LINES equal slices of [0, 2^48), the other 28 are random.
 */
function writeSortedFile(path: string): string[] {
  const fd = openSync(path, "w");
  const slice = 2 ** 48 / LINES;
  const samples: string[] = [];
  const sampleEvery = Math.max(1, Math.floor(LINES / QUERIES));
  try {
    for (let start = 0; start < LINES; start += CHUNK_LINES) {
      const count = Math.min(CHUNK_LINES, LINES - start);
      const random = Buffer.from(crypto.getRandomValues(new Uint8Array(count * 14))).toString("hex").toUpperCase();
      const lines: string[] = new Array(count);
      for (let j = 0; j < count; j++) {
        const i = start + j;
        const prefix = Math.floor(i * slice + Math.random() * slice).toString(16).toUpperCase().padStart(12, "0");
        const hash = prefix + random.slice(j * 28, j * 28 + 28);
        if (i % sampleEvery === 0) samples.push(hash);
        lines[j] = `${hash}:${1 + (i % 9973)}\r\n`;
      }
      writeSync(fd, lines.join(""));
    }
  } finally {
    closeSync(fd);
  }
  return samples;
}

function summary(ms: number[]): { median: number; p99: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p99: at(0.99) };
}

const us = (ms: number): string => `${(ms * 1000).toFixed(1)} µs`;

const dir = mkdtempSync(join(tmpdir(), "usersvc-bench-breached-"));
const path = join(dir, "pwned-passwords-sha1-ordered-by-hash.txt");
try {
  let started = performance.now();
  const present = writeSortedFile(path);
  const bytes = statSync(path).size;
  console.log(`wrote ${LINES.toLocaleString("en")} lines (${(bytes / 2 ** 20).toFixed(0)} MiB) in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const list = await openBreachedPasswordList(path);
  const handle = await open(path, "r");
  const probe = Buffer.alloc(128);
  const times = { present: [] as number[], absent: [] as number[], stat: [] as number[], read: [] as number[], sha1: [] as number[] };
  let found = 0;
  // Warm-up, not counted: the first lookups pull the top levels of the search into the cache.
  for (let i = 0; i < 200; i++) await list.findBreachCount(`warm-up ${i}`);

  for (let i = 0; i < QUERIES; i++) {
    started = performance.now();
    await stat(path);
    times.stat.push(performance.now() - started);

    started = performance.now();
    await handle.read(probe, 0, probe.length, Math.floor(Math.random() * (bytes - probe.length)));
    times.read.push(performance.now() - started);

    const password = `absent password ${i} ${Math.random()}`;
    started = performance.now();
    createHash("sha1").update(password).digest("hex");
    times.sha1.push(performance.now() - started);

    if (i % 2 === 0) {
      const hash = present[(i / 2) % present.length]!;
      started = performance.now();
      if ((await list.findHashCount(hash)) !== null) found += 1;
      times.present.push(performance.now() - started);
    } else {
      started = performance.now();
      if ((await list.findBreachCount(password)) !== null) throw new Error(`a random password was found: ${password}`);
      times.absent.push(performance.now() - started);
    }
  }
  if (found !== times.present.length) throw new Error(`only ${found} of ${times.present.length} present hashes were found`);

  const stats = summary(times.stat);
  const read = summary(times.read);
  const sha1 = summary(times.sha1);
  console.log(`\n${QUERIES.toLocaleString("en")} queries, one at a time (half present hashes, half absent passwords)`);
  console.log(`  baseline  fs.promises stat                median ${us(stats.median)}   p99 ${us(stats.p99)}`);
  console.log(`  baseline  one 128-byte positioned read     median ${us(read.median)}   p99 ${us(read.p99)}`);
  console.log(`  baseline  SHA-1 of the password            median ${us(sha1.median)}   p99 ${us(sha1.p99)}`);
  for (const [name, ms] of [["present (by hash)", times.present], ["absent (password)", times.absent]] as const) {
    const s = summary(ms);
    console.log(
      `  lookup    ${name.padEnd(31)} median ${us(s.median)}   p99 ${us(s.p99)}` +
        `   = ${(s.median / stats.median).toFixed(1)}× a stat, ${(s.median / read.median).toFixed(1)}× one read (median)`,
    );
  }

  // Throughput with 64 lookups in flight, as under a burst of sign-ups.
  started = performance.now();
  let next = 0;
  const total = Math.min(QUERIES, 20_000);
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < total) {
        next += 1;
        await list.findBreachCount(`burst ${next} ${Math.random()}`);
      }
    }),
  );
  console.log(`  64 at once: ${Math.round(total / ((performance.now() - started) / 1000)).toLocaleString("en")} lookups/s`);
  await handle.close();
  await list.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
