/**
 * Administering OpenID Connect clients (SPEC §9 "Clients"): the use cases
 * behind `usersvc clients …` and `/api/v1/admin/clients`. Each change is
 * one transaction with its outbox event and audit entry. A secret is
 * generated here, returned once and stored as its SHA-256 only; no view of
 * a client ever carries the secret or its hash.
 *
 * Validation rules (every problem is reported at once, as VALIDATION_ERROR
 * with one `{field, message}` per problem):
 * - name: 1-100 characters after trimming, no control characters.
 * - redirect_uris, post_logout_redirect_uris (at most 50 each, 2000
 *   characters each, stored as given, duplicates dropped): absolute, no
 *   fragment, no user info, no spaces, control characters or backslashes;
 *   `https://host…`; `http://` only on 127.0.0.1, [::1] or localhost
 *   (RFC 8252 §7.3 loopback redirects); or a private-use scheme of a native
 *   app named after a reverse domain, with a dot (`com.example.app:/cb`,
 *   RFC 8252 §7.1), which also keeps out `javascript:`, `data:`, `file:`.
 * - grant_types ⊆ GRANT_TYPES, at least one, default authorization_code +
 *   refresh_token; refresh_token only with authorization_code (only the code
 *   flow issues refresh tokens); client_credentials only for a confidential
 *   client; authorization_code needs a redirect URI and the `openid` scope.
 * - scopes ⊆ SCOPES, default all of them.
 * - audience: 1-200 characters, never USERSVC_AUDIENCE nor its refresh
 *   audience (usersvc's own API would take such an access token for one of
 *   its own); null means the client id.
 * - cors_origins (at most 50): bare origins `scheme://host[:port]` (a
 *   trailing `/` is dropped), https, or http on a loopback host; stored as
 *   the parsed origin (lower-case host, default port dropped), the form a
 *   browser's Origin header has.
 * - skip_consent: a public client may skip consent only when every redirect
 *   URI is https: a loopback port or a private-use scheme can be claimed by
 *   any app on the device (RFC 8252 §8.6).
 * - id_token_alg ∈ ID_TOKEN_ALGS, default RS256.
 * - `public` is chosen at creation and never changes; a public client has no
 *   secret to rotate.
 */
import { randomBytes } from "node:crypto";
import { count, desc, eq } from "drizzle-orm";
import type { HookOAuthClient } from "../../hooks/types.ts";
import type { Actor } from "../audit/actor.ts";
import { appendAudit } from "../audit/audit.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { oauthClients } from "../db/schema.ts";
import { DomainError, type FieldProblem, validationError } from "../errors.ts";
import { enqueueEvent } from "../events/outbox.ts";
import type { EventType } from "../../hooks/types.ts";
import { checkPage, type Page } from "../page.ts";
import { revokeClientSessions } from "../sessions/queries.ts";
import { refreshAudienceOf } from "../tokens/token-service.ts";
import { audienceOf, generateClientSecret, GRANT_TYPES, ID_TOKEN_ALGS, isPublicClient, type OAuthClient, SCOPES } from "./clients.ts";

/** The client as the API, the CLI and events show it (hooks/types.ts, so the two never drift apart). */
export type ClientView = HookOAuthClient;

/** What `add` and `rotate-secret` answer: the view and the secret, shown this once (null for a public client). */
export interface ClientWithSecret extends ClientView {
  client_secret: string | null;
}

export interface NewClient {
  name: string;
  redirect_uris?: string[];
  post_logout_redirect_uris?: string[];
  /** No secret: a browser or native app, PKCE alone (token endpoint auth `none`). */
  public?: boolean;
  grant_types?: string[];
  scopes?: string[];
  /** The `aud` of its access tokens; null or absent: the client id. */
  audience?: string | null;
  cors_origins?: string[];
  skip_consent?: boolean;
  id_token_alg?: string;
}

/** A partial update: absent fields stay, given lists replace the stored ones. `public` cannot change. */
export type ClientChanges = Partial<Omit<NewClient, "public">>;

export interface ClientPage {
  items: ClientView[];
  total: number;
  limit: number;
  offset: number;
}

export interface RemovedClient {
  client_id: string;
  removed: true;
  /** Live grants (sessions) of the client that were revoked. */
  sessions_revoked: number;
}

