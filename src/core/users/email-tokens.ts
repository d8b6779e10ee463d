/**
 * Email verification and password reset: single-use random tokens, stored
 * only as SHA-256 hashes, delivered through the events
 * `user.verification_requested` / `user.password_reset_requested` (the only
 * place the plain token ever appears) to the host project or usersvc's own
 * email. A verification also carries a 6-digit code, for typing on a device
 * other than the one that reads the email.
 */
import { randomBytes, randomInt } from "node:crypto";
import { and, eq, gt, inArray, isNull, type SQL } from "drizzle-orm";
import { type Actor, userActor } from "../audit/actor.ts";
import { checkPasswordStrength } from "../passwords/hasher.ts";
import { sha256Hex } from "../digest.ts";
import { firstInCooldown, reserveAttempt } from "../rate-limits/attempts.ts";
import { throttle } from "../rate-limits/throttle.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { uniqueViolation } from "../db/pg-errors.ts";
import { oneTimeTokens } from "../db/schema.ts";
import { DomainError, type FieldProblem, validationError } from "../errors.ts";
import { recordChange, recordEvent } from "../events/record.ts";
import type { EventType } from "../../hooks/types.ts";
import { revokeUserSessions } from "../sessions/queries.ts";
import { findUserByEmail, findUserById, updateUser } from "./queries.ts";
import { isBlocked, type UserRecord } from "./user-record.ts";
import { assertValidEmail, checkPasswordLength, normalizeEmail, throwIfProblems } from "./validation.ts";

export type Purpose = "verify_email" | "reset_password" | "change_email";
const LIFETIME_MS: Record<Purpose, number> = { verify_email: 24 * 3_600_000, reset_password: 3_600_000, change_email: 24 * 3_600_000 };
const REQUESTED: Record<Purpose, EventType> = {
  verify_email: "user.verification_requested",
  reset_password: "user.password_reset_requested",
  change_email: "user.email_change_requested",
};


/**
 * Issues a token and its event inside `tx`; earlier unused tokens of the same
 * purpose stop working. `newEmail`: the address a change_email token applies.
 */
export async function issueToken(core: Core, tx: Db, user: UserRecord, purpose: Purpose, actor: Actor, newEmail: string | null = null): Promise<void> {
  const now = core.now();
  await tx
    .update(oneTimeTokens)
    .set({ usedAt: now })
    .where(and(eq(oneTimeTokens.userId, user.id), eq(oneTimeTokens.purpose, purpose), isNull(oneTimeTokens.usedAt)));
  const token = randomBytes(32).toString("base64url");
  const code = purpose === "verify_email" ? String(randomInt(0, 1_000_000)).padStart(6, "0") : null;
  await tx.insert(oneTimeTokens).values({
    tokenHash: sha256Hex(token),
    userId: user.id,
    purpose,
    codeHash: code === null ? null : codeHash(user.id, code),
    newEmail,
    expiresAt: new Date(now.getTime() + LIFETIME_MS[purpose]),
    createdAt: now,
  });
  const expiresAt = new Date(now.getTime() + LIFETIME_MS[purpose]).toISOString();
  const data = { token, ...(code === null ? {} : { code }), ...(newEmail === null ? {} : { new_email: newEmail }), expires_at: expiresAt };
  await recordEvent(core, tx, { type: REQUESTED[purpose], actor, user, data });
}

/** Every unused verification and reset token of the user stops working (its email address changed). */
export async function spendOutstandingTokens(tx: Db, userId: string, now: Date): Promise<void> {
  await tx
    .update(oneTimeTokens)
    .set({ usedAt: now })
    .where(
      and(eq(oneTimeTokens.userId, userId), inArray(oneTimeTokens.purpose, ["verify_email", "reset_password", "change_email"]), isNull(oneTimeTokens.usedAt)),
    );
}

interface SpentToken {
  userId: string;
  purpose: string;
  newEmail: string | null;
}

/**
 * Spends the unused, unexpired token of one of `purposes` that `match` picks
 * (its link's digest, or a user's code digest), or throws
 * INVALID_OR_EXPIRED_TOKEN (also for a second use).
 */
