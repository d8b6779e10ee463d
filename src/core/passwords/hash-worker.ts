/**
 * One password-hashing thread of hash-workers.ts: it lowers its own CPU
 * priority (its first message), then hashes and verifies one job at a time.
 */
import { dlopen, FFIType } from "bun:ffi";
import { findHashPolicyViolation } from "./hash-policy.ts";
import type { HashJob, HashReply } from "./hash-workers.ts";

declare const self: Worker;

/** Linux only: setpriority(PRIO_PROCESS, tid) sets one thread's niceness, and raising it needs no privilege. */
function lowerPriority(niceness: number): void {
  if (process.platform !== "linux") return;
  try {
    const libc = dlopen("libc.so.6", {
      gettid: { args: [], returns: FFIType.i32 },
      setpriority: { args: [FFIType.i32, FFIType.u32, FFIType.i32], returns: FFIType.i32 },
    });
    const PRIO_PROCESS = 0;
    libc.symbols.setpriority(PRIO_PROCESS, libc.symbols.gettid(), niceness);
  } catch {
    // Without it hashing still works, at the event loop's priority.
  }
}

/**
 * A stored hash Bun cannot read (unknown algorithm, damaged) matches no
 * password. Nor does one outside the hash policy: hasher.ts never sends
 * one, and this thread would be held for minutes if it did.
 */
function verify(password: string, hash: string): boolean {
  if (findHashPolicyViolation(hash) !== null) return false;
  try {
    return Bun.password.verifySync(password, hash);
  } catch {
    return false;
  }
}

self.onmessage = ({ data: job }: MessageEvent<HashJob>) => {
  if (job.kind === "niceness") return lowerPriority(job.niceness);
  try {
    const result =
      job.kind === "hash"
        ? Bun.password.hashSync(job.password, { algorithm: "argon2id", memoryCost: job.memoryKib, timeCost: job.timeCost })
        : verify(job.password, job.hash);
    postMessage({ result } satisfies HashReply);
  } catch (error) {
    postMessage({ error: (error as Error).message ?? String(error) } satisfies HashReply);
  }
};