export const DEFAULT_GRANT_TYPES = ["authorization_code", "refresh_token"] as const;
const NAME_MAX = 100;
const AUDIENCE_MAX = 200;
const URI_MAX = 2000;
const LIST_MAX = 50;
const ID_BYTES = 16;

export function toClientView(client: OAuthClient): ClientView {
  return {
    client_id: client.id,
    name: client.name,
    public: isPublicClient(client),
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    grant_types: client.grantTypes as ClientView["grant_types"],
    scopes: client.scopes,
    audience: audienceOf(client),
    cors_origins: client.corsOrigins,
    skip_consent: client.skipConsent,
    id_token_alg: client.idTokenAlg as ClientView["id_token_alg"],
    created_at: client.createdAt.toISOString(),
    updated_at: client.updatedAt.toISOString(),
    secret_rotated_at: client.secretRotatedAt?.toISOString() ?? null,
  };
}

export async function createClient(core: Core, actor: Actor, input: NewClient): Promise<ClientWithSecret> {
  const publicClient = input.public === true;
  const settings = checkedSettings(core, publicClient, {
    name: input.name,
    redirectUris: input.redirect_uris ?? [],
    postLogoutRedirectUris: input.post_logout_redirect_uris ?? [],
    grantTypes: input.grant_types ?? [...DEFAULT_GRANT_TYPES],
    scopes: input.scopes ?? [...SCOPES],
    audience: input.audience ?? null,
    corsOrigins: input.cors_origins ?? [],
    skipConsent: input.skip_consent ?? false,
    idTokenAlg: input.id_token_alg ?? "RS256",
  });
  const secret = publicClient ? null : generateClientSecret();
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const client = await insertClient(tx, {
      // 128 random bits, hex: unguessable, and never read as a flag on a command line (base64url may start with "-").
      id: randomBytes(ID_BYTES).toString("hex"),
      secretHash: secret?.hash ?? null,
      ...settings,
      createdAt: now,
      updatedAt: now,
      secretRotatedAt: null,
    });
    await recordClientChange(core, tx, { type: "oauth.client_created", actor, client });
    return { ...toClientView(client), client_secret: secret?.secret ?? null };
  });
}

/** Newest first. */
export async function listClients(core: Core, query: { limit?: number; offset?: number } = {}): Promise<ClientPage> {
  const problems: FieldProblem[] = [];
  const page = checkPage(query, problems);
  if (problems.length > 0) throw validationError(problems);
  const { items, total } = await selectClientPage(core.db, page);
  return { items: items.map(toClientView), total, ...page };
}

export async function showClient(core: Core, clientId: string): Promise<ClientView> {
  return toClientView(await requireClient(core.db, clientId));
}

/**
 * Applies the given fields and checks the client as a whole afterwards (a
 * grant added needs what it needs). A change that changes nothing writes
 * nothing, and is neither audited nor announced.
 */
export async function updateClient(core: Core, actor: Actor, clientId: string, changes: ClientChanges): Promise<ClientView> {
  const result = await core.db.transaction(async (tx) => {
    const client = await requireClient(tx, clientId, { lock: true });
    const settings = checkedSettings(core, isPublicClient(client), {
      name: changes.name ?? client.name,
      redirectUris: changes.redirect_uris ?? client.redirectUris,
      postLogoutRedirectUris: changes.post_logout_redirect_uris ?? client.postLogoutRedirectUris,
      grantTypes: changes.grant_types ?? client.grantTypes,
      scopes: changes.scopes ?? client.scopes,
      audience: changes.audience === undefined ? client.audience : changes.audience,
      corsOrigins: changes.cors_origins ?? client.corsOrigins,
      skipConsent: changes.skip_consent ?? client.skipConsent,
      idTokenAlg: changes.id_token_alg ?? client.idTokenAlg,
    });
    const changed = changedFields(client, settings);
    if (changed.length === 0) return toClientView(client);
    const updated = await updateClientRow(tx, clientId, { ...settings, updatedAt: core.now() });
    await recordClientChange(core, tx, { type: "oauth.client_updated", actor, client: updated, changed });
    return toClientView(updated);
  });
  // After the commit: a read of the client that began before it is not kept either (client-cache.ts).
  core.oidcClients.forget(clientId);
  return result;
}

