/**
 * What every way into a session shares: the caller's client, the token pair,
 * the principal, and how a session is started and its tokens minted.
 */
import { type SQL, sql } from "drizzle-orm";
import { userActor } from "../audit/actor.ts";
import { sessions } from "../db/schema.ts";
import type { Core } from "../core.ts";
import { recordEvent } from "../events/record.ts";
import { DomainError } from "../errors.ts";
import { countActivity } from "../stats/activity-counts.ts";
import { isBlocked, toPublicUser, type UserRecord } from "../users/user-record.ts";
import { insertSession, type SessionRow } from "./queries.ts";

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
/**
 * How a sign-in was proven (RFC 8176 `amr` values): a password, then perhaps
 * a second factor (`otp`: a TOTP or recovery code) and `mfa`.
 */
export const PASSWORD_AMR = ["pwd"];
/**
 * A passkey is two factors in one (SPEC §10): the key, and the user verified
 * by the authenticator. `swk` for a synced (backed-up) passkey, `hwk` for one
 * bound to its device.
 */
export const passkeyAmr = (backedUp: boolean): string[] => [backedUp ? "swk" : "hwk", "user", "mfa"];

export async function startSession(core: Core, user: UserRecord, client: ClientInfo, amr: string[] = PASSWORD_AMR): Promise<TokenPair> {
  const session = await openSession(core, user, client, null, amr);
  return mintPair(core, user, session, session.refreshJti);
}

/**
 * Inserts a session and its `user.logged_in` event in one transaction.
 * `cookieHash`: the digest of a browser session's cookie secret (browser-sessions.ts), null for tokens.
 */
export async function openSession(core: Core, user: UserRecord, client: ClientInfo, cookieHash: string | null, amr: string[] = PASSWORD_AMR): Promise<SessionRow> {
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const created = await insertSession(tx, { ...newSession(core, user.id, client, now), cookieHash, amr });
    const actor = userActor(user.id, client.ip);
    await recordEvent(core, tx, { type: "user.logged_in", actor, user, data: { session_id: created.id, ip: client.ip } });
    await countActivity(tx, "sign_in.succeeded", now);
    return created;
  });
}

/** What every new session starts with: its first refresh token id, where it came from, and its end. */
export function newSession(core: Core, userId: string, client: ClientInfo, now: Date) {
  return {
    userId,
    refreshJti: crypto.randomUUID(),
    userAgent: client.userAgent?.slice(0, 512) ?? null,
    ip: client.ip,
    createdAt: now,
    lastUsedAt: now,
    expiresAt: sessionExpiry(core, now, now),
  };
}

/** How a sign-in ends once the credentials are right: a token pair (the API) or a browser session (the pages). */
export type SessionStarter<T> = (core: Core, user: UserRecord, client: ClientInfo, amr: string[]) => Promise<T>;

/**
 * A refresh token's lifetime from `now`, cut at the session's absolute end
 * (USERSVC_SESSION_MAX_AGE after its sign-in): refreshing never stretches a session.
 */
export function sessionExpiry(core: Core, signedInAt: Date, now: Date): Date {
  const { refreshTtl, sessionMaxAge } = core.config;
  return new Date(Math.min(now.getTime() + refreshTtl * 1000, signedInAt.getTime() + sessionMaxAge * 1000));
}

/** sessionExpiry in SQL, for a statement that sets it without reading the session first. */
export function sessionExpirySql(core: Core, now: Date): SQL {
  const { refreshTtl, sessionMaxAge } = core.config;
  return sql`least(${new Date(now.getTime() + refreshTtl * 1000).toISOString()}::timestamptz, ${sessions.createdAt} + ${sessionMaxAge} * interval '1 second')`;
}
export function activeUser(core: Core, user: UserRecord): UserRecord {
  if (user.status === "deleted") throw new DomainError("SESSION_REVOKED");
  if (isBlocked(user, core.now())) throw new DomainError("ACCOUNT_BLOCKED");
  return user;
}

export async function mintPair(core: Core, user: UserRecord, session: SessionRow, refreshJti: string): Promise<TokenPair> {
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
      extra: { ...claims, roles: user.roles, gen: session.generation, amr: session.amr ?? PASSWORD_AMR },
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
