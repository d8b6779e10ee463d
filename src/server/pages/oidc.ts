/**
 * The provider's browser-facing endpoints (SPEC §9): the authorization
 * endpoint, /consent and RP-initiated logout. They run on the pages'
 * browser sessions, so signing in for a client is signing in on /login.
 */
import { type AuthorizationRequest, consentMayBeRemembered, decide, errorRedirect, parseAuthorizationRequest } from "../../core/oidc/authorize.ts";
import { grantConsent } from "../../core/oidc/consents.ts";
import { OIDC_PATHS } from "../../core/oidc/discovery.ts";
import { parseEndSession } from "../../core/oidc/end-session.ts";
import { OAuthError } from "../../core/oidc/oauth-error.ts";
import { logout } from "../../core/sessions/own-sessions.ts";
import type { PageCall } from "./page-call.ts";

export async function authorize(call: PageCall): Promise<Response> {
  const input = call.request.method === "POST" ? call.form : queryOnce(call.request.url);
  if (input === null) return refusal(call, new OAuthError("invalid_request", "a parameter is given more than once"));
  const parsed = await parseAuthorizationRequest(call.pages.core, input);
  if (!parsed.ok) return parsed.redirect ? call.redirect(parsed.redirect) : refusal(call, parsed.error);
  const { request } = parsed;
  const decision = await decide(call.pages.core, request, call.principal);
  if (decision.kind === "redirect") return call.redirect(decision.location);
  if (decision.kind === "consent") return call.redirect(`${call.url("/consent")}?${new URLSearchParams(request.params)}`);
  // Back here once signed in; without what asked for the sign-in, which the new session now answers.
  const back = authorizeUrl(call, request, ["prompt", "max_age"]);
  const login = new URLSearchParams({ return_to: back });
  if (decision.again) login.set("prompt", "login");
  if (request.loginHint) login.set("login_hint", request.loginHint);
  if (request.uiLocales) login.set("ui_locales", request.uiLocales);
  return call.redirect(`${call.url("/login")}?${login}`);
}

export async function showConsent(call: PageCall): Promise<Response> {
  const found = await consentRequest(call, call.query);
  if (found instanceof Response) return found;
  return consentPage(call, found);
}

export async function submitConsent(call: PageCall): Promise<Response> {
  const found = await consentRequest(call, call.form);
  if (found instanceof Response) return found;
  try {
    call.checkForm();
  } catch (error) {
    return call.renderError("consent", error, consentData(call, found));
  }
  const { core } = call.pages;
  if (call.field("decision") !== "allow") {
    return call.redirect(errorRedirect(core, found.redirectUri, found.state, new OAuthError("access_denied", "the user denied the request")));
  }
  await grantConsent(core, call.principal!.user, found.client, found.scopes, call.client);
  // A consent that is not remembered (a public client on a loopback port or a private-use scheme) answers this
  // request alone: the code is issued here, since back at the authorization endpoint it would be asked for again.
  if (!consentMayBeRemembered(found)) {
    const decision = await decide(core, found, call.principal, { consentGiven: true });
    if (decision.kind === "redirect") return call.redirect(decision.location);
  }
  return call.redirect(authorizeUrl(call, found, ["prompt"]));
}

/** The authorization request behind /consent, checked again: the page is reachable by anyone with any query. */
async function consentRequest(call: PageCall, input: Record<string, string | undefined>): Promise<AuthorizationRequest | Response> {
  const parsed = await parseAuthorizationRequest(call.pages.core, input);
  if (!parsed.ok) return parsed.redirect ? call.redirect(parsed.redirect) : refusal(call, parsed.error);
  const { request } = parsed;
  if (!call.principal) return call.redirect(authorizeUrl(call, request, []));
  await call.allowClientRedirect(request.client.id, request.redirectUri);
  return request;
}

function consentPage(call: PageCall, request: AuthorizationRequest): Response {
  return call.render("consent", consentData(call, request));
}

function consentData(call: PageCall, request: AuthorizationRequest): Record<string, unknown> {
  return {
    client: { name: request.client.name },
    scopes: request.scopes.map((scope) => ({ scope, label: call.t(`consent.scope.${scope}`) })),
    hidden: { ...request.params },
  };
}

export async function endSession(call: PageCall): Promise<Response> {
  const { core } = call.pages;
  const post = call.request.method === "POST";
  const input = post ? call.form : queryOnce(call.request.url);
  if (input === null) return refusal(call, new OAuthError("invalid_request", "a parameter is given more than once"));
  const request = await parseEndSession(core, input);
  if (request.error) return refusal(call, new OAuthError("invalid_request", request.error));
  const done = (): Response =>
    request.redirect ? call.redirect(request.redirect) : call.render("message", { title: call.t("oidc.logout.done.title"), paragraphs: [call.t("oidc.logout.done.body")] });
  const { principal } = call;
  if (!principal) return done();
  if (request.redirect) await call.allowClientRedirect(request.client?.id ?? null, input.post_logout_redirect_uri ?? null);
  // The client's own id_token for this very session: the request is the client's, not a forged link.
  const named = request.hint !== null && request.hint.sub === principal.user.id && request.hint.sid === principal.session.id;
  // Anything else asks first: a link on any site must not sign people out.
  if (!named && !(post && call.field("csrf_token") !== undefined)) {
    const hidden: Record<string, string> = {};
    for (const name of ["id_token_hint", "post_logout_redirect_uri", "state", "client_id"]) if (input[name]) hidden[name] = input[name]!;
    return call.render("logout", { client: request.client ? { name: request.client.name } : null, hidden });
  }
  if (!named) {
    try {
      call.checkForm();
    } catch (error) {
      return call.renderError("message", error, { title: call.t("oidc.error.title") });
    }
  }
  await logout(core, principal, call.client);
  call.signedOut();
  return done();
}

/** The query's parameters, or null when one is repeated (RFC 6749 §3.1: such a request is invalid). */
function queryOnce(url: string): Record<string, string> | null {
  const params = new URL(url).searchParams;
  const once: Record<string, string> = {};
  for (const [name, value] of params) {
    if (name in once) return null;
    once[name] = value;
  }
  return once;
}

function authorizeUrl(call: PageCall, request: AuthorizationRequest, without: string[]): string {
  const params = new URLSearchParams(request.params);
  for (const name of without) params.delete(name);
  return `${call.url(OIDC_PATHS.authorization)}?${params}`;
}

/** An error the client must not receive (its identity or redirect URI is not genuine): shown to the person instead. */
function refusal(call: PageCall, error: OAuthError): Response {
  return call.render(
    "message",
    { title: call.t("oidc.error.title"), error: { code: error.error, message: error.description, fields: {} }, paragraphs: [call.t("oidc.error.body")] },
    error.status,
  );
}
