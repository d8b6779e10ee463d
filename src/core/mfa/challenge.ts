/**
 * Login's second step: a user with a confirmed factor gets an `mfa_required`
 * challenge instead of tokens; POST /auth/mfa/verify completes it with a
 * TOTP or recovery code. Wrong codes count toward the login limits.
 */
import { randomBytes } from "node:crypto";
import { and, eq, gt, isNull } from "drizzle-orm";
import type { Core } from "../core.ts";
import { mfaFactors, oneTimeTokens } from "../db/schema.ts";
import { sha256Hex } from "../digest.ts";
import { DomainError } from "../errors.ts";
import { reserveAttempt } from "../rate-limits/attempts.ts";
import { throttle } from "../rate-limits/throttle.ts";
import { findUserById } from "../users/queries.ts";
import { isBlocked, type UserRecord } from "../users/user-record.ts";
import { normalizeMfaCode } from "./codes.ts";
import { spendRecoveryCode } from "./recovery-codes.ts";
import { acceptTotp } from "./totp.ts";
import { PASSWORD_AMR } from "../sessions/session-tokens.ts";

const CHALLENGE_TTL_MS = 5 * 60_000;

export interface MfaChallenge {
  mfa_required: true;
  mfa_token: string;
  expires_in: number;
}

/**
 * Login's second step: a single-use token for POST /auth/mfa/verify, valid 5
 * minutes. `firstFactor`: how the first step was proven (RFC 8176 `amr`), kept
 * for the session that the code completes.
 */
export async function createMfaChallenge(core: Core, user: UserRecord, firstFactor: string[]): Promise<MfaChallenge> {
  const token = randomBytes(32).toString("base64url");
  const now = core.now();
  await core.db.insert(oneTimeTokens).values({
    tokenHash: sha256Hex(token),
    userId: user.id,
    purpose: "mfa_login",
    amr: firstFactor,
    expiresAt: new Date(now.getTime() + CHALLENGE_TTL_MS),
    createdAt: now,
  });
  return { mfa_required: true, mfa_token: token, expires_in: CHALLENGE_TTL_MS / 1000 };
}

/**
 * Checks a challenge and a code (TOTP or recovery code); returns the user,
 * whose session the caller then starts, and the `amr` of both steps. The challenge is spent only by a
 * correct code, so a typo can be corrected; wrong codes count toward the
 * account's login limit.
 */
export async function completeMfaChallenge(
  core: Core,
  mfaToken: string,
  input: string | number,
  ip: string | null,
): Promise<{ user: UserRecord; amr: string[] }> {
  await throttle(core, "mfa", ip);
  const code = normalizeMfaCode(input);
  const now = core.now();
  const tokenHash = sha256Hex(mfaToken);
  const [challenge] = await core.db
    .select()
    .from(oneTimeTokens)
    .where(and(eq(oneTimeTokens.tokenHash, tokenHash), eq(oneTimeTokens.purpose, "mfa_login"), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, now)));
  if (!challenge) throw new DomainError("INVALID_OR_EXPIRED_TOKEN");
  // The same per-account counter as passwords: a locked account can use neither.
  const attempt = await reserveAttempt(core, { userId: challenge.userId }, ip);

  const user = await findUserById(core.db, challenge.userId);
  const [factor] = await core.db.select().from(mfaFactors).where(eq(mfaFactors.userId, challenge.userId));
  if (!user || user.status === "deleted" || isBlocked(user, now) || !factor?.confirmedAt) {
    throw new DomainError("INVALID_OR_EXPIRED_TOKEN");
  }
  const accepted =
    code.kind === "totp" ? await acceptTotp(core, user, factor.secret, code.code) : await spendRecoveryCode(core, user.id, code.code);
  if (!accepted) {
    throw new DomainError("INVALID_CREDENTIALS", "The code is not valid");
  }
  const spent = await core.db
    .update(oneTimeTokens)
    .set({ usedAt: now })
    .where(and(eq(oneTimeTokens.tokenHash, tokenHash), isNull(oneTimeTokens.usedAt)))
    .returning({ userId: oneTimeTokens.userId });
  if (spent.length === 0) throw new DomainError("INVALID_OR_EXPIRED_TOKEN"); // a concurrent request used it
  await attempt.succeeded();
  // A challenge written before the first factor was recorded followed a password.
  const firstFactor = challenge.amr ?? PASSWORD_AMR;
  // A recovery code is a one-time password too.
  return { user, amr: [...firstFactor, "otp", "mfa"] };
}
