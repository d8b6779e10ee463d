/**
 * The authorization endpoint's decisions (OpenID Connect Core §3.1.2,
 * OAuth 2.1 §4.1): whether the request is sound, whether the browser must
 * sign in (again) or consent first, and the code sent back to the client.
 * HTTP (where the browser goes) is server/oidc's business.
 */
import type { Core } from "../core.ts";
import { sha256Hex } from "../digest.ts";
import type { Principal } from "../sessions/session-tokens.ts";
import { isPublicClient, type OAuthClient, redirectUriAllowed, SCOPES } from "./clients.ts";
import { CODE_TYP, codeAudience } from "./codes.ts";
import { hasConsent } from "./consents.ts";
import { OAuthError } from "./oauth-error.ts";

/** How long a code lives: the exchange follows the redirect at once. */
export const CODE_TTL_SECONDS = 60;
const PROMPTS = new Set(["none", "login", "consent", "select_account"]);
/** Parameters this provider acts on; any other one is ignored (Core §3.1.2.1) and not carried through sign-in. */
const KNOWN_PARAMS = [
  "client_id",
  "redirect_uri",
  "response_type",
  "response_mode",
  "scope",
  "state",
  "nonce",
  "code_challenge",
  "code_challenge_method",
  "prompt",
  "max_age",
  "login_hint",
  "ui_locales",
  "id_token_hint",
  "display",
  "claims_locales",
  "acr_values",
];

export interface AuthorizationRequest {
  client: OAuthClient;
  redirectUri: string;
  state: string | null;
  scopes: string[];
  nonce: string | null;
  codeChallenge: string;
  prompt: Set<string>;
  maxAge: number | null;
  loginHint: string | null;
  uiLocales: string | null;
  /** The known parameters as received: how the browser comes back here after signing in or consenting. */
  params: Record<string, string>;
}

export type Parsed =
  | { ok: true; request: AuthorizationRequest }
  /** `redirect`: where the error goes (the client's redirect URI); null: shown on a page, never redirected. */
  | { ok: false; error: OAuthError; redirect: string | null };

/**
 * Checks an authorization request. Until the client and its redirect URI are
 * known to be genuine, an error is shown to the user, never redirected
 * (RFC 6749 §4.1.2.1): otherwise this endpoint would be an open redirector.
 */
export async function parseAuthorizationRequest(core: Core, input: Record<string, string | undefined>): Promise<Parsed> {
  const params: Record<string, string> = {};
  for (const name of KNOWN_PARAMS) {
    const value = input[name];
    if (typeof value === "string" && value !== "") params[name] = value;
  }
  const pageError = (description: string): Parsed => ({ ok: false, error: new OAuthError("invalid_request", description), redirect: null });
  if (!params.client_id) return pageError("client_id is missing");
  const client = await core.oidcClients.get(params.client_id);
  if (!client) return pageError("client_id is not a registered client");
  const redirectUri = params.redirect_uri;
  if (!redirectUri) return pageError("redirect_uri is missing");
  if (!redirectUriAllowed(client.redirectUris, redirectUri)) return pageError("redirect_uri is not registered for this client");

  const state = params.state ?? null;
  const fail = (error: OAuthError): Parsed => ({ ok: false, error, redirect: errorRedirect(core, redirectUri, state, error) });
  if (input.request !== undefined) return fail(new OAuthError("request_not_supported", "request objects are not supported"));
  if (input.request_uri !== undefined) return fail(new OAuthError("request_uri_not_supported", "request_uri is not supported"));
  if (!params.response_type) return fail(new OAuthError("invalid_request", "response_type is missing"));
  if (params.response_type !== "code") return fail(new OAuthError("unsupported_response_type", "only response_type=code is supported"));
  if (params.response_mode && params.response_mode !== "query") return fail(new OAuthError("invalid_request", "only response_mode=query is supported"));
  if (!client.grantTypes.includes("authorization_code")) {
    return fail(new OAuthError("unauthorized_client", "this client may not use the authorization code grant"));
  }
  // PKCE S256 for every client (OAuth 2.1): no challenge, or `plain`, is refused.
  if (!params.code_challenge) return fail(new OAuthError("invalid_request", "code_challenge is required (PKCE with S256)"));
  if (params.code_challenge_method !== "S256") return fail(new OAuthError("invalid_request", "code_challenge_method must be S256"));
  if (!/^[A-Za-z0-9_-]{43}$/.test(params.code_challenge)) {
    return fail(new OAuthError("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier"));
  }

  // Scopes this provider does not know are ignored (RFC 6749 §3.3); a known one the client may not have is an error.
  const asked = [...new Set((params.scope ?? "").split(" ").filter((s) => (SCOPES as readonly string[]).includes(s)))];
  const refused = asked.filter((s) => !client.scopes.includes(s));
  if (refused.length > 0) return fail(new OAuthError("invalid_scope", `this client may not ask for: ${refused.join(" ")}`));

  const prompt = new Set((params.prompt ?? "").split(" ").filter(Boolean));
  if ([...prompt].some((p) => !PROMPTS.has(p))) return fail(new OAuthError("invalid_request", "prompt has an unknown value"));
  if (prompt.has("none") && prompt.size > 1) return fail(new OAuthError("invalid_request", "prompt=none cannot be combined"));
  let maxAge: number | null = null;
  if (params.max_age !== undefined) {
    if (!/^\d{1,10}$/.test(params.max_age)) return fail(new OAuthError("invalid_request", "max_age must be a whole number of seconds"));
    maxAge = Number(params.max_age);
  }
  if (params.nonce && params.nonce.length > 512) return fail(new OAuthError("invalid_request", "nonce is longer than 512 characters"));
  if (state && state.length > 2048) return fail(new OAuthError("invalid_request", "state is longer than 2048 characters"));
  // A hint is only a convenience: one longer than an email address can be is dropped, not carried to /login.
  if (params.login_hint && params.login_hint.length > 320) delete params.login_hint;

  return {
    ok: true,
    request: {
      client,
      redirectUri,
      state,
      scopes: asked,
      nonce: params.nonce ?? null,
      codeChallenge: params.code_challenge,
      prompt,
      maxAge,
      loginHint: params.login_hint ?? null,
      uiLocales: params.ui_locales ?? null,
      params,
    },
  };
}

