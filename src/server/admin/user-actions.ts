/** The forms of a user's page that change them: profile, roles, metadata, block, sessions, balance. */
import { adjustBalance } from "../../core/balance/balance.ts";
import { DomainError } from "../../core/errors.ts";
import { revokeConnectedApplication } from "../../core/oidc/consents.ts";
import { adminRevokeSession } from "../../core/sessions/admin-sessions.ts";
import { adminUpdateUser } from "../../core/users/admin-update.ts";
import { blockUser, forceLogout, unblockUser } from "../../core/users/lifecycle.ts";
import { normalizeEmail } from "../../core/users/validation.ts";
import { type AdminCall, type AdminRouter, askFirst, redirectDone } from "./admin-router.ts";
import { showUser, userOf, userPath } from "./user-page.ts";

const DURATIONS: Record<string, number> = { "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000 };

const onError = (admin: AdminCall, error: DomainError) => showUser(admin, error);

function invalid(field: string, message: string): DomainError {
  return new DomainError("VALIDATION_ERROR", `${field}: ${message}`, [{ field, message }]);
}

/** A JSON editor's text as an object; the parser's own message when it is not. */
function jsonObject(field: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text.trim() === "" ? "{}" : text);
  } catch (error) {
    throw invalid(field, `not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(field, "must be a JSON object");
  return value as Record<string, unknown>;
}

/** The block's end: `until` (datetime-local is read as UTC) wins over `duration`; neither is a block until unblocked. */
function blockEnd(admin: AdminCall): string | null {
  const { call } = admin;
  const until = call.field("until")?.trim();
  if (until) {
    const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(until) ? until : `${until.length === 16 ? `${until}:00` : until}Z`;
    const at = new Date(iso);
    if (Number.isNaN(at.getTime())) throw invalid("until", "must be a date and time");
    return at.toISOString();
  }
  const duration = call.field("duration") ?? "";
  if (duration === "") return null;
  const ms = DURATIONS[duration];
  if (!ms) throw invalid("duration", "must be 1h, 24h, 7d, 30d or empty");
  return new Date(call.pages.core.now().getTime() + ms).toISOString();
}

export function userActionRoutes(router: AdminRouter): void {
  router.action(
    "/admin/users/:id/profile",
    async (admin) => {
      const { call } = admin;
      const user = await userOf(admin);
      const email = call.field("email") ?? user.email;
      const checked = call.field("is_verified") === "on";
      // The box was drawn for the stored address: left as it was beside a new address, it says nothing
      // about that one, which stays unproven (the core's rule) unless the admin ticked it anew.
      const unchangedBox = normalizeEmail(email) !== user.email && checked === user.isVerified;
      await adminUpdateUser(call.pages.core, admin.actor, user.id, {
        email,
        username: call.field("username") ?? user.username,
        is_verified: unchangedBox ? undefined : checked,
      });
      return redirectDone(call, userPath(admin, user, "profile"), "profile");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/roles",
    async (admin) => {
      const { call } = admin;
      const user = await userOf(admin);
      const roles = (call.field("roles") ?? "").split(/[\s,]+/).filter(Boolean);
      await adminUpdateUser(call.pages.core, admin.actor, user.id, { roles });
      return redirectDone(call, userPath(admin, user, "roles"), "roles");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/metadata",
    async (admin) => {
      const { call } = admin;
      const user = await userOf(admin);
      const metadata = jsonObject("metadata", call.field("metadata") ?? "");
      const appMetadata = jsonObject("app_metadata", call.field("app_metadata") ?? "");
      await adminUpdateUser(call.pages.core, admin.actor, user.id, { metadata, app_metadata: appMetadata });
      return redirectDone(call, userPath(admin, user, "metadata"), "metadata");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/block",
    async (admin) => {
      const { call } = admin;
      const user = await userOf(admin);
      const reason = call.field("reason")?.trim() || null;
      await blockUser(call.pages.core, admin.actor, user.id, { reason, until: blockEnd(admin) });
      return redirectDone(call, userPath(admin, user, "status"), "blocked");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/unblock",
    async (admin) => {
      const user = await userOf(admin);
      await unblockUser(admin.call.pages.core, admin.actor, user.id);
      return redirectDone(admin.call, userPath(admin, user, "status"), "unblocked");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/sessions/revoke",
    async (admin) => {
      const user = await userOf(admin);
      await adminRevokeSession(admin.call.pages.core, admin.actor, user.id, admin.call.field("session_id") ?? "");
      return redirectDone(admin.call, userPath(admin, user, "sessions"), "session");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/sessions/revoke-all",
    async (admin) => {
      const user = await userOf(admin);
      const ask = askFirst(admin, { title: `Sign ${user.email} out everywhere?`, paragraphs: ["Every session and grant of this user ends now."], confirmLabel: "Revoke all sessions" }, "users");
      if (ask) return ask;
      await forceLogout(admin.call.pages.core, admin.actor, user.id);
      return redirectDone(admin.call, userPath(admin, user, "sessions"), "sessions");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/applications/revoke",
    async (admin) => {
      const user = await userOf(admin);
      await revokeConnectedApplication(admin.call.pages.core, user, admin.call.field("client_id") ?? "", admin.actor);
      return redirectDone(admin.call, userPath(admin, user, "sessions"), "application");
    },
    onError,
  );

  router.action(
    "/admin/users/:id/balance",
    async (admin) => {
      const { call } = admin;
      const user = await userOf(admin);
      const raw = (call.field("amount") ?? "").trim();
      if (!/^[+-]?\d+$/.test(raw)) throw invalid("amount", "must be a whole number of minor units, e.g. 500 or -250");
      const key = call.field("idempotency_key")?.trim() || undefined;
      await adjustBalance(call.pages.core, admin.actor, user.id, { amount: Number(raw), reason: call.field("reason") ?? "", idempotency_key: key });
      return redirectDone(call, userPath(admin, user, "balance"), "balance");
    },
    onError,
  );
}