/** A new secret, returned this once; the old one stops matching with this commit. Grants already issued stay. */
export async function rotateClientSecret(core: Core, actor: Actor, clientId: string): Promise<ClientWithSecret & { client_secret: string }> {
  const result = await core.db.transaction(async (tx) => {
    const client = await requireClient(tx, clientId, { lock: true });
    if (isPublicClient(client)) {
      throw validationError([{ field: "client_id", message: "is a public client: it has no secret to rotate" }]);
    }
    const secret = generateClientSecret();
    const now = core.now();
    const updated = await updateClientRow(tx, clientId, { secretHash: secret.hash, secretRotatedAt: now, updatedAt: now });
    await recordClientChange(core, tx, { type: "oauth.client_updated", actor, client: updated, changed: ["client_secret"] });
    return { ...toClientView(updated), client_secret: secret.secret };
  });
  // After the commit: a read of the client that began before it is not kept either (client-cache.ts).
  core.oidcClients.forget(clientId);
  return result;
}

/**
 * Revokes the client's grants (announced, so every auth cache drops them),
 * then deletes the client; its codes, consents and the grants' rows go with
 * it (foreign keys, on delete cascade).
 */
export async function removeClient(core: Core, actor: Actor, clientId: string): Promise<RemovedClient> {
  const result = await core.db.transaction(async (tx) => {
    const client = await requireClient(tx, clientId, { lock: true });
    const revoked = await revokeClientSessions(tx, clientId, "client_removed", core.now());
    await tx.delete(oauthClients).where(eq(oauthClients.id, clientId));
    await recordClientChange(core, tx, { type: "oauth.client_removed", actor, client, sessionsRevoked: revoked });
    return { client_id: clientId, removed: true as const, sessions_revoked: revoked };
  });
  // After the commit: a read of the client that began before it is not kept either (client-cache.ts).
  core.oidcClients.forget(clientId);
  return result;
}

// ---- Validation ----

type Settings = Pick<
  OAuthClient,
  "name" | "redirectUris" | "postLogoutRedirectUris" | "grantTypes" | "scopes" | "audience" | "corsOrigins" | "skipConsent" | "idTokenAlg"
>;

/** The API's name of each setting: the field of problems and of the audit's `changed`. */
const FIELD_NAMES: Record<keyof Settings, string> = {
  name: "name",
  redirectUris: "redirect_uris",
  postLogoutRedirectUris: "post_logout_redirect_uris",
  grantTypes: "grant_types",
  scopes: "scopes",
  audience: "audience",
  corsOrigins: "cors_origins",
  skipConsent: "skip_consent",
  idTokenAlg: "id_token_alg",
};

