/**
 * The pages' files, embedded in the binary, each overridable from
 * USERSVC_THEME_DIR (SPEC §7): `pages/<name>.eta` for a template,
 * `theme.css` and `logo.svg` for the look. Read once at start-up; the message
 * catalogues are core's (core/theme/theme.ts), shared with the emails.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import themeCss from "./assets/theme.css" with { type: "text" };
import logoSvg from "./assets/logo.svg" with { type: "text" };
import { passkeysScriptSource, webauthnBrowserSource } from "./page-scripts.ts" with { type: "macro" };
import account from "./templates/account.eta" with { type: "text" };
import consent from "./templates/consent.eta" with { type: "text" };
import error from "./templates/error.eta" with { type: "text" };
import field from "./templates/field.eta" with { type: "text" };
import forgotPassword from "./templates/forgot-password.eta" with { type: "text" };
import hidden from "./templates/hidden.eta" with { type: "text" };
import layout from "./templates/layout.eta" with { type: "text" };
import login from "./templates/login.eta" with { type: "text" };
import loginMfa from "./templates/login-mfa.eta" with { type: "text" };
import logout from "./templates/logout.eta" with { type: "text" };
import message from "./templates/message.eta" with { type: "text" };
import mfaSetup from "./templates/mfa-setup.eta" with { type: "text" };
import passkeyAdd from "./templates/passkey-add.eta" with { type: "text" };
import recoveryCodes from "./templates/recovery-codes.eta" with { type: "text" };
import register from "./templates/register.eta" with { type: "text" };
import resetPassword from "./templates/reset-password.eta" with { type: "text" };
import verifyEmail from "./templates/verify-email.eta" with { type: "text" };
import { adminCss, ADMIN_TEMPLATES, type AdminTemplateName } from "../admin/templates.ts";

const TEMPLATES = {
  account,
  consent,
  error,
  field,
  "forgot-password": forgotPassword,
  hidden,
  layout,
  login,
  "login-mfa": loginMfa,
  logout,
  message,
  "mfa-setup": mfaSetup,
  "passkey-add": passkeyAdd,
  "recovery-codes": recoveryCodes,
  register,
  "reset-password": resetPassword,
  "verify-email": verifyEmail,
};
export type TemplateName = keyof typeof TEMPLATES | AdminTemplateName;

export interface PageFiles {
  templates: Readonly<Record<TemplateName, string>>;
  css: string;
  logo: string;
  /** The pages' scripts: not overridable (a theme changes looks, not what runs). */
  webauthnJs: string;
  passkeysJs: string;
  /** The admin console's stylesheet (on top of theme.css). */
  adminCss: string;
}

export function loadPageFiles(themeDir: string | null): PageFiles {
  const override = (relative: string, embedded: string): string => {
    const path = themeDir === null ? null : join(themeDir, relative);
    return path !== null && existsSync(path) ? readFileSync(path, "utf8") : embedded;
  };
  const templates = Object.fromEntries(
    Object.entries(TEMPLATES).map(([name, text]) => [name, override(join("pages", `${name}.eta`), text)]),
  );
  return { templates: { ...templates, ...ADMIN_TEMPLATES } as Record<TemplateName, string>, adminCss, css: override("theme.css", themeCss), logo: override("logo.svg", logoSvg), webauthnJs: webauthnBrowserSource(), passkeysJs: passkeysScriptSource() };
}
