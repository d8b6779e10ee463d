/** A user's page, the parts that take something away: delete, restore, purge, MFA reset, passkeys, identities. */
import { DomainError } from "../../core/errors.ts";
import { resetMfa } from "../../core/mfa/factors.ts";
import { adminRemovePasskey } from "../../core/passkeys/manage.ts";
import { unlinkUserIdentity } from "../../core/providers/identities.ts";
import { purgeUser, restoreUser, softDeleteUser } from "../../core/users/lifecycle.ts";
import { type AdminCall, type AdminRouter, askFirst, redirectDone } from "./admin-router.ts";
import { showUser, userOf, userPath } from "./user-page.ts";

const onError = (admin: AdminCall, error: DomainError) => showUser(admin, error);

export function userDangerRoutes(router: AdminRouter): void {
  router.action(
    "/admin/users/:id/delete",
    async (admin) => {
      const user = await userOf(admin);
      const ask = askFirst(
        admin,
        { title: `Delete ${user.email}?`, paragraphs: ["The user is signed out and cannot sign in. They can be restored until the purge."], confirmLabel: "Delete user" },
        "users",
      );
      if (ask) return ask;
      await softDeleteUser(admin.call.pages.core, admin.actor, user.id);
      return redirectDone(admin.call, userPath(admin, user, "danger"), "deleted");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/restore",
    async (admin) => {
      const user = await userOf(admin);
      await restoreUser(admin.call.pages.core, admin.actor, user.id);
      return redirectDone(admin.call, userPath(admin, user, "danger"), "restored");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/purge",
    async (admin) => {
      const { call } = admin;
      const user = await userOf(admin);
      // Exactly the email: a typed confirmation, not a lookup.
      if (call.field("confirm_email") !== user.email) {
        const message = "Type the user's email exactly to purge them";
        throw new DomainError("VALIDATION_ERROR", `confirm_email: ${message}`, [{ field: "confirm_email", message }]);
      }
      await purgeUser(call.pages.core, admin.actor, user.id);
      return redirectDone(call, call.url("/admin/users"), "purged");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/mfa/reset",
    async (admin) => {
      const user = await userOf(admin);
      const ask = askFirst(admin, { title: `Reset two-step verification of ${user.email}?`, paragraphs: ["Their authenticator and recovery codes stop working."], confirmLabel: "Reset two-step verification" }, "users");
      if (ask) return ask;
      await resetMfa(admin.call.pages.core, admin.actor, user.id);
      return redirectDone(admin.call, userPath(admin, user, "mfa"), "mfa");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/passkeys/remove",
    async (admin) => {
      const user = await userOf(admin);
      const passkeyId = admin.call.field("passkey_id") ?? "";
      const ask = askFirst(admin, { title: "Remove this passkey?", paragraphs: [`${user.email} can no longer sign in with it.`], confirmLabel: "Remove passkey", fields: { passkey_id: passkeyId } }, "users");
      if (ask) return ask;
      await adminRemovePasskey(admin.call.pages.core, admin.actor, user, passkeyId);
      return redirectDone(admin.call, userPath(admin, user, "passkeys"), "passkey");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/identities/unlink",
    async (admin) => {
      const user = await userOf(admin);
      const provider = admin.call.field("provider") ?? "";
      const ask = askFirst(admin, { title: `Unlink ${provider}?`, paragraphs: [`${user.email} can no longer sign in with ${provider}.`], confirmLabel: "Unlink", fields: { provider } }, "users");
      if (ask) return ask;
      await unlinkUserIdentity(admin.call.pages.core, admin.actor, user.id, provider);
      return redirectDone(admin.call, userPath(admin, user, "identities"), "identity");
    },
    onError,
  );
}
