/**
 * npm run bench — usersvc's performance, as ratios to baselines measured in
 * the same run on the same machine:
 *   floor:         a bare Bun.serve route answering small JSON (the runtime's limit)
 *   read floor:    the same route reading one row by primary key first (bench/read-floor.ts),
 *                  the limit of anything that reads the database once per request (refresh)
 *   hash ceiling:  raw Bun.password argon2id hashes per second, one per core
 *                  (register is compared with hash, login with verify: the
 *                  same cost in theory, verify measures ~8 % slower in Bun)
 * Phases (wrk, from Debian): register, login, GET /users/me, refresh,
 * /users/me while logins saturate the server, and the hosted pages: GET
 * /login (vs the floor), a sign-in posted by the /login form (vs verify),
 * and /users/me while such page sign-ins saturate the server; forward auth (GET
 * /api/v1/auth/forward as a proxy asks it) with a bearer token and with a page
 * sign-in's session cookie (vs the floor), and with the token while logins
 * saturate the server (its p99 vs alone); the OpenID Connect provider:
 * client_credentials and refresh grants at /oauth/token (vs Keycloak's
 * published 120 grants/s per vCPU), userinfo, and the authorization
 * endpoint answering a live browser session with a code (vs the floor). Each prints requests/s, p50,
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
    // --timeout well above the slowest queued login: a timed-out request is work done and not counted.
    cmd: ["wrk", "-t", String(Math.min(2, connections)), "-c", String(connections), "-d", `${seconds}s`, "--timeout", "20s", "--latency", "-s", join(root, "bench", "lua", script), url],
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
async function settle(pid: number): Promise<void> {
  const until = performance.now() + 30_000;
  while (performance.now() < until) {
    const before = cpuTicks(pid);
    await Bun.sleep(300);
    if (cpuTicks(pid) - before <= 1) return;
  }
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
// Like the argon2 ceilings, the floor is measured right before and right after each phase compared with it.
const floors: WrkResult[] = [];
async function measureFloor(): Promise<number> {
  const result = await wrk(`http://127.0.0.1:${floorPort}/`, "me.lua", 32, { BENCH_TOKEN: "x" });
  floors.push(result);
  return result.rps;
}

const COST = { algorithm: "argon2id", memoryCost: 65536, timeCost: 2 } as const;
const BENCH_PASSWORD = "correct horse battery staple";

/**
 * Bun.password calls per second with one in flight per core: `work` is hash
 * or verify. Measured in a child process, so that nothing of it (argon2's
 * threads and memory) stays in the process driving the phases.
 */
