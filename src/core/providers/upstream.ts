/**
 * Talking to a provider with openid-client: the authorization URL (state,
 * nonce, PKCE S256), then the code exchange and who the person is there.
 * OpenID Connect (oidc, google): discovery, the id_token validated by
 * openid-client (signature from the issuer's JWKS, iss, aud, exp, nonce),
 * the email from the id_token or else from userinfo. GitHub: OAuth 2.0 and
 * its REST API; only the primary address, and only when GitHub says it is
 * verified, counts as the email.
 *
 * The discovery document is cached per provider for an hour; the JWKS is
 * fetched again at every sign-in (a new Configuration each time), so an
 * issuer's key rotation never locks anyone out. The provider's own tokens
 * are used once, here, and never stored.
 */
import * as oidc from "openid-client";
import type { Core } from "../core.ts";
import { DomainError } from "../errors.ts";
import { ProviderRefusal } from "./refusal.ts";
import { githubEmailsUrl } from "./presets.ts";
import { isLoopback, type ProviderRecord } from "./provider-admin.ts";

const DISCOVERY_TTL_MS = 60 * 60_000;
const TIMEOUT_SECONDS = 10;

/** Who the person is at the provider. `email` is null when the provider gave none (or, for GitHub, no verified primary). */
export interface UpstreamIdentity {
  subject: string;
  email: string | null;
  emailVerified: boolean;
  /** A name to derive a username from: preferred_username, GitHub's login, or null. */
  username: string | null;
}

export interface UpstreamChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

const discoveries = new WeakMap<Core, Map<string, { metadata: oidc.ServerMetadata; fetchedAt: number }>>();

export async function authorizationUrl(core: Core, provider: ProviderRecord, redirectUri: string, checks: UpstreamChecks): Promise<string> {
  const config = await configurationOf(core, provider);
  const parameters: Record<string, string> = {
    redirect_uri: redirectUri,
    scope: provider.scopes.join(" "),
    state: checks.state,
    code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
    code_challenge_method: "S256",
  };
  if (provider.type !== "github") parameters.nonce = checks.nonce;
  return oidc.buildAuthorizationUrl(config, parameters).href;
}

/**
 * The provider's answer at the callback (`callback`: the callback URL under
 * the public URL with the query the provider sent) checked and exchanged.
 * Any failure is INVALID_CREDENTIALS; the reason goes to the log only.
 */
export async function exchangeCode(core: Core, provider: ProviderRecord, callback: URL, checks: UpstreamChecks): Promise<UpstreamIdentity> {
  const log = core.logger.child({ module: "providers", provider: provider.id });
  try {
    const config = await configurationOf(core, provider);
    if (provider.type === "github") {
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: checks.codeVerifier, expectedState: checks.state });
      return await githubIdentity(provider, tokens.access_token);
    }
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: checks.codeVerifier,
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims()!;
    let source: Record<string, unknown> = claims;
    if (typeof claims.email !== "string" && config.serverMetadata().userinfo_endpoint) {
      source = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    }
    return {
      subject: claims.sub,
      email: typeof source.email === "string" && source.email !== "" ? source.email : null,
      // Only a JSON true: "true" as a string, or no claim, is not an assertion.
      emailVerified: source.email_verified === true,
      username: typeof source.preferred_username === "string" ? source.preferred_username : null,
    };
  } catch (error) {
    if (error instanceof DomainError) throw error;
    log.warn({ reason: reasonOf(error) }, "sign-in with a provider failed");
    throw new ProviderRefusal("INVALID_CREDENTIALS", `The sign-in with ${provider.displayName} did not succeed`, "failed", provider.displayName);
  }
}

