import { Elysia, t } from "elysia";
import type { Core } from "../../core/core.ts";
import { changePassword } from "../../core/sessions/change-password.ts";
import { completeMfaLogin, login } from "../../core/sessions/login.ts";
import { logout, logoutAll } from "../../core/sessions/own-sessions.ts";
import { refresh } from "../../core/sessions/refresh.ts";
import { createUser } from "../../core/users/users.ts";
import { forgotPassword, resendVerification, resetPassword, verifyEmail, verifyEmailWithCode } from "../../core/users/email-tokens.ts";
import { toPublicUser } from "../../core/users/user-record.ts";
import type { Actor } from "../../core/audit/actor.ts";
import { authMacro, BEARER_SECURITY, clientInfo } from "../auth.ts";
import { ok } from "../envelope.ts";
import { Accepted, MfaChallenge, Revoked, Tokens, User } from "../models.ts";
import { AUTH_ERRORS, BODY_ERRORS, responses } from "../responses.ts";
import { preferredLocale } from "../../core/theme/theme.ts";

const strict = { additionalProperties: false } as const;
const Body = {
  register: t.Object(
    {
      // No `format: "email"`: core checks it after trimming (SPEC: stored trimmed), naming every bad field at once.
      email: t.String({ description: "Unique, case-insensitive; stored trimmed and lower-cased" }),
      username: t.String({ description: "3-32 of A-Z a-z 0-9 _ . -", examples: ["alice"] }),
      password: t.String({ description: "8-256 characters, not a common password" }),
    },
    strict,
  ),
  login: t.Object(
    {
      email: t.Optional(t.String({ description: "Give email or username" })),
      username: t.Optional(t.String()),
      password: t.String(),
    },
    strict,
  ),
  refresh: t.Object({ refresh_token: t.String() }, strict),
  token: t.Object({ token: t.String() }, strict),
  verifyEmail: t.Union([
    t.Object({ token: t.String({ description: "The token of the emailed link" }) }, strict),
    t.Object({ email: t.String(), code: t.String({ description: "The 6-digit code of the email (spaces and dashes ignored)" }) }, strict),
  ]),
  forgot: t.Object({ email: t.String() }, strict),
  reset: t.Object({ token: t.String(), new_password: t.String() }, strict),
  mfaVerify: t.Object({ mfa_token: t.String(), code: t.Union([t.String(), t.Number()], { description: "6-digit TOTP code (spaces and dashes ignored; a JSON number is zero-padded to 6 digits) or a recovery code" }) }, strict),
  changePassword: t.Object({ current_password: t.String(), new_password: t.String() }, strict),
};

/** Minting a token pair runs the accessTokenClaims hook, which fails closed. */
const MINT_ERRORS = ["HOOK_FAILED"] as const;
const Responses = {
  register: responses({
    status: 201,
    data: User,
    description: "The new user",
    errors: [...BODY_ERRORS, "WEAK_PASSWORD", "EMAIL_TAKEN", "USERNAME_TAKEN", "RATE_LIMITED", "HOOK_REJECTED", "HOOK_FAILED"],
  }),
  login: responses({
    data: t.Union([Tokens, MfaChallenge]),
    description: "A token pair, or with two-factor authentication on, an MFA challenge (mfa_required) for POST /auth/mfa/verify",
    errors: [
      ...BODY_ERRORS,
      "INVALID_CREDENTIALS",
      "ACCOUNT_BLOCKED",
      "EMAIL_NOT_VERIFIED",
      "RATE_LIMITED",
      "HOOK_REJECTED",
      ...MINT_ERRORS,
    ],
  }),
  refresh: responses({
    data: Tokens,
    description: "A new pair; the refresh token given is spent",
    errors: [
      ...BODY_ERRORS,
      "INVALID_TOKEN",
      "TOKEN_EXPIRED",
      "INVALID_TOKEN_TYPE",
      "REFRESH_TOKEN_REUSED",
      "SESSION_REVOKED",
      "ACCOUNT_BLOCKED",
      "RATE_LIMITED",
      ...MINT_ERRORS,
    ],
  }),
  revoked: responses({ data: Revoked, description: "How many sessions were revoked", errors: [...BODY_ERRORS, ...AUTH_ERRORS] }),
  mfaVerify: responses({
    data: Tokens,
    description: "A token pair: the login is complete",
    errors: [...BODY_ERRORS, "INVALID_OR_EXPIRED_TOKEN", "INVALID_CREDENTIALS", "ACCOUNT_BLOCKED", "RATE_LIMITED", ...MINT_ERRORS],
  }),
  verifyEmail: responses({
    data: User,
    description: "The user, now verified (with its new address, for an email-change link)",
    errors: [...BODY_ERRORS, "INVALID_OR_EXPIRED_TOKEN", "RATE_LIMITED", "EMAIL_TAKEN"],
  }),
  resend: responses({
    status: 202,
    data: Accepted,
    description: "Accepted: a token is on its way (user.verification_requested) unless already verified",
    errors: [...BODY_ERRORS, ...AUTH_ERRORS, "RATE_LIMITED"],
  }),
  forgot: responses({
    status: 202,
    data: Accepted,
    description: "Accepted, whether or not the email belongs to a user",
    errors: [...BODY_ERRORS, "RATE_LIMITED"],
  }),
  reset: responses({
    data: t.Object({ password_reset: t.Literal(true) }, strict),
    description: "The password is changed; every session is revoked",
    errors: [...BODY_ERRORS, "INVALID_OR_EXPIRED_TOKEN", "WEAK_PASSWORD", "RATE_LIMITED"],
  }),
  changePassword: responses({
    data: Tokens,
    description: "A fresh pair for this session; the other sessions are revoked",
    errors: [...BODY_ERRORS, ...AUTH_ERRORS, "WRONG_PASSWORD", "WEAK_PASSWORD", "RATE_LIMITED", ...MINT_ERRORS],
  }),
};

