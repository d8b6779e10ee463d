/**
 * TOTP second factor (RFC 6238 through the otpauth library): enroll (secret
 * and otpauth:// URI), confirm with a first code (which also yields ten
 * single-use recovery codes), disable with the password. A user with a
 * confirmed factor gets an `mfa_required` challenge from login instead of
 * tokens; POST /auth/mfa/verify completes it with a code. Accepted codes
 * cannot be replayed, and wrong codes count toward the login limits.
 */
import { randomBytes } from "node:crypto";
import { and, eq, gt, isNull, lt, or } from "drizzle-orm";
import { Secret, TOTP } from "otpauth";
import type { Actor } from "../audit/actor.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { mfaFactors, mfaRecoveryCodes, oneTimeTokens } from "../db/schema.ts";
import { DomainError, validationError } from "../errors.ts";
import { recordChange } from "../events/record.ts";
import { findUserById } from "../users/queries.ts";
import { isBlocked, type UserRecord } from "../users/user-record.ts";
import { sha256Hex } from "../digest.ts";
import { reserveAttempt } from "../rate-limits/attempts.ts";
import { throttle } from "../rate-limits/throttle.ts";
import { requirePrivileged } from "../sessions/step-up.ts";

const PERIOD = 30;
const CHALLENGE_TTL_MS = 5 * 60_000;
const RECOVERY_CODES = 10;

export interface MfaChallenge {
  mfa_required: true;
  mfa_token: string;
  expires_in: number;
}


function totpFor(core: Core, user: UserRecord, secret: string): TOTP {
  return new TOTP({ issuer: core.config.issuer, label: user.email, algorithm: "SHA1", digits: 6, period: PERIOD, secret: Secret.fromBase32(secret) });
}

export async function mfaStatus(core: Core, userId: string): Promise<{ enabled: boolean; pending: boolean }> {
  const [factor] = await core.db.select().from(mfaFactors).where(eq(mfaFactors.userId, userId));
  return { enabled: Boolean(factor?.confirmedAt), pending: Boolean(factor && !factor.confirmedAt) };
}

export async function isMfaEnabled(core: Core, userId: string): Promise<boolean> {
  return (await mfaStatus(core, userId)).enabled;
}

/** Who asks for a change of factors, and how they proved it is them (step-up). */
export interface FactorChange {
  user: UserRecord;
  session: { createdAt: Date };
  /** The current password; without it the session must have signed in recently. */
  password?: string;
  ip: string | null;
}

/**
 * A new secret; replaces an unconfirmed one. Refused while a confirmed
 * factor exists, and for an unverified email: whoever registered someone
 * else's address must not be able to lock its owner out with a factor.
 */
export async function enrollMfa(core: Core, change: FactorChange): Promise<{ secret: string; otpauth_uri: string }> {
  const { user } = change;
  if (!user.isVerified) throw new DomainError("EMAIL_NOT_VERIFIED", "Verify your email address before turning on two-factor authentication");
  await requirePrivileged(core, user, change.session, change.password, change.ip);
  if (await isMfaEnabled(core, user.id)) {
    throw validationError([{ field: "mfa", message: "is already on; disable it first" }]);
  }
  const secret = new Secret({ size: 20 }).base32;
  await core.db
    .insert(mfaFactors)
    .values({ userId: user.id, secret, createdAt: core.now() })
    .onConflictDoUpdate({ target: mfaFactors.userId, set: { secret, confirmedAt: null, lastUsedStep: null, createdAt: core.now() } });
  return { secret, otpauth_uri: totpFor(core, user, secret).toString() };
}

/** What a caller typed as a code, made plain: a TOTP code (6 digits) or a recovery code (xxxxx-xxxxx). */
export type MfaCode = { kind: "totp"; code: string } | { kind: "recovery"; code: string };

/**
 * A code as apps show it and people type it: spaces and dashes are ignored
 * ("123 456", "abcde fghij"), letters are case-insensitive, and a JSON number
 * is a TOTP code with its leading zeros lost (12345 is "012345"). Anything
 * else is refused as malformed (422) before it can count as a wrong attempt.
 */
export function normalizeMfaCode(input: string | number, field = "code"): MfaCode {
  if (typeof input === "number") {
    if (Number.isInteger(input) && input >= 0 && input <= 999_999) return { kind: "totp", code: String(input).padStart(6, "0") };
  } else {
    const plain = input.replace(/[\s-]/g, "").toLowerCase();
    if (/^\d{6}$/.test(plain)) return { kind: "totp", code: plain };
    if (/^[0-9a-f]{10}$/.test(plain)) return { kind: "recovery", code: `${plain.slice(0, 5)}-${plain.slice(5)}` };
  }
  throw validationError([{ field, message: "must be a 6-digit code from the authenticator app or a recovery code (xxxxx-xxxxx)" }]);
}

export async function confirmMfa(core: Core, actor: Actor, user: UserRecord, input: string | number): Promise<{ recovery_codes: string[] }> {
  const code = normalizeMfaCode(input);
  if (code.kind !== "totp") throw validationError([{ field: "code", message: "must be the 6-digit code from the authenticator app" }]);
  const [factor] = await core.db.select().from(mfaFactors).where(eq(mfaFactors.userId, user.id));
  if (!factor || factor.confirmedAt) throw validationError([{ field: "mfa", message: "has no pending enrolment: POST /users/me/mfa/enroll first" }]);
  // A code like any other: counted on the account's attempts (else a pending factor could be guessed, unlimited).
  const attempt = await reserveAttempt(core, { userId: user.id }, actor.ip);
  if (!(await acceptTotp(core, user, factor.secret, code.code))) throw new DomainError("INVALID_CREDENTIALS", "The code is not valid");
  await attempt.passed();
  const codes = newRecoveryCodes();
  await core.db.transaction(async (tx) => {
    await tx.update(mfaFactors).set({ confirmedAt: core.now() }).where(eq(mfaFactors.userId, user.id));
    await replaceRecoveryCodes(tx, user.id, codes);
    await recordChange(core, tx, { type: "user.updated", actor, user, data: { fields: ["mfa"], mfa: "enabled" } });
  });
  return { recovery_codes: codes };
}

