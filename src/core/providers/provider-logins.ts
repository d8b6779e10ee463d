/**
 * A sign-in with a provider under way (provider_logins): created when the
 * browser leaves for the provider, spent once when it comes back. The state
 * is 32 random bytes, stored as its SHA-256; nonce and PKCE verifier stay
 * here, never in the browser.
 */
import { randomBytes } from "node:crypto";
import { lt, eq } from "drizzle-orm";
import * as oidc from "openid-client";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { providerLogins } from "../db/schema.ts";
import { sha256Hex } from "../digest.ts";
import { ProviderRefusal } from "./refusal.ts";
import { callbackUrl, type ProviderRecord } from "./provider-admin.ts";
import { authorizationUrl } from "./upstream.ts";

export const PROVIDER_LOGIN_TTL_SECONDS = 10 * 60;

export type ProviderLogin = typeof providerLogins.$inferSelect;

export interface StartedProviderLogin {
  /** Goes to the provider, and into the browser's cookie so the callback must come back to the same browser. */
  state: string;
  /** The provider's authorization URL. */
  url: string;
}

/** `link`: linking from /account, to this user, only while this browser session lasts. */
export async function startProviderLogin(
  core: Core,
  provider: ProviderRecord,
  options: { returnTo: string | null; link?: { userId: string; sessionId: string } },
): Promise<StartedProviderLogin> {
  const state = randomBytes(32).toString("base64url");
  const nonce = oidc.randomNonce();
  const codeVerifier = oidc.randomPKCECodeVerifier();
  let url: string;
  try {
    url = await authorizationUrl(core, provider, callbackUrl(core, provider.id), { state, nonce, codeVerifier });
  } catch (error) {
    // The issuer's discovery did not answer, or not as an issuer should.
    core.logger.child({ module: "providers", provider: provider.id }).warn({ reason: error instanceof Error ? error.message : String(error) }, "provider discovery failed");
    throw new ProviderRefusal("INVALID_CREDENTIALS", `The sign-in with ${provider.displayName} did not succeed`, "failed", provider.displayName);
  }
  const now = core.now();
  await core.db.insert(providerLogins).values({
    stateHash: sha256Hex(state),
    providerId: provider.id,
    nonce,
    codeVerifier,
    returnTo: options.returnTo,
    linkUserId: options.link?.userId ?? null,
    linkSessionId: options.link?.sessionId ?? null,
    expiresAt: new Date(now.getTime() + PROVIDER_LOGIN_TTL_SECONDS * 1000),
    createdAt: now,
  });
  return { state, url };
}

/**
 * Spends the sign-in `state` names, once (a replayed callback finds nothing).
 * Unknown, expired or begun with another provider: INVALID_OR_EXPIRED_TOKEN.
 */
export async function spendProviderLogin(core: Core, providerName: string, state: string): Promise<ProviderLogin> {
  const [login] = await core.db.delete(providerLogins).where(eq(providerLogins.stateHash, sha256Hex(state))).returning();
  if (!login || login.providerId !== providerName || login.expiresAt <= core.now()) {
    throw new ProviderRefusal("INVALID_OR_EXPIRED_TOKEN", "This sign-in is unknown, expired or already used: start it again", "unknown_login", null);
  }
  return login;
}

/** Sign-ins that were never finished (swept by the maintenance timer). */
export async function sweepExpiredProviderLogins(db: Db, now: Date): Promise<void> {
  await db.delete(providerLogins).where(lt(providerLogins.expiresAt, now));
}
