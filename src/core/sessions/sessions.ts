/**
 * Sessions and their tokens: login, refresh with rotation and reuse
 * detection, logout, change of password (SPEC §4 token rules).
 */
import { userActor } from "../audit/actor.ts";
import { completeMfaChallenge, createMfaChallenge, isMfaEnabled, type MfaChallenge } from "../auth/mfa.ts";
import { reserveAttempt } from "../auth/attempts.ts";
import { throttle } from "../auth/rate-limit.ts";
import { checkCurrentPassword } from "../auth/step-up.ts";
import { checkPasswordStrength } from "../auth/password.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { enqueueEvent } from "../events/outbox.ts";
import { recordChange, recordEvent } from "../events/record.ts";
import { DomainError, type FieldProblem } from "../errors.ts";
import { findCredentialsBy, updateUser } from "../users/queries.ts";
import { isBlocked, toPublicUser, type UserRecord } from "../users/user.ts";
import { isUuid } from "../users/users.ts";
import { checkPasswordLength, normalizeEmail, throwIfProblems } from "../users/validation.ts";
import {
  findSession,
  findSessionWithUser,
  insertSession,
  listActiveSessions,
  renewSession,
  revokeSession,
  revokeUserSessions,
  rotateRefreshJti,
  type SessionRow,
} from "./queries.ts";

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: "bearer";
  expires_in: number;
  refresh_expires_in: number;
}

/** Who is calling: established by authenticate() from an access token. */
export interface Principal {
  user: UserRecord;
  session: SessionRow;
}

export interface LoginInput {
  email?: string;
  username?: string;
  password: string;
}

/** Tokens, or — for a user with two-factor authentication — a challenge for POST /auth/mfa/verify. */
export async function login(core: Core, input: LoginInput, client: ClientInfo): Promise<TokenPair | MfaChallenge> {
  try {
    const result = await attemptLogin(core, input, client);
    core.metrics.loginOutcome("mfa_required" in result ? "mfa_required" : "success");
    return result;
  } catch (error) {
    core.metrics.loginOutcome(error instanceof DomainError ? error.code : "INTERNAL_ERROR");
    throw error;
  }
}

async function attemptLogin(core: Core, input: LoginInput, client: ClientInfo): Promise<TokenPair | MfaChallenge> {
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
  const passwordMatches = await core.passwords.verify(input.password, found.passwordHash);
  const { user } = found;
  if (!passwordMatches || user.status === "deleted") {
    // A deleted account is reported like an unknown one, to the host as to the caller.
    const deleted = user.status === "deleted";
    return loginFailed(core, deleted ? null : user, deleted ? "unknown_account" : "wrong_password", key, client, "INVALID_CREDENTIALS");
  }
  const mfa = await isMfaEnabled(core, user.id);
  // With a second factor to come, the account's failures stay until the code is right too.
  await (mfa ? attempt.passed() : attempt.succeeded());
  if (isBlocked(user, core.now())) return loginFailed(core, user, "blocked", key, client, "ACCOUNT_BLOCKED");
  if (core.config.requireVerifiedEmail && !user.isVerified) {
    return loginFailed(core, user, "email_not_verified", key, client, "EMAIL_NOT_VERIFIED");
  }
  await core.hooks.beforeLogin({ user: toPublicUser(user, core.now()), ip: client.ip });

  const now = core.now();
  const rehashed = core.passwords.needsRehash(found.passwordHash) ? await core.passwords.hash(input.password) : undefined;
  if (mfa) {
    if (rehashed) await updateUser(core.db, user.id, { passwordHash: rehashed }, now);
    return createMfaChallenge(core, user);
  }
  const updated = (await updateUser(core.db, user.id, { lastLoginAt: now, passwordHash: rehashed }, now)) ?? user;
  return startSession(core, updated, client);
}