async function githubIdentity(provider: ProviderRecord, accessToken: string): Promise<UpstreamIdentity> {
  const userinfoUrl = provider.userinfoUrl!;
  const headers = { authorization: `Bearer ${accessToken}`, accept: "application/vnd.github+json", "user-agent": "usersvc" };
  const get = async (url: string): Promise<unknown> => {
    const response = await fetch(url, { headers, redirect: "error", signal: AbortSignal.timeout(TIMEOUT_SECONDS * 1000) });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    return response.json();
  };
  const user = (await get(userinfoUrl)) as { id?: unknown; login?: unknown };
  if (typeof user.id !== "number" && typeof user.id !== "string") throw new Error("GitHub's /user has no id");
  const emails = await get(githubEmailsUrl(userinfoUrl));
  const primary = Array.isArray(emails) ? emails.find((e) => e && e.primary === true && e.verified === true && typeof e.email === "string") : undefined;
  return {
    subject: String(user.id),
    email: primary ? primary.email : null,
    emailVerified: primary !== undefined,
    username: typeof user.login === "string" ? user.login : null,
  };
}

/** A new Configuration per use (so its JWKS cache is new too), from the cached discovery document. */
async function configurationOf(core: Core, provider: ProviderRecord): Promise<oidc.Configuration> {
  const base: oidc.ServerMetadata = provider.type === "github" ? { issuer: new URL(provider.authorizationUrl!).origin } : await discovered(core, provider);
  const metadata: oidc.ServerMetadata = {
    ...base,
    ...(provider.authorizationUrl ? { authorization_endpoint: provider.authorizationUrl } : {}),
    ...(provider.tokenUrl ? { token_endpoint: provider.tokenUrl } : {}),
    ...(provider.userinfoUrl ? { userinfo_endpoint: provider.userinfoUrl } : {}),
  };
  const methods = metadata.token_endpoint_auth_methods_supported;
  const auth = methods && !methods.includes("client_secret_post") && methods.includes("client_secret_basic")
    ? oidc.ClientSecretBasic(provider.clientSecret)
    : oidc.ClientSecretPost(provider.clientSecret);
  const config = new oidc.Configuration(metadata, provider.clientId, { client_secret: provider.clientSecret }, auth);
  config.timeout = TIMEOUT_SECONDS;
  if (insecureAllowed(provider)) oidc.allowInsecureRequests(config);
  return config;
}

async function discovered(core: Core, provider: ProviderRecord): Promise<oidc.ServerMetadata> {
  let cache = discoveries.get(core);
  if (!cache) discoveries.set(core, (cache = new Map()));
  const key = `${provider.id}\n${provider.issuer}\n${provider.updatedAt.getTime()}`;
  const hit = cache.get(key);
  if (hit && Date.now() - hit.fetchedAt < DISCOVERY_TTL_MS) return hit.metadata;
  const execute = insecureAllowed(provider) ? [oidc.allowInsecureRequests] : [];
  const config = await oidc.discovery(new URL(provider.issuer!), provider.clientId, { client_secret: provider.clientSecret }, undefined, {
    execute,
    timeout: TIMEOUT_SECONDS,
  });
  const metadata = config.serverMetadata();
  for (const stale of cache.keys()) if (stale.startsWith(`${provider.id}\n`)) cache.delete(stale);
  cache.set(key, { metadata, fetchedAt: Date.now() });
  return metadata;
}

/** Plain http only when every endpoint of the provider is on loopback (a test or development issuer). */
function insecureAllowed(provider: ProviderRecord): boolean {
  const urls = [provider.issuer, provider.authorizationUrl, provider.tokenUrl, provider.userinfoUrl].filter((u): u is string => u !== null);
  return urls.some((u) => u.startsWith("http://")) && urls.every((u) => isLoopback(new URL(u)));
}

/** The error's own words (openid-client's code and the provider's error), never a token or secret. */
function reasonOf(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { error: String(error) };
  const e = error as Error & { code?: unknown; error?: unknown; error_description?: unknown; cause?: unknown };
  // openid-client wraps oauth4webapi's error, whose message names the check (the claim, the parameter).
  const detail = e.cause instanceof Error ? e.cause.message : undefined;
  return { message: e.message, detail, code: e.code, error: e.error, error_description: e.error_description };
}
