/**
 * Password hashing with Bun.password (argon2id, cost from the configuration),
 * the common-password rule, and the dummy hash that makes "no such user"
 * cost the same as a wrong password.
 */
import { availableParallelism } from "node:os";
import { DomainError } from "../errors.ts";
import { createHashWorkers } from "./hash-workers.ts";
import commonPasswordList from "./common-passwords.txt" with { type: "text" };

const COMMON_PASSWORDS = new Set(commonPasswordList.split("\n").filter(Boolean));

export interface HashCost {
  memoryKib: number;
  timeCost: number;
}

export const DEFAULT_HASH_COST: HashCost = { memoryKib: 65536, timeCost: 2 };

export function checkPasswordStrength(password: string): void {
  if (COMMON_PASSWORDS.has(password.toLowerCase())) throw new DomainError("WEAK_PASSWORD");
}

export interface PasswordHasher {
  readonly cost: HashCost;
  hash(password: string): Promise<string>;
  /**
   * False for a wrong password and for a hash Bun cannot read. Throws only if
   * hashing itself failed (its thread died): never taken for a wrong password.
   */
  verify(password: string, hash: string): Promise<boolean>;
  /** True when the hash was made with other parameters or another algorithm (imported users, old cost). */
  needsRehash(hash: string): boolean;
  /** Spends one verification's worth of time on a hash nobody can match. */
  burnVerification(password: string): Promise<void>;
}

/** At most `concurrency` hashes run at once, on low-priority threads of their own (hash-workers.ts). */
export function createPasswordHasher(
  cost: HashCost,
  concurrency = availableParallelism(),
  onWork: (kind: "hash" | "verify", seconds: number) => void = () => {},
): PasswordHasher {
  const prefix = `$argon2id$v=19$m=${cost.memoryKib},t=${cost.timeCost},p=1$`;
  const workers = createHashWorkers(Math.max(1, concurrency));
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
  const verify = (password: string, hash: string): Promise<boolean> =>
    timed("verify", () => workers.run({ kind: "verify", password, hash: normalizeForeignHash(hash) }));
  return {
    cost,
    hash: (password) => timed("hash", () => newHash(password)),
    verify,
    needsRehash: (hash) => !hash.startsWith(prefix),
    async burnVerification(password) {
      dummyHash ??= newHash(crypto.randomUUID()).catch((error) => {
        dummyHash = null;
        throw error;
      });
      await verify(password, await dummyHash);
    },
  };
}

/**
 * The `argon2` npm package writes parameters as m,p,t; Bun only parses m,t,p.
 * Reordering is lossless: both libraries verify the rewritten hash.
 */
export function normalizeForeignHash(hash: string): string {
  return hash.replace(/\$m=(\d+),p=(\d+),t=(\d+)\$/, (_, m, p, t) => `$m=${m},t=${t},p=${p}$`);
}
