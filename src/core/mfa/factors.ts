/**
 * A user's TOTP factor: enrol (secret and otpauth:// URI), confirm with a
 * first code (which also yields the recovery codes), regenerate the codes,
 * disable (step-up), and an admin's reset. Sign-in with the factor is
 * challenge.ts; codes as typed are codes.ts.
 */
import { eq } from "drizzle-orm";
import { Secret } from "otpauth";
import type { Actor } from "../audit/actor.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { mfaFactors, mfaRecoveryCodes } from "../db/schema.ts";
import { DomainError, validationError } from "../errors.ts";
import { recordChange } from "../events/record.ts";
import { reserveAttempt } from "../rate-limits/attempts.ts";
import { requirePrivileged } from "../sessions/step-up.ts";
import { findUserById } from "../users/queries.ts";
import type { UserRecord } from "../users/user-record.ts";
import { normalizeMfaCode } from "./codes.ts";
import { newRecoveryCodes, replaceRecoveryCodes } from "./recovery-codes.ts";
import { acceptTotp, totpFor } from "./totp.ts";

export async function mfaStatus(core: Core, userId: string): Promise<{ enabled: boolean; pending: boolean }> {
  const [factor] = await core.db.select().from(mfaFactors).where(eq(mfaFactors.userId, userId));
  return { enabled: Boolean(factor?.confirmedAt), pending: Boolean(factor && !factor.confirmedAt) };
}

export async function isMfaEnabled(core: Core, userId: string): Promise<boolean> {
  return (await mfaStatus(core, userId)).enabled;
}

/** The secret of an enrolment begun and not yet confirmed, for the account page to show again; null otherwise. */
export async function pendingEnrollment(core: Core, user: UserRecord): Promise<{ secret: string; otpauth_uri: string } | null> {
  const [factor] = await core.db.select().from(mfaFactors).where(eq(mfaFactors.userId, user.id));
  if (!factor || factor.confirmedAt) return null;
  return { secret: factor.secret, otpauth_uri: totpFor(core, user, factor.secret).toString() };
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

