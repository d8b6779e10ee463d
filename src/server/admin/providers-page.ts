/**
 * /admin/providers: sign-in providers, as `usersvc providers …` (list, add,
 * remove). A provider's client secret goes in once, with the add form, and
 * is never shown back: not in the list, not in a form shown again.
 */
import type { DomainError } from "../../core/errors.ts";
import { addProvider, listProviders, type NewProvider, removeProvider, showProvider } from "../../core/providers/provider-admin.ts";
import { PRESETS, PROVIDER_TYPES } from "../../core/providers/presets.ts";
import type { PageCall } from "../pages/page-call.ts";
import { HTTP_STATUS } from "../errors.ts";
import { type AdminCall, type AdminRouter, askFirst, noticeOf, redirectDone, renderAdmin, renderAdminError } from "./admin-router.ts";

const NOTICES: Record<string, string> = {
  added: "Provider added: its button is on the sign-in and registration pages. Register its callback URL (below) at the provider.",
  removed: "Provider removed, with every user's link to it.",
};

/** The add form's text fields, as typed (never the secret). */
const TEXT_FIELDS = ["type", "name", "display_name", "client_id", "issuer", "scopes", "authorization_url", "token_url", "userinfo_url"] as const;
type ProviderFormValues = Record<(typeof TEXT_FIELDS)[number], string>;

const BLANK: ProviderFormValues = { type: "oidc", name: "", display_name: "", client_id: "", issuer: "", scopes: "", authorization_url: "", token_url: "", userinfo_url: "" };

function typedValues(call: PageCall): ProviderFormValues {
  return Object.fromEntries(TEXT_FIELDS.map((field) => [field, call.field(field) ?? ""])) as ProviderFormValues;
}

/** The form as the core's input: a blank optional field takes the type's default, as a flag left out does on the CLI. */
function providerInputOf(values: ProviderFormValues, secret: string): NewProvider {
  const optional = (value: string) => (value.trim() === "" ? undefined : value.trim());
  const scopes = values.scopes.split(/[\s,]+/).filter(Boolean);
  return {
    name: values.name.trim(),
    type: values.type,
    client_id: values.client_id,
    client_secret: secret,
    display_name: optional(values.display_name),
    issuer: optional(values.issuer),
    authorization_url: optional(values.authorization_url),
    token_url: optional(values.token_url),
    userinfo_url: optional(values.userinfo_url),
    scopes: scopes.length > 0 ? scopes : undefined,
  };
}

async function showProviders(admin: AdminCall, refused: DomainError | null = null): Promise<Response> {
  const { call } = admin;
  const providers = await listProviders(call.pages.core);
  const values = refused ? typedValues(call) : BLANK;
  const problems = refused ? call.errorOf(refused).fields : {};
  return renderAdmin(
    admin,
    "admin-providers",
    "providers",
    {
      providers: providers.map((provider) => ({ ...provider, removeAction: call.url(`/admin/providers/${provider.name}/remove`) })),
      types: PROVIDER_TYPES.map((type) => ({ value: type, label: PRESETS[type].displayName ?? "OpenID Connect (any issuer)" })),
      values,
      problems,
      // Open when something in it was typed or refused.
      overridesOpen: ["authorization_url", "token_url", "userinfo_url"].some((field) => values[field as keyof ProviderFormValues] !== "" || problems[field]),
      back: call.url("/admin/providers"),
      notice: refused ? null : noticeOf(call, NOTICES),
      error: refused ? call.errorOf(refused) : null,
    },
    refused ? HTTP_STATUS[refused.code] : 200,
  );
}

export function providersRoutes(router: AdminRouter): void {
  router.page("/admin/providers", (admin) => showProviders(admin));
  router.action(
    "/admin/providers",
    async (admin) => {
      await addProvider(admin.call.pages.core, admin.actor, providerInputOf(typedValues(admin.call), admin.call.field("client_secret") ?? ""));
      return redirectDone(admin.call, admin.call.url("/admin/providers"), "added");
    },
    (admin, error) => (error.code === "VALIDATION_ERROR" ? showProviders(admin, error) : renderAdminError(admin, error, "providers")),
  );
  router.action(
    "/admin/providers/:name/remove",
    async (admin) => {
      const provider = await showProvider(admin.call.pages.core, admin.params.name ?? "");
      const ask = askFirst(
        admin,
        {
          title: `Remove the provider ${provider.display_name} (${provider.name})?`,
          paragraphs: [
            "Its button leaves the sign-in pages, and every user's link to it is removed with it, as are sign-ins with it under way.",
            "Users who have no other way in (no password, no passkey, no other provider) must reset their password by email.",
          ],
          confirmLabel: "Remove the provider",
        },
        "providers",
      );
      if (ask) return ask;
      await removeProvider(admin.call.pages.core, admin.actor, provider.name);
      return redirectDone(admin.call, admin.call.url("/admin/providers"), "removed");
    },
    (admin, error) => renderAdminError(admin, error, "providers"),
  );
}
