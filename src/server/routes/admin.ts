import { Elysia, t } from "elysia";
import { listAudit } from "../../core/audit/audit.ts";
import { resetMfa } from "../../core/mfa/factors.ts";
import { listConnectedApplications, revokeConnectedApplication } from "../../core/oidc/consents.ts";
import { adjustBalance } from "../../core/balance/balance.ts";
import type { Core } from "../../core/core.ts";
import { adminUpdateUser } from "../../core/users/admin-update.ts";
import {
  blockUser,
  forceLogout,
  purgeUser,
  restoreUser,
  softDeleteUser,
  unblockUser,
} from "../../core/users/lifecycle.ts";
import { listUsers, USER_SORTS } from "../../core/users/list.ts";
import { toPublicUser, type UserRecord } from "../../core/users/user-record.ts";
import { getUserById } from "../../core/users/users.ts";
import { authMacro, BEARER_SECURITY } from "../auth.ts";
import { ok } from "../envelope.ts";
import { AuditPage, ConnectedApplication, Mfa, Page, pageOf, Revoked, Transaction, User, UserPage } from "../models.ts";
import { ADMIN_ERRORS, BODY_ERRORS, responses } from "../responses.ts";

const strict = { additionalProperties: false } as const;
const Id = t.Object({ id: t.String({ format: "uuid", description: "User id" }) });
const Body = {
  patch: t.Object(
    {
      email: t.Optional(t.String()),
      username: t.Optional(t.String()),
      roles: t.Optional(t.Array(t.String(), { description: "Replaces the roles; 'admin' makes an admin" })),
      is_verified: t.Optional(t.Boolean()),
      metadata: t.Optional(t.Record(t.String(), t.Unknown())),
      app_metadata: t.Optional(t.Record(t.String(), t.Unknown(), { description: "server-only metadata (users cannot change it); at most 8 KiB" })),
    },
    strict,
  ),
  block: t.Object(
    {
      reason: t.Optional(t.Nullable(t.String())),
      until: t.Optional(t.Nullable(t.String({ description: "ISO-8601; the block ends by itself then" }))),
    },
    strict,
  ),
  balance: t.Object(
    {
      // Not t.Integer: Elysia's also accepts numeric strings ("5"), a wrong type by SPEC §4.
      amount: t.Number({ multipleOf: 1, description: "Signed integer, in minor units" }),
      reason: t.String(),
      idempotency_key: t.Optional(t.String({ description: "Repeats return the first result" })),
    },
    strict,
  ),
  revokeApplication: t.Object({ client_id: t.String({ description: "The client to disconnect" }) }, strict),
};
const ListQuery = t.Object(
  {
    // Bounds are checked by listUsers: Elysia reports a numeric's own bounds without the field's name.
    limit: t.Optional(t.Numeric({ description: "1-200, default 50" })),
    offset: t.Optional(t.Numeric({ description: "default 0" })),
    cursor: t.Optional(t.String({ description: "next_cursor of the previous page" })),
    q: t.Optional(t.String({ description: "Substring of email or username" })),
    status: t.Optional(t.String({ description: "active | blocked | deleted" })),
    role: t.Optional(t.String()),
    sort: t.Optional(t.String({ description: USER_SORTS.join(" | ") + " (default -created_at)" })),
  },
  strict,
);
const AuditQuery = t.Object(
  {
    user_id: t.Optional(t.String({ format: "uuid" })),
    event: t.Optional(t.String()),
    actor_id: t.Optional(t.String({ format: "uuid", description: "Entries by this actor (a user or admin id)" })),
    since: t.Optional(t.String({ format: "date-time", description: "Entries at or after this time" })),
    until: t.Optional(t.String({ format: "date-time", description: "Entries before this time" })),
    limit: Page.properties.limit,
    offset: Page.properties.offset,
  },
  strict,
);

/** A POST/PATCH/DELETE on /admin/users/:id that finds no such user. */
const TARGET_ERRORS = [...BODY_ERRORS, ...ADMIN_ERRORS, "USER_NOT_FOUND"] as const;
const Purged = t.Object({ id: t.String({ format: "uuid" }), purged: t.Literal(true) }, { ...strict, $id: "Purged" });
const Responses = {
  check: responses({ data: t.Object({ is_admin: t.Literal(true) }, strict), description: "The caller is an admin", errors: ADMIN_ERRORS }),
  list: responses({ data: UserPage, description: "One page of users", errors: ADMIN_ERRORS }),
  user: responses({ data: User, description: "The user", errors: [...ADMIN_ERRORS, "USER_NOT_FOUND"] }),
  patched: responses({
    data: User,
    description: "The user as updated",
    errors: [...TARGET_ERRORS, "EMAIL_TAKEN", "USERNAME_TAKEN", "LAST_ADMIN"],
  }),
  deleted: responses({
    data: t.Union([User, Purged]),
    description: "The user, status deleted; with ?hard=true, {id, purged: true}",
    errors: [...TARGET_ERRORS, "LAST_ADMIN"],
  }),
  restored: responses({ data: User, description: "The user, active again", errors: TARGET_ERRORS }),
  blocked: responses({ data: User, description: "The user, blocked", errors: [...TARGET_ERRORS, "LAST_ADMIN"] }),
  unblocked: responses({ data: User, description: "The user, active again", errors: TARGET_ERRORS }),
  mfaReset: responses({ data: Mfa.reset, description: "The second factor is gone", errors: TARGET_ERRORS }),
  logout: responses({ data: Revoked, description: "How many sessions were revoked", errors: TARGET_ERRORS }),
  applications: responses({ data: t.Array(ConnectedApplication), description: "The user's connected applications (OpenID Connect clients)", errors: [...ADMIN_ERRORS, "USER_NOT_FOUND"] }),
  applicationRevoked: responses({
    data: Revoked,
    description: "The user's consent to the client is forgotten and its grants revoked",
    errors: [...TARGET_ERRORS, "NOT_FOUND"],
  }),
  balance: responses({
    data: t.Object({ balance: User.properties.balance, transaction: Transaction }, strict),
    description: "The new balance and the transaction (the first one, for a repeated idempotency_key)",
    errors: [...TARGET_ERRORS, "INSUFFICIENT_BALANCE"],
  }),
  audit: responses({ data: AuditPage, description: "One page of the audit log", errors: ADMIN_ERRORS }),
};

