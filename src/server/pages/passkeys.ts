/**
 * Passkeys on the pages: POST /login/passkey takes the assertion the login
 * page's script got from the browser (a form post, with the CSRF token) and
 * starts a browser session; on /account, adding one (step-up, then a page
 * with the creation options whose script asks the browser and posts the
 * answer back), renaming and removing. The scripts are served from
 * /assets/ (CSP script-src 'self'); everything else works without them.
 */
import { validationError } from "../../core/errors.ts";
import { removePasskey, renamePasskey } from "../../core/passkeys/manage.ts";
import { addPasskey, registrationOptions } from "../../core/passkeys/registration.ts";
import { passkeyLogin } from "../../core/passkeys/sign-in.ts";
import { startBrowserSession } from "../../core/sessions/browser-sessions.ts";
import { accountForm, actorOf, stepUpPassword } from "./account.ts";
import type { PageCall } from "./page-call.ts";
import { signedIn } from "./sign-in.ts";

/** A WebAuthn answer is a few KB; a form field far larger is not one. */
const MAX_RESPONSE_CHARS = 32 * 1024;

function credentialField(call: PageCall): unknown {
  const raw = call.field("response") ?? "";
  if (raw === "" || raw.length > MAX_RESPONSE_CHARS) throw validationError([{ field: "response", message: call.t("passkeys.error.no_response") }]);
  try {
    return JSON.parse(raw);
  } catch {
    throw validationError([{ field: "response", message: call.t("passkeys.error.no_response") }]);
  }
}

export async function submitPasskeyLogin(call: PageCall): Promise<Response> {
  try {
    call.checkForm();
    const session = await passkeyLogin(call.pages.core, credentialField(call), call.client, startBrowserSession);
    return signedIn(call, session);
  } catch (error) {
    return call.renderError("login", error, { values: { identifier: "" } });
  }
}

/** JSON for a `<script type="application/json">` element: nothing in it can end the element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

export const passkeyForms = {
  start: accountForm("passkeys", async (call, principal) => {
    const { options } = await registrationOptions(call.pages.core, { user: principal.user, session: principal.session, password: stepUpPassword(call), ip: call.client.ip });
    return call.render("passkey-add", { optionsJson: scriptJson(options), name: (call.field("name") ?? "").trim().slice(0, 64) });
  }),
  add: accountForm("passkeys", async (call, principal) => {
    await addPasskey(call.pages.core, actorOf(call, principal), principal.user, credentialField(call), call.field("name"));
    return "passkey_added";
  }),
  rename: accountForm("passkeys", async (call, principal) => {
    const change = { ...principal, password: stepUpPassword(call) };
    await renamePasskey(call.pages.core, actorOf(call, principal), change, call.field("passkey_id") ?? "", call.field("name"));
    return "passkey_renamed";
  }),
  remove: accountForm("passkeys", async (call, principal) => {
    await removePasskey(call.pages.core, actorOf(call, principal), { ...principal, password: stepUpPassword(call) }, call.field("passkey_id") ?? "");
    return "passkey_removed";
  }),
};
