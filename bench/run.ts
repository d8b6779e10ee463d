/**
 * npm run bench — usersvc's performance, as ratios to baselines measured in
 * the same run on the same machine:
 *   floor:         a bare Bun.serve route answering small JSON (the runtime's limit)
 *   read floor:    the same route reading one row by primary key first (bench/db-floors.ts)
 *   write floor:   the same route doing refresh's rotation alone, one conditional UPDATE
 *                  (bench/db-floors.ts): the limit of refresh, which must write
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
 * p99, errors, the server's peak RSS during that phase (VmHWM, reset at its
 * start) and the ratios. Also: idle RSS and the time from start to the first
 * 200 on /readyz.
 *
 *   npm run bench                                   # embedded database
 *   DATABASE_URL=postgres://… npm run bench         # PostgreSQL (a throwaway database is created there)
 *   BENCH_SECONDS=10 npm run bench                  # longer phases (default 5 s)
 *   npm run bench -- --scale                        # growth from 10k to 1M users (bench/scale.ts)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BENCH_PASSWORD,
  binary,
  cores,
  currentRssMb,
  mean,
  must,
  passwordCeiling,
  peakRssMb,
  prepare,
  randomPort,
  resetPeakRss,
  scratchDatabase,
  serverEnv,
  seconds,
  settle,
  startDbFloors,
  startFloor,
  CHAINS,
  waitReady,
  type WrkResult,
  wrk,
} from "./tools.ts";

if (process.argv.includes("--scale")) {
  await import("./scale.ts");
  process.exit(0);
}
const serverUrl = process.env.DATABASE_URL?.trim() || null;
prepare();

// ---- baselines
const floor = await startFloor();
// Like the argon2 ceilings, the floor is measured right before and right after each phase compared with it.
const floors: WrkResult[] = [];
async function measureFloor(): Promise<number> {
  const result = await floor.measure();
  floors.push(result);
  return result.rps;
}

// The machine's speed drifts (shared cores): each argon2 phase is compared with
// the mean of the ceiling measured right before it and right after it.
const ceilings = { hash: [] as number[], verify: [] as number[] };
async function measureCeiling(work: "hash" | "verify"): Promise<number> {
  const perSecond = await passwordCeiling(work);
  ceilings[work].push(perSecond);
  return perSecond;
}

// ---- the server
const dataDir = mkdtempSync(join(tmpdir(), "usersvc-bench-"));
const scratch = serverUrl ? await scratchDatabase(serverUrl, `usersvc_bench_${process.pid}`) : null;
const databaseUrl = scratch?.url;
const env = serverEnv({ dataDir, databaseUrl });
// First start creates (and migrates) the database; the timed start reopens it.
const init = Bun.spawnSync({ cmd: [binary, "init-db"], env, stdout: "ignore", stderr: "inherit" });
must(init.exitCode === 0, "init-db failed");
const dbFloors = await startDbFloors(databaseUrl);
const measureReadFloor = dbFloors.read;
const measureWriteFloor = dbFloors.write;
const port = randomPort(40000);
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
async function logIn(): Promise<{ access_token: string; refresh_token: string }> {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: BENCH_PASSWORD }),
  });
  must(response.status === 200, `logging in answered ${response.status}`);
  return ((await response.json()) as { data: { access_token: string; refresh_token: string } }).data;
}
const tokens = await logIn();
// The refresh phase: a session per connection, each rotated by every request.
const refreshTokens: string[] = [];
for (let i = 0; i < CHAINS; i++) refreshTokens.push((await logIn()).refresh_token);
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
  BENCH_REFRESH_TOKENS: refreshTokens.join(" "),
  BENCH_CSRF_COOKIE: csrfCookie,
  BENCH_CSRF_TOKEN: csrfToken,
  BENCH_SESSION_COOKIE: sessionCookie,
};

const rows: { phase: string; result: WrkResult; rss: number; vsFloor: number | null; vsHash: number | null }[] = [];
async function phase(name: string, path: string, script: string, connections: number, against: "floor" | "hash" | "verify", threads?: number): Promise<WrkResult> {
  await settle(server.pid);
  const before = against === "floor" ? await measureFloor() : await measureCeiling(against);
  resetPeakRss(server.pid);
  const result = await wrk(base + path, script, connections, vars, threads);
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
const writeFloors = [await measureWriteFloor()];
const refreshed = await phase("refresh (rotating)", "/api/v1/auth/refresh", "refresh-chain.lua", CHAINS, "floor", CHAINS);
writeFloors.push(await measureWriteFloor());
readFloors.push(await measureReadFloor());
// /me while logins saturate the hash slots.
await settle(server.pid);
const verifyBefore = await measureCeiling("verify");
resetPeakRss(server.pid);
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
resetPeakRss(server.pid);
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
resetPeakRss(server.pid);
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
const clientBasic = Buffer.from(`${benchClient.client_id}:${benchClient.client_secret}`).toString("base64");
/** One grant of the bench user: a code from the authorization endpoint on the browser session, exchanged. */
async function openGrant(): Promise<{ access_token: string; refresh_token: string }> {
  const authorized = await fetch(`${base}/oauth/authorize?${authorizeQuery}`, { redirect: "manual", headers: { cookie: `usersvc_session=${sessionCookie}` } });
  const code = new URL(authorized.headers.get("location") ?? "http://x/").searchParams.get("code");
  must(code, `the authorization endpoint answered ${authorized.status} without a code`);
  const grant = (await (
    await fetch(`${base}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${clientBasic}` },
      body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: "https://app.bench.example/cb", code_verifier: verifier }),
    })
  ).json()) as { access_token: string; refresh_token: string };
  must(grant.access_token && grant.refresh_token, "the code exchange gave no tokens");
  return grant;
}
const grant = await openGrant();
const grantRefreshTokens: string[] = [];
for (let i = 0; i < CHAINS; i++) grantRefreshTokens.push((await openGrant()).refresh_token);
Object.assign(vars, {
  BENCH_CLIENT_BASIC: clientBasic,
  BENCH_OAUTH_TOKEN: grant.access_token,
  BENCH_AUTHORIZE_QUERY: authorizeQuery,
});
const clientCredentials = await phase("client_credentials grant", "/oauth/token", "oauth-client-credentials.lua", 32, "floor");
Object.assign(vars, { BENCH_REFRESH_TOKENS: grantRefreshTokens.join(" "), BENCH_REFRESH_FORM: "1" });
const oauthRefresh = await phase("OIDC refresh grant", "/oauth/token", "refresh-chain.lua", CHAINS, "floor", CHAINS);
writeFloors.push(await measureWriteFloor());
readFloors.push(await measureReadFloor());
const userinfo = await phase("GET /oauth/userinfo", "/oauth/userinfo", "oauth-userinfo.lua", 32, "floor");
const authorize = await phase("authorize (live session)", "/oauth/authorize", "oauth-authorize.lua", 32, "floor");

