/**
 * Administering sign-in providers (SPEC §10): the use cases behind
 * `usersvc providers …` and `/api/v1/admin/providers`. Each change is one
 * transaction with its audit entry (provider changes are not user events:
 * no outbox event). The client secret is stored as given — usersvc must send
 * it to the provider — and no view of a provider ever carries it.
 *
 * Validation (every problem at once, VALIDATION_ERROR):
 * - name: `^[a-z0-9][a-z0-9-]{0,31}$`, unique; it is in the callback URL.
 * - type: oidc, github or google. oidc needs `issuer`; github takes none.
 * - client_id 1-200 characters, client_secret 1-1000, no control characters.
 * - issuer, authorization_url, token_url, userinfo_url: absolute `https://`
 *   URLs, or `http://` on localhost, 127.0.0.1 or [::1]; no user info, no fragment.
 * - scopes: 1-20 RFC 6749 scope tokens; oidc and google need `openid`.
 * - display_name: 1-100 characters (default: the preset's, or the name).
 */
import { count, eq } from "drizzle-orm";
import type { Actor } from "../audit/actor.ts";
import { appendAudit } from "../audit/audit.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { identityProviders, userIdentities } from "../db/schema.ts";
import { uniqueViolation } from "../db/pg-errors.ts";
import { DomainError, type FieldProblem, validationError } from "../errors.ts";
import { PRESETS, PROVIDER_TYPES, type ProviderType } from "./presets.ts";

export type ProviderRecord = typeof identityProviders.$inferSelect;

export interface NewProvider {
  name: string;
  type: string;
  client_id: string;
  client_secret: string;
  display_name?: string;
  issuer?: string;
  authorization_url?: string;
  token_url?: string;
  userinfo_url?: string;
  scopes?: string[];
}

/** A provider as the API and the CLI show it: never its secret. */
export interface ProviderView {
  name: string;
  type: ProviderType;
  display_name: string;
  client_id: string;
  issuer: string | null;
  authorization_url: string | null;
  token_url: string | null;
  userinfo_url: string | null;
  scopes: string[];
  /** The redirect URI to register at the provider. */
  callback_url: string;
  created_at: string;
  updated_at: string;
}

export interface RemovedProvider {
  name: string;
  removed: true;
  /** The users' links to it that went with it. */
  identities_removed: number;
}

export const PROVIDER_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,100}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

export function callbackUrl(core: Core, name: string): string {
  return `${core.config.publicUrl}/login/provider/${name}/callback`;
}

export function toProviderView(core: Core, provider: ProviderRecord): ProviderView {
  return {
    name: provider.id,
    type: provider.type,
    display_name: provider.displayName,
    client_id: provider.clientId,
    issuer: provider.issuer,
    authorization_url: provider.authorizationUrl,
    token_url: provider.tokenUrl,
    userinfo_url: provider.userinfoUrl,
    scopes: provider.scopes,
    callback_url: callbackUrl(core, provider.id),
    created_at: provider.createdAt.toISOString(),
    updated_at: provider.updatedAt.toISOString(),
  };
}

export async function addProvider(core: Core, actor: Actor, input: NewProvider): Promise<ProviderView> {
  const row = checkedProvider(input);
  const now = core.now();
  try {
    return await core.db.transaction(async (tx) => {
      const [provider] = await tx.insert(identityProviders).values({ ...row, createdAt: now, updatedAt: now }).returning();
      await auditProvider(core, tx, "provider.added", actor, provider!, { type: provider!.type });
      return toProviderView(core, provider!);
    });
  } catch (error) {
    if (uniqueViolation(error) !== null) throw validationError([{ field: "name", message: "a provider with this name already exists" }]);
    throw error;
  }
}

/** By name. */
export async function listProviders(core: Core): Promise<ProviderView[]> {
  const rows = await core.db.select().from(identityProviders).orderBy(identityProviders.id);
  return rows.map((row) => toProviderView(core, row));
}

export async function showProvider(core: Core, name: string): Promise<ProviderView> {
  return toProviderView(core, await getProvider(core.db, name));
}

/** Removes the provider and, by cascade, every user's link to it and every sign-in under way with it. */
export async function removeProvider(core: Core, actor: Actor, name: string): Promise<RemovedProvider> {
  return core.db.transaction(async (tx) => {
    const provider = await getProvider(tx, name, { lock: true });
    const [linked] = await tx.select({ n: count() }).from(userIdentities).where(eq(userIdentities.providerId, provider.id));
    await tx.delete(identityProviders).where(eq(identityProviders.id, provider.id));
    const identitiesRemoved = linked?.n ?? 0;
    await auditProvider(core, tx, "provider.removed", actor, provider, { identities_removed: identitiesRemoved });
    return { name: provider.id, removed: true as const, identities_removed: identitiesRemoved };
  });
}

