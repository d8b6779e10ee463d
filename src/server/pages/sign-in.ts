/**
 * Signing in and out on the pages: /login (identifier + password), then
 * /login/mfa for a TOTP or recovery code, /register, POST /logout. They call
 * the API's own use cases, so limits, hooks, events and audit are the same;
 * only the ending differs: a browser session instead of a token pair.
 */
import { DomainError } from "../../core/errors.ts";
import { completeMfaLogin, isChallenge, login } from "../../core/sessions/login.ts";
import { type BrowserSession, startBrowserSession } from "../../core/sessions/browser-sessions.ts";
import { logout } from "../../core/sessions/own-sessions.ts";
import { createUser } from "../../core/users/users.ts";
import type { PageCall } from "./page-call.ts";
import { providerButtons } from "./provider-views.ts";

export async function showLogin(call: PageCall): Promise<Response> {
  // prompt=login: an application asked for a fresh sign-in, even with a session.
  if (call.principal && call.query.prompt !== "login") return call.redirect(call.next());
  return call.render("login", { values: { identifier: call.query.login_hint?.slice(0, 320) ?? "" }, providers: await providerButtons(call) });
}

export async function submitLogin(call: PageCall): Promise<Response> {
  const identifier = (call.field("identifier") ?? "").trim();
  const values = { identifier };
  try {
    call.checkForm();
    const password = call.field("password") ?? "";
    if (identifier === "" || password === "") throw missing(call, identifier === "" ? "identifier" : "password");
    const input = identifier.includes("@") ? { email: identifier, password } : { username: identifier, password };
    const result = await login(call.pages.core, input, call.client, startBrowserSession);
    if (isChallenge(result)) {
      call.setCookies.push(call.pages.cookies.set("mfa", result.mfa_token, result.expires_in));
      return call.redirect(call.link("/login/mfa"));
    }
    return signedIn(call, result);
  } catch (error) {
    return call.renderError("login", error, { values });
  }
}

export function showMfa(call: PageCall): Response {
  if (!call.pages.cookies.read(call.request.headers.get("cookie"), "mfa")) return call.redirect(call.link("/login"));
  return call.render("login-mfa");
}

export async function submitMfa(call: PageCall): Promise<Response> {
  const mfaToken = call.pages.cookies.read(call.request.headers.get("cookie"), "mfa");
  try {
    call.checkForm();
    if (!mfaToken) throw new DomainError("INVALID_OR_EXPIRED_TOKEN");
    const code = (call.field("code") ?? "").trim();
    if (code === "") throw missing(call, "code");
    const session = await completeMfaLogin(call.pages.core, { mfa_token: mfaToken, code }, call.client, startBrowserSession);
    call.setCookies.push(call.pages.cookies.clear("mfa"));
    return signedIn(call, session);
  } catch (error) {
    // A challenge that expired or was spent cannot be retried: back to the password.
    if (error instanceof DomainError && error.code === "INVALID_OR_EXPIRED_TOKEN") {
      call.setCookies.push(call.pages.cookies.clear("mfa"));
      return call.renderError("login", error);
    }
    return call.renderError("login-mfa", error);
  }
}

export async function showRegister(call: PageCall): Promise<Response> {
  if (call.principal) return call.redirect(call.next());
  return call.render("register", { providers: await providerButtons(call) });
}

export async function submitRegister(call: PageCall): Promise<Response> {
  const { core } = call.pages;
  const values = { email: call.field("email") ?? "", username: call.field("username") ?? "" };
  try {
    call.checkForm();
    const input = { ...values, password: call.field("password") ?? "" };
    const user = await createUser(core, input, { actor: { type: "user", id: null, ip: call.client.ip }, locale: call.locale });
    if (core.config.requireVerifiedEmail) {
      return call.render("message", { title: call.t("register.check_email.title"), paragraphs: [call.t("register.check_email.body", { email: user.email })] });
    }
    return signedIn(call, await startBrowserSession(core, user, call.client));
  } catch (error) {
    return call.renderError("register", error, { values });
  }
}

export async function submitLogout(call: PageCall): Promise<Response> {
  try {
    call.checkForm();
  } catch (error) {
    if (call.principal) return call.redirect(call.url("/account"));
    return call.renderError("login", error);
  }
  if (call.principal) await logout(call.pages.core, call.principal, call.client);
  call.signedOut();
  return call.redirect(call.returnTo ?? call.link("/login"));
}

/** The browser's new session replaces the one it had, which ends (it would otherwise live on, unseen). */
export async function signedIn(call: PageCall, session: BrowserSession): Promise<Response> {
  if (call.principal) await logout(call.pages.core, call.principal, call.client);
  call.signedIn(session.principal, session.cookie);
  return call.redirect(call.next());
}

function missing(call: PageCall, field: string): DomainError {
  const message = call.t("error.required");
  return new DomainError("VALIDATION_ERROR", message, [{ field, message }]);
}
