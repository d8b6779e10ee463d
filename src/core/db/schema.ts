/**
 * The one drizzle schema, shared by PostgreSQL (postgres.js) and the
 * embedded PGlite. Migrations in migrations/ are generated from this file
 * by `npm run db:generate`; never edit a migration that has shipped.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    email: text("email").notNull(),
    username: text("username").notNull(),
    /** null: the user has no password (signed up with a provider); they sign in with it or a passkey, or set one by reset. */
    passwordHash: text("password_hash"),
    roles: text("roles").array().notNull().default(sql`ARRAY['user']::text[]`),
    status: text("status", { enum: ["active", "blocked", "deleted"] }).notNull().default("active"),
    isVerified: boolean("is_verified").notNull().default(false),
    blockedReason: text("blocked_reason"),
    blockedUntil: timestamptz("blocked_until"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
    /** Written only by admins, operators and hooks (never by the user): safe to put in tokens. */
    appMetadata: jsonb("app_metadata").$type<Record<string, unknown>>().notNull().default({}),
    balance: bigint("balance", { mode: "number" }).notNull().default(0),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
    lastLoginAt: timestamptz("last_login_at"),
    /** The locale of the pages at sign-up (Accept-Language): what usersvc's emails to the user are written in. */
    locale: text("locale"),
    deletedAt: timestamptz("deleted_at"),
  },
  (t) => [
    // Emails are stored lower-cased; usernames keep their case but are unique without it.
    uniqueIndex("users_email_key").on(t.email),
    uniqueIndex("users_username_lower_key").on(sql`lower(${t.username})`),
    // Admin listing: keyset pages by creation within a status, role containment, substring search.
    index("users_status_created_at_idx").on(t.status, t.createdAt, t.id),
    index("users_created_at_id_idx").on(t.createdAt, t.id),
    index("users_roles_idx").using("gin", t.roles),
    index("users_email_trgm_idx").using("gin", sql`${t.email} gin_trgm_ops`),
    index("users_username_trgm_idx").using("gin", sql`lower(${t.username}) gin_trgm_ops`),
    // The purge job looks only at soft-deleted users, the sweep of ended blocks only at blocks with an end.
    index("users_deleted_at_idx").on(t.deletedAt).where(sql`${t.deletedAt} is not null`),
    index("users_blocked_until_idx").on(t.blockedUntil).where(sql`${t.status} = 'blocked' and ${t.blockedUntil} is not null`),
    check("users_status_check", sql`${t.status} in ('active', 'blocked', 'deleted')`),
    check("users_balance_check", sql`${t.balance} >= 0`),
  ],
);

/**
 * A session is one login. Its refresh tokens rotate: `refreshJti` is the only
 * one that may be spent next, `previousJti` the one spent last (for the
 * USERSVC_REFRESH_GRACE window). `generation` is copied into access tokens so
 * that a password change can retire the session's older access tokens.
 */
export const sessions = pgTable(
  "sessions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    refreshJti: text("refresh_jti").notNull(),
    previousJti: text("previous_jti"),
    rotatedAt: timestamptz("rotated_at"),
    generation: integer("generation").notNull().default(0),
    userAgent: text("user_agent"),
    ip: text("ip"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    lastUsedAt: timestamptz("last_used_at").notNull().defaultNow(),
    expiresAt: timestamptz("expires_at").notNull(),
    revokedAt: timestamptz("revoked_at"),
    revokedReason: text("revoked_reason"),
    /** A browser session's cookie secret, SHA-256 hex; null for a session of tokens. */
    cookieHash: text("cookie_hash"),
    /** How the user proved who they are (RFC 8176 values: pwd, otp, mfa…); null before it was recorded. */
    amr: text("amr").array(),
    /** An OpenID Connect grant: the client it was issued to; null for usersvc's own sessions. */
    clientId: text("client_id").references(() => oauthClients.id, { onDelete: "cascade" }),
    /** An OpenID Connect grant: the scopes granted, space-separated. */
    scope: text("scope"),
    /** An OpenID Connect grant: when the user signed in (the browser session's sign-in), for `auth_time`. */
    authTime: timestamptz("auth_time"),
    /** A browser session's last password confirmation (the admin console's step-up); null before any. */
    stepUpAt: timestamptz("step_up_at"),
  },
  (t) => [index("sessions_user_id_idx").on(t.userId), index("sessions_client_id_idx").on(t.clientId).where(sql`${t.clientId} is not null`)],
);

/** Asymmetric signing keys; the newest unretired one signs, all listed ones verify. */
export const signingKeys = pgTable("signing_keys", {
  kid: text("kid").primaryKey(),
  alg: text("alg").notNull(),
  publicJwk: jsonb("public_jwk").$type<Record<string, unknown>>().notNull(),
  privateJwk: jsonb("private_jwk").$type<Record<string, unknown>>().notNull(),
  createdAt: timestamptz("created_at").notNull().defaultNow(),
  retiredAt: timestamptz("retired_at"),
});