async function passwordCeiling(work: "hash" | "verify"): Promise<number> {
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
// The machine's speed drifts (shared cores): each argon2 phase is compared with
// the mean of the ceiling measured right before it and right after it.
const ceilings = { hash: [] as number[], verify: [] as number[] };
async function measureCeiling(work: "hash" | "verify"): Promise<number> {
  const perSecond = await passwordCeiling(work);
  ceilings[work].push(perSecond);
  return perSecond;
}
const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

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
const readFloorPort = 20000 + Math.floor(Math.random() * 20000);
const readFloor = Bun.spawn({
  cmd: [process.execPath, join(root, "bench", "read-floor.ts"), String(readFloorPort), ...(databaseUrl ? [databaseUrl] : [])],
  stdout: "pipe",
  stderr: "inherit",
});
await new Response(readFloor.stdout).body?.getReader().read();
async function measureReadFloor(): Promise<WrkResult> {
  return wrk(`http://127.0.0.1:${readFloorPort}/`, "me.lua", 32, { BENCH_TOKEN: "x" });
}
const port = 40000 + Math.floor(Math.random() * 20000);
const started = performance.now();
const server = Bun.spawn({ cmd: [binary, "serve", "--port", String(port), "--no-docs"], env, stdout: "ignore", stderr: "inherit" });
const base = `http://127.0.0.1:${port}`;
const readyMs = await waitReady(base, started);
await Bun.sleep(300);
const idleRss = currentRssMb(server.pid);

async function registerBenchUser(email: string, username: string): Promise<void> {
  const response = await fetch(`${base}/api/v1/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, username, password: BENCH_PASSWORD }),
  });
  must(response.status === 201, `registering ${email} answered ${response.status}`);
}
const email = "bench@bench.example";
await registerBenchUser(email, "benchuser");
// The login load of the mixed phase signs in someone else, as on a real host:
// the user whose token is checked is not the one logging in over and over.
const otherEmail = "crowd@bench.example";
await registerBenchUser(otherEmail, "benchcrowd");
const tokens = (
  (await (
    await fetch(`${base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: BENCH_PASSWORD }),
    })
  ).json()) as { data: { access_token: string; refresh_token: string } }
).data;
// The page sign-in posts the form of one fetched /login page, with that page's CSRF cookie and token.
const loginPage = await fetch(`${base}/login`);
const csrfCookie = /usersvc_csrf=([^;]+)/.exec(loginPage.headers.get("set-cookie") ?? "")?.[1];
const csrfToken = /name="csrf_token" value="([^"]+)"/.exec(await loginPage.text())?.[1];
must(csrfCookie && csrfToken, "GET /login gave no CSRF cookie and token");
// Forward auth's cookie phase: the browser session of one sign-in on that form.
const pageSignIn = await fetch(`${base}/login`, {
  method: "POST",
  redirect: "manual",
  headers: { "content-type": "application/x-www-form-urlencoded", cookie: `usersvc_csrf=${csrfCookie}`, origin: base },
  body: new URLSearchParams({ identifier: "benchuser", password: BENCH_PASSWORD, csrf_token: csrfToken }).toString(),
});
const sessionCookie = /usersvc_session=([^;]+)/.exec(pageSignIn.headers.getSetCookie().join("\n"))?.[1];
must(pageSignIn.status === 303 && sessionCookie, `the sign-in on /login answered ${pageSignIn.status} without a session cookie`);
const vars = {
  BENCH_EMAIL: email,
  BENCH_USERNAME: "benchuser",
  BENCH_TOKEN: tokens.access_token,
  BENCH_REFRESH: tokens.refresh_token,
  BENCH_CSRF_COOKIE: csrfCookie,
  BENCH_CSRF_TOKEN: csrfToken,
  BENCH_SESSION_COOKIE: sessionCookie,
};

const rows: { phase: string; result: WrkResult; rss: number; vsFloor: number | null; vsHash: number | null }[] = [];
async function phase(name: string, path: string, script: string, connections: number, against: "floor" | "hash" | "verify"): Promise<WrkResult> {
  await settle(server.pid);
  const before = against === "floor" ? await measureFloor() : await measureCeiling(against);
  const result = await wrk(base + path, script, connections, vars);
  rows.push({
    phase: name,
    result,
    rss: peakRssMb(server.pid),
    vsFloor: null,
    vsHash: null,
  });
  const around = mean([before, against === "floor" ? await measureFloor() : await measureCeiling(against)]);
  if (against === "floor") rows.at(-1)!.vsFloor = result.rps / around;
  else rows.at(-1)!.vsHash = result.rps / around;
  return result;
}

await phase("register", "/api/v1/users", "register.lua", cores * 4, "hash");
await phase("login", "/api/v1/auth/login", "login.lua", cores * 4, "verify");
const meAlone = await phase("GET /users/me", "/api/v1/users/me", "me.lua", 32, "floor");
await settle(server.pid);
const readFloors = [await measureReadFloor()];
const refreshed = await phase("refresh", "/api/v1/auth/refresh", "refresh.lua", 32, "floor");
readFloors.push(await measureReadFloor());
// /me while logins saturate the hash slots.
await settle(server.pid);
const verifyBefore = await measureCeiling("verify");
const loginLoad = wrk(`${base}/api/v1/auth/login`, "login.lua", cores * 8, { ...vars, BENCH_EMAIL: otherEmail });
await Bun.sleep(500);
const meUnderLoad = await wrk(`${base}/api/v1/users/me`, "me.lua", 32, vars);
const loginDuring = await loginLoad;
const floorAfterMix = await measureFloor();
rows.push({ phase: "/users/me under login load", result: meUnderLoad, rss: peakRssMb(server.pid), vsFloor: meUnderLoad.rps / floorAfterMix, vsHash: null });
rows.push({ phase: "  (the login load itself)", result: loginDuring, rss: peakRssMb(server.pid), vsFloor: null, vsHash: loginDuring.rps / mean([verifyBefore, await measureCeiling("verify")]) });