/** Login's second step for users with two-factor authentication. */
export async function completeMfaLogin(
  core: Core,
  input: { mfa_token: string; code: string | number },
  client: ClientInfo,
): Promise<TokenPair> {
  const user = await completeMfaChallenge(core, input.mfa_token, input.code, client.ip);
  const now = core.now();
  const updated = (await updateUser(core.db, user.id, { lastLoginAt: now }, now)) ?? user;
  return startSession(core, updated, client);
}

/**
 * Records `user.login_failed` and throws `code`. A deleted account is
 * reported like an unknown one, to the host as to the caller.
 */
async function loginFailed(
  core: Core,
  user: UserRecord | null,
  reason: string,
  key: { email: string } | { username: string },
  client: ClientInfo,
  code: "INVALID_CREDENTIALS" | "ACCOUNT_BLOCKED" | "EMAIL_NOT_VERIFIED",
): Promise<never> {
  const actor = { type: "user" as const, id: user?.id ?? null, ip: client.ip };
  const data = { reason, ...key, ip: client.ip };
  if (user) await recordEvent(core, core.db, { type: "user.login_failed", actor, user, data });
  else await enqueueEvent(core, core.db, { type: "user.login_failed", actor, userId: null, data });
  throw new DomainError(code);
}

function loginKey(input: LoginInput): { email: string } | { username: string } {
  if ((input.email === undefined) === (input.username === undefined)) {
    const message = "give either email or username";
    throw new DomainError("VALIDATION_ERROR", message, [{ field: "email", message }]);
  }
  return input.email !== undefined ? { email: normalizeEmail(input.email) } : { username: input.username!.trim() };
}

export async function startSession(core: Core, user: UserRecord, client: ClientInfo): Promise<TokenPair> {
  const now = core.now();
  const session = await core.db.transaction(async (tx) => {
    const created = await insertSession(tx, {
      userId: user.id,
      refreshJti: crypto.randomUUID(),
      userAgent: client.userAgent?.slice(0, 512) ?? null,
      ip: client.ip,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: sessionExpiry(core, now, now),
    });
    const actor = userActor(user.id, client.ip);
    await recordEvent(core, tx, { type: "user.logged_in", actor, user, data: { session_id: created.id, ip: client.ip } });
    return created;
  });
  return mintPair(core, user, session, session.refreshJti);
}

/**
 * Refresh reads the session from the database every time, not through the
 * auth cache: which refresh token is current decides between a rotation, a
 * grace answer and revoking the session as reused, and another instance may
 * have rotated it a moment ago.
 */
export async function refresh(core: Core, refreshToken: string, client: ClientInfo): Promise<TokenPair> {
  await throttle(core, "refresh", client.ip);
  const claims = await core.tokens.verify(refreshToken, "refresh");
  const now = core.now();
  const found = await findSessionWithUser(core.db, claims.sid);
  if (!found || found.session.userId !== claims.sub || found.session.revokedAt) throw new DomainError("SESSION_REVOKED");
  let { session } = found;
  if (session.expiresAt <= now) throw new DomainError("TOKEN_EXPIRED");
  const user = activeUser(core, found.user);
  // A refresh token from before a password change (a new generation) was spent by that change,
  // not stolen: refused, while the pair the change answered stays valid.
  if ((claims.gen ?? 0) < session.generation) {
    throw new DomainError("INVALID_TOKEN", "This refresh token was replaced when the password changed; use the newer one");
  }

  if (claims.jti === session.refreshJti) {
    const nextJti = crypto.randomUUID();
    const expiresAt = sessionExpiry(core, session.createdAt, now);
    const rotated = await rotateRefreshJti(core.db, session.id, claims.jti, nextJti, now, expiresAt);
    if (rotated) return mintPair(core, user, rotated, nextJti);
    // Another request spent it first: judge this one as a repeat below.
    session = (await findSession(core.db, claims.sid)) ?? session;
    if (session.revokedAt) throw new DomainError("SESSION_REVOKED");
  }

  if (withinGrace(core, session, claims.jti, now)) return mintPair(core, user, session, session.refreshJti);
  // The most telling session event there is (a stolen token, or a client that lost one): hosts
  // and auditors see it, not only the log.
  const reused = session;
  await core.db.transaction(async (tx) => {
    if ((await revokeSession(tx, reused.id, "refresh_token_reused", now)) === 0) return;
    const data = { reason: "refresh_token_reused", sessions_revoked: 1, session_id: reused.id, ip: client.ip };
    await recordChange(core, tx, { type: "session.revoked", actor: userActor(user.id, client.ip), user, data });
  });
  core.logger.warn({ sessionId: session.id, userId: session.userId }, "refresh token reuse: session revoked");
  throw new DomainError("REFRESH_TOKEN_REUSED");
}