/**
 * Every balance change, with the balance after it. `idempotencyKey` makes a
 * repeated request return the first result instead of applying twice.
 */
export const balanceTransactions = pgTable(
  "balance_transactions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    amount: bigint("amount", { mode: "number" }).notNull(),
    balanceAfter: bigint("balance_after", { mode: "number" }).notNull(),
    reason: text("reason").notNull(),
    actorType: text("actor_type").notNull(),
    actorId: uuid("actor_id"),
    idempotencyKey: text("idempotency_key"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("balance_transactions_idempotency_key").on(t.userId, t.idempotencyKey),
    index("balance_transactions_user_created_idx").on(t.userId, t.createdAt),
  ],
);

/**
 * The audit log, hash-chained: each entry's `hash` covers its content and
 * the previous entry's hash, so an edited or removed entry breaks the chain.
 * Ids are assigned by the writer (under a lock) so they are part of the hash.
 * Entries hold ids, never emails or names, so a purge leaves nothing personal.
 */
export const auditLog = pgTable(
  "audit_log",
  {
    id: bigint("id", { mode: "number" }).primaryKey(),
    occurredAt: timestamptz("occurred_at").notNull(),
    event: text("event").notNull(),
    actorType: text("actor_type").notNull(),
    actorId: uuid("actor_id"),
    targetId: uuid("target_id"),
    ip: text("ip"),
    data: jsonb("data").$type<Record<string, unknown>>().notNull().default({}),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (t) => [
    index("audit_log_target_idx").on(t.targetId, t.id),
    index("audit_log_event_idx").on(t.event, t.id),
    // The admin console's filters by actor and by time, and its overview's last 14 days.
    index("audit_log_actor_idx").on(t.actorId, t.id),
    index("audit_log_occurred_at_idx").on(t.occurredAt),
  ],
);

/**
 * Where `usersvc audit verify` last found the chain intact: the entry's id
 * and hash. The next verification starts there and checks that entry still
 * has that hash, so its cost is what was appended since; `--full` re-checks
 * the whole chain and every checkpoint.
 */
export const auditCheckpoints = pgTable("audit_checkpoints", {
  entryId: bigint("entry_id", { mode: "number" }).primaryKey(),
  entryHash: text("entry_hash").notNull(),
  verifiedAt: timestamptz("verified_at").notNull(),
});

/**
 * The outbox: lifecycle events written in the same transaction as the change
 * they describe, one row per delivery target (the hooks module or script,
 * the webhook, usersvc's own email), delivered at least once, in order per user, by `serve`.
 */
export const outboxEvents = pgTable(
  "outbox_events",
  {
    seq: bigint("seq", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    /** The event id (`webhook-id`); shared by the rows of one event's targets. */
    eventId: uuid("event_id").notNull(),
    target: text("target", { enum: ["hooks", "webhook", "email"] }).notNull(),
    type: text("type").notNull(),
    /** Ordering key: events of one user are delivered one after another. */
    userId: uuid("user_id"),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    status: text("status", { enum: ["pending", "delivered", "dead"] }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamptz("next_attempt_at").notNull(),
    /** A worker's lease: no other instance touches the row before it passes. */
    lockedUntil: timestamptz("locked_until"),
    lastError: text("last_error"),
    createdAt: timestamptz("created_at").notNull(),
    deliveredAt: timestamptz("delivered_at"),
  },
  (t) => [
    index("outbox_events_due_idx").on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    index("outbox_events_order_idx").on(t.target, t.userId, t.seq).where(sql`${t.status} = 'pending'`),
    index("outbox_events_status_idx").on(t.status, t.seq),
  ],
);

/** Single-use email verification and password reset tokens, stored only as SHA-256 hashes. */
export const oneTimeTokens = pgTable(
  "one_time_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    purpose: text("purpose", { enum: ["verify_email", "reset_password", "mfa_login", "change_email"] }).notNull(),
    /** verify_email: SHA-256 of `user id:6-digit code`, the code emailed beside the link. */
    codeHash: text("code_hash"),
    /** change_email: the address the user asked for, applied when the link is followed. */
    newEmail: text("new_email"),
    /** mfa_login: how the first step was proven (`pwd`, `fed`), for the session's `amr` once the code is right. */
    amr: text("amr").array(),
    expiresAt: timestamptz("expires_at").notNull(),
    usedAt: timestamptz("used_at"),
    createdAt: timestamptz("created_at").notNull(),
  },
  (t) => [index("one_time_tokens_user_idx").on(t.userId, t.purpose)],
);

/**
 * Fixed-window counters for rate limits, shared by every instance on the
 * database: one row per key (e.g. `login:ip:203.0.113.7`).
 */
export const rateLimits = pgTable("rate_limits", {
  key: text("key").primaryKey(),
  count: integer("count").notNull(),
  windowStartedAt: timestamptz("window_started_at").notNull(),
});

/**
 * TOTP second factor, one per user. `confirmedAt` null: enrolled but not yet
 * proven with a code (not enforced at login). `lastUsedStep` refuses a code
 * (or an older one) that was already accepted.
 */
export const mfaFactors = pgTable("mfa_factors", {
  userId: uuid("user_id")
    .primaryKey()
    .references(() => users.id, { onDelete: "cascade" }),
  secret: text("secret").notNull(),
  confirmedAt: timestamptz("confirmed_at"),
  lastUsedStep: bigint("last_used_step", { mode: "number" }),
  createdAt: timestamptz("created_at").notNull(),
});

/** Single-use recovery codes, stored as SHA-256 hashes. */
export const mfaRecoveryCodes = pgTable(
  "mfa_recovery_codes",
  {
    codeHash: text("code_hash").primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    usedAt: timestamptz("used_at"),
  },
  (t) => [index("mfa_recovery_codes_user_idx").on(t.userId)],
);

/**
 * OpenID Connect / OAuth clients (SPEC §9). A confidential client's secret
 * is stored as its SHA-256 only: the secret is 256 random bits, so a slow
 * hash would add nothing but cap client_credentials at the hash ceiling.
 */
export const oauthClients = pgTable("oauth_clients", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  /** SHA-256 hex of the secret; null for a public client (token endpoint auth `none`). */
  secretHash: text("secret_hash"),
  redirectUris: text("redirect_uris").array().notNull().default(sql`'{}'::text[]`),
  postLogoutRedirectUris: text("post_logout_redirect_uris").array().notNull().default(sql`'{}'::text[]`),
  grantTypes: text("grant_types").array().notNull(),
  scopes: text("scopes").array().notNull(),
  /** The `aud` of its access tokens (RFC 9068): the client's API; null means the client id. */
  audience: text("audience"),
  corsOrigins: text("cors_origins").array().notNull().default(sql`'{}'::text[]`),
  /** First-party: no consent page. */
  skipConsent: boolean("skip_consent").notNull().default(false),
  idTokenAlg: text("id_token_alg").notNull().default("RS256"),
  createdAt: timestamptz("created_at").notNull(),
  updatedAt: timestamptz("updated_at").notNull(),
  secretRotatedAt: timestamptz("secret_rotated_at"),
});

/** What a user let a client have (SPEC §9 consent), asked again only for scopes not in `scopes`. */
export const oauthConsents = pgTable(
  "oauth_consents",
  {
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    clientId: text("client_id")
      .notNull()
      .references(() => oauthClients.id, { onDelete: "cascade" }),
    scopes: text("scopes").array().notNull(),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.clientId] })],
);

