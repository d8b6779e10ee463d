import { Elysia, t } from "elysia";
import type { Actor } from "../../core/audit/actor.ts";
import { confirmMfa, disableMfa, enrollMfa, type FactorChange, mfaStatus, regenerateRecoveryCodes } from "../../core/mfa/factors.ts";
import { listTransactions } from "../../core/balance/balance.ts";
import type { Core } from "../../core/core.ts";
import { listConnectedApplications, revokeConnectedApplication } from "../../core/oidc/consents.ts";
import { listSessions, revokeOwnSession } from "../../core/sessions/own-sessions.ts";
import type { Principal } from "../../core/sessions/session-tokens.ts";
import { requestEmailChange } from "../../core/users/email-change.ts";
import { deleteOwnAccount } from "../../core/users/lifecycle.ts";
import { toPublicUser } from "../../core/users/user-record.ts";
import { updateProfile } from "../../core/users/users.ts";
import { authMacro, BEARER_SECURITY } from "../auth.ts";
import { ok } from "../envelope.ts";
import { Accepted, ConnectedApplication, Mfa, Page, pageOf, Revoked, Session, TransactionPage, User } from "../models.ts";
import { AUTH_ERRORS, BODY_ERRORS, responses } from "../responses.ts";

const ProfileBody = t.Object(
  {
    username: t.Optional(t.String()),
    metadata: t.Optional(t.Record(t.String(), t.Unknown(), { description: "JSON object, at most 8 KiB" })),
  },
  { additionalProperties: false },
);
// The password is required of a user who has one; one without (signed up with a provider) needs a recent sign-in instead.
const DeleteBody = t.Object({ password: t.Optional(t.String()) }, { additionalProperties: false });
/** Step-up: the current password, needed when the session signed in more than USERSVC_PRIVILEGED_MAX_AGE ago. */
const StepUpBody = t.Optional(
  t.Object({ password: t.Optional(t.String({ description: "current password; needed when the sign-in is not recent" })) }, { additionalProperties: false }),
);

/** Step-up (StepUpBody): a wrong password, or none given on a session signed in too long ago. */
const STEP_UP_ERRORS = ["WRONG_PASSWORD", "REAUTHENTICATION_REQUIRED", "RATE_LIMITED"] as const;
const Responses = {
  user: responses({ data: User, description: "The current user", errors: AUTH_ERRORS }),
  updated: responses({
    data: User,
    description: "The user as updated",
    errors: [...BODY_ERRORS, ...AUTH_ERRORS, "USERNAME_TAKEN", "USER_NOT_FOUND"],
  }),
  deleted: responses({
    data: User,
    description: "The user, status deleted; every session is revoked",
    errors: [...BODY_ERRORS, ...AUTH_ERRORS, "WRONG_PASSWORD", "RATE_LIMITED", "LAST_ADMIN", "USER_NOT_FOUND"],
  }),
  sessions: responses({ data: t.Array(Session), description: "The active sessions, this one marked current", errors: AUTH_ERRORS }),
  sessionRevoked: responses({
    data: Revoked,
    description: "The session is revoked",
    errors: [...BODY_ERRORS, ...AUTH_ERRORS, "NOT_FOUND"],
  }),
  applications: responses({ data: t.Array(ConnectedApplication), description: "The OpenID Connect clients the user consented to or that hold a grant", errors: AUTH_ERRORS }),
  applicationRevoked: responses({
    data: Revoked,
    description: "The consent is forgotten and the client's grants for the user are revoked",
    errors: [...AUTH_ERRORS, "NOT_FOUND"],
  }),
  mfaStatus: responses({ data: Mfa.status, description: "Whether TOTP is on", errors: AUTH_ERRORS }),
  mfaEnroll: responses({
    data: Mfa.enrollment,
    description: "The secret to put in an authenticator app; confirm with POST /users/me/mfa/confirm",
    errors: [...BODY_ERRORS, ...AUTH_ERRORS, ...STEP_UP_ERRORS, "EMAIL_NOT_VERIFIED"],
  }),
  mfaConfirm: responses({
    data: Mfa.recoveryCodes,
    description: "TOTP is on; the recovery codes are shown this once",
    errors: [...BODY_ERRORS, ...AUTH_ERRORS, "INVALID_CREDENTIALS", "RATE_LIMITED"],
  }),
  recoveryCodes: responses({
    data: Mfa.recoveryCodes,
    description: "New recovery codes, shown this once",
    errors: [...BODY_ERRORS, ...AUTH_ERRORS, ...STEP_UP_ERRORS],
  }),
  mfaDisabled: responses({ data: Mfa.disabled, description: "TOTP is off", errors: [...BODY_ERRORS, ...AUTH_ERRORS, ...STEP_UP_ERRORS] }),
  balance: responses({
    data: t.Object({ balance: User.properties.balance }, { additionalProperties: false }),
    description: "The balance",
    errors: AUTH_ERRORS,
  }),
  transactions: responses({ data: TransactionPage, description: "One page of transactions", errors: AUTH_ERRORS }),
  emailChange: responses({
    status: 202,
    data: Accepted,
    description: "A confirmation link is emailed to the new address; the change applies when it is followed",
    errors: [...BODY_ERRORS, ...AUTH_ERRORS, ...STEP_UP_ERRORS, "EMAIL_TAKEN"],
  }),
};

