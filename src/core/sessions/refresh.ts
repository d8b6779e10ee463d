/** Refresh with rotation and reuse detection (SPEC §4 token rules). */
import { userActor } from "../audit/actor.ts";
import { throttle } from "../rate-limits/throttle.ts";
import type { Core } from "../core.ts";
import { recordChange } from "../events/record.ts";
import { DomainError } from "../errors.ts";
import { findSession, findSessionWithUser, revokeSession, rotateIfCurrent, rotateRefreshJti, type SessionRow } from "./queries.ts";
import type { UserRecord } from "../users/user-record.ts";
import { activeUser, type ClientInfo, mintPair, sessionExpiry, sessionExpirySql, type TokenPair } from "./session-tokens.ts";

/**
 * Refresh reads the session from the database every time, not through the
 * auth cache: which refresh token is current decides between a rotation, a
 * grace answer and revoking the session as reused, and another instance may
 * have rotated it a moment ago.
 */
export async function refresh(core: Core, refreshToken: string, client: ClientInfo): Promise<TokenPair> {
  await throttle(core, "refresh", client.ip);
  const claims = await core.tokens.verify(refreshToken, "refresh");
  const { user, session, nextJti } = await spendRefreshToken(core, claims, null, client);
  return mintPair(core, user, session, nextJti);
}

/** What a refresh token says of itself, once its signature checked out. */
export interface RefreshClaims {
  sid: string;
  sub: string;
  jti: string;
  gen?: number;
}

/**
 * Spends a refresh token of the session `claims.sid`: the rotation (or the
 * grace answer), or, for a token already spent, the revocation of the whole
 * session as reused. `clientId`: the OpenID Connect client the session was
 * granted to (null for usersvc's own sessions); a token never crosses over.
 * Returns the refresh token id to mint next.
 */
export async function spendRefreshToken(
  core: Core,
  claims: RefreshClaims,
  clientId: string | null,
  client: ClientInfo,
): Promise<{ user: UserRecord; session: SessionRow; nextJti: string }> {
  const now = core.now();
  const nextJti = crypto.randomUUID();
  const generation = typeof claims.gen === "number" ? claims.gen : undefined;
  const spend = { sessionId: claims.sid, userId: claims.sub, clientId, spentJti: claims.jti, nextJti, generation, now, expiresAt: sessionExpirySql(core, now) };
  const usual = await rotateIfCurrent(core.db, spend);
  if (usual) return { ...usual, nextJti };

  // Not the usual case: read the session and say why (or answer a repeat within the grace).
  const found = await findSessionWithUser(core.db, claims.sid);
  if (!found || found.session.userId !== claims.sub || found.session.revokedAt) throw new DomainError("SESSION_REVOKED");
  if (found.session.clientId !== clientId) throw new DomainError("INVALID_TOKEN");
  let { session } = found;
  if (session.expiresAt <= now) throw new DomainError("TOKEN_EXPIRED");
  const user = activeUser(core, found.user);
  // A refresh token from before a password change (a new generation) was spent by that change,
  // not stolen: refused, while the pair the change answered stays valid. One minted before
  // refresh tokens carried a generation is judged as before (current, or reused).
  if (typeof claims.gen === "number" && claims.gen < session.generation) {
    throw new DomainError("INVALID_TOKEN", "This refresh token was replaced when the password changed; use the newer one");
  }

  if (claims.jti === session.refreshJti) {
    const expiresAt = sessionExpiry(core, session.createdAt, now);
    const rotated = await rotateRefreshJti(core.db, session.id, claims.jti, nextJti, now, expiresAt);
    if (rotated) return { user, session: rotated, nextJti };
    // Another request spent it first: judge this one as a repeat below.
    session = (await findSession(core.db, claims.sid)) ?? session;
    if (session.revokedAt) throw new DomainError("SESSION_REVOKED");
  }

  if (withinGrace(core, session, claims.jti, now)) return { user, session, nextJti: session.refreshJti };
  // The most telling session event there is (a stolen token, or a client that lost one): hosts
  // and auditors see it, not only the log.
  const reused = session;
  await core.db.transaction(async (tx) => {
    if ((await revokeSession(tx, reused.id, "refresh_token_reused", now)) === 0) return;
    const data = { reason: "refresh_token_reused", sessions_revoked: 1, session_id: reused.id, ip: client.ip, ...(clientId ? { client_id: clientId } : {}) };
    await recordChange(core, tx, { type: "session.revoked", actor: userActor(user.id, client.ip), user, data });
  });
  core.logger.warn({ sessionId: session.id, userId: session.userId }, "refresh token reuse: session revoked");
  throw new DomainError("REFRESH_TOKEN_REUSED");
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
