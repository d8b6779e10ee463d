/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): which client
 * asks, whether its id_token_hint names the signed-in session, and where
 * the browser may go afterwards — only to a post_logout_redirect_uri
 * registered for that client, never anywhere else.
 */
import type { Core } from "../core.ts";
import type { OAuthClient } from "./clients.ts";
import { withParams } from "./authorize.ts";

export interface EndSessionRequest {
  client: OAuthClient | null;
  /** Where to send the browser once signed out (with `state`), or null: a page says it is done. */
  redirect: string | null;
  /** The hint's `sub` and `sid`, when it is a genuine id_token of this provider (expired or not). */
  hint: { sub: string; sid: string | null } | null;
  /** Set when the request cannot be honoured; shown on a page, never redirected. */
  error: string | null;
}

export async function parseEndSession(core: Core, input: Record<string, string | undefined>): Promise<EndSessionRequest> {
  const refuse = (error: string): EndSessionRequest => ({ client: null, redirect: null, hint: null, error });
  let hint: EndSessionRequest["hint"] = null;
  let hintClient: string | null = null;
  if (input.id_token_hint) {
    try {
      const { payload } = await core.tokens.verifyJwt(input.id_token_hint, { algorithms: ["RS256", "EdDSA"], issuer: core.config.publicUrl, anyAge: true });
      if (typeof payload.sub !== "string" || typeof payload.aud !== "string" || payload.client_id !== undefined) return refuse("id_token_hint is not an id_token");
      hint = { sub: payload.sub, sid: typeof payload.sid === "string" ? payload.sid : null };
      hintClient = payload.aud;
    } catch {
      return refuse("id_token_hint is not a valid id_token of this provider");
    }
  }
  if (input.client_id && hintClient && input.client_id !== hintClient) return refuse("client_id differs from the id_token_hint's audience");
  const clientId = hintClient ?? input.client_id ?? null;
  const client = clientId ? await core.oidcClients.get(clientId) : null;
  if (clientId && !client) return refuse("client_id is not a registered client");
  let redirect: string | null = null;
  const asked = input.post_logout_redirect_uri;
  if (asked) {
    if (!client) return refuse("post_logout_redirect_uri needs id_token_hint or client_id");
    if (!client.postLogoutRedirectUris.includes(asked)) return refuse("post_logout_redirect_uri is not registered for this client");
    redirect = withParams(asked, { state: input.state && input.state.length <= 2048 ? input.state : null });
  }
  return { client, redirect, hint, error: null };
}