export function authRoutes(core: Core) {
  const trustProxy = core.config.trustProxy;
  const register = async ({ body, request, server }: RegisterContext) => {
    // The new user is the actor; its id is filled in once it exists.
    const actor: Actor = { type: "user", id: null, ip: clientInfo(request, server, trustProxy).ip };
    const locale = preferredLocale(request.headers.get("accept-language"), core.theme.locales);
    return ok(toPublicUser(await createUser(core, body, { actor, locale }), core.now()));
  };

  return new Elysia({ name: "routes/auth" })
    .use(authMacro(core))
    .post("/users", async ({ body, request, server, status }) => status(201, await register({ body, request, server })), {
      body: Body.register,
      response: Responses.register,
      detail: { tags: ["auth"], summary: "Register a new user" },
    })
    .post(
      "/auth/register",
      async ({ body, request, server, status }) => status(201, await register({ body, request, server })),
      {
        body: Body.register,
        response: Responses.register,
        detail: { tags: ["auth"], summary: "Register a new user (alias of POST /users)" },
      },
    )
    .post(
      "/auth/login",
      async ({ body, request, server }) => ok(await login(core, body, clientInfo(request, server, trustProxy))),
      { body: Body.login, response: Responses.login, detail: { tags: ["auth"], summary: "Log in with email or username" } },
    )
    .post(
      "/auth/refresh",
      async ({ body, request, server }) => ok(await refresh(core, body.refresh_token, clientInfo(request, server, trustProxy))),
      {
        body: Body.refresh,
        response: Responses.refresh,
        detail: { tags: ["auth"], summary: "Exchange a refresh token for a new pair (rotation)" },
      },
    )
    .post("/auth/logout", async ({ principal, client }) => ok(await logout(core, principal, client)), {
      auth: true,
      response: Responses.revoked,
      detail: { tags: ["auth"], summary: "Revoke the current session", security: BEARER_SECURITY },
    })
    .post("/auth/logout-all", async ({ principal, client }) => ok(await logoutAll(core, principal, client)), {
      auth: true,
      response: Responses.revoked,
      detail: { tags: ["auth"], summary: "Revoke every session of the current user", security: BEARER_SECURITY },
    })
    .post(
      "/auth/mfa/verify",
      async ({ body, request, server }) => ok(await completeMfaLogin(core, body, clientInfo(request, server, trustProxy))),
      {
        body: Body.mfaVerify,
        response: Responses.mfaVerify,
        detail: { tags: ["auth"], summary: "Second login step: the mfa_token from login and a TOTP or recovery code" },
      },
    )
    .post(
      "/auth/verify-email",
      async ({ body, request, server }) => {
        const ip = clientInfo(request, server, trustProxy).ip;
        const user = "token" in body ? await verifyEmail(core, body.token, ip) : await verifyEmailWithCode(core, body.email, body.code, ip);
        return ok(toPublicUser(user, core.now()));
      },
      {
        body: Body.verifyEmail,
        response: Responses.verifyEmail,
        detail: { tags: ["auth"], summary: "Verify an email address with the token of user.verification_requested, or with the address and its 6-digit code" },
      },
    )
    .post(
      "/auth/verify-email/resend",
      async ({ principal, client, status }) => {
        await resendVerification(core, principal.user, client.ip);
        return status(202, ok({ accepted: true as const }));
      },
      {
        auth: true,
        response: Responses.resend,
        detail: { tags: ["auth"], summary: "Send a new verification token (no-op when verified)", security: BEARER_SECURITY },
      },
    )
    .post(
      "/auth/forgot-password",
      async ({ body, request, server, status }) => {
        await forgotPassword(core, body.email, clientInfo(request, server, trustProxy).ip);
        return status(202, ok({ accepted: true as const }));
      },
      { body: Body.forgot, response: Responses.forgot, detail: { tags: ["auth"], summary: "Ask for a password reset token (same answer for every email)" } },
    )
    .post(
      "/auth/reset-password",
      async ({ body, request, server }) => {
        await resetPassword(core, body.token, body.new_password, clientInfo(request, server, trustProxy).ip);
        return ok({ password_reset: true as const });
      },
      { body: Body.reset, response: Responses.reset, detail: { tags: ["auth"], summary: "Set a new password with a reset token; all sessions are revoked" } },
    )
    .post(
      "/auth/change-password",
      async ({ principal, body, client }) => ok(await changePassword(core, principal, body, client)),
      {
        auth: true,
        body: Body.changePassword,
        response: Responses.changePassword,
        detail: {
          tags: ["auth"],
          summary: "Change password; other sessions are revoked, this one gets a fresh pair",
          security: BEARER_SECURITY,
        },
      },
    );
}

interface RegisterContext {
  body: typeof Body.register.static;
  request: Request;
  server: Parameters<typeof clientInfo>[1];
}
