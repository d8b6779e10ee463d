/**
 * Password hashing with Bun.password (argon2id, cost from the configuration),
 * the common-password rule, and the dummy hash that makes "no such user"
 * cost the same as a wrong password.
 */
import { availableParallelism } from "node:os";
import { DomainError } from "../errors.ts";
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
  /** False for a wrong password and for a hash Bun cannot read; never throws. */
  verify(password: string, hash: string): Promise<boolean>;
  /** True when the hash was made with other parameters or another algorithm (imported users, old cost). */
  needsRehash(hash: string): boolean;
  /** Spends one verification's worth of time on a hash nobody can match. */
  burnVerification(password: string): Promise<void>;
}

/**
 * At most `concurrency` hashes run at once; the others wait their turn here
 * rather than on the runtime's shared thread pool, where they would delay
 * everything else queued on it.
 */
export function createPasswordHasher(
  cost: HashCost,
  concurrency = availableParallelism(),
  onWork: (kind: "hash" | "verify", seconds: number) => void = () => {},
): PasswordHasher {
  const params = { algorithm: "argon2id", memoryCost: cost.memoryKib, timeCost: cost.timeCost } as const;
  const prefix = `$argon2id$v=19$m=${cost.memoryKib},t=${cost.timeCost},p=1$`;
  const slots = semaphore(Math.max(1, concurrency));
  let dummyHash: Promise<string> | null = null;

  const timed = async <T>(kind: "hash" | "verify", work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await slots.run(work);
    } finally {
      onWork(kind, (performance.now() - started) / 1000);
    }
  };
  const verify = async (password: string, hash: string): Promise<boolean> => {
    try {
      return await timed("verify", () => Bun.password.verify(password, normalizeForeignHash(hash)));
    } catch {
      return false;
    }
  };
  return {
    cost,
    hash: (password) => timed("hash", () => Bun.password.hash(password, params)),
    verify,
    needsRehash: (hash) => !hash.startsWith(prefix),
    async burnVerification(password) {
      dummyHash ??= slots.run(() => Bun.password.hash(crypto.randomUUID(), params));
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

function semaphore(size: number): { run<T>(work: () => Promise<T>): Promise<T> } {
  let active = 0;
  const waiting: (() => void)[] = [];
  return {
    async run(work) {
      if (active >= size) await new Promise<void>((resolve) => waiting.push(resolve));
      active += 1;
      try {
        return await work();
      } finally {
        active -= 1;
        waiting.shift()?.();
      }
    },
  };
}
