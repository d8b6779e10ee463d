/**
 * /admin/confirm: the console's step-up. An admin whose sign-in (or last
 * confirmation) is older than USERSVC_ADMIN_MAX_AGE confirms their password
 * here, then goes back to the screen they were on and repeats the action.
 */
import { DomainError, RateLimitError } from "../../core/errors.ts";
import { confirmPassword } from "../../core/sessions/step-up.ts";
import { findPasswordHash } from "../../core/users/queries.ts";
import { type AdminCall, type AdminRouter, isConsolePath, renderAdmin } from "./admin-router.ts";

function returnTo(admin: AdminCall): string {
  const { call } = admin;
  const raw = call.pages.checkReturnTo(call.field("return_to") ?? call.query.return_to);
  return raw && isConsolePath(call, raw) ? raw : call.url("/admin");
}

async function showConfirm(admin: AdminCall, error: DomainError | null = null): Promise<Response> {
  const hasPassword = (await findPasswordHash(admin.call.pages.core.db, admin.principal.user.id)) !== null;
  const status = error ? (error.code === "RATE_LIMITED" ? 429 : 401) : 200;
  // As the login page does: how long the account's attempts are spent.
  const headers: Record<string, string> = error instanceof RateLimitError ? { "retry-after": String(error.retryAfterSeconds) } : {};
  return renderAdmin(admin, "admin-confirm", "overview", { returnTo: returnTo(admin), hasPassword, error: error ? admin.call.errorOf(error) : null }, status, headers);
}

export function confirmRoutes(router: AdminRouter): void {
  router.page("/admin/confirm", (admin) => showConfirm(admin));
  router.unguardedAction("/admin/confirm", async (admin) => {
    const { call, principal } = admin;
    try {
      await confirmPassword(call.pages.core, principal, call.field("password") ?? "", call.client.ip);
    } catch (error) {
      if (error instanceof DomainError && (error.code === "WRONG_PASSWORD" || error.code === "RATE_LIMITED")) return showConfirm(admin, error);
      throw error;
    }
    return call.redirect(returnTo(admin));
  });
}
