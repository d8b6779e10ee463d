/** The forms of a user's page that change them: profile, roles, metadata, block, sessions, balance. */
import { adjustBalance } from "../../core/balance/balance.ts";
import { DomainError } from "../../core/errors.ts";
import { revokeConnectedApplication } from "../../core/oidc/consents.ts";
import { adminRevokeSession } from "../../core/sessions/admin-sessions.ts";
import { adminUpdateUser } from "../../core/users/admin-update.ts";
import { blockUser, forceLogout, unblockUser } from "../../core/users/lifecycle.ts";
import { normalizeEmail } from "../../core/users/validation.ts";
import { type AdminCall, type AdminRouter, askFirst } from "./admin-router.ts";
import { userAction } from "./user-page.ts";

const DURATIONS: Record<string, number> = { "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000 };

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
  userAction(router, "profile", { section: "profile", done: "profile" }, async ({ call, actor }, user) => {
    const email = call.field("email") ?? user.email;
    const checked = call.field("is_verified") === "on";
    // The box was drawn for the stored address: left as it was beside a new address, it says nothing
    // about that one, which stays unproven (the core's rule) unless the admin ticked it anew.
    const unchangedBox = normalizeEmail(email) !== user.email && checked === user.isVerified;
    await adminUpdateUser(call.pages.core, actor, user.id, {
      email,
      username: call.field("username") ?? user.username,
      is_verified: unchangedBox ? undefined : checked,
    });
  });

  userAction(router, "roles", { section: "roles", done: "roles" }, async ({ call, actor }, user) => {
    const roles = (call.field("roles") ?? "").split(/[\s,]+/).filter(Boolean);
    await adminUpdateUser(call.pages.core, actor, user.id, { roles });
  });

  userAction(router, "metadata", { section: "metadata", done: "metadata" }, async ({ call, actor }, user) => {
    const metadata = jsonObject("metadata", call.field("metadata") ?? "");
    const appMetadata = jsonObject("app_metadata", call.field("app_metadata") ?? "");
    await adminUpdateUser(call.pages.core, actor, user.id, { metadata, app_metadata: appMetadata });
  });

  userAction(router, "block", { section: "status", done: "blocked" }, async (admin, user) => {
    const reason = admin.call.field("reason")?.trim() || null;
    await blockUser(admin.call.pages.core, admin.actor, user.id, { reason, until: blockEnd(admin) });
  });

  userAction(router, "unblock", { section: "status", done: "unblocked" }, async ({ call, actor }, user) => {
    await unblockUser(call.pages.core, actor, user.id);
  });

  userAction(router, "sessions/revoke", { section: "sessions", done: "session" }, async ({ call, actor }, user) => {
    await adminRevokeSession(call.pages.core, actor, user.id, call.field("session_id") ?? "");
  });

  userAction(router, "sessions/revoke-all", { section: "sessions", done: "sessions" }, async (admin, user) => {
    const ask = askFirst(admin, { title: `Sign ${user.email} out everywhere?`, paragraphs: ["Every session and grant of this user ends now."], confirmLabel: "Revoke all sessions" }, "users");
    if (ask) return ask;
    await forceLogout(admin.call.pages.core, admin.actor, user.id);
  });

  userAction(router, "applications/revoke", { section: "sessions", done: "application" }, async ({ call, actor }, user) => {
    await revokeConnectedApplication(call.pages.core, user, call.field("client_id") ?? "", actor);
  });

  userAction(router, "balance", { section: "balance", done: "balance" }, async ({ call, actor }, user) => {
    const raw = (call.field("amount") ?? "").trim();
    if (!/^[+-]?\d+$/.test(raw)) throw invalid("amount", "must be a whole number of minor units, e.g. 500 or -250");
    const key = call.field("idempotency_key")?.trim() || undefined;
    await adjustBalance(call.pages.core, actor, user.id, { amount: Number(raw), reason: call.field("reason") ?? "", idempotency_key: key });
  });
}