async function spendToken(core: Core, tx: Db, match: SQL | undefined, purposes: Purpose[]): Promise<SpentToken> {
  const now = core.now();
  const [spent] = await tx
    .update(oneTimeTokens)
    .set({ usedAt: now })
    .where(
      and(
        match,
        inArray(oneTimeTokens.purpose, purposes),
        isNull(oneTimeTokens.usedAt),
        gt(oneTimeTokens.expiresAt, now),
      ),
    )
    .returning({ userId: oneTimeTokens.userId, purpose: oneTimeTokens.purpose, newEmail: oneTimeTokens.newEmail });
  if (!spent) throw new DomainError("INVALID_OR_EXPIRED_TOKEN");
  return spent;
}

/** Called inside registration's transaction for users who are not verified yet. */
export async function requestVerificationIn(core: Core, tx: Db, user: UserRecord, actor: Actor): Promise<void> {
  if (!user.isVerified) await issueToken(core, tx, user, "verify_email", actor);
}

/** POST /auth/verify-email/resend: a new token, unless the user is already verified. */
export async function resendVerification(core: Core, user: UserRecord, ip: string | null): Promise<void> {
  await throttle(core, "resend_verification", ip);
  // One email per account and cooldown, whichever IPs ask; the answer is the same.
  if (user.isVerified || !(await firstInCooldown(core, "verify_email", user.id))) return;
  await core.db.transaction((tx) => issueToken(core, tx, user, "verify_email", userActor(user.id, ip)));
}

export async function verifyEmail(core: Core, token: string, ip: string | null): Promise<UserRecord> {
  await throttle(core, "verify_email", ip);
  if (typeof token !== "string" || token.length === 0 || token.length > 200) throw new DomainError("INVALID_OR_EXPIRED_TOKEN");
  try {
    return await core.db.transaction(async (tx) => {
      const spent = await spendToken(core, tx, byLink(token), ["verify_email", "change_email"]);
      return spent.purpose === "change_email" ? applyEmailChange(core, tx, spent, ip) : markVerified(core, tx, spent.userId, ip);
    });
  } catch (error) {
    // The address was taken between the request and the link (the unique index decides).
    throw uniqueViolation(error) === null ? error : new DomainError("EMAIL_TAKEN");
  }
}

/**
 * The link of an email-change confirmation: the new address is proven, so it
 * replaces the old one, verified; every other outstanding link stops working,
 * and the old address is told (user.email_changed). Sessions stay.
 */
async function applyEmailChange(core: Core, tx: Db, spent: SpentToken, ip: string | null): Promise<UserRecord> {
  const before = await findUserById(tx, spent.userId);
  if (!before || before.status === "deleted" || spent.newEmail === null) throw new DomainError("INVALID_OR_EXPIRED_TOKEN");
  const taken = await findUserByEmail(tx, spent.newEmail);
  if (taken && taken.id !== before.id) throw new DomainError("EMAIL_TAKEN");
  const now = core.now();
  await spendOutstandingTokens(tx, before.id, now);
  const user = await updateUser(tx, before.id, { email: spent.newEmail, isVerified: true }, now);
  if (!user) throw new DomainError("INVALID_OR_EXPIRED_TOKEN");
  const actor = userActor(user.id, ip);
  await recordChange(core, tx, { type: "user.updated", actor, user, data: { fields: ["email"] } });
  await recordEvent(core, tx, { type: "user.email_changed", actor, user, data: { previous_email: before.email } });
  return user;
}

/**
 * POST /auth/verify-email with `{email, code}`: the 6-digit code of the
 * latest verification email. Each try counts, per account and per client IP,
 * within USERSVC_LOGIN_MAX_ATTEMPTS a window (an unknown address on what was
 * typed, so the answers and the limiter say nothing about which addresses
 * exist); the account's count is its own, which no sign-in clears. A wrong,
 * spent or expired code is INVALID_OR_EXPIRED_TOKEN.
 */
