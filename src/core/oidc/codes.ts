/**
 * Exchanging an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6, OAuth
 * 2.1 §4.1.3): once only, by the client it was issued to, with the same
 * redirect URI and the PKCE verifier. A second use revokes the grant the
 * first one opened (RFC 6749 §4.1.2: the code was stolen or replayed).
 */
import { createHash } from "node:crypto";
import { and, eq, isNull, lt } from "drizzle-orm";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { oauthCodes } from "../db/schema.ts";
import { sha256Hex } from "../digest.ts";
import { findSessionWithUser, insertSession, revokeSession } from "../sessions/queries.ts";
import { type ClientInfo, sessionExpiry } from "../sessions/session-tokens.ts";
import { isBlocked } from "../users/user-record.ts";
import type { OAuthClient } from "./clients.ts";
import { mintGrantTokens, type OAuthTokenResponse } from "./grant-tokens.ts";
import { OAuthError } from "./oauth-error.ts";

/** A spent code is kept this long after it expired, so that a late replay still revokes what it opened. */
const SPENT_CODES_KEPT_MS = 60 * 60 * 1000;

export interface CodeExchange {
  code: string;
  redirectUri: string | undefined;
  codeVerifier: string | undefined;
}

export async function exchangeCode(core: Core, client: OAuthClient, input: CodeExchange, from: ClientInfo): Promise<OAuthTokenResponse> {
  const invalid = (why: string) => new OAuthError("invalid_grant", why);
  if (!input.code || input.code.length > 256) throw invalid("the code is missing or malformed");
  const now = core.now();
  const codeHash = sha256Hex(input.code);
  // One transaction from spending the code to recording the grant it opened: a second use racing this one
  // waits on the code's row until the grant is there for it to revoke. A refusal commits too: the code stays spent.
  const outcome = await core.db.transaction(async (tx) => {
    const [spent] = await tx
      .update(oauthCodes)
      .set({ consumedAt: now })
      .where(and(eq(oauthCodes.codeHash, codeHash), isNull(oauthCodes.consumedAt)))
      .returning();
    if (!spent) return { ok: false as const, why: "the code is invalid, expired or already used", replayed: true };
    const refused = (why: string) => ({ ok: false as const, why, replayed: false });
    if (spent.clientId !== client.id) return refused("the code was issued to another client");
    if (spent.expiresAt <= now) return refused("the code has expired");
    if (input.redirectUri !== spent.redirectUri) return refused("redirect_uri differs from the authorization request's");
    // RFC 7636 §4.1: 43–128 characters of the unreserved set; S256 is the only method accepted at authorization.
    if (!input.codeVerifier || !/^[A-Za-z0-9._~-]{43,128}$/.test(input.codeVerifier)) return refused("code_verifier is missing or malformed");
    if (createHash("sha256").update(input.codeVerifier).digest("base64url") !== spent.codeChallenge) {
      return refused("code_verifier does not match the code_challenge");
    }

    // The sign-in behind the code must still stand: a logout, block or deletion since voids it.
    const signedIn = await findSessionWithUser(tx, spent.browserSessionId);
    if (!signedIn || signedIn.session.revokedAt || signedIn.session.expiresAt <= now || signedIn.user.id !== spent.userId) {
      return refused("the sign-in behind the code has ended");
    }
    const { user } = signedIn;
    if (user.status === "deleted" || isBlocked(user, now)) return refused("the account is not active");

    const grant = await insertSession(tx, {
      userId: user.id,
      refreshJti: crypto.randomUUID(),
      userAgent: from.userAgent?.slice(0, 512) ?? null,
      ip: from.ip,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: sessionExpiry(core, now, now),
      clientId: client.id,
      scope: spent.scope,
      authTime: spent.authTime,
      amr: spent.amr,
    });
    await tx.update(oauthCodes).set({ grantSessionId: grant.id }).where(eq(oauthCodes.codeHash, codeHash));
    return { ok: true as const, spent, user, session: grant };
  });
  if (!outcome.ok) {
    if (outcome.replayed) await revokeReplayed(core, codeHash, now);
    throw invalid(outcome.why);
  }
  const { spent, user, session } = outcome;
  const signIn = { authTime: spent.authTime, amr: spent.amr ?? ["pwd"], nonce: spent.nonce, browserSessionId: spent.browserSessionId };
  return mintGrantTokens(core, client, user, session, session.refreshJti, signIn);
}

/** A code presented again: whatever its first use opened is revoked. */
async function revokeReplayed(core: Core, codeHash: string, now: Date): Promise<void> {
  const [row] = await core.db.select().from(oauthCodes).where(eq(oauthCodes.codeHash, codeHash)).limit(1);
  if (row?.grantSessionId && (await revokeSession(core.db, row.grantSessionId, "code_reused", now)) > 0) {
    core.logger.warn({ clientId: row.clientId, userId: row.userId, sessionId: row.grantSessionId }, "authorization code reused: grant revoked");
  }
}

export async function sweepExpiredCodes(db: Db, now: Date): Promise<number> {
  const gone = await db
    .delete(oauthCodes)
    .where(lt(oauthCodes.expiresAt, new Date(now.getTime() - SPENT_CODES_KEPT_MS)))
    .returning({ codeHash: oauthCodes.codeHash });
  return gone.length;
}