/** The settings normalized (trimmed, de-duplicated, origins parsed), or VALIDATION_ERROR with every problem. */
function checkedSettings(core: Core, publicClient: boolean, raw: Settings): Settings {
  const problems: FieldProblem[] = [];
  const problem = (field: string, message: string): void => void problems.push({ field, message });

  const name = raw.name.trim();
  if (name.length < 1 || name.length > NAME_MAX) problem("name", `must be 1-${NAME_MAX} characters`);
  else if (CONTROL.test(name)) problem("name", "must not contain control characters");

  const redirectUris = checkedUris("redirect_uris", raw.redirectUris, problem);
  const postLogoutRedirectUris = checkedUris("post_logout_redirect_uris", raw.postLogoutRedirectUris, problem);

  const grantTypes = canonicalSubset("grant_types", raw.grantTypes, GRANT_TYPES, problem);
  if (grantTypes.length === 0 && raw.grantTypes.length === 0) problem("grant_types", "must have at least one grant type");
  const has = (grant: string): boolean => grantTypes.includes(grant);
  if (has("refresh_token") && !has("authorization_code")) {
    problem("grant_types", "refresh_token needs authorization_code: only the code flow issues refresh tokens");
  }
  if (has("client_credentials") && publicClient) {
    problem("grant_types", "client_credentials is for confidential clients: a public client has no secret to prove who it is");
  }

  const scopes = canonicalSubset("scopes", raw.scopes, SCOPES, problem);
  if (has("authorization_code")) {
    if (redirectUris.length === 0) problem("redirect_uris", "must have at least one redirect URI for the authorization_code grant");
    if (!scopes.includes("openid") && raw.scopes.every((s) => (SCOPES as readonly string[]).includes(s))) {
      problem("scopes", "must include openid for the authorization_code grant");
    }
  }

  const audience = raw.audience === null ? null : raw.audience.trim();
  if (audience !== null) {
    if (audience.length < 1 || audience.length > AUDIENCE_MAX) problem("audience", `must be 1-${AUDIENCE_MAX} characters (null: the client id)`);
    else if (CONTROL.test(audience)) problem("audience", "must not contain control characters");
    else if (audience === core.config.audience || audience === refreshAudienceOf(core.config.audience)) {
      problem(
        "audience",
        `must not be usersvc's own audience "${audience}" (USERSVC_AUDIENCE): usersvc's API would take the client's access tokens for its own`,
      );
    } else if (audience.endsWith(":refresh")) {
      // Refresh tokens are addressed to `<audience>:refresh`: another client's API must never be one.
      problem("audience", 'must not end in ":refresh" (the audience of refresh tokens)');
    }
  }

  const corsOrigins = checkedOrigins(raw.corsOrigins, problem);

  if (raw.skipConsent && publicClient && redirectUris.some((uri) => !uri.startsWith("https://"))) {
    problem(
      "skip_consent",
      "a public client with a loopback or custom-scheme redirect URI cannot skip consent: any app on the device could claim it (RFC 8252 §8.6)",
    );
  }
  if (!(ID_TOKEN_ALGS as readonly string[]).includes(raw.idTokenAlg)) problem("id_token_alg", `must be one of ${ID_TOKEN_ALGS.join(", ")}`);

  if (problems.length > 0) throw validationError(problems);
  return {
    name,
    redirectUris,
    postLogoutRedirectUris,
    grantTypes,
    scopes,
    audience,
    corsOrigins,
    skipConsent: raw.skipConsent,
    idTokenAlg: raw.idTokenAlg,
  };
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const UNSAFE_IN_URI = /[\s\u0000-\u001f\u007f-\u009f\\]/;
/** http only on these hosts, spelled exactly so (RFC 8252 §7.3, §8.3). */
const LOOPBACK_HTTP = /^http:\/\/(?:127\.0\.0\.1|\[::1\]|localhost)(?::\d{1,5})?(?:[/?].*)?$/;
const HTTPS = /^https:\/\/[^/?#@\\\s]+(?:[/?].*)?$/;
/** A private-use scheme: a reverse domain name, so with at least one dot (RFC 8252 §7.1). */
const PRIVATE_USE = /^[a-z][a-z0-9+-]*(?:\.[a-z0-9+-]+)+:[^\s]+$/;

type Problem = (field: string, message: string) => void;

function checkedUris(field: string, uris: readonly string[], problem: Problem): string[] {
  const unique = [...new Set(uris)];
  if (unique.length > LIST_MAX) problem(field, `must have at most ${LIST_MAX} URIs`);
  unique.forEach((uri, i) => {
    const refused = redirectUriProblem(uri);
    if (refused) problem(`${field}.${i}`, `${quoted(uri)} ${refused}`);
  });
  return unique;
}

function redirectUriProblem(uri: string): string | null {
  if (uri.length === 0) return "must not be empty";
  if (uri.length > URI_MAX) return `must be at most ${URI_MAX} characters`;
  if (UNSAFE_IN_URI.test(uri)) return "must not contain spaces, control characters or backslashes";
  if (uri.includes("#")) return "must not have a fragment (#)";
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    return "must be an absolute URI";
  }
  if (parsed.protocol === "https:") {
    if (!HTTPS.test(uri) || parsed.hostname === "") return "must be https://host/… with no user info";
    return null;
  }
  if (parsed.protocol === "http:") {
    if (!LOOPBACK_HTTP.test(uri)) return "must use https: plain http is allowed only on 127.0.0.1, [::1] and localhost";
    return null;
  }
  if (!PRIVATE_USE.test(uri)) {
    return "must be https, http on a loopback host, or a native app's reverse-domain scheme such as com.example.app:/callback";
  }
  return null;
}

const ORIGIN = /^(https?):\/\/([^/?#@\\\s]+)\/?$/;
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);

function checkedOrigins(origins: readonly string[], problem: Problem): string[] {
  const parsed: string[] = [];
  [...new Set(origins)].forEach((origin, i) => {
    const match = ORIGIN.exec(origin);
    let url: URL | null = null;
    try {
      url = match && origin.length <= URI_MAX ? new URL(origin) : null;
    } catch {}
    if (!url) {
      problem(`cors_origins.${i}`, `${quoted(origin)} must be a bare origin, scheme://host[:port], with no path, query or user info`);
    } else if (url.protocol === "http:" && !LOOPBACK_HOSTS.has(url.hostname)) {
      problem(`cors_origins.${i}`, `${quoted(origin)} must use https: plain http is allowed only on 127.0.0.1, [::1] and localhost`);
    } else {
      parsed.push(url.origin);
    }
  });
  const unique = [...new Set(parsed)];
  if (unique.length > LIST_MAX) problem("cors_origins", `must have at most ${LIST_MAX} origins`);
  return unique;
}

/** The values of `allowed` that `values` names, in `allowed`'s order; a problem for each unknown one. */
function canonicalSubset(field: string, values: readonly string[], allowed: readonly string[], problem: Problem): string[] {
  const unknown = [...new Set(values.filter((v) => !allowed.includes(v)))];
  if (unknown.length > 0) problem(field, `${unknown.map(quoted).join(", ")}: not one of ${allowed.join(", ")}`);
  return allowed.filter((v) => values.includes(v));
}

/** A value quoted for a message, cut short so a huge input does not become a huge message. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}

function changedFields(client: OAuthClient, settings: Settings): string[] {
  return (Object.keys(FIELD_NAMES) as (keyof Settings)[])
    .filter((key) => JSON.stringify(client[key]) !== JSON.stringify(settings[key]))
    .map((key) => FIELD_NAMES[key]);
}

// ---- Recording ----

interface ClientChange {
  type: Extract<EventType, `oauth.client_${string}`>;
  actor: Actor;
  /** After the change; before it, for a removal. */
  client: OAuthClient;
  /** Setting names (API field names), never values: a value may be the secret. */
  changed?: string[];
  sessionsRevoked?: number;
}

/**
 * The outbox event (the client's public view) and the audit entry (ids and
 * field names). A client is no user: no target, and the event has no user
 * to order it by.
 */
async function recordClientChange(core: Core, tx: Db, change: ClientChange): Promise<void> {
  const details: Record<string, unknown> = {};
  if (change.changed) details.changed = change.changed;
  if (change.sessionsRevoked !== undefined) details.sessions_revoked = change.sessionsRevoked;
  await enqueueEvent(core, tx, {
    type: change.type,
    actor: change.actor,
    userId: null,
    data: { client: toClientView(change.client), ...details },
  });
  // Last: the audit append holds the chain's lock until the transaction ends.
  await appendAudit(
    tx,
    { event: change.type, actor: change.actor, targetId: null, data: { client_id: change.client.id, name: change.client.name, ...details } },
    core.now(),
  );
}

// ---- Queries (oauth_clients) ----

async function requireClient(db: Db, clientId: string, options: { lock?: boolean } = {}): Promise<OAuthClient> {
  const notFound = new DomainError("NOT_FOUND", "No OAuth client with this id");
  if (!clientId || clientId.length > 128) throw notFound;
  const query = db.select().from(oauthClients).where(eq(oauthClients.id, clientId)).limit(1);
  const [row] = options.lock ? await query.for("update") : await query;
  if (!row) throw notFound;
  return row;
}

async function insertClient(db: Db, row: typeof oauthClients.$inferInsert): Promise<OAuthClient> {
  const [created] = await db.insert(oauthClients).values(row).returning();
  if (!created) throw new Error("insert into oauth_clients returned no row");
  return created;
}

async function updateClientRow(db: Db, clientId: string, set: Partial<typeof oauthClients.$inferInsert>): Promise<OAuthClient> {
  const [updated] = await db.update(oauthClients).set(set).where(eq(oauthClients.id, clientId)).returning();
  if (!updated) throw new DomainError("NOT_FOUND", "No OAuth client with this id");
  return updated;
}

async function selectClientPage(db: Db, page: Page): Promise<{ items: OAuthClient[]; total: number }> {
  const [items, [totals]] = await Promise.all([
    db.select().from(oauthClients).orderBy(desc(oauthClients.createdAt), desc(oauthClients.id)).limit(page.limit).offset(page.offset),
    db.select({ n: count() }).from(oauthClients),
  ]);
  return { items, total: Number(totals?.n ?? 0) };
}