export function adminRoutes(core: Core) {
  const detail = (summary: string) => ({ tags: ["admin"], summary, security: BEARER_SECURITY });
  const user = (record: UserRecord) => ok(toPublicUser(record, core.now()));

  return new Elysia({ name: "routes/admin", prefix: "/admin" })
    .use(authMacro(core))
    .get("/check", () => ok({ is_admin: true as const }), { admin: true, response: Responses.check, detail: detail("Am I an admin?") })
    .get("/users", async ({ query }) => ok(await listUsers(core, query)), {
      admin: true,
      query: ListQuery,
      response: Responses.list,
      detail: detail("List users: filters, offset or cursor pages"),
    })
    .get("/users/:id", async ({ params }) => user(await getUserById(core, params.id)), {
      admin: true,
      params: Id,
      response: Responses.user,
      detail: detail("One user, whatever its status"),
    })
    .patch("/users/:id", async ({ actor, params, body }) => user(await adminUpdateUser(core, actor, params.id, body)), {
      admin: true,
      params: Id,
      body: Body.patch,
      response: Responses.patched,
      detail: detail("Change email (clears is_verified unless given), username, roles, verification, metadata or app_metadata"),
    })
    .delete(
      "/users/:id",
      async ({ actor, params, query }) =>
        query.hard === "true" ? ok(await purgeUser(core, actor, params.id)) : user(await softDeleteUser(core, actor, params.id)),
      {
        admin: true,
        params: Id,
        query: t.Object({ hard: t.Optional(t.Union([t.Literal("true"), t.Literal("false")])) }, strict),
        response: Responses.deleted,
        detail: detail("Soft delete (sessions revoked); ?hard=true purges for good"),
      },
    )
    .post("/users/:id/restore", async ({ actor, params }) => user(await restoreUser(core, actor, params.id)), {
      admin: true,
      params: Id,
      response: Responses.restored,
      detail: detail("Undo a soft delete"),
    })
    .post("/users/:id/block", async ({ actor, params, body }) => user(await blockUser(core, actor, params.id, body ?? {})), {
      admin: true,
      params: Id,
      body: t.Optional(Body.block),
      response: Responses.blocked,
      detail: detail("Block (sessions revoked), optionally until a time"),
    })
    .post("/users/:id/unblock", async ({ actor, params }) => user(await unblockUser(core, actor, params.id)), {
      admin: true,
      params: Id,
      response: Responses.unblocked,
      detail: detail("Lift a block"),
    })
    .post("/users/:id/mfa/reset", async ({ actor, params }) => ok(await resetMfa(core, actor, params.id)), {
      admin: true,
      params: Id,
      response: Responses.mfaReset,
      detail: detail("Remove the user's second factor and recovery codes (audited: user.mfa_reset)"),
    })
    .get("/users/:id/applications", async ({ params }) => ok(await listConnectedApplications(core, (await getUserById(core, params.id)).id)), {
      admin: true,
      params: Id,
      response: Responses.applications,
      detail: detail("The OpenID Connect clients the user consented to or that hold a grant"),
    })
    .post(
      "/users/:id/applications/revoke",
      async ({ actor, params, body }) => ok(await revokeConnectedApplication(core, await getUserById(core, params.id), body.client_id, actor)),
      {
        admin: true,
        params: Id,
        body: Body.revokeApplication,
        response: Responses.applicationRevoked,
        detail: detail("Disconnect an application from the user: forget the consent, revoke its grants (oauth.consent_revoked)"),
      },
    )
    .post("/users/:id/logout", async ({ actor, params }) => ok(await forceLogout(core, actor, params.id)), {
      admin: true,
      params: Id,
      response: Responses.logout,
      detail: detail("Revoke every session of the user"),
    })
    .post("/users/:id/balance", async ({ actor, params, body }) => ok(await adjustBalance(core, actor, params.id, body)), {
      admin: true,
      params: Id,
      body: Body.balance,
      response: Responses.balance,
      detail: detail("Credit (positive) or debit (negative) the balance"),
    })
    .get(
      "/audit",
      async ({ query }) => {
        const page = pageOf(query);
        return ok({ ...(await listAudit(core.db, {
          userId: query.user_id,
          event: query.event,
          actorId: query.actor_id,
          since: query.since ? new Date(query.since) : undefined,
          until: query.until ? new Date(query.until) : undefined,
          ...page,
        })), ...page });
      },
      { admin: true, query: AuditQuery, response: Responses.audit, detail: detail("The audit log, newest first") },
    );
}
