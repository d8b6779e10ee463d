/**
 * Signing in with a provider on the pages (SPEC §10): the buttons of /login
 * and /register, GET /login/provider/:name (off to the provider), its
 * callback, and the linked accounts of /account (link, unlink).
 *
 * The state goes to the provider and into a short-lived cookie: a callback
 * is taken only in the browser that started it, so nobody can make another
 * person's browser finish a sign-in (or a link) they began themselves.
 */
import { sameSecret } from "../../core/digest.ts";
import { DomainError } from "../../core/errors.ts";
import { unlinkIdentity } from "../../core/providers/identities.ts";
import { findProvider, PROVIDER_NAME } from "../../core/providers/provider-admin.ts";
import { PROVIDER_LOGIN_TTL_SECONDS, startProviderLogin } from "../../core/providers/provider-logins.ts";
import { completeProviderSignIn } from "../../core/providers/provider-sign-in.ts";
import { ProviderRefusal } from "../../core/providers/refusal.ts";
import { throttle } from "../../core/rate-limits/throttle.ts";
import { type BrowserSession, startBrowserSession } from "../../core/sessions/browser-sessions.ts";
import { logout } from "../../core/sessions/own-sessions.ts";
import { requirePrivileged } from "../../core/sessions/step-up.ts";
import { HTTP_STATUS } from "../errors.ts";
import { accountForm, actorOf, stepUpPassword } from "./account.ts";
import type { PageCall } from "./page-call.ts";

/** GET /login/provider/:name: a new sign-in under way, and off to the provider. */
export async function startProviderSignIn(call: PageCall, name: string): Promise<Response> {
  const { core } = call.pages;
  try {
    await throttle(core, "provider", call.client.ip);
    const provider = await findProvider(core.db, name);
    if (!provider) throw new DomainError("NOT_FOUND", call.t("providers.unknown"));
    const started = await startProviderLogin(core, provider, { returnTo: call.returnTo });
    return toProvider(call, started);
  } catch (error) {
    return failurePage(call, error);
  }
}

/** POST /account/identities/link: the same, to link the provider to the signed-in user (step-up first). */
export const linkProvider = accountForm("identities", async (call, principal) => {
  const { core } = call.pages;
  await throttle(core, "provider", call.client.ip);
  await requirePrivileged(core, principal.user, principal.session, stepUpPassword(call), call.client.ip);
  const provider = await findProvider(core.db, call.field("provider") ?? "");
  if (!provider) throw new DomainError("NOT_FOUND", call.t("providers.unknown"));
  // As the callback checks again (provider-sign-in.ts): no link into an account whose email is not proven.
  if (!principal.user.isVerified) throw new DomainError("EMAIL_NOT_VERIFIED", call.t("providers.error.link_unverified", { provider: provider.displayName }));
  const link = { userId: principal.user.id, sessionId: principal.session.id };
  const started = await startProviderLogin(core, provider, { returnTo: call.url("/account#identities"), link });
  // A page that sends the browser on, not a 303: CSP form-action would stop a form's redirect to the provider's origin.
  call.setCookies.push(call.pages.cookies.set("provider", started.state, PROVIDER_LOGIN_TTL_SECONDS));
  return call.render("message", {
    title: call.t("providers.leaving", { provider: provider.displayName }),
    paragraphs: [call.t("providers.leaving_body", { provider: provider.displayName })],
    action: { href: started.url, label: call.t("providers.continue", { provider: provider.displayName }) },
    refresh: started.url,
  });
});

/** POST /account/identities/unlink. */
export const unlinkProvider = accountForm("identities", async (call, principal) => {
  await unlinkIdentity(call.pages.core, actorOf(call, principal), principal.user.id, call.field("provider") ?? "");
  return "identity_unlinked";
});

/** GET /login/provider/:name/callback: the provider's answer, in the browser that began the sign-in. */
export async function providerCallback(call: PageCall, name: string): Promise<Response> {
  const { core, cookies } = call.pages;
  const expected = cookies.read(call.request.headers.get("cookie"), "provider");
  call.setCookies.push(cookies.clear("provider"));
  try {
    const state = call.query.state ?? "";
    if (!PROVIDER_NAME.test(name) || !expected || !state || !sameSecret(expected, state)) {
      throw new ProviderRefusal("INVALID_OR_EXPIRED_TOKEN", "This sign-in did not begin in this browser", "unknown_login", null);
    }
    const query = new URLSearchParams(new URL(call.request.url).search);
    const browser = call.principal ? { userId: call.principal.user.id, sessionId: call.principal.session.id } : null;
    const outcome = await completeProviderSignIn(core, { providerName: name, query, browser, client: call.client, locale: call.locale }, startBrowserSession);
    // Only the return_to stored (checked) when the sign-in began: never one from this query.
    const next = outcome.returnTo ?? call.url("/account");
    if (outcome.kind === "linked") return call.redirect(`${call.url("/account")}?done=identity_linked#identities`);
    if (outcome.kind === "mfa") {
      call.setCookies.push(cookies.set("mfa", outcome.challenge.mfa_token, outcome.challenge.expires_in));
      const query = outcome.returnTo ? `?${new URLSearchParams({ return_to: outcome.returnTo })}` : "";
      return call.redirect(`${call.url("/login/mfa")}${query}`);
    }
    return signedInTo(call, outcome.session, next);
  } catch (error) {
    return failurePage(call, error);
  }
}

function toProvider(call: PageCall, started: { state: string; url: string }): Response {
  call.setCookies.push(call.pages.cookies.set("provider", started.state, PROVIDER_LOGIN_TTL_SECONDS));
  return call.redirect(started.url);
}

/** Like sign-in.ts's signedIn, to where the sign-in began: the browser's old session ends. */
async function signedInTo(call: PageCall, session: BrowserSession, next: string): Promise<Response> {
  if (call.principal) await logout(call.pages.core, call.principal, call.client);
  call.signedIn(session.principal, session.cookie);
  return call.redirect(next);
}

/** The error on a page of its own, with the way on: back to the sign-in (or to the account page when signed in). */
function failurePage(call: PageCall, error: unknown): Response {
  const action = call.principal
    ? { href: call.url("/account#identities"), label: call.t("account.title") }
    : { href: call.link("/login"), label: call.t("providers.back_to_login") };
  const data = { title: call.t("providers.failed"), action };
  if (!(error instanceof ProviderRefusal)) return call.renderError("message", error, data);
  const message = call.t(`providers.error.${error.reason}`, { provider: error.provider ?? "" });
  return call.render("message", { ...data, error: { code: error.code, message, fields: {} } }, HTTP_STATUS[error.code]);
}