server.kill("SIGTERM");
await server.exited;
floor.stop();
await dbFloors.stop();
await scratch?.drop();
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
const writeFloorRps = mean(writeFloors.map((r) => r.rps));
console.log(`refresh vs the write floor (Bun.serve + the rotation's one conditional UPDATE, ${CHAINS} chains, measured around it): ${refreshed.rps.toFixed(0)} vs ${writeFloorRps.toFixed(0)} req/s (${pct(refreshed.rps / writeFloorRps)}; target ≥ 50 %)`);
console.log(`refresh vs the read floor (Bun.serve + one primary-key read): ${refreshed.rps.toFixed(0)} vs ${readFloorRps.toFixed(0)} req/s (${pct(refreshed.rps / readFloorRps)})`);
console.log(`/users/me p99 under login load: ${fixed(meUnderLoad.p99)} ms vs ${fixed(meAlone.p99)} ms alone (×${(meUnderLoad.p99 / meAlone.p99).toFixed(2)})`);
console.log(`/users/me under page sign-ins vs under API logins: ${meUnderPageLoad.rps.toFixed(0)} vs ${meUnderLoad.rps.toFixed(0)} req/s, p99 ${fixed(meUnderPageLoad.p99)} vs ${fixed(meUnderLoad.p99)} ms`);
const forwardRow = (result: WrkResult) => rows.find((row) => row.result === result)!;
console.log(`forward auth vs the floor: token ${pct(forwardRow(forwardAlone).vsFloor)}, cookie ${pct(forwardRow(forwardCookie).vsFloor)} (target ≥ 25 %)`);
console.log(`forward auth p99 under login load: ${fixed(forwardUnderLoad.p99)} ms vs ${fixed(forwardAlone.p99)} ms alone (×${(forwardUnderLoad.p99 / forwardAlone.p99).toFixed(2)}; target ≤ ×3)`);
// Keycloak's published sizing: 120 client-credentials grants/s and 120 refresh grants/s per vCPU; the target is 10× that here.
const keycloakTarget = 10 * 120 * cores;
console.log(`client_credentials: ${clientCredentials.rps.toFixed(0)} grants/s, ×${(clientCredentials.rps / (120 * cores)).toFixed(1)} Keycloak's ${120 * cores}/s for ${cores} vCPU (target ≥ ${keycloakTarget}/s)`);
console.log(`OIDC refresh (rotating): ${oauthRefresh.rps.toFixed(0)} grants/s, ×${(oauthRefresh.rps / (120 * cores)).toFixed(1)} Keycloak's (target ≥ ${keycloakTarget}/s); ${pct(oauthRefresh.rps / writeFloorRps)} of the write floor`);
console.log(`userinfo vs the floor: ${pct(forwardRow(userinfo).vsFloor)} (target ≥ 20 %); authorize with a live session: ${pct(forwardRow(authorize).vsFloor)} (target ≥ 5 %)`);