export function meRoutes(core: Core) {
  const detail = (summary: string) => ({ tags: ["current user"], summary, security: BEARER_SECURITY });
  const update = async ({ actor, principal, body }: UpdateContext) =>
    ok(toPublicUser(await updateProfile(core, actor, principal.user.id, body), core.now()));

  return new Elysia({ name: "routes/me", prefix: "/users/me" })
    .use(authMacro(core))
    .get("", ({ principal }) => ok(toPublicUser(principal.user, core.now())), {
      auth: true,
      response: Responses.user,
      detail: detail("The current user"),
    })
    .patch("", update, { auth: true, body: ProfileBody, response: Responses.updated, detail: detail("Update username or metadata") })
    .put("", update, { auth: true, body: ProfileBody, response: Responses.updated, detail: detail("Update username or metadata (same as PATCH)") })
    .delete(
      "",
      async ({ actor, principal, body }) =>
        ok(toPublicUser(await deleteOwnAccount(core, actor, principal, body.password), core.now())),
      { auth: true, body: DeleteBody, response: Responses.deleted, detail: detail("Delete your account (soft delete; all sessions revoked)") },
    )
    .get("/sessions", async ({ principal }) => ok(await listSessions(core, principal)), {
      auth: true,
      response: Responses.sessions,
      detail: detail("Active sessions of the current user"),
    })
    .delete("/sessions/:id", async ({ principal, params, client }) => ok(await revokeOwnSession(core, principal, params.id, client)), {
      auth: true,
      response: Responses.sessionRevoked,
      detail: detail("Revoke one of your sessions"),
    })
    .get("/applications", async ({ principal }) => ok(await listConnectedApplications(core, principal.user.id)), {
      auth: true,
      response: Responses.applications,
      detail: detail("Connected applications (OpenID Connect clients) of the current user"),
    })
    .delete("/applications/:id", async ({ principal, params, actor }) => ok(await revokeConnectedApplication(core, principal.user, params.id, actor)), {
      auth: true,
      response: Responses.applicationRevoked,
      detail: detail("Disconnect an application: forget the consent, revoke its grants"),
    })
    .get("/mfa", async ({ principal }) => ok(await mfaStatus(core, principal.user.id)), {
      auth: true,
      response: Responses.mfaStatus,
      detail: detail("Two-factor authentication status"),
    })
    .post("/mfa/enroll", async ({ actor, principal, body }) => ok(await enrollMfa(core, factorChange(principal, body, actor.ip))), {
      auth: true,
      body: StepUpBody,
      response: Responses.mfaEnroll,
      detail: detail("Start TOTP enrollment: a secret and its otpauth:// URI (verified email and step-up required)"),
    })
    .post("/mfa/confirm", async ({ actor, principal, body }) => ok(await confirmMfa(core, actor, principal.user, body.code)), {
      auth: true,
      body: t.Object({ code: t.Union([t.String(), t.Number()]) }, { additionalProperties: false }),
      response: Responses.mfaConfirm,
      detail: detail("Turn TOTP on with a first code; answers the ten single-use recovery codes"),
    })
    .post(
      "/mfa/recovery-codes",
      async ({ actor, principal, body }) => ok(await regenerateRecoveryCodes(core, actor, factorChange(principal, body, actor.ip))),
      { auth: true, body: StepUpBody, response: Responses.recoveryCodes, detail: detail("Ten new recovery codes; the old ones stop working (step-up required)") },
    )
    .delete("/mfa", async ({ actor, principal, body }) => ok(await disableMfa(core, actor, factorChange(principal, body, actor.ip))), {
      auth: true,
      body: StepUpBody,
      response: Responses.mfaDisabled,
      detail: detail("Turn TOTP off (step-up required)"),
    })
    .post(
      "/email",
      async ({ actor, principal, body, status }) => {
        await requestEmailChange(core, { user: principal.user, session: principal.session, newEmail: body.new_email, password: body.password, ip: actor.ip });
        return status(202, ok({ accepted: true as const }));
      },
      {
        auth: true,
        body: t.Object(
          { new_email: t.String(), password: t.Optional(t.String({ description: "current password; needed when the sign-in is not recent" })) },
          { additionalProperties: false },
        ),
        response: Responses.emailChange,
        detail: detail("Change your email address: a confirmation link goes to the new one (step-up required)"),
      },
    )
    .get("/balance", ({ principal }) => ok({ balance: principal.user.balance }), {
      auth: true,
      response: Responses.balance,
      detail: detail("Your balance, in minor units"),
    })
    .get(
      "/balance/transactions",
      async ({ principal, query }) =>
        ok(await listTransactions(core, principal.user.id, pageOf(query))),
      { auth: true, query: Page, response: Responses.transactions, detail: detail("Your balance transactions, newest first") },
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