/**
 * A refresh token's lifetime from `now`, cut at the session's absolute end
 * (USERSVC_SESSION_MAX_AGE after its sign-in): refreshing never stretches a session.
 */
function sessionExpiry(core: Core, signedInAt: Date, now: Date): Date {
  const { refreshTtl, sessionMaxAge } = core.config;
  return new Date(Math.min(now.getTime() + refreshTtl * 1000, signedInAt.getTime() + sessionMaxAge * 1000));
}

function withinGrace(core: Core, session: SessionRow, jti: string, now: Date): boolean {
  const grace = core.config.refreshGrace;
  return (
    grace > 0 &&
    session.previousJti === jti &&
    session.rotatedAt !== null &&
    now.getTime() - session.rotatedAt.getTime() <= grace * 1000
  );
}

/**
 * The principal behind an access token, or an error: the token must verify,
 * and its session must still be alive, of the same generation, and belong
 * to an active user.
 */
export async function authenticate(core: Core, accessToken: string): Promise<Principal> {
  const claims = await core.tokens.verify(accessToken, "access");
  const found = await core.authCache.sessionWithUser(claims.sid, () => findSessionWithUser(core.db, claims.sid));
  if (!found || found.session.userId !== claims.sub) throw new DomainError("SESSION_REVOKED");
  const { session, user } = found;
  const now = core.now();
  if (session.revokedAt || session.expiresAt <= now || session.generation !== (claims.gen ?? 0)) {
    throw new DomainError("SESSION_REVOKED");
  }
  if (user.status === "deleted") throw new DomainError("SESSION_REVOKED");
  if (isBlocked(user, now)) throw new DomainError("ACCOUNT_BLOCKED");
  return { user, session };
}

export async function logout(core: Core, principal: Principal, client: ClientInfo): Promise<{ revoked: number }> {
  return revokeAndRecord(core, principal, client, "logout", (tx, now) => revokeSession(tx, principal.session.id, "logout", now));
}

export async function logoutAll(core: Core, principal: Principal, client: ClientInfo): Promise<{ revoked: number }> {
  return revokeAndRecord(core, principal, client, "logout_all", (tx, now) =>
    revokeUserSessions(tx, principal.user.id, "logout_all", now),
  );
}

/** Revokes sessions of the caller and, when any were live, records `session.revoked`. */
async function revokeAndRecord(
  core: Core,
  principal: Principal,
  client: ClientInfo,
  reason: string,
  revoke: (tx: Db, now: Date) => Promise<number>,
  sessionId?: string,
): Promise<{ revoked: number }> {
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const revoked = await revoke(tx, now);
    if (revoked > 0) {
      const data = { reason, sessions_revoked: revoked, ...(sessionId ? { session_id: sessionId } : {}) };
      await recordEvent(core, tx, { type: "session.revoked", actor: userActor(principal.user.id, client.ip), user: principal.user, data });
    }
    return { revoked };
  });
}

export interface PasswordChange {
  current_password: string;
  new_password: string;
}

