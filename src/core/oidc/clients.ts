/**
 * OpenID Connect clients as the protocol sees them (SPEC §9): looking one
 * up, authenticating it at the token endpoint, and matching its redirect
 * URIs. Creating, changing and removing clients is client-admin.ts.
 */
import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { oauthClients } from "../db/schema.ts";
import { sameSecret, sha256Hex } from "../digest.ts";

export type OAuthClient = typeof oauthClients.$inferSelect;

export const GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"] as const;
export type GrantType = (typeof GRANT_TYPES)[number];
export const SCOPES = ["openid", "profile", "email", "offline_access", "roles"] as const;
export const ID_TOKEN_ALGS = ["RS256", "EdDSA"] as const;

export function isPublicClient(client: OAuthClient): boolean {
  return client.secretHash === null;
}

/** The `aud` of the client's access tokens (RFC 9068). */
export function audienceOf(client: OAuthClient): string {
  return client.audience ?? client.id;
}

export async function findClient(db: Db, clientId: string): Promise<OAuthClient | null> {
  // A NUL (a Basic header may carry one, percent-encoded) is no client's id, and the database refuses it as text.
  if (!clientId || clientId.length > 128 || clientId.includes("\u0000")) return null;
  const [row] = await db.select().from(oauthClients).where(eq(oauthClients.id, clientId)).limit(1);
  return row ?? null;
}

/** A new client secret: 256 random bits, shown once. */
export function generateClientSecret(): { secret: string; hash: string } {
  const secret = randomBytes(32).toString("base64url");
  return { secret, hash: sha256Hex(secret) };
}

/** Whether `secret` is the client's secret (a public client has none and never matches). */
export function clientSecretMatches(client: OAuthClient, secret: string): boolean {
  return client.secretHash !== null && secret.length <= 512 && sameSecret(sha256Hex(secret), client.secretHash);
}

/**
 * Whether a redirect URI is registered for the client: an exact string
 * match, except that a registered `http://127.0.0.1:<port>/path` or
 * `http://[::1]:<port>/path` matches the same URI on any port (RFC 8252 §7.3:
 * a native app's loopback listener gets whatever port is free).
 */
export function redirectUriAllowed(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  const asked = loopback(requested);
  if (!asked) return false;
  return registered.some((uri) => {
    const known = loopback(uri);
    return known !== null && known.rest === asked.rest && known.host === asked.host;
  });
}

function loopback(uri: string): { host: string; rest: string } | null {
  const match = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?([/?#].*)?$/.exec(uri);
  // A port past 65535 is no URL at all: it would fail later, where the code is sent (a 500).
  if (!match || Number(match[2] ?? 0) > 65535) return null;
  return { host: match[1]!, rest: match[3] ?? "" };
}
