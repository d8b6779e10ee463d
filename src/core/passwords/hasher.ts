/**
 * Password hashing with Bun.password (argon2id, cost from the configuration),
 * the rules for new passwords (not common, not breached), and the dummy hash
 * that makes "no such user" — and a stored hash outside the policy of
 * hash-policy.ts — cost the same as a wrong password.
 */
import { availableParallelism } from "node:os";
import type { Config } from "../../config.ts";
import type { Logger } from "../../logger.ts";
import { DomainError } from "../errors.ts";
import { getBreachedPasswordList } from "./breached.ts";
import { findHashPolicyViolation } from "./hash-policy.ts";
import { createHashWorkers, type HashWorkers } from "./hash-workers.ts";
import commonPasswordList from "./common-passwords.txt" with { type: "text" };

const COMMON_PASSWORDS = new Set(commonPasswordList.split("\n").filter(Boolean));

export interface HashCost {
  memoryKib: number;
  timeCost: number;
}

export const DEFAULT_HASH_COST: HashCost = { memoryKib: 65536, timeCost: 2 };

export const BREACHED_PASSWORD_MESSAGE = "This password has appeared in a data breach; choose another";

/** True for a password on the built-in common-password list (case-insensitive). */
export function isCommonPassword(password: string): boolean {
  return COMMON_PASSWORDS.has(password.toLowerCase());
}

/** For every new password: refused (WEAK_PASSWORD) when common, or found in the USERSVC_BREACHED_PASSWORDS file. */
export async function checkPasswordStrength(core: { config: Pick<Config, "breachedPasswordsPath"> }, password: string): Promise<void> {
  if (isCommonPassword(password)) throw new DomainError("WEAK_PASSWORD");
  const path = core.config.breachedPasswordsPath;
  if (path === null) return;
  const list = await getBreachedPasswordList(path);
  if ((await list.findBreachCount(password)) !== null) throw new DomainError("WEAK_PASSWORD", BREACHED_PASSWORD_MESSAGE);
}

export interface PasswordHasher {
  readonly cost: HashCost;
  hash(password: string): Promise<string>;
  /**
   * False for a wrong password, for a hash Bun cannot read and for one
   * outside the hash policy (never handed to a hashing thread: it costs one
   * verification of the dummy hash, as a wrong password does). Throws only if
   * hashing itself failed (its thread died): never taken for a wrong password.
   */
  verify(password: string, hash: string): Promise<boolean>;
  /** True when the hash was made with other parameters or another algorithm (imported users, old cost). */
  needsRehash(hash: string): boolean;
  /** Spends one verification's worth of time on a hash nobody can match. */
  burnVerification(password: string): Promise<void>;
}

export interface PasswordHasherOptions {
  /** Where a stored hash refused by the hash policy is reported (without the hash). */
  logger?: Logger;
  /** The hashing threads; by default `concurrency` of hash-workers.ts. */
  workers?: HashWorkers;
  /** Their niceness (hash-worker.ts); DEFAULT_HASH_NICENESS unless told. */
  niceness?: number;
}

/** At most `concurrency` hashes run at once, on low-priority threads of their own (hash-workers.ts). */
export function createPasswordHasher(
  cost: HashCost,
  concurrency = availableParallelism(),
  onWork: (kind: "hash" | "verify", seconds: number) => void = () => {},
  options: PasswordHasherOptions = {},
): PasswordHasher {
  const prefix = `$argon2id$v=19$m=${cost.memoryKib},t=${cost.timeCost},p=1$`;
  const workers = options.workers ?? createHashWorkers(Math.max(1, concurrency), options.niceness);
  const newHash = (password: string) => workers.run({ kind: "hash", password, memoryKib: cost.memoryKib, timeCost: cost.timeCost });
  let dummyHash: Promise<string> | null = null;

  const timed = async <T>(kind: "hash" | "verify", work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      onWork(kind, (performance.now() - started) / 1000);
    }
  };
  const verifyWithinPolicy = (password: string, hash: string): Promise<boolean> =>
    timed("verify", () => workers.run({ kind: "verify", password, hash }));
  const burnVerification = async (password: string): Promise<void> => {
    dummyHash ??= newHash(crypto.randomUUID()).catch((error) => {
      dummyHash = null;
      throw error;
    });
    await verifyWithinPolicy(password, await dummyHash);
  };
  return {
    cost,
    hash: (password) => timed("hash", () => newHash(password)),
    async verify(password, hash) {
      const normalized = normalizeForeignHash(hash);
      const violation = findHashPolicyViolation(normalized);
      if (violation === null) return verifyWithinPolicy(password, normalized);
      // Only the reason: the hash itself is a secret, and its parameters are in the reason.
      options.logger?.warn({ reason: violation }, `stored password hash refused, treated as a wrong password: ${violation}`);
      await burnVerification(password);
      return false;
    },
    needsRehash: (hash) => !hash.startsWith(prefix),
    burnVerification,
  };
}

/**
 * The `argon2` npm package writes parameters as m,p,t; Bun only parses m,t,p.
 * Reordering is lossless: both libraries verify the rewritten hash.
 */
export function normalizeForeignHash(hash: string): string {
  return hash.replace(/\$m=(\d+),p=(\d+),t=(\d+)\$/, (_, m, p, t) => `$m=${m},t=${t},p=${p}$`);
}