export type Decision =
  /** Sign in first; `again`: even with a session (prompt=login, or max_age passed). */
  | { kind: "sign_in"; again: boolean }
  | { kind: "consent" }
  /** Back to the client: with a code, or with an error. */
  | { kind: "redirect"; location: string };

/** What the browser needs next, given who is signed in (`consentGiven`: the person has just allowed this very request on /consent). */
export async function decide(core: Core, request: AuthorizationRequest, principal: Principal | null, options: { consentGiven?: boolean } = {}): Promise<Decision> {
  const none = request.prompt.has("none");
  const back = (error: OAuthError): Decision => ({ kind: "redirect", location: errorRedirect(core, request.redirectUri, request.state, error) });
  if (!principal) return none ? back(new OAuthError("login_required", "the user is not signed in")) : { kind: "sign_in", again: false };
  const stale = request.maxAge !== null && core.now().getTime() - signedInAt(principal).getTime() > request.maxAge * 1000;
  if (request.prompt.has("login") || stale) {
    return none ? back(new OAuthError("login_required", "the sign-in is older than max_age")) : { kind: "sign_in", again: true };
  }
  const consented =
    request.client.skipConsent ||
    options.consentGiven === true ||
    (!request.prompt.has("consent") && consentMayBeRemembered(request) && (await hasConsent(core.db, principal.user.id, request.client.id, request.scopes)));
  if (!consented) return none ? back(new OAuthError("consent_required", "the user has not consented to this client")) : { kind: "consent" };
  return { kind: "redirect", location: await issueCode(core, request, principal) };
}

/**
 * Whether consent given before answers this request. Not for a public client
 * sending the code to a loopback port or a private-use scheme: any program on
 * the device can listen there and present the client's id with its own PKCE
 * (RFC 8252 §8.6), so the person is asked each time, as such a client may
 * not skip consent either (client-admin.ts).
 */
export function consentMayBeRemembered(request: AuthorizationRequest): boolean {
  return !isPublicClient(request.client) || request.redirectUri.startsWith("https://");
}

/** When the browser session's user signed in: `auth_time`. */
export function signedInAt(principal: Principal): Date {
  return principal.session.createdAt;
}

/**
 * A code and the redirect that carries it. The code is the request itself,
 * signed (codes.ts: CODE_TYP), so issuing one writes nothing; its single use
 * is recorded when it is exchanged.
 */
async function issueCode(core: Core, request: AuthorizationRequest, principal: Principal): Promise<string> {
  const now = Math.floor(core.now().getTime() / 1000);
  const code = core.tokens.signJwt(
    "EdDSA",
    { typ: CODE_TYP },
    {
      iss: core.config.publicUrl,
      aud: codeAudience(core),
      client_id: request.client.id,
      sub: principal.user.id,
      sid: principal.session.id,
      // The redirect URI by its digest: the exchange must name the same one, and a long URI stays out of the code.
      ruh: sha256Hex(request.redirectUri),
      scope: request.scopes.join(" "),
      ...(request.nonce ? { nonce: request.nonce } : {}),
      code_challenge: request.codeChallenge,
      auth_time: Math.floor(signedInAt(principal).getTime() / 1000),
      amr: principal.session.amr ?? ["pwd"],
      jti: crypto.randomUUID(),
      iat: now,
      exp: now + CODE_TTL_SECONDS,
    },
  );
  return withParams(request.redirectUri, { code, state: request.state, iss: core.config.publicUrl });
}

/** The client's redirect URI with an error (and `iss`, RFC 9207, so a client can tell providers apart). */
export function errorRedirect(core: Core, redirectUri: string, state: string | null, error: OAuthError): string {
  return withParams(redirectUri, { error: error.error, error_description: error.description, state, iss: core.config.publicUrl });
}

export function withParams(uri: string, params: Record<string, string | null>): string {
  const url = new URL(uri);
  for (const [name, value] of Object.entries(params)) if (value !== null) url.searchParams.set(name, value);
  return url.href;
}
