/**
 * Issue 10 §3: the bounds a stored or imported password hash must keep
 * (src/core/passwords/hash-policy.ts), and the hasher's refusal to hand a hash
 * outside them to a hashing thread.
 */
import { describe, expect, test } from "bun:test";
import { findHashPolicyViolation } from "../../src/core/passwords/hash-policy.ts";
import { createHashWorkers, type HashJob, type HashWorkers } from "../../src/core/passwords/hash-workers.ts";
import { createPasswordHasher } from "../../src/core/passwords/hasher.ts";
import { createLogger } from "../../src/logger.ts";

const SALT = "c29tZXNhbHRzb21lc2FsdA";
const TAG = "RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
const argon2 = (variant: string, params: string): string => `$argon2${variant}$v=19$${params}$${SALT}$${TAG}`;
const BCRYPT_TAIL = "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
const bcrypt = (prefix: string): string => `${prefix}${BCRYPT_TAIL}`;

describe("findHashPolicyViolation", () => {
  test("accepts argon2id/argon2i/argon2d in either parameter order up to m=262144, t=10, p=8, and bcrypt of cost 4 to 15", () => {
    const accepted = [
      argon2("id", "m=65536,t=2,p=1"), // usersvc's own
      argon2("id", "m=65536,p=4,t=3"), // node-argon2's default, in its m,p,t order
      argon2("i", "m=65536,p=4,t=3"),
      argon2("d", "m=19456,t=2,p=1"),
      argon2("id", "m=262144,t=10,p=8"),
      argon2("id", "m=262144,p=8,t=10"),
      bcrypt("$2a$04$"),
      bcrypt("$2b$10$"),
      bcrypt("$2y$12$"),
      bcrypt("$2b$15$"),
    ];
    expect(accepted.map(findHashPolicyViolation)).toEqual(accepted.map(() => null));
  });

  test("refuses memory, time cost and parallelism over the limits, and bcrypt outside cost 4-15, saying which and why", () => {
    const refused = [
      argon2("id", "m=4194304,t=3,p=4"),
      argon2("id", "m=262145,t=2,p=1"),
      argon2("id", "m=65536,t=1000,p=4"),
      argon2("i", "m=65536,p=4,t=11"),
      argon2("d", "m=65536,t=3,p=64"),
      argon2("id", "m=65536,t=3,p=9"),
      bcrypt("$2b$31$"),
      bcrypt("$2b$16$"),
      bcrypt("$2a$03$"),
    ];
    expect(refused.map(findHashPolicyViolation)).toEqual([
      "argon2 memory m=4194304 KiB is over the limit of 262144 KiB",
      "argon2 memory m=262145 KiB is over the limit of 262144 KiB",
      "argon2 time cost t=1000 is over the limit of 10",
      "argon2 time cost t=11 is over the limit of 10",
      "argon2 parallelism p=64 is over the limit of 8",
      "argon2 parallelism p=9 is over the limit of 8",
      "bcrypt cost 31 is outside 4-15",
      "bcrypt cost 16 is outside 4-15",
      "bcrypt cost 3 is outside 4-15",
    ]);
  });

  test("names every parameter over its limit at once", () => {
    expect(findHashPolicyViolation(argon2("id", "m=4194304,t=50,p=64"))).toBe(
      "argon2 memory m=4194304 KiB is over the limit of 262144 KiB; argon2 time cost t=50 is over the limit of 10; argon2 parallelism p=64 is over the limit of 8",
    );
  });

  test("refuses what it cannot bound: other schemes, missing, repeated or unknown parameters, absurd numbers, absurd lengths", () => {
    const refused = [
      "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
      "pbkdf2_sha256$600000$c2FsdA$aGFzaA==",
      "",
      argon2("id", "m=65536,t=2"),
      argon2("id", "m=65536,t=2,p=1,p=1"),
      argon2("id", "m=65536,t=2,p=1,keyid=abc"),
      argon2("id", "m=99999999999999999999999,t=2,p=1"),
      argon2("id", "m=0x10,t=2,p=1"),
      argon2("id", "m=65536,t=0,p=1"),
      `$argon2id$v=19$m=65536,t=2,p=1$${SALT}$${"A".repeat(4096)}`,
      "$2b$1$" + BCRYPT_TAIL,
    ];
    const reasons = refused.map(findHashPolicyViolation);
    expect(reasons.every((r) => typeof r === "string" && r.length > 0)).toBe(true);
  });
});

describe("the hasher and a stored hash outside the policy", () => {
  function spiedHasher() {
    const jobs: HashJob[] = [];
    const real = createHashWorkers(1);
    const workers = {
      run: (job: HashJob) => {
        jobs.push(job);
        return real.run(job as never);
      },
    } as HashWorkers;
    const logs: string[] = [];
    const logger = createLogger("warn", { write: (line: string) => void logs.push(line) });
    const hasher = createPasswordHasher({ memoryKib: 8192, timeCost: 1 }, 1, () => {}, { workers, logger });
    return { hasher, jobs, logs };
  }

  test("verify answers false without sending it to a hashing thread: it spends one verification of the dummy hash instead, as a wrong password does", async () => {
    const { hasher, jobs, logs } = spiedHasher();
    const own = await hasher.hash("the right password");
    expect(await hasher.verify("a wrong password", own)).toBe(false);
    await hasher.burnVerification("warm up the dummy hash");
    jobs.length = 0;

    const huge = argon2("id", "m=4194304,t=50,p=1");
    expect(await hasher.verify("the right password", huge)).toBe(false);
    expect(jobs.map((job) => ({ kind: job.kind, cost: job.kind === "verify" ? job.hash.split("$")[3] : null }))).toEqual([
      { kind: "verify", cost: "m=8192,t=1,p=1" },
    ]);
    expect(await hasher.verify("the right password", bcrypt("$2b$31$"))).toBe(false);
    expect(jobs.filter((job) => job.kind === "verify" && (job.hash === huge || job.hash.startsWith("$2b$31$")))).toEqual([]);

    const warnings = logs.map((line) => JSON.parse(line)).filter((line) => line.level === 40);
    expect(warnings).toHaveLength(2);
    expect(warnings[0].msg).toContain("m=4194304");
    for (const line of logs) {
      expect(line).not.toContain(SALT);
      expect(line).not.toContain(TAG);
      expect(line).not.toContain(BCRYPT_TAIL);
    }
  });

  test("a hash Bun cannot read at all is a mismatch too, at the same cost", async () => {
    const { hasher, jobs } = spiedHasher();
    await hasher.burnVerification("warm up the dummy hash");
    jobs.length = 0;
    expect(await hasher.verify("anything at all", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/")).toBe(false);
    expect(jobs.map((job) => job.kind)).toEqual(["verify"]);
  });
});