/** Ten new recovery codes; the old ones stop working. */
export async function regenerateRecoveryCodes(core: Core, actor: Actor, change: FactorChange): Promise<{ recovery_codes: string[] }> {
  await requirePrivileged(core, change.user, change.session, change.password, change.ip);
  if (!(await isMfaEnabled(core, change.user.id))) throw validationError([{ field: "mfa", message: "is off" }]);
  const codes = newRecoveryCodes();
  await core.db.transaction(async (tx) => {
    await replaceRecoveryCodes(tx, change.user.id, codes);
    await recordChange(core, tx, { type: "user.updated", actor, user: change.user, data: { fields: ["mfa"], mfa: "recovery_codes_regenerated" } });
  });
  return { recovery_codes: codes };
}

export async function disableMfa(core: Core, actor: Actor, change: FactorChange): Promise<{ mfa_enabled: false }> {
  await requirePrivileged(core, change.user, change.session, change.password, change.ip);
  await core.db.transaction(async (tx) => {
    if (await removeFactors(tx, change.user.id)) {
      await recordChange(core, tx, { type: "user.updated", actor, user: change.user, data: { fields: ["mfa"], mfa: "disabled" } });
    }
  });
  return { mfa_enabled: false };
}

/**
 * An admin's or operator's reset for a user who lost their factor: removes
 * it and the recovery codes, audited as `user.mfa_reset`.
 */
export async function resetMfa(core: Core, actor: Actor, userId: string): Promise<{ mfa_enabled: false; removed: boolean }> {
  return core.db.transaction(async (tx) => {
    const user = await findUserById(tx, userId);
    if (!user) throw new DomainError("USER_NOT_FOUND");
    const removed = await removeFactors(tx, userId);
    if (removed) await recordChange(core, tx, { type: "user.mfa_reset", actor, user });
    return { mfa_enabled: false as const, removed };
  });
}

async function removeFactors(tx: Db, userId: string): Promise<boolean> {
  const removed = await tx.delete(mfaFactors).where(eq(mfaFactors.userId, userId)).returning({ userId: mfaFactors.userId });
  await tx.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
  return removed.length > 0;
}

function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODES }, () => {
    const raw = randomBytes(5).toString("hex");
    return `${raw.slice(0, 5)}-${raw.slice(5)}`;
  });
}

async function replaceRecoveryCodes(tx: Db, userId: string, codes: string[]): Promise<void> {
  await tx.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
  await tx.insert(mfaRecoveryCodes).values(codes.map((c) => ({ codeHash: sha256Hex(c), userId })));
}

/** Login's second step: a single-use token for POST /auth/mfa/verify, valid 5 minutes. */
export async function createMfaChallenge(core: Core, user: UserRecord): Promise<MfaChallenge> {
  const token = randomBytes(32).toString("base64url");
  const now = core.now();
  await core.db.insert(oneTimeTokens).values({
    tokenHash: sha256Hex(token),
    userId: user.id,
    purpose: "mfa_login",
    expiresAt: new Date(now.getTime() + CHALLENGE_TTL_MS),
    createdAt: now,
  });
  return { mfa_required: true, mfa_token: token, expires_in: CHALLENGE_TTL_MS / 1000 };
}

/**
 * Checks a challenge and a code (TOTP or recovery code); returns the user,
 * whose session the caller then starts. The challenge is spent only by a
 * correct code, so a typo can be corrected; wrong codes count toward the
 * account's login limit.
 */
export async function completeMfaChallenge(core: Core, mfaToken: string, input: string | number, ip: string | null): Promise<UserRecord> {
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
  return user;
}

/** A TOTP code of this step or the one before/after, not older than the last one accepted. */
async function acceptTotp(core: Core, user: UserRecord, secret: string, code: string): Promise<boolean> {
  if (!/^\d{6}$/.test(code)) return false;
  const now = core.now().getTime();
  const delta = totpFor(core, user, secret).validate({ token: code, timestamp: now, window: 1 });
  if (delta === null) return false;
  const step = Math.floor(now / 1000 / PERIOD) + delta;
  // Conditional update: of two requests with one code, one wins; a replay never does.
  const claimed = await core.db
    .update(mfaFactors)
    .set({ lastUsedStep: step })
    .where(and(eq(mfaFactors.userId, user.id), or(isNull(mfaFactors.lastUsedStep), lt(mfaFactors.lastUsedStep, step))))
    .returning({ userId: mfaFactors.userId });
  return claimed.length > 0;
}

/** `normalized` is the xxxxx-xxxxx form of normalizeMfaCode. */
async function spendRecoveryCode(core: Core, userId: string, normalized: string): Promise<boolean> {
  const spent = await core.db
    .update(mfaRecoveryCodes)
    .set({ usedAt: core.now() })
    .where(and(eq(mfaRecoveryCodes.codeHash, sha256Hex(normalized)), eq(mfaRecoveryCodes.userId, userId), isNull(mfaRecoveryCodes.usedAt)))
    .returning({ codeHash: mfaRecoveryCodes.codeHash });
  return spent.length > 0;
}
