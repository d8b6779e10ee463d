/**
 * `usersvc audit verify` against the length of the log (PostgreSQL): for
 * each size, a scratch database gets a valid chain of that many entries
 * (hashed here, inserted in batches), then times a full verification, 100
 * more entries appended the usual way, and a verification from the
 * checkpoint the first one left. The checkpointed check should cost the
 * same at every size; the full one grows with the log.
 *
 *   bun bench/audit-verify.ts [SIZES, comma-separated: 10000,100000]
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun bench/audit-verify.ts 10000,100000,1000000
 */
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { SYSTEM_ACTOR } from "../src/core/audit/actor.ts";
import { appendAudit, GENESIS, hashEntry, verifyAuditChain } from "../src/core/audit/audit.ts";
import { auditLog } from "../src/core/db/schema.ts";
import { loadConfig } from "../src/config.ts";
import { openUsersvc } from "../src/core/start-up.ts";
import { createLogger } from "../src/logger.ts";

const sizes = (process.argv[2] ?? "10000,100000").split(",").map(Number);
const serverUrl = process.env.DATABASE_URL?.trim() || "postgres://postgres@127.0.0.1:5432/test";
const name = "usersvc_bench_audit";
const root = postgres(serverUrl, { max: 1, onnotice: () => {} });

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await run();
  return { ms: performance.now() - start, value };
}

const rows: string[] = [];
for (const size of sizes) {
  await root.unsafe(`drop database if exists ${name} with (force)`);
  await root.unsafe(`create database ${name}`);
  const dbUrl = new URL(serverUrl);
  dbUrl.pathname = `/${name}`;
  const config = loadConfig({ DATABASE_URL: dbUrl.toString(), LOG_LEVEL: "warn" });
  const usersvc = await openUsersvc(config, createLogger(config.logLevel, { write: () => {} }), { migrate: true });
  const core = await usersvc.core();

  let prevHash = GENESIS;
  const start = Date.now() - size * 1000;
  for (let first = 1; first <= size; first += 2000) {
    const batch = [];
    for (let id = first; id < Math.min(first + 2000, size + 1); id++) {
      const row = { id, occurredAt: new Date(start + id * 1000), event: "user.updated", actorType: "system", actorId: null, targetId: null, ip: null, data: { n: id }, prevHash };
      const hash = hashEntry(row);
      batch.push({ ...row, hash });
      prevHash = hash;
    }
    await core.db.insert(auditLog).values(batch);
  }

  // As autovacuum would after a load this size: the planner's statistics.
  await core.db.execute(sql`analyze audit_log`);

  const full = await timed(() => verifyAuditChain(core.db, { full: true, now: core.now() }));
  // Five rounds of 100 appended entries and a check from the checkpoint; the median is printed.
  const rounds: { ms: number; checked: number }[] = [];
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 100; i++) await appendAudit(core.db, { event: "user.updated", actor: SYSTEM_ACTOR, targetId: null, data: { appended: i } }, core.now());
    const check = await timed(() => verifyAuditChain(core.db, { now: core.now() }));
    rounds.push({ ms: check.ms, checked: check.value.checked });
  }
  const incremental = { ms: rounds.map((r) => r.ms).sort((a, b) => a - b)[2]! };
  const again = await timed(() => verifyAuditChain(core.db, { now: core.now() }));
  if (!full.value.ok || rounds.some((r) => r.checked !== 100)) throw new Error(`unexpected reports: ${JSON.stringify([full.value, rounds])}`);
  rows.push(
    `${String(size).padStart(9)} ${full.ms.toFixed(0).padStart(10)} ${incremental.ms.toFixed(1).padStart(16)} ${again.ms.toFixed(1).padStart(14)} ${(full.ms / incremental.ms).toFixed(0).padStart(8)}`,
  );
  await usersvc.close();
}
await root.unsafe(`drop database if exists ${name} with (force)`);
await root.end();

console.log("\naudit verify on PostgreSQL (ms): a full check, then from the checkpoint after 100 new entries, then with none new\n");
console.log(`${"entries".padStart(9)} ${"--full".padStart(10)} ${"checkpoint+100".padStart(16)} ${"checkpoint+0".padStart(14)} ${"full/ckpt".padStart(8)}`);
for (const row of rows) console.log(row);
