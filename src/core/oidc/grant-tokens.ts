/**
 * The tokens of an OpenID Connect grant (SPEC §9). A grant is a usersvc
 * session with a `client_id`, so logout-all, block, delete and password
 * reset end it like any other, and its refresh tokens rotate by the same
 * rules (sessions/refresh.ts).
 *   access token: RFC 9068 JWT (typ at+jwt, EdDSA), `aud` the client's API, `client_id`, `scope`
 *   refresh token: a JWT only usersvc reads (aud `<client audience>:refresh`)
 *   id_token: RS256 by default (the client may ask for EdDSA), `aud` the client id
 * The issuer is USERSVC_PUBLIC_URL exactly, never USERSVC_ISSUER, and every
 * token carries `client_id`: none is ever taken for one of usersvc's own.
 */
import { createHash } from "node:crypto";
import type { Core } from "../core.ts";
import { DomainError } from "../errors.ts";
import { findSessionWithUser, type SessionRow } from "../sessions/queries.ts";
import { isBlocked, toPublicUser, type UserRecord } from "../users/user-record.ts";
import { refreshAudienceOf, type VerifiedJwt } from "../tokens/token-service.ts";
import { isUuid } from "../uuid.ts";
import { audienceOf, type OAuthClient } from "./clients.ts";
import { OAuthError } from "./oauth-error.ts";
import { isRevokedToken } from "./revoked-tokens.ts";

export interface OAuthTokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
}

