/**
 * The token endpoint's grants (RFC 6749 §3.2, OAuth 2.1 §3.2): who the
 * client is, then authorization_code, refresh_token or client_credentials.
 * Revocation (RFC 7009) and introspection (RFC 7662) authenticate clients
 * the same way.
 */
import type { Core } from "../core.ts";
import { DomainError } from "../errors.ts";
import { throttle } from "../rate-limits/throttle.ts";
import { findSession, revokeSession } from "../sessions/queries.ts";
import { spendRefreshToken } from "../sessions/refresh.ts";
import type { ClientInfo } from "../sessions/session-tokens.ts";
import { audienceOf, clientSecretMatches, isPublicClient, type OAuthClient } from "./clients.ts";
import { exchangeCode } from "./codes.ts";
import { checkProviderToken, grantedScopes, mintClientToken, mintGrantTokens, type OAuthTokenResponse } from "./grant-tokens.ts";
import { OAuthError } from "./oauth-error.ts";
import { revokeToken } from "./revoked-tokens.ts";

/** How a client said who it is: HTTP Basic (client_secret_basic) and/or the form's fields (client_secret_post, none). */
export interface ClientCredentials {
  basic: { id: string; secret: string } | null;
  clientId: string | undefined;
  clientSecret: string | undefined;
}

/**
 * The client of a token, revocation or introspection request. One method
 * only (RFC 6749 §2.3); a public client names itself and has no secret.
 * `invalid_client` tells nothing of which part was wrong.
 */
export async function authenticateClient(core: Core, credentials: ClientCredentials): Promise<OAuthClient> {
  const { basic, clientId, clientSecret } = credentials;
  if (basic && (clientSecret !== undefined || (clientId !== undefined && clientId !== basic.id))) {
    throw new OAuthError("invalid_request", "use one client authentication method");
  }
  const id = basic?.id ?? clientId;
  const secret = basic?.secret ?? clientSecret;
  const refused = new OAuthError("invalid_client", "client authentication failed");
  if (!id) throw refused;
  const client = await core.oidcClients.get(id);
  if (!client) throw refused;
  if (isPublicClient(client)) {
    if (secret !== undefined && secret !== "") throw refused;
    return client;
  }
  if (secret === undefined || !clientSecretMatches(client, secret)) throw refused;
  return client;
}

export type TokenRequest = Record<string, string | undefined>;

export async function tokenGrant(core: Core, client: OAuthClient, form: TokenRequest, from: ClientInfo): Promise<OAuthTokenResponse> {
  const grantType = form.grant_type;
  if (!grantType) throw new OAuthError("invalid_request", "grant_type is missing");
  if (grantType !== "authorization_code" && grantType !== "refresh_token" && grantType !== "client_credentials") {
    throw new OAuthError("unsupported_grant_type", `grant_type ${grantType} is not supported`);
  }
  if (!client.grantTypes.includes(grantType)) throw new OAuthError("unauthorized_client", `this client may not use ${grantType}`);
  if (grantType === "authorization_code") {
    return exchangeCode(core, client, { code: form.code ?? "", redirectUri: form.redirect_uri, codeVerifier: form.code_verifier }, from);
  }
  if (grantType === "refresh_token") return refreshGrant(core, client, form, from);
  return clientCredentialsGrant(core, client, form);
}