/** Revokes the user's other sessions and answers with a fresh pair for this one. */
export async function changePassword(
  core: Core,
  principal: Principal,
  change: PasswordChange,
  client: ClientInfo,
): Promise<TokenPair> {
  const problems: FieldProblem[] = [];
  checkPasswordLength(change.new_password, problems, "new_password");
  throwIfProblems(problems);
  await checkCurrentPassword(core, principal.user, change.current_password, client.ip);
  await checkPasswordStrength(core, change.new_password);

  const now = core.now();
  const passwordHash = await core.passwords.hash(change.new_password);
  const renewed = await core.db.transaction(async (tx) => {
    await updateUser(tx, principal.user.id, { passwordHash }, now);
    const revoked = await revokeUserSessions(tx, principal.user.id, "password_changed", now, { except: principal.session.id });
    const session = await renewSession(tx, principal.session.id, crypto.randomUUID(), now);
    // Throwing rolls the password change back: the caller's session died meanwhile.
    if (!session) throw new DomainError("SESSION_REVOKED");
    const actor = userActor(principal.user.id, client.ip);
    await recordChange(core, tx, { type: "user.password_changed", actor, user: principal.user, data: { sessions_revoked: revoked } });
    return session;
  });
  return mintPair(core, principal.user, renewed, renewed.refreshJti);
}

export interface SessionView {
  id: string;
  created_at: string;
  last_used_at: string;
  user_agent: string | null;
  ip: string | null;
  current: boolean;
}

export async function listSessions(core: Core, principal: Principal): Promise<SessionView[]> {
  const rows = await listActiveSessions(core.db, principal.user.id, core.now());
  return rows.map((s) => ({
    id: s.id,
    created_at: s.createdAt.toISOString(),
    last_used_at: s.lastUsedAt.toISOString(),
    user_agent: s.userAgent,
    ip: s.ip,
    current: s.id === principal.session.id,
  }));
}

/** Revokes one of the caller's own sessions; someone else's is simply not found. */
export async function revokeOwnSession(
  core: Core,
  principal: Principal,
  sessionId: string,
  client: ClientInfo,
): Promise<{ revoked: number }> {
  if (!isUuid(sessionId)) {
    throw new DomainError("VALIDATION_ERROR", "id: must be a UUID", [{ field: "id", message: "must be a UUID" }]);
  }
  const session = await findSession(core.db, sessionId.toLowerCase());
  if (!session || session.userId !== principal.user.id || session.revokedAt || session.expiresAt <= core.now()) {
    throw new DomainError("NOT_FOUND", "Session not found");
  }
  return revokeAndRecord(core, principal, client, "revoked_by_user", (tx, now) => revokeSession(tx, session.id, "revoked_by_user", now), session.id);
}

function activeUser(core: Core, user: UserRecord): UserRecord {
  if (user.status === "deleted") throw new DomainError("SESSION_REVOKED");
  if (isBlocked(user, core.now())) throw new DomainError("ACCOUNT_BLOCKED");
  return user;
}

async function mintPair(core: Core, user: UserRecord, session: SessionRow, refreshJti: string): Promise<TokenPair> {
  const { accessTtl } = core.config;
  // The refresh token ends with its session (which may end sooner than USERSVC_REFRESH_TTL).
  const untilSessionEnds = Math.ceil((session.expiresAt.getTime() - core.now().getTime()) / 1000);
  const refreshTtl = Math.max(1, Math.min(core.config.refreshTtl, untilSessionEnds));
  const base = { sub: user.id, sid: session.id };
  const claims = await core.hooks.accessTokenClaims({ user: toPublicUser(user, core.now()), session: { id: session.id } });
  const [access, refreshToken] = await Promise.all([
    core.tokens.mint({
      ...base,
      jti: crypto.randomUUID(),
      type: "access",
      ttlSeconds: accessTtl,
      extra: { ...claims, roles: user.roles, gen: session.generation },
    }),
    core.tokens.mint({ ...base, jti: refreshJti, type: "refresh", ttlSeconds: refreshTtl, extra: { gen: session.generation } }),
  ]);
  return {
    access_token: access,
    refresh_token: refreshToken,
    token_type: "bearer",
    expires_in: accessTtl,
    refresh_expires_in: refreshTtl,
  };
}
