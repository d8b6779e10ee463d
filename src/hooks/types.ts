/**
 * usersvc hook types — the contract between usersvc and a host project's
 * hooks (USERSVC_HOOKS). Print this file with `usersvc hooks types >
 * usersvc-hooks.d.ts` and import from it in your hooks module for editor
 * completion:
 *
 * @example
 * // hooks.ts
 * import type { UsersvcHooks } from "./usersvc-hooks";
 * export default {
 *   beforeRegister({ email }) {
 *     if (email.endsWith("@spam.example")) return { reject: "Sign-ups from this domain are closed" };
 *   },
 *   accessTokenClaims({ user }) {
 *     // app_metadata, never metadata: users edit their own metadata.
 *     return { tenant: String(user.app_metadata.tenant ?? "default") };
 *   },
 *   "user.registered"(event, ctx) {
 *     ctx.log("welcome", { id: event.data.user?.id });
 *   },
 * } satisfies UsersvcHooks;
 *
 * This file holds types only; it is self-contained on purpose.
 */

/** The user object of the API (never a password hash). */
export interface HookUser {
  id: string;
  email: string;
  username: string;
  roles: string[];
  is_admin: boolean;
  is_active: boolean;
  is_verified: boolean;
  status: "active" | "blocked" | "deleted";
  blocked_reason: string | null;
  blocked_until: string | null;
  /** The user's own: they change it with PATCH /users/me. Never trust it for authorization. */
  metadata: Record<string, unknown>;
  /** Written only by admins, operators and hooks (beforeRegister): safe for claims and authorization. */
  app_metadata: Record<string, unknown>;
  balance: number;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
  deleted_at: string | null;
}

/**
 * An OpenID Connect client as the admin API and the `oauth.client_*` events
 * show it: never its secret, nor the secret's hash.
 */
export interface HookOAuthClient {
  client_id: string;
  name: string;
  /** A public client (a browser or native app) has no secret and authenticates with PKCE alone. */
  public: boolean;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: ("authorization_code" | "refresh_token" | "client_credentials")[];
  scopes: string[];
  /** The `aud` of the client's access tokens: the audience it was given, or its client_id. */
  audience: string;
  cors_origins: string[];
  /** First-party: its users are not asked for consent. */
  skip_consent: boolean;
  id_token_alg: "RS256" | "EdDSA";
  created_at: string;
  updated_at: string;
  secret_rotated_at: string | null;
}

/** Given to every hook as its second argument. */
export interface HookContext {
  /** Writes a line to usersvc's log (JSON, with the hook's name). */
  log(message: string, data?: Record<string, unknown>): void;
}

/** A hook may answer synchronously or with a promise. */
export type Awaitable<T> = T | Promise<T>;

/** Refuse the action: the caller gets 403 HOOK_REJECTED with this message. */
export interface HookRejection {
  reject: string;
}

export interface BeforeRegisterInput {
  email: string;
  username: string;
  metadata: Record<string, unknown>;
  /** The client's IP for API sign-ups; null for CLI-created users and imports. */
  ip: string | null;
  /**
   * Set when the person signs up by signing in with a provider (SPEC §10):
   * its name (as in `usersvc providers list`) and type. Such a user has no password.
   */
  provider?: { name: string; type: "oidc" | "github" | "google" };
}

/**
 * `metadata` replaces the new user's metadata and `app_metadata` sets its
 * server-only metadata (either or both); nothing lets the sign-up through unchanged.
 */
export type BeforeRegisterResult =
  | void
  | undefined
  | { metadata?: Record<string, unknown>; app_metadata?: Record<string, unknown> }
  | HookRejection;

export interface BeforeLoginInput {
  user: HookUser;
  ip: string | null;
}

export interface AccessTokenClaimsInput {
  user: HookUser;
  session: { id: string };
  /** Set when the token is for an OpenID Connect client (SPEC §9): which one, and the scopes granted. */
  client?: { id: string; name: string; scopes: string[] };
}

/** Claims usersvc sets itself; a hook's value for any of them is ignored. */
export type ReservedClaim = "sub" | "sid" | "jti" | "type" | "iss" | "aud" | "exp" | "iat" | "nbf" | "roles" | "gen" | "amr" | "client_id" | "scope" | "auth_time";

export type EventType =
  | "user.registered"
  | "user.logged_in"
  | "user.login_failed"
  | "user.updated"
  | "user.password_changed"
  | "user.password_reset_requested"
  | "user.email_change_requested"
  | "user.email_changed"
  | "user.password_reset"
  | "user.verification_requested"
  | "user.verified"
  | "user.blocked"
  | "user.unblocked"
  | "user.deleted"
  | "user.restored"
  | "user.purged"
  | "user.mfa_reset"
  | "session.revoked"
  | "balance.changed"
  | "oauth.client_created"
  | "oauth.client_updated"
  | "oauth.client_removed"
  | "oauth.consent_granted"
  | "oauth.consent_revoked"
  | "user.passkey_added"
  | "user.passkey_removed"
  | "user.identity_linked"
  | "user.identity_unlinked";

/**
 * A lifecycle event, as hooks and webhooks receive it. `id` is stable across
 * redeliveries (the `webhook-id` header): use it to ignore repeats.
 */
export interface UsersvcEvent<T extends EventType = EventType> {
  id: string;
  type: T;
  occurred_at: string;
  actor: { type: "user" | "admin" | "cli" | "system"; id: string | null };
  data: {
    /** The user the event is about (absent for a login failure on an unknown account, and for `oauth.client_*`). */
    user?: HookUser;
    /** `oauth.client_*`: the client as it is after the change (before it, for `oauth.client_removed`). */
    client?: HookOAuthClient;
    /** user.verification_requested / user.password_reset_requested: the single-use token. */
    token?: string;
    /** user.verification_requested: the 6-digit code that verifies the address as the token does. */
    code?: string;
    [key: string]: unknown;
  };
}

export type EventHandlers = {
  [T in EventType]?: (event: UsersvcEvent<T>, ctx: HookContext) => Awaitable<void>;
};

/**
 * The default export of a hooks module. Every key is optional.
 *
 * Before-hooks run inside the request (or CLI command) and can veto it; one
 * that throws or runs past USERSVC_HOOK_TIMEOUT fails closed (503
 * HOOK_FAILED). Event handlers run after the change is committed, from the
 * outbox, at least once and in order per user; one that throws is retried
 * with backoff, so make them idempotent (dedupe on `event.id`).
 */
export interface UsersvcHooks extends EventHandlers {
  beforeRegister?(input: BeforeRegisterInput, ctx: HookContext): Awaitable<BeforeRegisterResult>;
  beforeLogin?(input: BeforeLoginInput, ctx: HookContext): Awaitable<void | undefined | HookRejection>;
  /** Extra claims merged into access tokens (JSON values); reserved claims cannot be overridden. */
  accessTokenClaims?(input: AccessTokenClaimsInput, ctx: HookContext): Awaitable<void | undefined | Record<string, unknown>>;
  /** Receives every event (after the per-event handler, if both exist). */
  on?(event: UsersvcEvent, ctx: HookContext): Awaitable<void>;
}