/**
 * Authorization codes, stored as SHA-256 only, single-use: a second use
 * revokes the grant the first one opened (`grantSessionId`).
 */
export const oauthCodes = pgTable("oauth_codes", {
  codeHash: text("code_hash").primaryKey(),
  clientId: text("client_id")
    .notNull()
    .references(() => oauthClients.id, { onDelete: "cascade" }),
  userId: uuid("user_id")
    .notNull()
    .references(() => users.id, { onDelete: "cascade" }),
  /** The browser session that signed in; ending it before the exchange voids the code. */
  browserSessionId: uuid("browser_session_id").notNull(),
  redirectUri: text("redirect_uri").notNull(),
  scope: text("scope").notNull(),
  nonce: text("nonce"),
  codeChallenge: text("code_challenge").notNull(),
  authTime: timestamptz("auth_time").notNull(),
  amr: text("amr").array(),
  expiresAt: timestamptz("expires_at").notNull(),
  consumedAt: timestamptz("consumed_at"),
  grantSessionId: uuid("grant_session_id"),
  createdAt: timestamptz("created_at").notNull(),
});

/** Access tokens revoked before they expire (RFC 7009) that no session stands behind: client_credentials. */
export const oauthRevokedTokens = pgTable("oauth_revoked_tokens", {
  jti: text("jti").primaryKey(),
  expiresAt: timestamptz("expires_at").notNull(),
});

/**
 * Passkeys (SPEC §10): WebAuthn credentials, several per user. `counter` is
 * the authenticator's signature counter (0 for most synced passkeys); a
 * counter that goes back means a cloned authenticator, refused and audited.
 */