await phase("GET /login (page)", "/login", "page.lua", 32, "floor");
await phase("sign-in on the /login page", "/login", "page-login.lua", cores * 4, "verify");
// /me while sign-ins through the page form saturate the hash slots, as the API logins did above.
await settle(server.pid);
const pageLoad = wrk(`${base}/login`, "page-login.lua", cores * 8, { ...vars, BENCH_USERNAME: "benchcrowd" });
await Bun.sleep(500);
const meUnderPageLoad = await wrk(`${base}/api/v1/users/me`, "me.lua", 32, vars);
await pageLoad;
const floorAfterPageMix = await measureFloor();
rows.push({ phase: "/users/me under page sign-ins", result: meUnderPageLoad, rss: peakRssMb(server.pid), vsFloor: meUnderPageLoad.rps / floorAfterPageMix, vsHash: null });

// Forward auth: what a proxy asks before every request of every application it protects.
const forwardAlone = await phase("GET /auth/forward (token)", "/api/v1/auth/forward", "forward.lua", 32, "floor");
const forwardCookie = await phase("GET /auth/forward (cookie)", "/api/v1/auth/forward", "forward-cookie.lua", 32, "floor");
// Forward auth while logins saturate the hash slots, as /users/me above.
await settle(server.pid);
const verifyBeforeForward = await measureCeiling("verify");
const forwardLoginLoad = wrk(`${base}/api/v1/auth/login`, "login.lua", cores * 8, { ...vars, BENCH_EMAIL: otherEmail });
await Bun.sleep(500);
const forwardUnderLoad = await wrk(`${base}/api/v1/auth/forward`, "forward.lua", 32, vars);
const loginDuringForward = await forwardLoginLoad;
const floorAfterForwardMix = await measureFloor();
rows.push({ phase: "/auth/forward under logins", result: forwardUnderLoad, rss: peakRssMb(server.pid), vsFloor: forwardUnderLoad.rps / floorAfterForwardMix, vsHash: null });
rows.push({ phase: "  (the login load itself)", result: loginDuringForward, rss: peakRssMb(server.pid), vsFloor: null, vsHash: loginDuringForward.rps / mean([verifyBeforeForward, await measureCeiling("verify")]) });

// The OpenID Connect provider: one client with every grant, first-party (no consent page), and a grant
// of the bench user opened through the authorization endpoint with the page sign-in's browser session.
const added = Bun.spawnSync({
  cmd: [binary, "clients", "add", "--name", "bench", "--redirect-uri", "https://app.bench.example/cb", "--skip-consent",
    "--grant", "authorization_code", "--grant", "refresh_token", "--grant", "client_credentials", "--json"],
  env,
  stdout: "pipe",
  stderr: "inherit",
});
must(added.exitCode === 0, "usersvc clients add failed");
const benchClient = JSON.parse(added.stdout.toString()) as { client_id: string; client_secret: string };
const verifier = "bench-verifier-bench-verifier-bench-verifier-0123456789";
const challenge = new Bun.CryptoHasher("sha256").update(verifier).digest("base64url");
const authorizeQuery = new URLSearchParams({
  client_id: benchClient.client_id,
  redirect_uri: "https://app.bench.example/cb",
  response_type: "code",
  scope: "openid profile email",
  code_challenge: challenge,
  code_challenge_method: "S256",
  state: "bench",
}).toString();
const authorized = await fetch(`${base}/oauth/authorize?${authorizeQuery}`, { redirect: "manual", headers: { cookie: `usersvc_session=${sessionCookie}` } });
const code = new URL(authorized.headers.get("location") ?? "http://x/").searchParams.get("code");
must(code, `the authorization endpoint answered ${authorized.status} without a code`);
const clientBasic = Buffer.from(`${benchClient.client_id}:${benchClient.client_secret}`).toString("base64");
const grant = (await (
  await fetch(`${base}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${clientBasic}` },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: "https://app.bench.example/cb", code_verifier: verifier }),
  })
).json()) as { access_token: string; refresh_token: string };
must(grant.access_token && grant.refresh_token, "the code exchange gave no tokens");
Object.assign(vars, {
  BENCH_CLIENT_BASIC: clientBasic,
  BENCH_OAUTH_TOKEN: grant.access_token,
  BENCH_OAUTH_REFRESH: grant.refresh_token,
  BENCH_AUTHORIZE_QUERY: authorizeQuery,
});
const clientCredentials = await phase("client_credentials grant", "/oauth/token", "oauth-client-credentials.lua", 32, "floor");
const oauthRefresh = await phase("OIDC refresh grant", "/oauth/token", "oauth-refresh.lua", 32, "floor");
readFloors.push(await measureReadFloor());
const userinfo = await phase("GET /oauth/userinfo", "/oauth/userinfo", "oauth-userinfo.lua", 32, "floor");
const authorize = await phase("authorize (live session)", "/oauth/authorize", "oauth-authorize.lua", 32, "floor");

