/** /admin/users/:id: one user and everything known about them; its forms post to the actions of user-actions.ts and user-danger.ts. */
import { listAudit } from "../../core/audit/audit.ts";
import { listTransactions } from "../../core/balance/balance.ts";
import { DomainError } from "../../core/errors.ts";
import { mfaStatus } from "../../core/mfa/factors.ts";
import { listConnectedApplications } from "../../core/oidc/consents.ts";
import { listPasskeys } from "../../core/passkeys/manage.ts";
import { identitiesOfUser } from "../../core/providers/identities.ts";
import { listActiveSessions } from "../../core/sessions/queries.ts";
import { effectiveStatus, type UserRecord } from "../../core/users/user-record.ts";
import { getUserById } from "../../core/users/users.ts";
import { isUuid } from "../../core/uuid.ts";
import { HTTP_STATUS } from "../errors.ts";
import { type AdminCall, type AdminRouter, noticeOf, redirectDone, renderAdmin } from "./admin-router.ts";

const NOTICES: Record<string, string> = {
  profile: "Profile saved.",
  roles: "Roles saved.",
  metadata: "Metadata saved.",
  blocked: "User blocked.",
  unblocked: "User unblocked.",
  deleted: "User deleted. They can be restored until the purge.",
  restored: "User restored.",
  session: "Session revoked.",
  sessions: "All sessions revoked.",
  application: "Application disconnected.",
  balance: "Balance adjusted.",
  mfa: "Two-step verification reset.",
  passkey: "Passkey removed.",
  identity: "Identity unlinked.",
};

/** The user of `:id`; a malformed id is the same 404 as an unknown one. */
export async function userOf(admin: AdminCall): Promise<UserRecord> {
  const id = admin.params.id ?? "";
  if (!isUuid(id)) throw new DomainError("USER_NOT_FOUND");
  return getUserById(admin.call.pages.core, id.toLowerCase());
}

export function userPath(admin: AdminCall, user: { id: string }, section = ""): string {
  return admin.call.url(`/admin/users/${user.id}`) + (section ? `#${section}` : "");
}

const pretty = (value: unknown) => JSON.stringify(value ?? {}, null, 2);

/** The page; after a failed action, with its error and (for the JSON editors) what was typed. */
export async function showUser(admin: AdminCall, error: DomainError | null = null): Promise<Response> {
  const { call } = admin;
  const core = call.pages.core;
  const user = await userOf(admin);
  const now = core.now();
  const [sessions, applications, transactions, mfa, passkeys, identities, audit] = await Promise.all([
    listActiveSessions(core.db, user.id, now),
    listConnectedApplications(core, user.id),
    listTransactions(core, user.id, { limit: 50, offset: 0 }),
    mfaStatus(core, user.id),
    listPasskeys(core, user.id),
    identitiesOfUser(core, user.id),
    listAudit(core.db, { userId: user.id, limit: 20, offset: 0 }),
  ]);
  const clientNames = new Map(applications.map((a) => [a.client_id, a.name]));
  const typed = error && call.field("metadata") !== undefined;
  const status = effectiveStatus(user, now);
  return renderAdmin(
    admin,
    "admin-user",
    "users",
    {
      back: userPath(admin, user),
      notice: error ? null : noticeOf(call, NOTICES),
      error: error ? call.errorOf(error) : null,
      // Which form failed (the action's path under the user): only its fields show the error.
      failed: error ? (/\/admin\/users\/[^/]+\/([^/]+)/.exec(new URL(call.request.url).pathname)?.[1] ?? null) : null,
      user,
      status,
      purgeAt: user.deletedAt ? new Date(user.deletedAt.getTime() + core.config.purgeAfterDays * 86_400_000) : null,
      metadataText: typed ? call.field("metadata") : pretty(user.metadata),
      appMetadataText: typed ? (call.field("app_metadata") ?? "") : pretty(user.appMetadata),
      sessions: sessions.map((s) => ({
        ...s,
        kind: s.clientId ? `OIDC grant: ${clientNames.get(s.clientId) ?? s.clientId}` : s.cookieHash ? "Browser" : "API",
      })),
      applications,
      transactions: transactions.items,
      transactionsTotal: transactions.total,
      idempotencyKey: crypto.randomUUID(),
      mfa,
      passkeys,
      identities,
      audit: audit.items,
      auditHref: `${call.url("/admin/audit")}?${new URLSearchParams({ user_id: user.id })}`,
      base: call.url(`/admin/users/${user.id}`),
    },
    error ? HTTP_STATUS[error.code] : 200,
  );
}

/**
 * A form of the user's page: `run` on the user of `:id`, then back to the
 * page's `section` with the notice `done`; `run` may answer itself (an
 * "are you sure?" page, a redirect elsewhere). A refusal shows the page again
 * with its error.
 */
export function userAction(
  router: AdminRouter,
  action: string,
  outcome: { section: string; done: string },
  run: (admin: AdminCall, user: UserRecord) => Promise<Response | null | void>,
): void {
  router.action(
    `/admin/users/:id/${action}`,
    async (admin) => {
      const user = await userOf(admin);
      return (await run(admin, user)) ?? redirectDone(admin.call, userPath(admin, user, outcome.section), outcome.done);
    },
    (admin, error) => showUser(admin, error),
  );
}

export function userPageRoutes(router: AdminRouter): void {
  router.page("/admin/users/:id", (admin) => showUser(admin));
}