export async function verifyEmailWithCode(core: Core, email: string, code: string, ip: string | null): Promise<UserRecord> {
  await throttle(core, "verify_email", ip);
  assertValidEmail(email);
  const digits = code.replace(/[\s-]/g, "");
  if (!/^\d{6}$/.test(digits)) throw validationError([{ field: "code", message: "must be the 6-digit code from the email" }]);
  const user = await findUserByEmail(core.db, normalizeEmail(email));
  // On a counter of its own: a sign-in, which the account's owner can do, does not clear it.
  const attempt = await reserveAttempt(core, user ? { userId: user.id } : { typed: normalizeEmail(email) }, ip, "verification_code");
  if (!user) throw new DomainError("INVALID_OR_EXPIRED_TOKEN");
  const byCode = and(eq(oneTimeTokens.userId, user.id), eq(oneTimeTokens.codeHash, codeHash(user.id, digits)));
  const verified = await core.db.transaction(async (tx) => {
    const spent = await spendToken(core, tx, byCode, ["verify_email"]);
    return markVerified(core, tx, spent.userId, ip);
  });
  // A right code is not a sign-in: its slot is given back, earlier failures stay.
  await attempt.passed();
  return verified;
}

async function markVerified(core: Core, tx: Db, userId: string, ip: string | null): Promise<UserRecord> {
  const user = await updateUser(tx, userId, { isVerified: true }, core.now());
  if (!user || user.status === "deleted") throw new DomainError("INVALID_OR_EXPIRED_TOKEN");
  await recordChange(core, tx, { type: "user.verified", actor: userActor(user.id, ip), user });
  return user;
}

function byLink(token: string): SQL {
  return eq(oneTimeTokens.tokenHash, sha256Hex(token));
}

/** Bound to the user: the same code of two users has two digests. */
function codeHash(userId: string, code: string): string {
  return sha256Hex(`${userId}:${code}`);
}

/**
 * POST /auth/forgot-password. The route answers 202 before this runs, so an
 * unknown email and a known one look the same from outside, in body and time.
 */
/**
 * Starts a password reset for `email` after the caller has had its answer:
 * an unknown email and a known one then cost the caller the same (the lookup,
 * the cooldown and the token are done later, and their failures only logged).
 */
export async function forgotPassword(core: Core, email: string, ip: string | null): Promise<void> {
  assertValidEmail(email);
  await throttle(core, "forgot_password", ip);
  requestPasswordReset(core, email, ip);
}

function requestPasswordReset(core: Core, email: string, ip: string | null): void {
  setImmediate(() => {
    issuePasswordReset(core, email, ip).catch((error: unknown) => core.logger.error({ err: error }, "password reset request failed"));
  });
}

async function issuePasswordReset(core: Core, email: string, ip: string | null): Promise<void> {
  const user = await findUserByEmail(core.db, normalizeEmail(email));
  if (!user || user.status === "deleted" || isBlocked(user, core.now())) return;
  if (!(await firstInCooldown(core, "reset_password", user.id))) return;
  await core.db.transaction((tx) => issueToken(core, tx, user, "reset_password", userActor(user.id, ip)));
}

/**
 * Whether a link's token would still be accepted, without spending it: the
 * pages show a dead link at once instead of after the form is filled in.
 */
export async function isLiveToken(core: Core, token: string, purposes: Purpose[]): Promise<boolean> {
  if (token.length === 0 || token.length > 200) return false;
  const now = core.now();
  const [row] = await core.db
    .select({ userId: oneTimeTokens.userId })
    .from(oneTimeTokens)
    .where(and(byLink(token), inArray(oneTimeTokens.purpose, purposes), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, now)))
    .limit(1);
  return row !== undefined;
}

/** Sets the new password and revokes every session. */
export async function resetPassword(core: Core, token: string, newPassword: string, ip: string | null): Promise<UserRecord> {
  await throttle(core, "verify_email", ip);
  const problems: FieldProblem[] = [];
  checkPasswordLength(newPassword, problems, "new_password");
  throwIfProblems(problems);
  await checkPasswordStrength(core, newPassword);
  if (token.length === 0 || token.length > 200) throw new DomainError("INVALID_OR_EXPIRED_TOKEN");
  const passwordHash = await core.passwords.hash(newPassword);
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const { userId } = await spendToken(core, tx, byLink(token), ["reset_password"]);
    const current = await findUserById(tx, userId);
    if (!current || current.status === "deleted") throw new DomainError("INVALID_OR_EXPIRED_TOKEN");
    const user = await updateUser(tx, userId, { passwordHash }, now);
    const revoked = await revokeUserSessions(tx, userId, "password_reset", now);
    await recordChange(core, tx, {
      type: "user.password_reset",
      actor: userActor(userId, ip),
      user: user!,
      data: { sessions_revoked: revoked },
    });
    return user!;
  });
}