export const passkeys = pgTable(
  "passkeys",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The credential id, base64url. */
    credentialId: text("credential_id").notNull(),
    /** The COSE public key, base64url. */
    publicKey: text("public_key").notNull(),
    counter: bigint("counter", { mode: "number" }).notNull().default(0),
    transports: text("transports").array().notNull().default(sql`'{}'::text[]`),
    /** WebAuthn's backup eligibility: `multiDevice` (a synced passkey) or `singleDevice`. */
    deviceType: text("device_type").notNull(),
    backedUp: boolean("backed_up").notNull(),
    aaguid: text("aaguid"),
    name: text("name").notNull(),
    createdAt: timestamptz("created_at").notNull(),
    lastUsedAt: timestamptz("last_used_at"),
  },
  (t) => [uniqueIndex("passkeys_credential_id_key").on(t.credentialId), index("passkeys_user_id_idx").on(t.userId)],
);

/**
 * Pending WebAuthn ceremonies, each challenge spendable once (deleted when
 * verified). `userId`: the user registering, or null for a sign-in with a
 * discoverable credential.
 */
export const webauthnChallenges = pgTable("webauthn_challenges", {
  challenge: text("challenge").primaryKey(),
  purpose: text("purpose", { enum: ["register", "authenticate"] }).notNull(),
  userId: uuid("user_id").references(() => users.id, { onDelete: "cascade" }),
  expiresAt: timestamptz("expires_at").notNull(),
  createdAt: timestamptz("created_at").notNull(),
});

/**
 * Sign-in with other providers (SPEC §10): an OpenID Connect issuer, or the
 * GitHub and Google presets. `id` is the operator's `--name` (a slug, in the
 * callback URL). Endpoint columns override the preset's or the discovered ones.
 */
export const identityProviders = pgTable("identity_providers", {
  id: text("id").primaryKey(),
  type: text("type", { enum: ["oidc", "github", "google"] }).notNull(),
  displayName: text("display_name").notNull(),
  clientId: text("client_id").notNull(),
  clientSecret: text("client_secret").notNull(),
  issuer: text("issuer"),
  authorizationUrl: text("authorization_url"),
  tokenUrl: text("token_url"),
  userinfoUrl: text("userinfo_url"),
  scopes: text("scopes").array().notNull(),
  createdAt: timestamptz("created_at").notNull(),
  updatedAt: timestamptz("updated_at").notNull(),
});

/** A user's account at a provider: `subject` is the provider's stable id for them (`sub`, GitHub's numeric id). */
export const userIdentities = pgTable(
  "user_identities",
  {
    providerId: text("provider_id")
      .notNull()
      .references(() => identityProviders.id, { onDelete: "cascade" }),
    subject: text("subject").notNull(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The email the provider gave at the last sign-in, and whether it said it was verified. */
    email: text("email"),
    emailVerified: boolean("email_verified").notNull().default(false),
    createdAt: timestamptz("created_at").notNull(),
    lastUsedAt: timestamptz("last_used_at"),
  },
  (t) => [
    primaryKey({ columns: [t.providerId, t.subject] }),
    index("user_identities_user_id_idx").on(t.userId),
    // One account per provider per user: two racing links cannot both land.
    uniqueIndex("user_identities_provider_user_key").on(t.providerId, t.userId),
  ],
);

/**
 * A sign-in with a provider under way: the `state` sent to it (stored as
 * SHA-256, spent once at the callback), its nonce and PKCE verifier, where to
 * go after, and — when linking from /account — the user and browser session.
 */
export const providerLogins = pgTable("provider_logins", {
  stateHash: text("state_hash").primaryKey(),
  providerId: text("provider_id")
    .notNull()
    .references(() => identityProviders.id, { onDelete: "cascade" }),
  nonce: text("nonce").notNull(),
  codeVerifier: text("code_verifier").notNull(),
  returnTo: text("return_to"),
  linkUserId: uuid("link_user_id").references(() => users.id, { onDelete: "cascade" }),
  linkSessionId: uuid("link_session_id"),
  expiresAt: timestamptz("expires_at").notNull(),
  createdAt: timestamptz("created_at").notNull(),
});

/**
 * Sign-ups and sign-ins per UTC hour (kind: `sign_up`, or `sign_in.` + the
 * outcome: succeeded, failed, blocked, unverified), for the admin console's
 * overview: one upserted row per hour and kind, so the overview reads at most
 * 14 × 24 rows per kind however many users there are, and a refused sign-in
 * costs no audit entry (nor a hold on the chain's lock).
 */
export const activityCounts = pgTable(
  "activity_counts",
  {
    hour: timestamptz("hour").notNull(),
    kind: text("kind").notNull(),
    count: integer("count").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.hour, t.kind] })],
);
