/** A user's page, the parts that take something away: delete, restore, purge, MFA reset, passkeys, identities. */
import { DomainError } from "../../core/errors.ts";
import { resetMfa } from "../../core/mfa/factors.ts";
import { adminRemovePasskey } from "../../core/passkeys/manage.ts";
import { unlinkUserIdentity } from "../../core/providers/identities.ts";
import { purgeUser, restoreUser, softDeleteUser } from "../../core/users/lifecycle.ts";
import { type AdminRouter, askFirst, redirectDone } from "./admin-router.ts";
import { userAction } from "./user-page.ts";

export function userDangerRoutes(router: AdminRouter): void {
  userAction(router, "delete", { section: "danger", done: "deleted" }, async (admin, user) => {
    const ask = askFirst(
      admin,
      { title: `Delete ${user.email}?`, paragraphs: ["The user is signed out and cannot sign in. They can be restored until the purge."], confirmLabel: "Delete user" },
      "users",
    );
    if (ask) return ask;
    await softDeleteUser(admin.call.pages.core, admin.actor, user.id);
  });

  userAction(router, "restore", { section: "danger", done: "restored" }, async ({ call, actor }, user) => {
    await restoreUser(call.pages.core, actor, user.id);
  });

  userAction(router, "purge", { section: "danger", done: "purged" }, async ({ call, actor }, user) => {
    // Exactly the email: a typed confirmation, not a lookup.
    if (call.field("confirm_email") !== user.email) {
      const message = "Type the user's email exactly to purge them";
      throw new DomainError("VALIDATION_ERROR", `confirm_email: ${message}`, [{ field: "confirm_email", message }]);
    }
    await purgeUser(call.pages.core, actor, user.id);
    return redirectDone(call, call.url("/admin/users"), "purged");
  });

  userAction(router, "mfa/reset", { section: "mfa", done: "mfa" }, async (admin, user) => {
    const ask = askFirst(admin, { title: `Reset two-step verification of ${user.email}?`, paragraphs: ["Their authenticator and recovery codes stop working."], confirmLabel: "Reset two-step verification" }, "users");
    if (ask) return ask;
    await resetMfa(admin.call.pages.core, admin.actor, user.id);
  });

  userAction(router, "passkeys/remove", { section: "passkeys", done: "passkey" }, async (admin, user) => {
    const passkeyId = admin.call.field("passkey_id") ?? "";
    const ask = askFirst(admin, { title: "Remove this passkey?", paragraphs: [`${user.email} can no longer sign in with it.`], confirmLabel: "Remove passkey", fields: { passkey_id: passkeyId } }, "users");
    if (ask) return ask;
    await adminRemovePasskey(admin.call.pages.core, admin.actor, user, passkeyId);
  });

  userAction(router, "identities/unlink", { section: "identities", done: "identity" }, async (admin, user) => {
    const provider = admin.call.field("provider") ?? "";
    const ask = askFirst(admin, { title: `Unlink ${provider}?`, paragraphs: [`${user.email} can no longer sign in with ${provider}.`], confirmLabel: "Unlink", fields: { provider } }, "users");
    if (ask) return ask;
    await unlinkUserIdentity(admin.call.pages.core, admin.actor, user.id, provider);
  });
}
