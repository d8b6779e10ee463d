/** Login with a password, then a second factor when the user has one (SPEC §4 login failures). */
import { completeMfaChallenge, createMfaChallenge, type MfaChallenge } from "../mfa/challenge.ts";
import { isMfaEnabled } from "../mfa/factors.ts";
import { reserveAttempt } from "../rate-limits/attempts.ts";
import type { Core } from "../core.ts";
import { enqueueEvent } from "../events/outbox.ts";
import { recordEvent } from "../events/record.ts";
import { DomainError } from "../errors.ts";
import { countActivity, refusalOutcome } from "../stats/activity-counts.ts";
import { findCredentialsBy, updateUser } from "../users/queries.ts";
import { isBlocked, toPublicUser, type UserRecord } from "../users/user-record.ts";
import { normalizeEmail } from "../users/validation.ts";
import { type ClientInfo, PASSWORD_AMR, type SessionStarter, startSession, type TokenPair } from "./session-tokens.ts";

export interface LoginInput {
  email?: string;
  username?: string;
  password: string;
}

/**
 * Tokens (or what `start` makes: a browser session), or — for a user with
 * two-factor authentication — a challenge for POST /auth/mfa/verify.
 */
export async function login<T = TokenPair>(
  core: Core,
  input: LoginInput,
  client: ClientInfo,
  start: SessionStarter<T> = startSession as SessionStarter<T>,
): Promise<T | MfaChallenge> {
  try {
    const result = await attemptLogin(core, input, client, start);
    core.metrics.loginOutcome(isChallenge(result) ? "mfa_required" : "success");
    return result;
  } catch (error) {
    core.metrics.loginOutcome(error instanceof DomainError ? error.code : "INTERNAL_ERROR");
    throw error;
  }
}

export function isChallenge(result: unknown): result is MfaChallenge {
  return typeof result === "object" && result !== null && "mfa_required" in result;
}

async function attemptLogin<T>(core: Core, input: LoginInput, client: ClientInfo, start: SessionStarter<T>): Promise<T | MfaChallenge> {
  const key = loginKey(input);
  const found = await findCredentialsBy(core.db, key);
  // Counted per account, whatever identifier was typed; reserved before the password is checked.
  const account = found ? { userId: found.user.id } : { typed: "email" in key ? key.email : key.username };
  const attempt = await reserveAttempt(core, account, client.ip);
  // Every failure below costs one password verification, so timing tells nothing.
  if (!found) {
    await core.passwords.burnVerification(input.password);
    return loginFailed(core, null, "unknown_account", key, client, "INVALID_CREDENTIALS");
  }
  // A user without a password (signed up with a provider) fails like a wrong one, at the same cost.
  const passwordMatches = found.passwordHash === null ? await core.passwords.burnVerification(input.password).then(() => false) : await core.passwords.verify(input.password, found.passwordHash);
  const { user } = found;
  if (!passwordMatches || user.status === "deleted") {
    // A deleted account is reported like an unknown one, to the host as to the caller.
    const deleted = user.status === "deleted";
    return loginFailed(core, deleted ? null : user, deleted ? "unknown_account" : "wrong_password", key, client, "INVALID_CREDENTIALS");
  }
  const mfa = await isMfaEnabled(core, user.id);
  // With a second factor to come, the account's failures stay until the code is right too.
  await (mfa ? attempt.passed() : attempt.succeeded());
  await admitUser(core, user, client, key);

  const now = core.now();
  const rehashed = found.passwordHash !== null && core.passwords.needsRehash(found.passwordHash) ? await core.passwords.hash(input.password) : undefined;
  if (mfa) {
    if (rehashed) await updateUser(core.db, user.id, { passwordHash: rehashed }, now);
    return createMfaChallenge(core, user, PASSWORD_AMR);
  }
  const updated = (await updateUser(core.db, user.id, { lastLoginAt: now, passwordHash: rehashed }, now)) ?? user;
  return start(core, updated, client, PASSWORD_AMR);
}

/** Login's second step for users with two-factor authentication. */
export async function completeMfaLogin<T = TokenPair>(
  core: Core,
  input: { mfa_token: string; code: string | number },
  client: ClientInfo,
  start: SessionStarter<T> = startSession as SessionStarter<T>,
): Promise<T> {
  const { user, amr } = await completeMfaChallenge(core, input.mfa_token, input.code, client.ip);
  const now = core.now();
  const updated = (await updateUser(core.db, user.id, { lastLoginAt: now }, now)) ?? user;
  return start(core, updated, client, amr);
}

/**
 * What every sign-in checks once a credential (a password, a passkey, a
 * provider) has proven who the user is: not blocked, the email verified when
 * that is required, and the host's `beforeLogin`. `failure`: what a refusal's
 * `user.login_failed` event records beside the reason (the typed identifier, the passkey…).
 */
export async function admitUser(core: Core, user: UserRecord, client: ClientInfo, failure: Record<string, unknown>): Promise<void> {
  if (isBlocked(user, core.now())) return loginFailed(core, user, "blocked", failure, client, "ACCOUNT_BLOCKED");
  if (core.config.requireVerifiedEmail && !user.isVerified) {
    return loginFailed(core, user, "email_not_verified", failure, client, "EMAIL_NOT_VERIFIED");
  }
  await core.hooks.beforeLogin({ user: toPublicUser(user, core.now()), ip: client.ip });
}

/**
 * Records `user.login_failed` and throws `code`. A deleted account is
 * reported like an unknown one, to the host as to the caller.
 */
export async function loginFailed(
  core: Core,
  user: UserRecord | null,
  reason: string,
  failure: Record<string, unknown>,
  client: ClientInfo,
  code: "INVALID_CREDENTIALS" | "ACCOUNT_BLOCKED" | "EMAIL_NOT_VERIFIED",
): Promise<never> {
  const actor = { type: "user" as const, id: user?.id ?? null, ip: client.ip };
  const data = { reason, ...failure, ip: client.ip };
  if (user) await recordEvent(core, core.db, { type: "user.login_failed", actor, user, data });
  else await enqueueEvent(core, core.db, { type: "user.login_failed", actor, userId: null, data });
  await countActivity(core.db, `sign_in.${refusalOutcome(reason)}`, core.now());
  throw new DomainError(code);
}

function loginKey(input: LoginInput): { email: string } | { username: string } {
  if ((input.email === undefined) === (input.username === undefined)) {
    const message = "give either email or username";
    throw new DomainError("VALIDATION_ERROR", message, [{ field: "email", message }]);
  }
  return input.email !== undefined ? { email: normalizeEmail(input.email) } : { username: input.username!.trim() };
}
