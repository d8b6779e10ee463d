/**
 * The pages an emailed link or code leads to: /forgot-password,
 * /reset-password?token=, /verify-email?token= (or its 6-digit code). A link
 * shows its form only while its token is live, and is spent only by the
 * form's POST: a mail scanner that fetches links spends nothing.
 */
import { DomainError } from "../../core/errors.ts";
import { forgotPassword, isLiveToken, resetPassword, verifyEmail, verifyEmailWithCode } from "../../core/users/email-tokens.ts";
import type { PageCall } from "./page-call.ts";

export function showForgot(call: PageCall): Response {
  return call.render("forgot-password", { values: { email: call.query.email ?? "" } });
}

export async function submitForgot(call: PageCall): Promise<Response> {
  const email = (call.field("email") ?? "").trim();
  try {
    call.checkForm();
    await forgotPassword(call.pages.core, email, call.client.ip);
    // The same answer whether or not the address has an account.
    return call.render("message", { title: call.t("forgot.sent.title"), paragraphs: [call.t("forgot.sent.body", { email })] });
  } catch (error) {
    return call.renderError("forgot-password", error, { values: { email } });
  }
}

export async function showReset(call: PageCall): Promise<Response> {
  const token = call.query.token ?? "";
  if (!(await isLiveToken(call.pages.core, token, ["reset_password"]))) return deadLink(call, "reset-password");
  return call.render("reset-password", { token });
}

export async function submitReset(call: PageCall): Promise<Response> {
  const token = call.field("token") ?? "";
  try {
    call.checkForm();
    const user = await resetPassword(call.pages.core, token, call.field("new_password") ?? "", call.client.ip);
    // Every session of that account ended with the old password, this browser's included.
    if (call.principal?.user.id === user.id) call.signedOut();
    return call.render("message", {
      title: call.t("reset.done.title"),
      paragraphs: [call.t("reset.done.body")],
      action: { href: call.link("/login"), label: call.t("login.submit") },
    });
  } catch (error) {
    if (error instanceof DomainError && error.code === "INVALID_OR_EXPIRED_TOKEN") return deadLink(call, "reset-password", error);
    return call.renderError("reset-password", error, { token });
  }
}

export async function showVerify(call: PageCall): Promise<Response> {
  const token = call.query.token;
  if (token === undefined) return call.render("verify-email", { token: null, values: { email: call.query.email ?? call.principal?.user.email ?? "" } });
  if (!(await isLiveToken(call.pages.core, token, ["verify_email", "change_email"]))) return deadLink(call, "verify-email");
  return call.render("verify-email", { token });
}

export async function submitVerify(call: PageCall): Promise<Response> {
  const { core } = call.pages;
  const token = call.field("token");
  const email = (call.field("email") ?? "").trim();
  try {
    call.checkForm();
    const user =
      token !== undefined
        ? await verifyEmail(core, token, call.client.ip)
        : await verifyEmailWithCode(core, email, call.field("code") ?? "", call.client.ip);
    return call.render("message", {
      title: call.t("verify.done.title"),
      paragraphs: [call.t("verify.done.body", { email: user.email })],
      action: call.principal ? { href: call.url("/account"), label: call.t("account.title") } : { href: call.link("/login"), label: call.t("login.submit") },
    });
  } catch (error) {
    if (token !== undefined && error instanceof DomainError && error.code === "INVALID_OR_EXPIRED_TOKEN") return deadLink(call, "verify-email", error);
    return call.renderError("verify-email", error, { token: token ?? null, values: { email } });
  }
}

/** A spent, expired or unknown link: INVALID_OR_EXPIRED_TOKEN, with the way to a new one. */
function deadLink(call: PageCall, page: "reset-password" | "verify-email", error = new DomainError("INVALID_OR_EXPIRED_TOKEN")): Response {
  return call.renderError("message", error, {
    title: call.t(page === "reset-password" ? "reset.title" : "verify.title"),
    paragraphs: [call.t(page === "reset-password" ? "reset.dead" : "verify.dead")],
    action: page === "reset-password" ? { href: call.link("/forgot-password"), label: call.t("forgot.title") } : null,
  });
}
