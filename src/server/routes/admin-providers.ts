/**
 * Sign-in providers and linked identities (SPEC §10): /api/v1/admin/providers
 * (role admin), a user's identities for admins, and the caller's own under
 * /users/me/identities. The rules are core/providers'.
 */
import { Elysia, t } from "elysia";
import type { Core } from "../../core/core.ts";
import { identitiesOfUser, listIdentities, unlinkIdentity, unlinkUserIdentity } from "../../core/providers/identities.ts";
import { addProvider, listProviders, removeProvider, showProvider } from "../../core/providers/provider-admin.ts";
import { authMacro, BEARER_SECURITY } from "../auth.ts";
import { ok } from "../envelope.ts";
import { ADMIN_ERRORS, AUTH_ERRORS, BODY_ERRORS, responses } from "../responses.ts";

const strict = { additionalProperties: false } as const;
const Timestamp = () => t.String({ format: "date-time" });
const ProviderType = t.Union([t.Literal("oidc"), t.Literal("github"), t.Literal("google")]);

/** A provider as admins see it: never its client secret. */
const Provider = t.Object(
  {
    name: t.String({ description: "The provider's slug, in its callback URL" }),
    type: ProviderType,
    display_name: t.String({ description: "The button's label: Continue with <display_name>" }),
    client_id: t.String(),
    issuer: t.Nullable(t.String({ description: "OpenID Connect issuer (discovery); null for GitHub" })),
    authorization_url: t.Nullable(t.String({ description: "Overrides the discovered authorization endpoint" })),
    token_url: t.Nullable(t.String({ description: "Overrides the discovered token endpoint" })),
    userinfo_url: t.Nullable(t.String({ description: "Overrides userinfo; for GitHub its /user (emails: <userinfo_url>/emails)" })),
    scopes: t.Array(t.String()),
    callback_url: t.String({ description: "The redirect URI to register at the provider" }),
    created_at: Timestamp(),
    updated_at: Timestamp(),
  },
  { ...strict, $id: "IdentityProvider" },
);
const RemovedProvider = t.Object(
  { name: t.String(), removed: t.Literal(true), identities_removed: t.Number({ multipleOf: 1, description: "Users' links to it, removed with it" }) },
  { ...strict, $id: "IdentityProviderRemoved" },
);
const Identity = t.Object(
  {
    provider: t.String(),
    provider_type: ProviderType,
    display_name: t.String(),
    email: t.Nullable(t.String({ description: "As the provider gave it at the last sign-in" })),
    email_verified: t.Boolean({ description: "Whether the provider said so at the last sign-in" }),
    linked_at: Timestamp(),
    last_used_at: t.Nullable(Timestamp()),
  },
  { ...strict, $id: "LinkedIdentity" },
);
const Unlinked = t.Object({ provider: t.String(), unlinked: t.Literal(true) }, { ...strict, $id: "IdentityUnlinked" });

const url = (description: string) => t.Optional(t.String({ description: `${description}; https, or http on localhost/127.0.0.1/[::1]` }));
const CreateBody = t.Object(
  {
    name: t.String({ description: "^[a-z0-9][a-z0-9-]{0,31}$" }),
    type: t.String({ description: "oidc, github or google" }),
    client_id: t.String(),
    client_secret: t.String({ description: "Stored to authenticate to the provider; never shown again" }),
    display_name: t.Optional(t.String({ description: "1-100 characters (default: GitHub, Google, or the name)" })),
    issuer: url("Required for oidc; Google's is https://accounts.google.com"),
    authorization_url: url("Override"),
    token_url: url("Override"),
    userinfo_url: url("Override"),
    scopes: t.Optional(t.Array(t.String(), { description: "Default openid email profile; GitHub read:user user:email" })),
  },
  strict,
);
const Name = t.Object({ name: t.String({ description: "Provider name" }) });
const UserId = t.Object({ id: t.String({ format: "uuid", description: "User id" }) });
const UserProvider = t.Object({ id: t.String({ format: "uuid", description: "User id" }), provider: t.String({ description: "Provider name" }) });
const OwnProvider = t.Object({ provider: t.String({ description: "Provider name" }) });

