import { Elysia, t } from "elysia";
import { listAudit } from "../../core/audit/audit.ts";
import { resetMfa } from "../../core/mfa/factors.ts";
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
import { Page, pageOf } from "../models.ts";

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
    limit: Page.properties.limit,
    offset: Page.properties.offset,
  },
  strict,
);

export function adminRoutes(core: Core) {
  const detail = (summary: string) => ({ tags: ["admin"], summary, security: BEARER_SECURITY });
  const user = (record: UserRecord) => ok(toPublicUser(record, core.now()));

  return new Elysia({ name: "routes/admin", prefix: "/admin" })
    .use(authMacro(core))
    .get("/check", () => ok({ is_admin: true as const }), { admin: true, detail: detail("Am I an admin?") })
    .get("/users", async ({ query }) => ok(await listUsers(core, query)), {
      admin: true,
      query: ListQuery,
      detail: detail("List users: filters, offset or cursor pages"),
    })
    .get("/users/:id", async ({ params }) => user(await getUserById(core, params.id)), {
      admin: true,
      params: Id,
      detail: detail("One user, whatever its status"),
    })
    .patch("/users/:id", async ({ actor, params, body }) => user(await adminUpdateUser(core, actor, params.id, body)), {
      admin: true,
      params: Id,
      body: Body.patch,
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
        detail: detail("Soft delete (sessions revoked); ?hard=true purges for good"),
      },
    )
    .post("/users/:id/restore", async ({ actor, params }) => user(await restoreUser(core, actor, params.id)), {
      admin: true,
      params: Id,
      detail: detail("Undo a soft delete"),
    })
    .post("/users/:id/block", async ({ actor, params, body }) => user(await blockUser(core, actor, params.id, body ?? {})), {
      admin: true,
      params: Id,
      body: t.Optional(Body.block),
      detail: detail("Block (sessions revoked), optionally until a time"),
    })
    .post("/users/:id/unblock", async ({ actor, params }) => user(await unblockUser(core, actor, params.id)), {
      admin: true,
      params: Id,
      detail: detail("Lift a block"),
    })
    .post("/users/:id/mfa/reset", async ({ actor, params }) => ok(await resetMfa(core, actor, params.id)), {
      admin: true,
      params: Id,
      detail: detail("Remove the user's second factor and recovery codes (audited: user.mfa_reset)"),
    })
    .post("/users/:id/logout", async ({ actor, params }) => ok(await forceLogout(core, actor, params.id)), {
      admin: true,
      params: Id,
      detail: detail("Revoke every session of the user"),
    })
    .post("/users/:id/balance", async ({ actor, params, body }) => ok(await adjustBalance(core, actor, params.id, body)), {
      admin: true,
      params: Id,
      body: Body.balance,
      detail: detail("Credit (positive) or debit (negative) the balance"),
    })
    .get(
      "/audit",
      async ({ query }) => {
        const page = pageOf(query);
        return ok({ ...(await listAudit(core.db, { userId: query.user_id, event: query.event, ...page })), ...page });
      },
      { admin: true, query: AuditQuery, detail: detail("The audit log, newest first") },
    );
}
