/**
 * The bounds a password hash must keep for usersvc to verify it. Hashes come
 * from elsewhere (`usersvc import`, or a row written to the database
 * directly), and their parameters set the cost of every verification: an
 * argon2 hash with m = 4 GiB and t = 50 would hold a hashing thread (and
 * 4 GiB) for minutes per login attempt, a bcrypt of cost 31 for days.
 *
 * argon2 (id, i, d): memory m ≤ 262144 KiB (256 MiB), time cost t 1-10,
 * parallelism p 1-8, m ≥ 8·p (the format's own minimum). bcrypt: cost 4-15.
 * Anything else (other schemes, parameters usersvc cannot read) is refused.
 * These are far above what systems write by default (node-argon2 m=64 MiB
 * t=3 p=4, OWASP m=19 MiB t=2, bcrypt 10-12), and a verification at the
 * limits takes a few seconds, not minutes.
 */

export const HASH_POLICY = {
  argon2MaxMemoryKib: 262_144,
  argon2MaxTimeCost: 10,
  argon2MaxParallelism: 8,
  bcryptMinCost: 4,
  bcryptMaxCost: 15,
  /** Longer than any hash of sane salt and output lengths (~100-200 characters). */
  maxLength: 512,
} as const;

const ARGON2 = /^\$argon2(?:id|i|d)\$(?:v=(?:16|19)\$)?([^$]+)\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/;
const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;

/** Why usersvc will not verify `hash` (semicolon-separated when several), or null when it is within the policy. */
export function findHashPolicyViolation(hash: string): string | null {
  if (hash.length > HASH_POLICY.maxLength) return `longer than ${HASH_POLICY.maxLength} characters`;
  const bcrypt = BCRYPT.exec(hash);
  if (bcrypt) {
    const cost = Number(bcrypt[1]);
    if (cost < HASH_POLICY.bcryptMinCost || cost > HASH_POLICY.bcryptMaxCost) {
      return `bcrypt cost ${cost} is outside ${HASH_POLICY.bcryptMinCost}-${HASH_POLICY.bcryptMaxCost}`;
    }
    return null;
  }
  const argon2 = ARGON2.exec(hash);
  if (!argon2) return "not an argon2 or bcrypt hash usersvc can read";
  const params = readArgon2Params(argon2[1]!);
  if (!params) return "argon2 parameters are not exactly m, t and p as decimal numbers";
  const { m, t, p } = params;
  const problems: string[] = [];
  if (m > HASH_POLICY.argon2MaxMemoryKib) problems.push(`argon2 memory m=${m} KiB is over the limit of ${HASH_POLICY.argon2MaxMemoryKib} KiB`);
  else if (m < 8 * p) problems.push(`argon2 memory m=${m} KiB is under the minimum of 8 KiB per lane`);
  if (t > HASH_POLICY.argon2MaxTimeCost) problems.push(`argon2 time cost t=${t} is over the limit of ${HASH_POLICY.argon2MaxTimeCost}`);
  else if (t < 1) problems.push("argon2 time cost t=0 is under the minimum of 1");
  if (p > HASH_POLICY.argon2MaxParallelism) problems.push(`argon2 parallelism p=${p} is over the limit of ${HASH_POLICY.argon2MaxParallelism}`);
  else if (p < 1) problems.push("argon2 parallelism p=0 is under the minimum of 1");
  return problems.length > 0 ? problems.join("; ") : null;
}

/** m, t and p, each exactly once, in any order; null for anything else. */
function readArgon2Params(text: string): { m: number; t: number; p: number } | null {
  const values: Record<string, number> = {};
  for (const pair of text.split(",")) {
    const match = /^([mtp])=(\d{1,10})$/.exec(pair);
    if (!match || match[1]! in values) return null;
    values[match[1]!] = Number(match[2]);
  }
  const { m, t, p } = values;
  return m === undefined || t === undefined || p === undefined ? null : { m, t, p };
}