const Responses = {
  list: responses({ data: t.Array(Provider), description: "Every provider, by name", errors: ADMIN_ERRORS }),
  created: responses({ status: 201, data: Provider, description: "The new provider (without its secret)", errors: [...BODY_ERRORS, ...ADMIN_ERRORS] }),
  provider: responses({ data: Provider, description: "The provider (without its secret)", errors: [...ADMIN_ERRORS, "NOT_FOUND"] }),
  removed: responses({ data: RemovedProvider, description: "The provider is gone, and every user's link to it", errors: [...ADMIN_ERRORS, "NOT_FOUND"] }),
  userIdentities: responses({ data: t.Array(Identity), description: "The user's linked identities", errors: [...ADMIN_ERRORS, "USER_NOT_FOUND"] }),
  userUnlinked: responses({
    data: Unlinked,
    description: "The identity is unlinked",
    errors: [...ADMIN_ERRORS, "USER_NOT_FOUND", "NOT_FOUND", "LAST_SIGN_IN_METHOD"],
  }),
  ownIdentities: responses({ data: t.Array(Identity), description: "Your linked identities", errors: AUTH_ERRORS }),
  ownUnlinked: responses({ data: Unlinked, description: "The identity is unlinked", errors: [...AUTH_ERRORS, "NOT_FOUND", "LAST_SIGN_IN_METHOD"] }),
};

export function providerRoutes(core: Core) {
  const admin = (summary: string) => ({ tags: ["admin"], summary, security: BEARER_SECURITY });
  const me = (summary: string) => ({ tags: ["current user"], summary, security: BEARER_SECURITY });

  return new Elysia({ name: "routes/admin-providers" })
    .use(authMacro(core))
    .get("/admin/providers", async () => ok(await listProviders(core)), {
      admin: true,
      response: Responses.list,
      detail: admin("List sign-in providers"),
    })
    .post("/admin/providers", async ({ actor, body, status }) => status(201, ok(await addProvider(core, actor, body))), {
      admin: true,
      body: CreateBody,
      response: Responses.created,
      detail: admin("Add a sign-in provider (OpenID Connect issuer, GitHub or Google)"),
    })
    .get("/admin/providers/:name", async ({ params }) => ok(await showProvider(core, params.name)), {
      admin: true,
      params: Name,
      response: Responses.provider,
      detail: admin("One sign-in provider"),
    })
    .delete("/admin/providers/:name", async ({ actor, params }) => ok(await removeProvider(core, actor, params.name)), {
      admin: true,
      params: Name,
      response: Responses.removed,
      detail: admin("Remove a sign-in provider and every user's link to it"),
    })
    .get("/admin/users/:id/identities", async ({ params }) => ok(await identitiesOfUser(core, params.id)), {
      admin: true,
      params: UserId,
      response: Responses.userIdentities,
      detail: admin("A user's linked identities"),
    })
    .delete("/admin/users/:id/identities/:provider", async ({ actor, params }) => ok(await unlinkUserIdentity(core, actor, params.id, params.provider)), {
      admin: true,
      params: UserProvider,
      response: Responses.userUnlinked,
      detail: admin("Unlink a user's identity (never the user's last way to sign in)"),
    })
    .get("/users/me/identities", async ({ principal }) => ok(await listIdentities(core, principal.user.id)), {
      auth: true,
      response: Responses.ownIdentities,
      detail: me("Your linked identities"),
    })
    .delete("/users/me/identities/:provider", async ({ actor, principal, params }) => ok(await unlinkIdentity(core, actor, principal.user.id, params.provider)), {
      auth: true,
      params: OwnProvider,
      response: Responses.ownUnlinked,
      detail: me("Unlink one of your identities (never your last way to sign in)"),
    });
}