/** Rotation, grace and reuse detection exactly as usersvc's own refresh (SPEC §4): one rule for both. */
async function refreshGrant(core: Core, client: OAuthClient, form: TokenRequest, from: ClientInfo): Promise<OAuthTokenResponse> {
  await throttle(core, "refresh", from.ip);
  const invalid = new OAuthError("invalid_grant", "the refresh token is invalid, expired or revoked");
  let checked;
  try {
    checked = await checkProviderToken(core, form.refresh_token ?? "");
  } catch {
    throw invalid;
  }
  if (checked.kind !== "refresh" || checked.client.id !== client.id) throw invalid;
  const { payload } = checked.jwt;
  // A narrower scope may be asked for (RFC 6749 §6); never a wider one. Judged before the token is spent:
  // a refused request must leave it usable, or the client's next refresh would revoke the grant as reused.
  const asked = form.scope?.split(" ").filter(Boolean);
  if (asked) {
    const grant = await findSession(core.db, String(payload.sid));
    if (grant && asked.some((scope) => !grantedScopes(grant, client).includes(scope))) {
      throw new OAuthError("invalid_scope", "a refresh cannot widen the scope");
    }
  }
  try {
    const claims = { sid: String(payload.sid), sub: String(payload.sub), jti: String(payload.jti), gen: typeof payload.gen === "number" ? payload.gen : 0 };
    const { user, session, nextJti } = await spendRefreshToken(core, claims, client.id, from);
    // No id_token on refresh (Core §12.2 allows it): the RS256 signature would double the grant's cost.
    return mintGrantTokens(core, client, user, session, nextJti, null, asked);
  } catch (error) {
    if (error instanceof DomainError) {
      throw new OAuthError("invalid_grant", error.code === "REFRESH_TOKEN_REUSED" ? "the refresh token was already used; the grant is revoked" : invalid.description);
    }
    throw error;
  }
}

function clientCredentialsGrant(core: Core, client: OAuthClient, form: TokenRequest): OAuthTokenResponse {
  if (isPublicClient(client)) throw new OAuthError("unauthorized_client", "a public client cannot use client_credentials");
  // Scopes about a user mean nothing without one.
  const userScopes = new Set(["openid", "offline_access", "profile", "email", "roles"]);
  const asked = (form.scope ?? "").split(" ").filter(Boolean);
  const refused = asked.filter((scope) => userScopes.has(scope) || !client.scopes.includes(scope));
  if (refused.length > 0) throw new OAuthError("invalid_scope", `not available to client_credentials: ${refused.join(" ")}`);
  return mintClientToken(core, client, asked);
}

/**
 * RFC 7009: a user's token (access or refresh) ends its whole grant; a
 * machine token is listed as revoked until it expires. A token that is not
 * the caller's, or not valid, is answered the same (200, nothing done).
 */
export async function revokeClientToken(core: Core, client: OAuthClient, token: string): Promise<void> {
  let checked;
  try {
    checked = await checkProviderToken(core, token);
  } catch {
    return;
  }
  if (checked.client.id !== client.id) return;
  const { payload } = checked.jwt;
  if (checked.kind === "client_access") {
    await revokeToken(core.db, String(payload.jti), new Date(Number(payload.exp) * 1000));
    return;
  }
  await revokeSession(core.db, String(payload.sid), "revoked_by_client", core.now());
}

/**
 * RFC 7662: what a token is, for its own (confidential) client or for the
 * API it was issued to (a confidential client whose audience is the token's). Anything else,
 * including every token that stopped working, is `{active: false}`.
 */
export async function introspect(core: Core, caller: OAuthClient, token: string): Promise<Record<string, unknown>> {
  // Anyone can name a public client: it cannot prove it is the API a token was issued for (RFC 7662 §2.1).
  if (isPublicClient(caller)) throw new OAuthError("invalid_client", "a public client cannot introspect tokens");
  let checked;
  try {
    checked = await checkProviderToken(core, token, { uncached: true });
  } catch {
    return { active: false };
  }
  const { payload } = checked.jwt;
  const mayKnow = checked.client.id === caller.id || payload.aud === audienceOf(caller);
  if (!mayKnow) return { active: false };
  if (checked.kind === "refresh") {
    // A refresh token is live only while it is its grant's current one (or within the grace).
    const session = await findSession(core.db, String(payload.sid));
    const now = core.now();
    if (!session || session.revokedAt || session.expiresAt <= now || session.refreshJti !== payload.jti || session.clientId !== checked.client.id) {
      return { active: false };
    }
  }
  const user = checked.kind === "user_access" ? checked.user : null;
  return {
    active: true,
    scope: typeof payload.scope === "string" ? payload.scope : undefined,
    client_id: checked.client.id,
    sub: payload.sub,
    ...(user ? { username: user.username } : {}),
    token_type: checked.kind === "refresh" ? "refresh_token" : "Bearer",
    exp: payload.exp,
    iat: payload.iat,
    iss: payload.iss,
    aud: payload.aud,
    jti: payload.jti,
    ...(payload.sid ? { sid: payload.sid } : {}),
  };
}
