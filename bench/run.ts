/**
 * npm run bench — usersvc's performance, as ratios to baselines measured in
 * the same run on the same machine:
 *   floor:         a bare Bun.serve route answering small JSON (the runtime's limit)
 *   hash ceiling:  raw Bun.password argon2id hashes per second, one per core
 * Phases (wrk, from Debian): register, login, GET /users/me, refresh, and
 * /users/me while logins saturate the server. Each prints requests/s, p50,
 * p99, errors, the server's peak RSS and the ratios. Also: idle RSS and the
 * time from start to the first 200 on /readyz.
 *
 *   npm run bench                                   # embedded database
 *   DATABASE_URL=postgres://… npm run bench         # PostgreSQL (a throwaway database is created there)
 *   BENCH_SECONDS=10 npm run bench                  # longer phases (default 5 s)
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

const root = join(import.meta.dir, "..");
const binary = join(root, "dist", "usersvc");
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const cores = availableParallelism();
const serverUrl = process.env.DATABASE_URL?.trim() || null;

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
}

function must(condition: unknown, message: string): asserts condition {
  if (!condition) {
    console.error(`bench: ${message}`);
    process.exit(1);
  }
}

must(Bun.which("wrk"), "wrk is not installed (apt-get install wrk)");
if (!(await Bun.file(binary).exists())) {
  must(Bun.spawnSync({ cmd: [process.execPath, join(root, "scripts", "build.ts")], stdout: "inherit", stderr: "inherit" }).exitCode === 0, "build failed");
}

async function wrk(url: string, script: string, connections: number, env: Record<string, string> = {}): Promise<WrkResult> {
  const proc = Bun.spawn({
    cmd: ["wrk", "-t", String(Math.min(2, connections)), "-c", String(connections), "-d", `${seconds}s`, "--latency", "-s", join(root, "bench", "lua", script), url],
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

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

function currentRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

async function waitReady(url: string, started: number): Promise<number> {
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return performance.now() - started;
    } catch {}
    await Bun.sleep(2);
  }
}

// ---- baselines
const floorPort = 20000 + Math.floor(Math.random() * 20000);
const floor = Bun.spawn({
  cmd: [process.execPath, "-e", `Bun.serve({ port: ${floorPort}, hostname: "127.0.0.1", fetch: () => Response.json({ ok: true, user: "alice" }) }); console.log("up")`],
  stdout: "pipe",
});
await new Response(floor.stdout).body?.getReader().read();
const floorResult = await wrk(`http://127.0.0.1:${floorPort}/`, "me.lua", 64, { BENCH_TOKEN: "x" });
floor.kill();

async function hashCeiling(): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: cores }, async () => {
      while (performance.now() < until) {
        await Bun.password.hash("correct horse battery staple", { algorithm: "argon2id", memoryCost: 65536, timeCost: 2 });
        done += 1;
      }
    }),
  );
  return done / seconds;
}
const hashPerSecond = await hashCeiling();

// ---- the server
const dataDir = mkdtempSync(join(tmpdir(), "usersvc-bench-"));
let databaseUrl: string | undefined;
let dropDatabase = async (): Promise<void> => {};
if (serverUrl) {
  const name = `usersvc_bench_${process.pid}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  databaseUrl = url.toString();
  dropDatabase = async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  };
}
const env = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: process.env.HOME ?? "/tmp",
  USERSVC_DATA_DIR: dataDir,
  ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  LOG_LEVEL: "warn",
  USERSVC_RATE_LIMIT_PER_IP: "100000000",
  USERSVC_LOGIN_MAX_ATTEMPTS: "100000000",
  USERSVC_REFRESH_GRACE: "3600",
};
// First start creates (and migrates) the database; the timed start reopens it.
const init = Bun.spawnSync({ cmd: [binary, "init-db"], env, stdout: "ignore", stderr: "inherit" });
must(init.exitCode === 0, "init-db failed");
const port = 40000 + Math.floor(Math.random() * 20000);
const started = performance.now();
const server = Bun.spawn({ cmd: [binary, "serve", "--port", String(port), "--no-docs"], env, stdout: "ignore", stderr: "inherit" });
const base = `http://127.0.0.1:${port}`;
const readyMs = await waitReady(base, started);
await Bun.sleep(300);
const idleRss = currentRssMb(server.pid);

const email = "bench@bench.example";
await fetch(`${base}/api/v1/users`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ email, username: "benchuser", password: "correct horse battery staple" }),
});
const tokens = (
  (await (
    await fetch(`${base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: "correct horse battery staple" }),
    })
  ).json()) as { data: { access_token: string; refresh_token: string } }
).data;
const vars = { BENCH_EMAIL: email, BENCH_TOKEN: tokens.access_token, BENCH_REFRESH: tokens.refresh_token };

const rows: { phase: string; result: WrkResult; rss: number; vsFloor: number | null; vsHash: number | null }[] = [];
async function phase(name: string, path: string, script: string, connections: number, against: "floor" | "hash"): Promise<WrkResult> {
  const result = await wrk(base + path, script, connections, vars);
  rows.push({
    phase: name,
    result,
    rss: peakRssMb(server.pid),
    vsFloor: against === "floor" ? result.rps / floorResult.rps : null,
    vsHash: against === "hash" ? result.rps / hashPerSecond : null,
  });
  return result;
}

await phase("register", "/api/v1/users", "register.lua", cores * 4, "hash");
await phase("login", "/api/v1/auth/login", "login.lua", cores * 4, "hash");
const meAlone = await phase("GET /users/me", "/api/v1/users/me", "me.lua", 32, "floor");
await phase("refresh", "/api/v1/auth/refresh", "refresh.lua", 32, "floor");
// /me while logins saturate the hash slots.
const loginLoad = wrk(`${base}/api/v1/auth/login`, "login.lua", cores * 8, vars);
await Bun.sleep(500);
const meUnderLoad = await wrk(`${base}/api/v1/users/me`, "me.lua", 32, vars);
const loginDuring = await loginLoad;
rows.push({ phase: "/users/me under login load", result: meUnderLoad, rss: peakRssMb(server.pid), vsFloor: meUnderLoad.rps / floorResult.rps, vsHash: null });
rows.push({ phase: "  (the login load itself)", result: loginDuring, rss: peakRssMb(server.pid), vsFloor: null, vsHash: loginDuring.rps / hashPerSecond });

server.kill("SIGTERM");
await server.exited;
await dropDatabase();
rmSync(dataDir, { recursive: true, force: true });

// ---- report
const pct = (ratio: number | null): string => (ratio === null ? "" : `${(ratio * 100).toFixed(1)} %`);
const fixed = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : "n/a");
console.log(`usersvc bench — ${serverUrl ? "PostgreSQL" : "embedded PGlite"}, ${cores} cores, ${seconds} s per phase, ${new Date().toISOString()}`);
console.log(`floor (bare Bun.serve JSON): ${floorResult.rps.toFixed(0)} req/s, p99 ${fixed(floorResult.p99)} ms`);
console.log(`hash ceiling (argon2id m=64MiB t=2, ${cores} at once): ${hashPerSecond.toFixed(1)} hashes/s`);
console.log(`ready: first 200 on /readyz ${readyMs.toFixed(0)} ms after start; idle RSS ${idleRss} MB`);
console.log("");
console.log(["phase".padEnd(28), "req/s".padStart(9), "p50 ms".padStart(8), "p99 ms".padStart(8), "errors".padStart(7), "peak RSS".padStart(9), "vs floor".padStart(9), "vs hash".padStart(8)].join(" "));
for (const row of rows) {
  console.log(
    [
      row.phase.padEnd(28),
      row.result.rps.toFixed(0).padStart(9),
      fixed(row.result.p50).padStart(8),
      fixed(row.result.p99).padStart(8),
      String(row.result.errors).padStart(7),
      `${row.rss} MB`.padStart(9),
      pct(row.vsFloor).padStart(9),
      pct(row.vsHash).padStart(8),
    ].join(" "),
  );
}
console.log("");
console.log(`/users/me p99 under login load: ${fixed(meUnderLoad.p99)} ms vs ${fixed(meAlone.p99)} ms alone (×${(meUnderLoad.p99 / meAlone.p99).toFixed(2)})`);
