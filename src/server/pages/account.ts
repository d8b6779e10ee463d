/**
 * /account: the signed-in person's own settings, each form one of the API's
 * use cases (profile, email change, password, sessions, two-factor, deletion).
 * A success answers 303 back to /account with a notice; an error shows the
 * page again with the error in the form's section.
 */
import QRCode from "qrcode";
import { userActor } from "../../core/audit/actor.ts";
import { sameSecret } from "../../core/digest.ts";
import { DomainError, validationError } from "../../core/errors.ts";
import { confirmMfa, disableMfa, enrollMfa, mfaStatus, pendingEnrollment, regenerateRecoveryCodes } from "../../core/mfa/factors.ts";
import { listConnectedApplications, revokeConnectedApplication } from "../../core/oidc/consents.ts";
import { listPasskeys } from "../../core/passkeys/manage.ts";
import { changePasswordKeepingSession } from "../../core/sessions/change-password.ts";
import { listSessions, logoutAll, revokeOwnSession } from "../../core/sessions/own-sessions.ts";
import type { Principal } from "../../core/sessions/session-tokens.ts";
import { requestEmailChange } from "../../core/users/email-change.ts";
import { resendVerification } from "../../core/users/email-tokens.ts";
import { deleteOwnAccount } from "../../core/users/lifecycle.ts";
import { updateProfile } from "../../core/users/users.ts";
import { identitiesView } from "./provider-views.ts";
import type { PageCall } from "./page-call.ts";

/** The notices a success may ask for (?done=), so the query cannot put words on the page. */
const NOTICES = ["profile", "email", "password", "session", "verification", "mfa_disabled", "app", "passkey_added", "passkey_renamed", "passkey_removed", "identity_linked", "identity_unlinked"] as const;
export type Notice = (typeof NOTICES)[number];

export type AccountSection = "profile" | "email" | "password" | "sessions" | "apps" | "mfa" | "passkeys" | "identities" | "delete";

export async function showAccount(call: PageCall): Promise<Response> {
  if (!call.principal) return call.redirect(call.link("/login", { return_to: call.url("/account") }));
  const done = NOTICES.find((notice) => notice === call.query.done);
  return call.render("account", await accountView(call, call.principal, { notice: done ? call.t(`account.done.${done}`) : null }));
}

/** The account page's data; `extra` adds an error (with its section) or a notice. */
async function accountView(call: PageCall, principal: Principal, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const { core } = call.pages;
  const [mfa, sessions, apps, passkeys, providers] = await Promise.all([
    mfaStatus(core, principal.user.id),
    listSessions(core, principal),
    listConnectedApplications(core, principal.user.id),
    listPasskeys(core, principal.user.id),
    identitiesView(call, principal),
  ]);
  // A sign-in this recent needs no password before a sensitive change (step-up.ts): the forms then ask for none.
  const recent = core.now().getTime() - principal.session.createdAt.getTime() <= core.config.privilegedMaxAge * 1000;
  return { account: principal.user, mfa, sessions, apps, passkeys, ...providers, recent, section: null, ...extra };
}

/**
 * The TOTP set-up page: the QR code and the key, shown only in the answer to
 * the enrolment and to its confirm form (a page opened later, perhaps by
 * another session of the same user, never shows them).
 */
async function setupPage(call: PageCall, enrolment: { secret: string; otpauth_uri: string }, error?: unknown): Promise<Response> {
  const data = { secret: enrolment.secret, qr: await qrSvg(enrolment.otpauth_uri, call.t("mfa.qr_label")) };
  return error === undefined ? call.render("mfa-setup", data) : call.renderError("mfa-setup", error, data);
}

/**
 * The enrolment a confirm form continues: its hidden `secret` must be the
 * pending one, so only the person who saw the enrolment's answer can finish
 * it (a second session cannot read the secret, nor confirm without it).
 */
async function enrolmentOf(call: PageCall, principal: Principal): Promise<{ secret: string; otpauth_uri: string }> {
  const pending = await pendingEnrollment(call.pages.core, principal.user);
  if (!pending || !sameSecret(call.field("secret") ?? "", pending.secret)) {
    throw validationError([{ field: "mfa", message: call.t("mfa.restart") }]);
  }
  return pending;
}

/** The QR code of an otpauth:// URI, drawn here as inline SVG: the secret never leaves for a QR service. */
async function qrSvg(uri: string, label: string): Promise<string> {
  const svg = await QRCode.toString(uri, { type: "svg", margin: 2, errorCorrectionLevel: "M" });
  return svg.replace("<svg ", `<svg role="img" aria-label="${label.replace(/[<>&"]/g, "")}" `);
}