server.kill("SIGTERM");
await server.exited;
floor.kill();
readFloor.kill();
await readFloor.exited;
await dropDatabase();
rmSync(dataDir, { recursive: true, force: true });

// ---- report
const pct = (ratio: number | null): string => (ratio === null ? "" : `${(ratio * 100).toFixed(1)} %`);
const fixed = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : "n/a");
console.log(`usersvc bench — ${serverUrl ? "PostgreSQL" : "embedded PGlite"}, ${cores} cores, ${seconds} s per phase, ${new Date().toISOString()}`);
const rpsOf = floors.map((f) => f.rps);
console.log(`floor (bare Bun.serve JSON, 32 connections, around each phase): ${Math.min(...rpsOf).toFixed(0)}–${Math.max(...rpsOf).toFixed(0)} req/s, p99 ${fixed(Math.max(...floors.map((f) => f.p99)))} ms at most`);
const range = (values: number[]): string => `${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}`;
console.log(`argon2 ceilings (m=64MiB t=2, ${cores} at once, around each phase): ${range(ceilings.hash)} hashes/s, ${range(ceilings.verify)} verifications/s`);
console.log(`ready: first 200 on /readyz ${readyMs.toFixed(0)} ms after start; idle RSS ${idleRss} MB`);
console.log("");
console.log(["phase".padEnd(28), "req/s".padStart(9), "p50 ms".padStart(8), "p99 ms".padStart(8), "errors".padStart(7), "peak RSS".padStart(9), "vs floor".padStart(9), "vs argon2".padStart(9)].join(" "));
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
      pct(row.vsHash).padStart(9),
    ].join(" "),
  );
}
console.log("");
const readFloorRps = mean(readFloors.map((r) => r.rps));
console.log(`refresh vs the read floor (Bun.serve + one primary-key read, measured around it): ${refreshed.rps.toFixed(0)} vs ${readFloorRps.toFixed(0)} req/s (${pct(refreshed.rps / readFloorRps)})`);
console.log(`/users/me p99 under login load: ${fixed(meUnderLoad.p99)} ms vs ${fixed(meAlone.p99)} ms alone (×${(meUnderLoad.p99 / meAlone.p99).toFixed(2)})`);
console.log(`/users/me under page sign-ins vs under API logins: ${meUnderPageLoad.rps.toFixed(0)} vs ${meUnderLoad.rps.toFixed(0)} req/s, p99 ${fixed(meUnderPageLoad.p99)} vs ${fixed(meUnderLoad.p99)} ms`);
const forwardRow = (result: WrkResult) => rows.find((row) => row.result === result)!;
console.log(`forward auth vs the floor: token ${pct(forwardRow(forwardAlone).vsFloor)}, cookie ${pct(forwardRow(forwardCookie).vsFloor)} (target ≥ 25 %)`);
console.log(`forward auth p99 under login load: ${fixed(forwardUnderLoad.p99)} ms vs ${fixed(forwardAlone.p99)} ms alone (×${(forwardUnderLoad.p99 / forwardAlone.p99).toFixed(2)}; target ≤ ×3)`);
// Keycloak's published sizing: 120 client-credentials grants/s and 120 refresh grants/s per vCPU; the target is 10× that here.
const keycloakTarget = 10 * 120 * cores;
console.log(`client_credentials: ${clientCredentials.rps.toFixed(0)} grants/s, ×${(clientCredentials.rps / (120 * cores)).toFixed(1)} Keycloak's ${120 * cores}/s for ${cores} vCPU (target ≥ ${keycloakTarget}/s)`);
console.log(`OIDC refresh: ${oauthRefresh.rps.toFixed(0)} grants/s, ×${(oauthRefresh.rps / (120 * cores)).toFixed(1)} Keycloak's (target ≥ ${keycloakTarget}/s); ${pct(oauthRefresh.rps / readFloorRps)} of the read floor`);
console.log(`userinfo vs the floor: ${pct(forwardRow(userinfo).vsFloor)} (target ≥ 20 %); authorize with a live session: ${pct(forwardRow(authorize).vsFloor)} (target ≥ 5 %)`);
