/** The hosted pages (SPEC §7) as one Elysia plugin: each route opens a PageCall and hands it to its page. */
import { Elysia } from "elysia";
import type { Core } from "../../core/core.ts";
import { adminConsole } from "../admin/admin-console.ts";
import { accountForms, showAccount } from "./account.ts";
import { authorize, endSession, showConsent, submitConsent } from "./oidc.ts";
import { createPages, type ElysiaPageContext, PageCall } from "./page-call.ts";
import { passkeyForms, submitPasskeyLogin } from "./passkeys.ts";
import { linkProvider, providerCallback, startProviderSignIn, unlinkProvider } from "./providers.ts";
import { showForgot, showReset, showVerify, submitForgot, submitReset, submitVerify } from "./recovery.ts";
import { showLogin, showMfa, showRegister, submitLogin, submitLogout, submitMfa, submitRegister } from "./sign-in.ts";

/** Pages are HTML, not API: kept out of /docs and the OpenAPI document. */
const HIDDEN = { detail: { hide: true } };

type PageHandler = (call: PageCall) => Response | Promise<Response>;

export function pageRoutes(core: Core) {
  const pages = createPages(core);
  // Destructured, not passed on whole: Elysia reads which context fields a handler uses and parses only those.
  const handle =
    (page: PageHandler) =>
    async ({ request, server, query, body }: ElysiaPageContext) =>
      page(await PageCall.open(pages, { request, server, query, body }));
  const handleNamed =
    (page: (call: PageCall, name: string) => Response | Promise<Response>) =>
    async ({ request, server, query, body, params }: ElysiaPageContext & { params: { name: string } }) =>
      page(await PageCall.open(pages, { request, server, query, body }), params.name);
  // An asset runs nothing, even opened on its own: a theme's SVG with a script in it stays inert.
  const asset = (body: string, type: string) => () =>
    new Response(body, {
      headers: { "content-type": type, "cache-control": "public, max-age=3600", "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox" },
    });
  const { files } = pages;

  const routes = new Elysia({ name: "pages" })
    .get("/assets/theme.css", asset(files.css, "text/css; charset=utf-8"), HIDDEN)
    .get("/assets/logo.svg", asset(files.logo, "image/svg+xml"), HIDDEN)
    .get("/assets/webauthn.js", asset(files.webauthnJs, "text/javascript; charset=utf-8"), HIDDEN)
    .get("/assets/passkeys.js", asset(files.passkeysJs, "text/javascript; charset=utf-8"), HIDDEN)
    .get("/assets/admin.css", asset(files.adminCss, "text/css; charset=utf-8"), HIDDEN)
    .get("/login", handle(showLogin), HIDDEN)
    .post("/login", handle(submitLogin), HIDDEN)
    .get("/login/mfa", handle(showMfa), HIDDEN)
    .post("/login/mfa", handle(submitMfa), HIDDEN)
    .post("/login/passkey", handle(submitPasskeyLogin), HIDDEN)
    .get("/login/provider/:name", handleNamed(startProviderSignIn), HIDDEN)
    .get("/login/provider/:name/callback", handleNamed(providerCallback), HIDDEN)
    .get("/register", handle(showRegister), HIDDEN)
    .post("/register", handle(submitRegister), HIDDEN)
    .post("/logout", handle(submitLogout), HIDDEN)
    .get("/forgot-password", handle(showForgot), HIDDEN)
    .post("/forgot-password", handle(submitForgot), HIDDEN)
    .get("/reset-password", handle(showReset), HIDDEN)
    .post("/reset-password", handle(submitReset), HIDDEN)
    .get("/verify-email", handle(showVerify), HIDDEN)
    .post("/verify-email", handle(submitVerify), HIDDEN)
    .get("/account", handle(showAccount), HIDDEN)
    .post("/account/profile", handle(accountForms.profile), HIDDEN)
    .post("/account/verify-email", handle(accountForms.resendVerification), HIDDEN)
    .post("/account/email", handle(accountForms.email), HIDDEN)
    .post("/account/password", handle(accountForms.password), HIDDEN)
    .post("/account/sessions/revoke", handle(accountForms.revokeSession), HIDDEN)
    .post("/account/logout-all", handle(accountForms.logoutAll), HIDDEN)
    .post("/account/mfa/enroll", handle(accountForms.enrollMfa), HIDDEN)
    .post("/account/mfa/confirm", handle(accountForms.confirmMfa), HIDDEN)
    .post("/account/mfa/recovery-codes", handle(accountForms.recoveryCodes), HIDDEN)
    .post("/account/mfa/disable", handle(accountForms.disableMfa), HIDDEN)
    .post("/account/passkeys/start", handle(passkeyForms.start), HIDDEN)
    .post("/account/passkeys/add", handle(passkeyForms.add), HIDDEN)
    .post("/account/passkeys/rename", handle(passkeyForms.rename), HIDDEN)
    .post("/account/passkeys/remove", handle(passkeyForms.remove), HIDDEN)
    .post("/account/identities/link", handle(linkProvider), HIDDEN)
    .post("/account/identities/unlink", handle(unlinkProvider), HIDDEN)
    .post("/account/delete", handle(accountForms.deleteAccount), HIDDEN)
    .post("/account/apps/revoke", handle(accountForms.revokeApp), HIDDEN)
    .use(adminConsole(pages));
  if (!core.tokens.asymmetric) return routes;
  // The OpenID Connect provider's browser-facing endpoints (app.ts: only with asymmetric keys).
  return routes
    .get("/oauth/authorize", handle(authorize), HIDDEN)
    .post("/oauth/authorize", handle(authorize), HIDDEN)
    .get("/consent", handle(showConsent), HIDDEN)
    .post("/consent", handle(submitConsent), HIDDEN)
    .get("/oauth/logout", handle(endSession), HIDDEN)
    .post("/oauth/logout", handle(endSession), HIDDEN);
}