/** The provider, secret included: for the sign-in itself. NOT_FOUND when there is none of that name. */
export async function getProvider(db: Db, name: string, options: { lock?: boolean } = {}): Promise<ProviderRecord> {
  const provider = await findProvider(db, name, options);
  if (!provider) throw new DomainError("NOT_FOUND", "No sign-in provider with this name");
  return provider;
}

export async function findProvider(db: Db, name: string, options: { lock?: boolean } = {}): Promise<ProviderRecord | null> {
  if (!PROVIDER_NAME.test(name)) return null;
  const query = db.select().from(identityProviders).where(eq(identityProviders.id, name)).limit(1);
  const [row] = options.lock ? await query.for("update") : await query;
  return row ?? null;
}

async function auditProvider(core: Core, tx: Db, event: string, actor: Actor, provider: ProviderRecord, details: Record<string, unknown>): Promise<void> {
  await appendAudit(tx, { event, actor, targetId: null, data: { provider: provider.id, ...details } }, core.now());
}

function checkedProvider(input: NewProvider): Omit<typeof identityProviders.$inferInsert, "createdAt" | "updatedAt"> {
  const problems: FieldProblem[] = [];
  const name = typeof input.name === "string" ? input.name : "";
  if (!PROVIDER_NAME.test(name)) problems.push({ field: "name", message: "must be 1-32 lower-case letters, digits or '-', starting with a letter or digit" });
  const type = PROVIDER_TYPES.find((t) => t === input.type);
  if (!type) problems.push({ field: "type", message: `must be one of ${PROVIDER_TYPES.join(", ")}` });
  const preset = PRESETS[type ?? "oidc"];
  const text = (field: string, value: unknown, max: number): string => {
    const s = typeof value === "string" ? value.trim() : "";
    if (s.length < 1 || s.length > max || CONTROL.test(s)) problems.push({ field, message: `must be 1-${max} characters, no control characters` });
    return s;
  };
  const clientId = text("client_id", input.client_id, 200);
  // Not trimmed beyond a final newline: a secret is what the provider issued, byte for byte.
  const clientSecret = typeof input.client_secret === "string" ? input.client_secret.replace(/\r?\n$/, "") : "";
  if (clientSecret.length < 1 || clientSecret.length > 1000 || CONTROL.test(clientSecret)) {
    problems.push({ field: "client_secret", message: "must be 1-1000 characters, no control characters" });
  }
  const displayName = input.display_name === undefined ? (preset.displayName ?? name) : text("display_name", input.display_name, 100);
  const url = (field: string, value: string | undefined, fallback: string | null): string | null => {
    if (value === undefined) return fallback;
    const problem = endpointProblem(value);
    if (problem) problems.push({ field, message: problem });
    // Kept as given: an issuer is compared with the discovery document's byte for byte, trailing slash included.
    return value;
  };
  const issuer = url("issuer", input.issuer, preset.issuer);
  if (type === "oidc" && input.issuer === undefined) problems.push({ field: "issuer", message: "is required for an oidc provider (its discovery is <issuer>/.well-known/openid-configuration)" });
  if (type === "github" && input.issuer !== undefined) problems.push({ field: "issuer", message: "GitHub is no OpenID Connect issuer: set its endpoints with authorization_url, token_url and userinfo_url" });
  const scopes = input.scopes === undefined ? preset.scopes : [...new Set(input.scopes)];
  if (scopes.length < 1 || scopes.length > 20 || !scopes.every((s) => typeof s === "string" && SCOPE_TOKEN.test(s))) {
    problems.push({ field: "scopes", message: "must be 1-20 scope names without spaces or quotes" });
  } else if (type !== "github" && !scopes.includes("openid")) {
    problems.push({ field: "scopes", message: "must include openid for an OpenID Connect provider" });
  }
  const row = {
    id: name,
    type: type ?? "oidc",
    displayName,
    clientId,
    clientSecret,
    issuer,
    authorizationUrl: url("authorization_url", input.authorization_url, preset.authorizationUrl),
    tokenUrl: url("token_url", input.token_url, preset.tokenUrl),
    userinfoUrl: url("userinfo_url", input.userinfo_url, preset.userinfoUrl),
    scopes,
  };
  if (problems.length > 0) throw validationError(problems);
  return row;
}

/** Why `value` cannot be a provider endpoint, or null when it can. */
export function endpointProblem(value: unknown): string | null {
  const rule = "must be an https:// URL (http:// only on localhost, 127.0.0.1 or [::1]), without user info or fragment";
  if (typeof value !== "string" || value.length > 2000 || /[\s\\]/.test(value)) return rule;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return rule;
  }
  if (url.username || url.password || url.hash || value.includes("#")) return rule;
  if (url.protocol === "https:") return null;
  return url.protocol === "http:" && isLoopback(url) ? null : rule;
}

export function isLoopback(url: URL): boolean {
  return url.hostname === "localhost" || url.hostname === "127.0.0.1" || url.hostname === "[::1]";
}
