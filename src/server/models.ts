import { t } from "elysia";
import { type FieldProblem, validationError } from "../core/errors.ts";
import { checkPage, type Page as PageQuery } from "../core/page.ts";

/**
 * limit/offset query parameters. Their bounds are checked by pageOf, not by
 * the schema: Elysia reports a failed bound of a numeric query parameter
 * without the parameter's name ("property" instead of "limit").
 */
export const Page = t.Object(
  {
    limit: t.Optional(t.Numeric({ description: "1-200, default 50" })),
    offset: t.Optional(t.Numeric({ description: "0 or more, default 0" })),
  },
  { additionalProperties: false },
);

/** The page a query asks for, defaults applied; a value out of bounds → VALIDATION_ERROR naming it. */
export function pageOf(query: { limit?: number; offset?: number }): PageQuery {
  const problems: FieldProblem[] = [];
  const page = checkPage(query, problems);
  if (problems.length > 0) throw validationError(problems);
  return page;
}

// ---- Response data (SPEC §4). Each `$id` becomes a named schema in /docs/json (components.schemas). ----

const strict = { additionalProperties: false } as const;
const Integer = (options: { description?: string } = {}) => t.Number({ multipleOf: 1, ...options });
const Timestamp = (options: { description?: string } = {}) => t.String({ format: "date-time", ...options });
const JsonObject = (description: string) => t.Record(t.String(), t.Unknown(), { description });

/** The user object (toPublicUser): never a password hash. */
export const User = t.Object(
  {
    id: t.String({ format: "uuid" }),
    email: t.String({ description: "Trimmed and lower-cased" }),
    username: t.String(),
    roles: t.Array(t.String()),
    is_admin: t.Boolean({ description: '"admin" is one of the roles' }),
    is_active: t.Boolean({ description: 'status is "active"' }),
    is_verified: t.Boolean(),
    status: t.Union([t.Literal("active"), t.Literal("blocked"), t.Literal("deleted")]),
    blocked_reason: t.Nullable(t.String()),
    blocked_until: t.Nullable(Timestamp({ description: "The block ends by itself then" })),
    metadata: JsonObject("The user's own; they change it with PATCH /users/me. Never trust it for authorization"),
    app_metadata: JsonObject("Written only by admins, operators and hooks: safe for authorization"),
    balance: Integer({ description: "Minor units, never below 0" }),
    created_at: Timestamp(),
    updated_at: Timestamp(),
    last_login_at: t.Nullable(Timestamp()),
    deleted_at: t.Nullable(Timestamp()),
  },
  { ...strict, $id: "User" },
);

export const Tokens = t.Object(
  {
    access_token: t.String({ description: "JWT (typ at+jwt); send it as `Authorization: Bearer …`" }),
    refresh_token: t.String({ description: "JWT for POST /auth/refresh; single use" }),
    token_type: t.Literal("bearer"),
    expires_in: Integer({ description: "Seconds until the access token expires" }),
    refresh_expires_in: Integer({ description: "Seconds until the refresh token expires" }),
  },
  { ...strict, $id: "Tokens" },
);

/** Login's answer when the account has a second factor: finish with POST /auth/mfa/verify. */
export const MfaChallenge = t.Object(
  {
    mfa_required: t.Literal(true),
    mfa_token: t.String({ description: "Give it to POST /auth/mfa/verify with a code" }),
    expires_in: Integer({ description: "Seconds the mfa_token stays valid" }),
  },
  { ...strict, $id: "MfaChallenge" },
);

export const Revoked = t.Object({ revoked: Integer({ description: "Sessions revoked" }) }, { ...strict, $id: "Revoked" });
export const Accepted = t.Object({ accepted: t.Literal(true) }, { ...strict, $id: "Accepted" });

export const ConnectedApplication = t.Object(
  {
    client_id: t.String(),
    name: t.String(),
    scopes: t.Array(t.String(), { description: "What the user consented to (or, without a consent, what its grants hold)" }),
    consented_at: t.Nullable(Timestamp()),
    active_grants: Integer({ description: "Live grants (refresh tokens) the client holds for the user" }),
  },
  { ...strict, $id: "ConnectedApplication" },
);

export const Session = t.Object(
  {
    id: t.String({ format: "uuid" }),
    created_at: Timestamp(),
    last_used_at: Timestamp(),
    user_agent: t.Nullable(t.String()),
    ip: t.Nullable(t.String()),
    current: t.Boolean({ description: "The session of the token making this request" }),
  },
  { ...strict, $id: "Session" },
);

const Actor = t.Object({ type: t.String({ description: "user | admin | system | cli" }), id: t.Nullable(t.String()) }, strict);

export const Transaction = t.Object(
  {
    id: t.String({ format: "uuid" }),
    amount: Integer({ description: "Signed, in minor units" }),
    balance_after: Integer(),
    reason: t.String(),
    actor: Actor,
    idempotency_key: t.Nullable(t.String()),
    created_at: Timestamp(),
  },
  { ...strict, $id: "Transaction" },
);

export const AuditEntry = t.Object(
  {
    id: Integer(),
    occurred_at: Timestamp(),
    event: t.String(),
    actor: Actor,
    target_id: t.Nullable(t.String()),
    ip: t.Nullable(t.String()),
    data: JsonObject("What the event recorded"),
  },
  { ...strict, $id: "AuditEntry" },
);

const pageFields = { total: Integer({ description: "Matches in all pages" }), limit: Integer(), offset: Integer() };

export const UserPage = t.Object(
  {
    items: t.Array(User),
    ...pageFields,
    next_cursor: t.Nullable(t.String({ description: "Pass as ?cursor= for the next page; null on the last" })),
  },
  { ...strict, $id: "UserPage" },
);
export const TransactionPage = t.Object({ items: t.Array(Transaction), ...pageFields }, { ...strict, $id: "TransactionPage" });
export const AuditPage = t.Object({ items: t.Array(AuditEntry), ...pageFields }, { ...strict, $id: "AuditPage" });

export const Mfa = {
  status: t.Object({ enabled: t.Boolean(), pending: t.Boolean({ description: "Enrolled, not confirmed yet" }) }, strict),
  enrollment: t.Object({ secret: t.String({ description: "Base32 TOTP secret" }), otpauth_uri: t.String() }, strict),
  recoveryCodes: t.Object({ recovery_codes: t.Array(t.String(), { description: "Ten single-use codes, shown once" }) }, strict),
  disabled: t.Object({ mfa_enabled: t.Literal(false) }, strict),
  reset: t.Object({ mfa_enabled: t.Literal(false), removed: t.Boolean({ description: "The user had a factor" }) }, strict),
};

/** A passkey of the current user (core/passkeys/passkey.ts): never its public key or credential id. */
export const Passkey = t.Object(
  {
    id: t.String({ format: "uuid" }),
    name: t.String({ description: "1-64 characters, the user's own" }),
    created_at: Timestamp(),
    last_used_at: t.Nullable(Timestamp()),
    device_type: t.String({ description: "`multiDevice` (synced by its provider) or `singleDevice`" }),
    backed_up: t.Boolean({ description: "Synced: sign-ins with it say `swk` in amr, else `hwk`" }),
    transports: t.Array(t.String(), { description: "How the browser reaches the authenticator (internal, hybrid, usb…)" }),
  },
  { ...strict, $id: "Passkey" },
);
/** WebAuthn options for navigator.credentials (the JSON form @simplewebauthn/browser takes as optionsJSON). */
export const WebAuthnOptions = t.Object(
  { options: t.Record(t.String(), t.Unknown(), { description: "PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON" }) },
  strict,
);
