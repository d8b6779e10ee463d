import { Elysia, t } from "elysia";
import type { Actor } from "../../core/audit/actor.ts";
import { confirmMfa, disableMfa, enrollMfa, type FactorChange, mfaStatus, regenerateRecoveryCodes } from "../../core/auth/mfa.ts";
import { listTransactions } from "../../core/balance/balance.ts";
import type { Core } from "../../core/core.ts";
import { listSessions, type Principal, revokeOwnSession } from "../../core/sessions/sessions.ts";
import { deleteOwnAccount } from "../../core/users/lifecycle.ts";
import { toPublicUser } from "../../core/users/user.ts";
import { updateProfile } from "../../core/users/users.ts";
import { authMacro, BEARER_SECURITY } from "../auth.ts";
import { ok } from "../envelope.ts";
import { Page, pageOf } from "../models.ts";

const ProfileBody = t.Object(
  {
    username: t.Optional(t.String()),
    metadata: t.Optional(t.Record(t.String(), t.Unknown(), { description: "JSON object, at most 8 KiB" })),
  },
  { additionalProperties: false },
);
const DeleteBody = t.Object({ password: t.String() }, { additionalProperties: false });
/** Step-up: the current password, needed when the session signed in more than USERSVC_PRIVILEGED_MAX_AGE ago. */
const StepUpBody = t.Optional(
  t.Object({ password: t.Optional(t.String({ description: "current password; needed when the sign-in is not recent" })) }, { additionalProperties: false }),
);

export function meRoutes(core: Core) {
  const detail = (summary: string) => ({ tags: ["current user"], summary, security: BEARER_SECURITY });
  const update = async ({ actor, principal, body }: UpdateContext) =>
    ok(toPublicUser(await updateProfile(core, actor, principal.user.id, body), core.now()));

  return new Elysia({ name: "routes/me", prefix: "/users/me" })
    .use(authMacro(core))
    .get("", ({ principal }) => ok(toPublicUser(principal.user, core.now())), {
      auth: true,
      detail: detail("The current user"),
    })
    .patch("", update, { auth: true, body: ProfileBody, detail: detail("Update username or metadata") })
    .put("", update, { auth: true, body: ProfileBody, detail: detail("Update username or metadata (same as PATCH)") })
    .delete(
      "",
      async ({ actor, principal, body }) =>
        ok(toPublicUser(await deleteOwnAccount(core, actor, principal.user, body.password), core.now())),
      { auth: true, body: DeleteBody, detail: detail("Delete your account (soft delete; all sessions revoked)") },
    )
    .get("/sessions", async ({ principal }) => ok(await listSessions(core, principal)), {
      auth: true,
      detail: detail("Active sessions of the current user"),
    })
    .delete("/sessions/:id", async ({ principal, params, client }) => ok(await revokeOwnSession(core, principal, params.id, client)), {
      auth: true,
      detail: detail("Revoke one of your sessions"),
    })
    .get("/mfa", async ({ principal }) => ok(await mfaStatus(core, principal.user.id)), {
      auth: true,
      detail: detail("Two-factor authentication status"),
    })
    .post("/mfa/enroll", async ({ actor, principal, body }) => ok(await enrollMfa(core, factorChange(principal, body, actor.ip))), {
      auth: true,
      body: StepUpBody,
      detail: detail("Start TOTP enrollment: a secret and its otpauth:// URI (verified email and step-up required)"),
    })
    .post("/mfa/confirm", async ({ actor, principal, body }) => ok(await confirmMfa(core, actor, principal.user, body.code)), {
      auth: true,
      body: t.Object({ code: t.Union([t.String(), t.Number()]) }, { additionalProperties: false }),
      detail: detail("Turn TOTP on with a first code; answers the ten single-use recovery codes"),
    })
    .post(
      "/mfa/recovery-codes",
      async ({ actor, principal, body }) => ok(await regenerateRecoveryCodes(core, actor, factorChange(principal, body, actor.ip))),
      { auth: true, body: StepUpBody, detail: detail("Ten new recovery codes; the old ones stop working (step-up required)") },
    )
    .delete("/mfa", async ({ actor, principal, body }) => ok(await disableMfa(core, actor, factorChange(principal, body, actor.ip))), {
      auth: true,
      body: StepUpBody,
      detail: detail("Turn TOTP off (step-up required)"),
    })
    .get("/balance", ({ principal }) => ok({ balance: principal.user.balance }), {
      auth: true,
      detail: detail("Your balance, in minor units"),
    })
    .get(
      "/balance/transactions",
      async ({ principal, query }) =>
        ok(await listTransactions(core, principal.user.id, pageOf(query))),
      { auth: true, query: Page, detail: detail("Your balance transactions, newest first") },
    );
}

function factorChange(principal: Principal, body: { password?: string } | null | undefined, ip: string | null): FactorChange {
  return { user: principal.user, session: principal.session, password: body?.password, ip };
}

interface UpdateContext {
  actor: Actor;
  principal: { user: { id: string } };
  body: typeof ProfileBody.static;
}