type AccountAction = (call: PageCall, principal: Principal) => Promise<Notice | Response>;
/** The page an error is shown on: the account page, with the error in the form's section, unless the form says otherwise. */
type ErrorPage = (call: PageCall, principal: Principal, error: DomainError, section: AccountSection) => Promise<Response>;
const onAccountPage: ErrorPage = async (call, principal, error, section) => call.renderError("account", error, await accountView(call, principal, { section }));

/** A form of the account page: CSRF checked, signed in required, the action's outcome shown. */
export function accountForm(section: AccountSection, action: AccountAction, errorPage: ErrorPage = onAccountPage) {
  return async (call: PageCall): Promise<Response> => {
    const principal = call.principal;
    if (!principal) return call.redirect(call.link("/login", { return_to: call.url("/account") }));
    try {
      call.checkForm();
      const outcome = await action(call, principal);
      return outcome instanceof Response ? outcome : call.redirect(`${call.url("/account")}?done=${outcome}#${section}`);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      // The action may have ended this very session (a revoke, a block meanwhile): start from the sign-in.
      if (!call.principal) return call.redirect(call.link("/login"));
      return errorPage(call, call.principal, error, section);
    }
  };
}

export const stepUpPassword = (call: PageCall): string | undefined => call.field("password") || undefined;
export const actorOf = (call: PageCall, principal: Principal) => userActor(principal.user.id, call.client.ip);

export const accountForms = {
  profile: accountForm("profile", async (call, principal) => {
    await updateProfile(call.pages.core, actorOf(call, principal), principal.user.id, { username: call.field("username") ?? "" });
    return "profile";
  }),
  resendVerification: accountForm("profile", async (call, principal) => {
    await resendVerification(call.pages.core, principal.user, call.client.ip);
    return "verification";
  }),
  email: accountForm("email", async (call, principal) => {
    await requestEmailChange(call.pages.core, {
      user: principal.user,
      session: principal.session,
      newEmail: call.field("new_email") ?? "",
      password: stepUpPassword(call),
      ip: call.client.ip,
    });
    return "email";
  }),
  password: accountForm("password", async (call, principal) => {
    const change = { current_password: call.field("current_password") ?? "", new_password: call.field("new_password") ?? "" };
    await changePasswordKeepingSession(call.pages.core, principal, change, call.client);
    return "password";
  }),
  revokeSession: accountForm("sessions", async (call, principal) => {
    const sessionId = call.field("session_id") ?? "";
    await revokeOwnSession(call.pages.core, principal, sessionId, call.client);
    if (sessionId.toLowerCase() !== principal.session.id) return "session";
    call.signedOut();
    return call.redirect(call.link("/login"));
  }),
  logoutAll: accountForm("sessions", async (call, principal) => {
    await logoutAll(call.pages.core, principal, call.client);
    call.signedOut();
    return call.redirect(call.link("/login"));
  }),
  enrollMfa: accountForm("mfa", async (call, principal) => {
    const enrolment = await enrollMfa(call.pages.core, { user: principal.user, session: principal.session, password: stepUpPassword(call), ip: call.client.ip });
    return setupPage(call, enrolment);
  }),
  confirmMfa: accountForm(
    "mfa",
    async (call, principal) => {
      await enrolmentOf(call, principal);
      const { recovery_codes } = await confirmMfa(call.pages.core, actorOf(call, principal), principal.user, call.field("code") ?? "");
      return call.render("recovery-codes", { codes: recovery_codes, title: call.t("mfa.enabled.title") });
    },
    // A wrong code: the same set-up page again, when the form carried the enrolment; else the account page.
    async (call, principal, error, section) => {
      const enrolment = await enrolmentOf(call, principal).catch(() => null);
      return enrolment ? setupPage(call, enrolment, error) : onAccountPage(call, principal, error, section);
    },
  ),
  recoveryCodes: accountForm("mfa", async (call, principal) => {
    const change = { user: principal.user, session: principal.session, password: stepUpPassword(call), ip: call.client.ip };
    const { recovery_codes } = await regenerateRecoveryCodes(call.pages.core, actorOf(call, principal), change);
    return call.render("recovery-codes", { codes: recovery_codes, title: call.t("mfa.regenerated.title") });
  }),
  disableMfa: accountForm("mfa", async (call, principal) => {
    await disableMfa(call.pages.core, actorOf(call, principal), { user: principal.user, session: principal.session, password: stepUpPassword(call), ip: call.client.ip });
    return "mfa_disabled";
  }),
  revokeApp: accountForm("apps", async (call, principal) => {
    await revokeConnectedApplication(call.pages.core, principal.user, call.field("client_id") ?? "", actorOf(call, principal));
    return "app";
  }),
  deleteAccount: accountForm("delete", async (call, principal) => {
    await deleteOwnAccount(call.pages.core, actorOf(call, principal), principal, call.field("password"));
    call.signedOut();
    return call.render("message", { title: call.t("delete.done.title"), paragraphs: [call.t("delete.done.body")] });
  }),
};
