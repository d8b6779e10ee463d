/**
 * Exchanging an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6, OAuth
 * 2.1 §4.1.3): once only, by the client it was issued to, with the same
 * redirect URI and the PKCE verifier. A second use revokes the grant the
 * first one opened (RFC 6749 §4.1.2: the code was stolen or replayed).
 * A code is the authorization request signed (authorize.ts), so issuing it
 * writes nothing; its use is recorded here, once, by its SHA-256.
 */
import { createHash } from "node:crypto";
import { eq, lt } from "drizzle-orm";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { oauthCodes } from "../db/schema.ts";
import { sha256Hex } from "../digest.ts";
import { findSessionWithUser, insertSession, revokeSession } from "../sessions/queries.ts";
import { type ClientInfo, newSession } from "../sessions/session-tokens.ts";
import { isBlocked } from "../users/user-record.ts";
import { isUuid } from "../uuid.ts";
import type { OAuthClient } from "./clients.ts";
import { OIDC_PATHS } from "./discovery.ts";
import { mintGrantTokens, type OAuthTokenResponse } from "./grant-tokens.ts";
import { OAuthError } from "./oauth-error.ts";

/** A spent code is kept this long after it expired, so that a late replay still revokes what it opened. */
const SPENT_CODES_KEPT_MS = 60 * 60 * 1000;

/** The header type of a code (authorize.ts signs them): never one of the tokens, which are `at+jwt` or `JWT`. */
export const CODE_TYP = "oauth-authz-code+jwt";

/** A code's audience: the token endpoint, where alone it is spent. */
export function codeAudience(core: Core): string {
  return `${core.config.publicUrl}${OIDC_PATHS.token}`;
}

export interface CodeExchange {
  code: string;
  redirectUri: string | undefined;
  codeVerifier: string | undefined;
}

/** What a code says, once its signature checked out (expired or not: the exchange judges that, after the single use). */
interface CodeClaims {
  client_id: string;
  sub: string;
  sid: string;
  ruh: string;
  scope: string;
  nonce?: string;
  code_challenge: string;
  auth_time: number;
  amr: string[];
  iat: number;
  exp: number;
}

async function readCode(core: Core, code: string): Promise<CodeClaims | null> {
  if (!code || code.length > 4096) return null;
  try {
    const { payload, header } = await core.tokens.verifyJwt(code, { algorithms: ["EdDSA"], issuer: core.config.publicUrl, anyAge: true });
    if (header.typ !== CODE_TYP || payload.aud !== codeAudience(core)) return null;
    const strings = [payload.client_id, payload.sub, payload.sid, payload.ruh, payload.scope, payload.code_challenge];
    if (strings.some((value) => typeof value !== "string") || typeof payload.auth_time !== "number" || !Array.isArray(payload.amr)) return null;
    if (!isUuid(String(payload.sub)) || !isUuid(String(payload.sid))) return null;
    return payload as unknown as CodeClaims;
  } catch {
    return null;
  }
}

export async function exchangeCode(core: Core, client: OAuthClient, input: CodeExchange, from: ClientInfo): Promise<OAuthTokenResponse> {
  const invalid = (why: string) => new OAuthError("invalid_grant", why);
  const code = await readCode(core, input.code);
  if (!code) throw invalid("the code is invalid");
  // Only its own client can spend a code: another one presenting it (stolen) neither spends nor learns anything.
  if (code.client_id !== client.id) throw invalid("the code was issued to another client");
  const now = core.now();
  const codeHash = sha256Hex(input.code);
  const authTime = new Date(code.auth_time * 1000);
  // One transaction from recording the single use to recording the grant it opened: a second use racing this
  // one waits on the code's row until the grant is there for it to revoke. A refusal commits too: the code stays spent.
  const outcome = await core.db.transaction(async (tx) => {
    // The sign-in behind the code: read first, since a purged user's row (and sessions) are gone.
    const signedIn = await findSessionWithUser(tx, code.sid);
    if (!signedIn || signedIn.user.id !== code.sub) return { ok: false as const, why: "the sign-in behind the code has ended", replayed: false };
    const [spent] = await tx
      .insert(oauthCodes)
      .values({
        codeHash,
        clientId: client.id,
        userId: code.sub,
        browserSessionId: code.sid,
        redirectUri: input.redirectUri ?? "",
        scope: code.scope,
        nonce: code.nonce ?? null,
        codeChallenge: code.code_challenge,
        authTime,
        amr: code.amr,
        expiresAt: new Date(code.exp * 1000),
        consumedAt: now,
        createdAt: new Date(code.iat * 1000),
      })
      .onConflictDoNothing()
      .returning({ codeHash: oauthCodes.codeHash });
    if (!spent) return { ok: false as const, why: "the code was already used", replayed: true };
    const refused = (why: string) => ({ ok: false as const, why, replayed: false });
    if (code.exp * 1000 <= now.getTime()) return refused("the code has expired");
    if (input.redirectUri === undefined || sha256Hex(input.redirectUri) !== code.ruh) return refused("redirect_uri differs from the authorization request's");
    // RFC 7636 §4.1: 43–128 characters of the unreserved set; S256 is the only method accepted at authorization.
    if (!input.codeVerifier || !/^[A-Za-z0-9._~-]{43,128}$/.test(input.codeVerifier)) return refused("code_verifier is missing or malformed");
    if (createHash("sha256").update(input.codeVerifier).digest("base64url") !== code.code_challenge) {
      return refused("code_verifier does not match the code_challenge");
    }
    // A logout, block or deletion since the sign-in voids the code.
    const { session, user } = signedIn;
    if (session.revokedAt || session.expiresAt <= now) return refused("the sign-in behind the code has ended");
    if (user.status === "deleted" || isBlocked(user, now)) return refused("the account is not active");

    const grant = await insertSession(tx, { ...newSession(core, user.id, from, now), clientId: client.id, scope: code.scope, authTime, amr: code.amr });
    await tx.update(oauthCodes).set({ grantSessionId: grant.id }).where(eq(oauthCodes.codeHash, codeHash));
    return { ok: true as const, user, session: grant };
  });
  if (!outcome.ok) {
    if (outcome.replayed) await revokeReplayed(core, codeHash, now);
    throw invalid(outcome.why);
  }
  const { user, session } = outcome;
  const signIn = { authTime, amr: code.amr, nonce: code.nonce ?? null, browserSessionId: code.sid };
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
