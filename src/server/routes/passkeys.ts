/**
 * Passkeys for applications with their own UI (SPEC §10): registration under
 * /users/me/passkeys (bearer token; step-up for adding), and the
 * sign-in with no username under /auth/passkeys, answering the usual token pair.
 */
import { Elysia, t } from "elysia";
import type { Core } from "../../core/core.ts";
import { listPasskeys, removePasskey, renamePasskey } from "../../core/passkeys/manage.ts";
import { addPasskey, registrationOptions } from "../../core/passkeys/registration.ts";
import { authenticationOptions, passkeyLogin } from "../../core/passkeys/sign-in.ts";
import { authMacro, BEARER_SECURITY, clientInfo } from "../auth.ts";
import { ok } from "../envelope.ts";
import { Passkey, Tokens, WebAuthnOptions } from "../models.ts";
import { AUTH_ERRORS, BODY_ERRORS, responses } from "../responses.ts";

const strict = { additionalProperties: false } as const;
const Credential = t.Record(t.String(), t.Unknown(), { description: "The browser's answer as JSON (what @simplewebauthn/browser's startRegistration / startAuthentication return)" });
const password = t.Optional(t.String({ description: "current password; needed when the sign-in is not recent" }));
const Body = {
  stepUp: t.Optional(t.Object({ password }, strict)),
  add: t.Object({ response: Credential, name: t.Optional(t.String({ description: "1-64 characters; default “Passkey N”" })) }, strict),
  rename: t.Object({ name: t.String({ description: "1-64 characters" }), password }, strict),
  verify: t.Object({ response: Credential }, strict),
};

const STEP_UP_ERRORS = ["WRONG_PASSWORD", "REAUTHENTICATION_REQUIRED", "RATE_LIMITED"] as const;
const Responses = {
  list: responses({ data: t.Array(Passkey), description: "The user's passkeys, oldest first", errors: AUTH_ERRORS }),
  registrationOptions: responses({
    data: WebAuthnOptions,
    description: "Options for navigator.credentials.create; the challenge is good for five minutes, for this user only",
    errors: [...BODY_ERRORS, ...AUTH_ERRORS, ...STEP_UP_ERRORS, "EMAIL_NOT_VERIFIED"],
  }),
  added: responses({ status: 201, data: Passkey, description: "The passkey is added", errors: [...BODY_ERRORS, ...AUTH_ERRORS] }),
  renamed: responses({ data: Passkey, description: "The passkey as renamed", errors: [...BODY_ERRORS, ...AUTH_ERRORS, ...STEP_UP_ERRORS, "NOT_FOUND"] }),
  removed: responses({
    data: Passkey,
    description: "The passkey removed",
    errors: [...BODY_ERRORS, ...AUTH_ERRORS, ...STEP_UP_ERRORS, "NOT_FOUND", "LAST_SIGN_IN_METHOD"],
  }),
  authenticationOptions: responses({
    data: WebAuthnOptions,
    description: "Options for navigator.credentials.get with no allowCredentials (discoverable passkeys); good for five minutes, once",
    errors: [...BODY_ERRORS, "RATE_LIMITED"],
  }),
  signedIn: responses({
    data: Tokens,
    description: "A token pair; a passkey is two factors, so no MFA step follows (amr: hwk or swk, user, mfa)",
    errors: [...BODY_ERRORS, "INVALID_CREDENTIALS", "ACCOUNT_BLOCKED", "EMAIL_NOT_VERIFIED", "RATE_LIMITED", "HOOK_REJECTED", "HOOK_FAILED"],
  }),
};

/** The options as JSON: the library's interfaces have no index signature for the schema's record. */
const optionsOk = ({ options }: { options: object }) => ok({ options: options as Record<string, unknown> });

export function passkeyRoutes(core: Core) {
  const trustProxy = core.config.trustProxy;
  const me = (summary: string) => ({ tags: ["current user"], summary, security: BEARER_SECURITY });
  const auth = (summary: string) => ({ tags: ["auth"], summary });

  return new Elysia({ name: "routes/passkeys" })
    .use(authMacro(core))
    .get("/users/me/passkeys", async ({ principal }) => ok(await listPasskeys(core, principal.user.id)), {
      auth: true,
      response: Responses.list,
      detail: me("Your passkeys"),
    })
    .post(
      "/users/me/passkeys/registration/options",
      async ({ principal, body, actor }) => optionsOk(await registrationOptions(core, { user: principal.user, session: principal.session, password: body?.password, ip: actor.ip })),
      { auth: true, body: Body.stepUp, response: Responses.registrationOptions, detail: me("Start adding a passkey: WebAuthn creation options (verified email and step-up required)") },
    )
    .post(
      "/users/me/passkeys",
      async ({ principal, body, actor, status }) => status(201, ok(await addPasskey(core, actor, principal.user, body.response, body.name))),
      { auth: true, body: Body.add, response: Responses.added, detail: me("Finish adding a passkey: the browser's registration response") },
    )
    .patch(
      "/users/me/passkeys/:id",
      async ({ principal, params, body, actor }) => ok(await renamePasskey(core, actor, { ...principal, password: body.password }, params.id, body.name)),
      { auth: true, body: Body.rename, response: Responses.renamed, detail: me("Rename one of your passkeys (step-up: password, or a recent sign-in)") },
    )
    .delete(
      "/users/me/passkeys/:id",
      async ({ principal, params, body, actor }) => ok(await removePasskey(core, actor, { ...principal, password: body?.password }, params.id)),
      {
        auth: true,
        body: Body.stepUp,
        response: Responses.removed,
        detail: me("Remove one of your passkeys (step-up: password, or a recent sign-in; never the last way to sign in)"),
      },
    )
    .post("/auth/passkeys/options", async ({ request, server }) => optionsOk(await authenticationOptions(core, clientInfo(request, server, trustProxy).ip)), {
      response: Responses.authenticationOptions,
      detail: auth("Start a passkey sign-in: WebAuthn request options, no username needed"),
    })
    .post("/auth/passkeys/verify", async ({ body, request, server }) => ok(await passkeyLogin(core, body.response, clientInfo(request, server, trustProxy))), {
      body: Body.verify,
      response: Responses.signedIn,
      detail: auth("Finish a passkey sign-in: the browser's authentication response for a token pair"),
    });
}
