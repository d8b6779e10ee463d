/**
 * Logins under token-check load, for each niceness of the hashing threads
 * (USERSVC_HASH_NICENESS): logins alone, GET /users/me alone, then both at
 * once (the bench's mixed phase). Prints the logins' rate under load as a
 * share of their rate alone, and /me's p99 under load against its p99
 * alone: the trade the niceness sets.
 *
 *   bun bench/login-share.ts                      # embedded database, niceness 0, 5, 10
 *   BENCH_NICENESS=3,5,7 DATABASE_URL=postgres://… bun bench/login-share.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BENCH_PASSWORD, binary, cores, must, prepare, randomPort, scratchDatabase, seconds, serverEnv, settle, waitReady, wrk } from "./tools.ts";

prepare();
const levels = (process.env.BENCH_NICENESS ?? "0,5,10").split(",").map(Number);
const serverUrl = process.env.DATABASE_URL?.trim() || null;

async function measure(niceness: number) {
  const dataDir = mkdtempSync(join(tmpdir(), "usersvc-share-"));
  const scratch = serverUrl ? await scratchDatabase(serverUrl, `usersvc_bench_share_${process.pid}_${niceness}`) : null;
  const env = serverEnv({ dataDir, databaseUrl: scratch?.url }, { USERSVC_HASH_NICENESS: String(niceness) });
  must(Bun.spawnSync({ cmd: [binary, "init-db"], env, stdout: "ignore", stderr: "inherit" }).exitCode === 0, "init-db failed");
  const port = randomPort(40000);
  const server = Bun.spawn({ cmd: [binary, "serve", "--port", String(port), "--no-docs"], env, stdout: "ignore", stderr: "inherit" });
  const base = `http://127.0.0.1:${port}`;
  await waitReady(base, performance.now());
  const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  for (const [email, username] of [["bench@bench.example", "benchuser"], ["crowd@bench.example", "benchcrowd"]]) {
    must((await post("/api/v1/users", { email, username, password: BENCH_PASSWORD })).status === 201, "register failed");
  }
  const token = ((await (await post("/api/v1/auth/login", { email: "bench@bench.example", password: BENCH_PASSWORD })).json()) as { data: { access_token: string } }).data.access_token;
  const vars = { BENCH_EMAIL: "crowd@bench.example", BENCH_TOKEN: token };

  await settle(server.pid);
  const loginAlone = await wrk(`${base}/api/v1/auth/login`, "login.lua", cores * 4, vars);
  await settle(server.pid);
  const meAlone = await wrk(`${base}/api/v1/users/me`, "me.lua", 32, vars);
  await settle(server.pid);
  const loginLoad = wrk(`${base}/api/v1/auth/login`, "login.lua", cores * 8, vars);
  await Bun.sleep(500);
  const meMixed = await wrk(`${base}/api/v1/users/me`, "me.lua", 32, vars);
  const loginMixed = await loginLoad;

  server.kill("SIGTERM");
  await server.exited;
  rmSync(dataDir, { recursive: true, force: true });
  await scratch?.drop();
  return { niceness, loginAlone, meAlone, meMixed, loginMixed };
}

const results = [];
for (const niceness of levels) results.push(await measure(niceness));

console.log(`\nlogins under /users/me load — ${serverUrl ? "PostgreSQL" : "embedded PGlite"}, ${cores} cores, ${seconds} s per phase`);
console.log(`the mixed phase's logins are measured over its whole ${seconds} s, /me over the last ${seconds - 0.5} s\n`);
console.log(["niceness".padEnd(9), "login alone".padStart(12), "login mixed".padStart(12), "share".padStart(7), "/me alone".padStart(10), "/me mixed".padStart(10), "p99 alone".padStart(10), "p99 mixed".padStart(10), "p99 ×".padStart(6)].join(" "));
for (const r of results) {
  console.log(
    [
      String(r.niceness).padEnd(9),
      `${r.loginAlone.rps.toFixed(1)}/s`.padStart(12),
      `${r.loginMixed.rps.toFixed(1)}/s`.padStart(12),
      `${((r.loginMixed.rps / r.loginAlone.rps) * 100).toFixed(0)} %`.padStart(7),
      r.meAlone.rps.toFixed(0).padStart(10),
      r.meMixed.rps.toFixed(0).padStart(10),
      `${r.meAlone.p99.toFixed(2)} ms`.padStart(10),
      `${r.meMixed.p99.toFixed(2)} ms`.padStart(10),
      (r.meMixed.p99 / r.meAlone.p99).toFixed(2).padStart(6),
    ].join(" "),
  );
}
console.log("\ntargets: logins under load ≥ 40 % of alone, /me p99 under load ≤ ×3 alone");
