/** /api/v1/admin/clients: OpenID Connect clients (SPEC §9), role admin; the rules are core/oidc/client-admin.ts's. */
import { Elysia, t } from "elysia";
import type { Core } from "../../core/core.ts";
import { createClient, listClients, removeClient, rotateClientSecret, showClient, updateClient } from "../../core/oidc/client-admin.ts";
import { authMacro, BEARER_SECURITY } from "../auth.ts";
import { ok } from "../envelope.ts";
import { Page } from "../models.ts";
import { ADMIN_ERRORS, BODY_ERRORS, responses } from "../responses.ts";

const strict = { additionalProperties: false } as const;
const Timestamp = (options: { description?: string } = {}) => t.String({ format: "date-time", ...options });
const Uris = (description: string) => t.Array(t.String(), { description });

const clientFields = {
  client_id: t.String({ description: "128 random bits, hex" }),
  name: t.String(),
  public: t.Boolean({ description: "No secret: PKCE alone (token endpoint auth none); fixed at creation" }),
  redirect_uris: t.Array(t.String()),
  post_logout_redirect_uris: t.Array(t.String()),
  grant_types: t.Array(t.Union([t.Literal("authorization_code"), t.Literal("refresh_token"), t.Literal("client_credentials")])),
  scopes: t.Array(t.String()),
  audience: t.String({ description: "The aud of its access tokens: the audience given, or the client id" }),
  cors_origins: t.Array(t.String()),
  skip_consent: t.Boolean({ description: "First-party: no consent page" }),
  id_token_alg: t.Union([t.Literal("RS256"), t.Literal("EdDSA")]),
  created_at: Timestamp(),
  updated_at: Timestamp(),
  secret_rotated_at: t.Nullable(Timestamp()),
};
/** The client as admins see it: never its secret or the secret's hash. */
const Client = t.Object(clientFields, { ...strict, $id: "OAuthClient" });
const ClientWithSecret = t.Object(
  {
    ...clientFields,
    client_secret: t.Nullable(t.String({ description: "Shown this once; only its SHA-256 is stored. null for a public client" })),
  },
  { ...strict, $id: "OAuthClientWithSecret" },
);
const ClientPage = t.Object(
  { items: t.Array(Client), total: t.Number({ multipleOf: 1 }), limit: t.Number({ multipleOf: 1 }), offset: t.Number({ multipleOf: 1 }) },
  { ...strict, $id: "OAuthClientPage" },
);
const Removed = t.Object(
  { client_id: t.String(), removed: t.Literal(true), sessions_revoked: t.Number({ multipleOf: 1, description: "Live grants revoked" }) },
  { ...strict, $id: "OAuthClientRemoved" },
);

// Lists and enumerations are checked by the core, which names the bad entry (same messages as the CLI).
const settings = {
  name: t.String({ description: "1-100 characters" }),
  redirect_uris: Uris("https, http on 127.0.0.1/[::1]/localhost, or a reverse-domain scheme (com.example.app:/cb); no fragment"),
  post_logout_redirect_uris: Uris("Same rules as redirect_uris"),
  grant_types: t.Array(t.String(), { description: "authorization_code, refresh_token, client_credentials (default the first two)" }),
  scopes: t.Array(t.String(), { description: "openid, profile, email, offline_access, roles (default all)" }),
  audience: t.Nullable(t.String({ description: "The aud of its access tokens (never USERSVC_AUDIENCE); null: the client id" })),
  cors_origins: Uris("Bare origins, scheme://host[:port]"),
  skip_consent: t.Boolean(),
  id_token_alg: t.String({ description: "RS256 (default) or EdDSA" }),
};
const Body = {
  create: t.Object(
    {
      name: settings.name,
      redirect_uris: t.Optional(settings.redirect_uris),
      post_logout_redirect_uris: t.Optional(settings.post_logout_redirect_uris),
      public: t.Optional(t.Boolean({ description: "A browser or native app without a secret (default false)" })),
      grant_types: t.Optional(settings.grant_types),
      scopes: t.Optional(settings.scopes),
      audience: t.Optional(settings.audience),
      cors_origins: t.Optional(settings.cors_origins),
      skip_consent: t.Optional(settings.skip_consent),
      id_token_alg: t.Optional(settings.id_token_alg),
    },
    strict,
  ),
  patch: t.Object(
    {
      name: t.Optional(settings.name),
      redirect_uris: t.Optional(settings.redirect_uris),
      post_logout_redirect_uris: t.Optional(settings.post_logout_redirect_uris),
      grant_types: t.Optional(settings.grant_types),
      scopes: t.Optional(settings.scopes),
      audience: t.Optional(settings.audience),
      cors_origins: t.Optional(settings.cors_origins),
      skip_consent: t.Optional(settings.skip_consent),
      id_token_alg: t.Optional(settings.id_token_alg),
    },
    strict,
  ),
};
const Id = t.Object({ id: t.String({ description: "Client id" }) });

const TARGET_ERRORS = [...BODY_ERRORS, ...ADMIN_ERRORS, "NOT_FOUND"] as const;
const Responses = {
  list: responses({ data: ClientPage, description: "One page of clients, newest first", errors: ADMIN_ERRORS }),
  created: responses({ status: 201, data: ClientWithSecret, description: "The new client and its secret, shown this once", errors: [...BODY_ERRORS, ...ADMIN_ERRORS] }),
  client: responses({ data: Client, description: "The client", errors: [...ADMIN_ERRORS, "NOT_FOUND"] }),
  patched: responses({ data: Client, description: "The client as updated", errors: TARGET_ERRORS }),
  rotated: responses({ data: ClientWithSecret, description: "The client and its new secret, shown this once; the old one no longer works", errors: TARGET_ERRORS }),
  removed: responses({ data: Removed, description: "The client is gone; its grants are revoked", errors: TARGET_ERRORS }),
};

export function adminClientRoutes(core: Core) {
  const detail = (summary: string) => ({ tags: ["admin"], summary, security: BEARER_SECURITY });

  return new Elysia({ name: "routes/admin-clients", prefix: "/admin" })
    .use(authMacro(core))
    .get("/clients", async ({ query }) => ok(await listClients(core, query)), {
      admin: true,
      query: Page,
      response: Responses.list,
      detail: detail("List OpenID Connect clients"),
    })
    .post("/clients", async ({ actor, body, status }) => status(201, ok(await createClient(core, actor, body))), {
      admin: true,
      body: Body.create,
      response: Responses.created,
      detail: detail("Register an OpenID Connect client (the secret is in this answer only)"),
    })
    .get("/clients/:id", async ({ params }) => ok(await showClient(core, params.id)), {
      admin: true,
      params: Id,
      response: Responses.client,
      detail: detail("One OpenID Connect client"),
    })
    .patch("/clients/:id", async ({ actor, params, body }) => ok(await updateClient(core, actor, params.id, body)), {
      admin: true,
      params: Id,
      body: Body.patch,
      response: Responses.patched,
      detail: detail("Change a client: given fields replace the stored ones"),
    })
    .post("/clients/:id/rotate-secret", async ({ actor, params }) => ok(await rotateClientSecret(core, actor, params.id)), {
      admin: true,
      params: Id,
      response: Responses.rotated,
      detail: detail("A new client secret; the old one stops working at once"),
    })
    .delete("/clients/:id", async ({ actor, params }) => ok(await removeClient(core, actor, params.id)), {
      admin: true,
      params: Id,
      response: Responses.removed,
      detail: detail("Remove a client and revoke its grants"),
    });
}