/** What the id_token says about the sign-in behind the grant. */
export interface SignIn {
  authTime: Date;
  amr: string[];
  nonce: string | null;
  /** The browser session that signed in: the id_token's `sid`, which RP-initiated logout names. */
  browserSessionId: string;
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

export function scopesOf(session: { scope: string | null }): string[] {
  return (session.scope ?? "").split(" ").filter(Boolean);
}

/** What a grant still releases: its scopes that the client may still have (a scope taken from the client leaves its live grants too). */
export function grantedScopes(session: { scope: string | null }, client: OAuthClient): string[] {
  return scopesOf(session).filter((scope) => client.scopes.includes(scope));
}

/** `acr`: what kind of proof the sign-in took (usersvc's own values, documented in docs/oidc.md). */
export function acrOf(amr: readonly string[]): string {
  return amr.includes("mfa") || amr.includes("otp") ? "urn:usersvc:acr:mfa" : "urn:usersvc:acr:pwd";
}

/** Tokens for a user's grant: access, refresh (if the client may refresh) and, with `openid` and a sign-in, an id_token. */
export async function mintGrantTokens(
  core: Core,
  client: OAuthClient,
  user: UserRecord,
  session: SessionRow,
  refreshJti: string,
  signIn: SignIn | null,
  /** A refresh's narrower scope (RFC 6749 §6): this access token's, while the grant keeps its own. */
  narrower?: string[],
): Promise<OAuthTokenResponse> {
  const { accessTtl, publicUrl } = core.config;
  const now = seconds(core.now());
  const granted = grantedScopes(session, client);
  const scopes = narrower ? granted.filter((scope) => narrower.includes(scope)) : granted;
  const hookClaims = await core.hooks.accessTokenClaims({
    user: toPublicUser(user, core.now()),
    session: { id: session.id },
    client: { id: client.id, name: client.name, scopes },
  });
  const access = core.tokens.signJwt(
    "EdDSA",
    { typ: "at+jwt" },
    {
      ...hookClaims,
      ...(scopes.includes("roles") ? { roles: user.roles } : {}),
      iss: publicUrl,
      sub: user.id,
      aud: audienceOf(client),
      client_id: client.id,
      scope: scopes.join(" "),
      sid: session.id,
      gen: session.generation,
      auth_time: session.authTime ? seconds(session.authTime) : undefined,
      jti: crypto.randomUUID(),
      iat: now,
      exp: now + accessTtl,
    },
  );
  const response: OAuthTokenResponse = { access_token: access, token_type: "Bearer", expires_in: accessTtl, scope: scopes.join(" ") };
  if (client.grantTypes.includes("refresh_token")) {
    const untilSessionEnds = Math.ceil((session.expiresAt.getTime() - core.now().getTime()) / 1000);
    const ttl = Math.max(1, Math.min(core.config.refreshTtl, untilSessionEnds));
    response.refresh_token = core.tokens.signJwt(
      "EdDSA",
      { typ: "JWT" },
      {
        iss: publicUrl,
        sub: user.id,
        aud: refreshAudienceOf(audienceOf(client)),
        client_id: client.id,
        type: "refresh",
        sid: session.id,
        gen: session.generation,
        jti: refreshJti,
        iat: now,
        exp: now + ttl,
      },
    );
  }
  if (signIn && scopes.includes("openid")) response.id_token = mintIdToken(core, client, user, scopes, signIn, access);
  return response;
}

function mintIdToken(core: Core, client: OAuthClient, user: UserRecord, scopes: string[], signIn: SignIn, accessToken: string): string {
  const now = seconds(core.now());
  const alg = client.idTokenAlg === "EdDSA" ? "EdDSA" : "RS256";
  // at_hash (Core §3.3.2.11): the left half of the access token's hash by the id_token's algorithm's hash (SHA-512 for Ed25519).
  const digest = createHash(alg === "RS256" ? "sha256" : "sha512").update(accessToken).digest();
  return core.tokens.signJwt(
    alg,
    { typ: "JWT" },
    {
      ...userClaims(user, scopes),
      iss: core.config.publicUrl,
      sub: user.id,
      aud: client.id,
      azp: client.id,
      iat: now,
      exp: now + core.config.accessTtl,
      auth_time: seconds(signIn.authTime),
      ...(signIn.nonce ? { nonce: signIn.nonce } : {}),
      amr: signIn.amr,
      acr: acrOf(signIn.amr),
      sid: signIn.browserSessionId,
      at_hash: digest.subarray(0, digest.length / 2).toString("base64url"),
    },
  );
}

/** The claims a scope releases (Core §5.4), for the id_token and userinfo alike. */
export function userClaims(user: UserRecord, scopes: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  if (scopes.includes("profile")) {
    claims.preferred_username = user.username;
    claims.updated_at = seconds(user.updatedAt);
  }
  if (scopes.includes("email")) {
    claims.email = user.email;
    claims.email_verified = user.isVerified;
  }
  if (scopes.includes("roles")) claims.roles = user.roles;
  return claims;
}

/** Tokens for a machine client (client_credentials): no user, no session, no refresh token. */
export function mintClientToken(core: Core, client: OAuthClient, scopes: string[]): OAuthTokenResponse {
  const now = seconds(core.now());
  const { accessTtl, publicUrl } = core.config;
  const access = core.tokens.signJwt(
    "EdDSA",
    { typ: "at+jwt" },
    { iss: publicUrl, sub: client.id, aud: audienceOf(client), client_id: client.id, scope: scopes.join(" "), jti: crypto.randomUUID(), iat: now, exp: now + accessTtl },
  );
  return { access_token: access, token_type: "Bearer", expires_in: accessTtl, scope: scopes.join(" ") };
}

export type CheckedToken =
  | { kind: "user_access"; jwt: VerifiedJwt; client: OAuthClient; user: UserRecord; session: SessionRow }
  | { kind: "client_access"; jwt: VerifiedJwt; client: OAuthClient }
  | { kind: "refresh"; jwt: VerifiedJwt; client: OAuthClient };

/**
 * A token of this provider, checked: the signature, issuer and expiry; the
 * client it names still exists and the audience is that client's; for a
 * user's token, the grant (session) is live and the user active. Revocation
 * reaches every instance as logout does (the auth cache). Throws
 * INVALID_TOKEN, TOKEN_EXPIRED or SESSION_REVOKED.
 */
export async function checkProviderToken(core: Core, token: string, options: { uncached?: boolean } = {}): Promise<CheckedToken> {
  if (token.length > 8192) throw new DomainError("INVALID_TOKEN");
  const jwt = await core.tokens.verifyJwt(token, { algorithms: ["EdDSA"], issuer: core.config.publicUrl });
  const { payload, header } = jwt;
  const clientId = typeof payload.client_id === "string" ? payload.client_id : null;
  const client = clientId ? await core.oidcClients.get(clientId) : null;
  if (!client || typeof payload.jti !== "string" || typeof payload.sub !== "string") throw new DomainError("INVALID_TOKEN");
  const audience = audienceOf(client);
  if (payload.type === "refresh") {
    if (header.typ === "at+jwt" || payload.aud !== refreshAudienceOf(audience)) throw new DomainError("INVALID_TOKEN");
    return { kind: "refresh", jwt, client };
  }
  if (header.typ !== "at+jwt" || payload.aud !== audience || payload.type !== undefined) throw new DomainError("INVALID_TOKEN");
  if (payload.sub === client.id && payload.sid === undefined) {
    if (await isRevokedToken(core.db, payload.jti)) throw new DomainError("SESSION_REVOKED");
    return { kind: "client_access", jwt, client };
  }
  const sid = payload.sid;
  if (typeof sid !== "string" || !isUuid(sid)) throw new DomainError("INVALID_TOKEN");
  const { user, session } = await liveGrant(core, sid, payload.sub, client.id, payload.gen, options.uncached === true);
  return { kind: "user_access", jwt, client, user, session };
}

/**
 * The grant behind a user's token, through the auth cache (as every
 * authenticated request is), or straight from the database (`uncached`:
 * introspection, whose answer must reflect a revocation on any instance at once).
 */
async function liveGrant(core: Core, sid: string, sub: string, clientId: string, gen: unknown, uncached: boolean): Promise<{ user: UserRecord; session: SessionRow }> {
  const read = () => findSessionWithUser(core.db, sid);
  const found = uncached ? await read() : await core.authCache.sessionWithUser(sid, read);
  const now = core.now();
  if (!found || found.session.userId !== sub || found.session.clientId !== clientId) throw new DomainError("SESSION_REVOKED");
  const { session, user } = found;
  if (session.revokedAt || session.expiresAt <= now || session.generation !== (typeof gen === "number" ? gen : 0)) {
    throw new DomainError("SESSION_REVOKED");
  }
  if (user.status === "deleted" || isBlocked(user, now)) throw new DomainError("SESSION_REVOKED");
  return { user, session };
}

/** A bearer token at userinfo (RFC 6750): a live user access token of a grant with `openid`. */
export async function userinfoPrincipal(core: Core, token: string): Promise<{ user: UserRecord; scopes: string[]; client: OAuthClient }> {
  let checked: CheckedToken;
  try {
    checked = await checkProviderToken(core, token);
  } catch {
    throw new OAuthError("invalid_token", "the access token is invalid, expired or revoked");
  }
  if (checked.kind !== "user_access") throw new OAuthError("invalid_token", "not an access token of a user");
  // The token's own scope (a refresh may have narrowed it), within what the grant still releases.
  const ofToken = typeof checked.jwt.payload.scope === "string" ? checked.jwt.payload.scope.split(" ") : [];
  const scopes = grantedScopes(checked.session, checked.client).filter((scope) => ofToken.includes(scope));
  if (!scopes.includes("openid")) throw new OAuthError("insufficient_scope", "the token was not granted the openid scope");
  return { user: checked.user, scopes, client: checked.client };
}
