/** Who is calling: an access token checked against its live session and user. */
import type { Core } from "../core.ts";
import { DomainError } from "../errors.ts";
import { isBlocked } from "../users/user-record.ts";
import { findSessionWithUser } from "./queries.ts";
import { type Principal } from "./session-tokens.ts";

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
