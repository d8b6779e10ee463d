/**
 * What the benchmarks share: wrk and its figures, the server's CPU and
 * memory from /proc, and the baselines every figure is a ratio to (a bare
 * Bun.serve route, argon2's hash and verify rates).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

export const root = join(import.meta.dir, "..");
export const binary = join(root, "dist", "usersvc");
export const seconds = Number(process.env.BENCH_SECONDS ?? 5);
export const cores = availableParallelism();

export const COST = { algorithm: "argon2id", memoryCost: 65536, timeCost: 2 } as const;
export const BENCH_PASSWORD = "correct horse battery staple";

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
}

export function must(condition: unknown, message: string): asserts condition {
  if (!condition) {
    console.error(`bench: ${message}`);
    process.exit(1);
  }
}

export const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

/** Builds dist/usersvc if it is not there, and checks wrk is. */
export function prepare(): void {
  must(Bun.which("wrk"), "wrk is not installed (apt-get install wrk)");
  if (!Bun.file(binary).size) {
    must(Bun.spawnSync({ cmd: [process.execPath, join(root, "scripts", "build.ts")], stdout: "inherit", stderr: "inherit" }).exitCode === 0, "build failed");
  }
}

/** `threads`: 2 unless told; refresh-chain.lua needs one per connection. */
export async function wrk(url: string, script: string, connections: number, env: Record<string, string> = {}, threads = Math.min(2, connections)): Promise<WrkResult> {
  const proc = Bun.spawn({
    // --timeout well above the slowest queued login: a timed-out request is work done and not counted.
    cmd: ["wrk", "-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, "--timeout", "20s", "--latency", "-s", join(root, "bench", "lua", script), url],
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  const ms = (label: string): number => {
    const match = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(out);
    if (!match) return Number.NaN;
    const value = Number(match[1]);
    return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
  };
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), p50: ms("50"), p99: ms("99"), errors, requests };
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

/**
 * Waits until the server has finished the previous phase's queued work (its
 * CPU use stays under 5 % of one core for 300 ms), so that no phase pays for
 * the one before it.
 */
export async function settle(pid: number): Promise<void> {
  const until = performance.now() + 30_000;
  while (performance.now() < until) {
    const before = cpuTicks(pid);
    await Bun.sleep(300);
    if (cpuTicks(pid) - before <= 1) return;
  }
}

function statusMb(pid: number, field: "VmHWM" | "VmRSS"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024);
}
export const peakRssMb = (pid: number): number => statusMb(pid, "VmHWM");
export const currentRssMb = (pid: number): number => statusMb(pid, "VmRSS");

/** Starts the peak (VmHWM) afresh, so that the next reading is this phase's own peak. */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

export async function waitReady(url: string, started: number): Promise<number> {
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return performance.now() - started;
    } catch {}
    await Bun.sleep(2);
  }
}

/** The environment of a bench server: its data directory or database, quiet logs, rate limits out of the way. */
export function serverEnv(database: { dataDir?: string; databaseUrl?: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    ...(database.dataDir ? { USERSVC_DATA_DIR: database.dataDir } : {}),
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    LOG_LEVEL: "warn",
    USERSVC_RATE_LIMIT_PER_IP: "100000000",
    USERSVC_LOGIN_MAX_ATTEMPTS: "100000000",
    ...extra,
  };
}

/** A throwaway database `name` on the PostgreSQL server of `serverUrl`. */
export async function scratchDatabase(serverUrl: string, name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

export const randomPort = (from: number): number => from + Math.floor(Math.random() * 20000);

/** The floor: a bare Bun.serve route answering small JSON, the runtime's limit. */
export async function startFloor(): Promise<{ measure(): Promise<WrkResult>; stop(): void }> {
  const port = randomPort(20000);
  const proc = Bun.spawn({
    cmd: [process.execPath, "-e", `Bun.serve({ port: ${port}, hostname: "127.0.0.1", fetch: () => Response.json({ ok: true, user: "alice" }) }); console.log("up")`],
    stdout: "pipe",
  });
  await new Response(proc.stdout).body?.getReader().read();
  return { measure: () => wrk(`http://127.0.0.1:${port}/`, "me.lua", 32, { BENCH_TOKEN: "x" }), stop: () => proc.kill() };
}

/** Refresh-chain phases: 32 connections, each its own wrk thread and session (bench/lua/refresh-chain.lua). */
export const CHAINS = 32;

/** The database floors of bench/db-floors.ts, on `databaseUrl` or an embedded PGlite of their own. */
export async function startDbFloors(databaseUrl: string | undefined): Promise<{ read(): Promise<WrkResult>; write(): Promise<WrkResult>; stop(): Promise<void> }> {
  const port = randomPort(20000);
  const proc = Bun.spawn({
    cmd: [process.execPath, join(root, "bench", "db-floors.ts"), String(port), ...(databaseUrl ? [databaseUrl] : [])],
    stdout: "pipe",
    stderr: "inherit",
  });
  await new Response(proc.stdout).body?.getReader().read();
  const base = `http://127.0.0.1:${port}`;
  return {
    read: () => wrk(`${base}/`, "me.lua", 32, { BENCH_TOKEN: "x" }),
    async write() {
      const tokens = (await (await fetch(`${base}/tokens`)).text()).split(" ").slice(0, CHAINS).join(" ");
      return wrk(`${base}/write`, "refresh-chain.lua", CHAINS, { BENCH_REFRESH_TOKENS: tokens }, CHAINS);
    },
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}

/**
 * Bun.password calls per second with one in flight per core: `work` is hash
 * or verify. Measured in a child process, so that nothing of it (argon2's
 * threads and memory) stays in the process driving the phases.
 */
export async function passwordCeiling(work: "hash" | "verify"): Promise<number> {
  const script = `
    const cost = ${JSON.stringify(COST)};
    const stored = await Bun.password.hash(${JSON.stringify(BENCH_PASSWORD)}, cost);
    const until = performance.now() + ${seconds * 1000};
    let done = 0;
    await Promise.all(Array.from({ length: ${cores} }, async () => {
      while (performance.now() < until) {
        if (${JSON.stringify(work)} === "hash") await Bun.password.hash(${JSON.stringify(BENCH_PASSWORD)}, cost);
        else await Bun.password.verify(${JSON.stringify(BENCH_PASSWORD)}, stored);
        done += 1;
      }
    }));
    console.log(done / ${seconds});`;
  const child = Bun.spawn({ cmd: [process.execPath, "-e", script], stdout: "pipe", stderr: "inherit" });
  const perSecond = Number((await new Response(child.stdout).text()).trim());
  must((await child.exited) === 0 && Number.isFinite(perSecond), `the ${work} ceiling could not be measured`);
  return perSecond;
}
