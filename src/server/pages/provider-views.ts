/** What /login, /register and /account show of the providers (apart from providers.ts, which uses account.ts). */
import { listIdentities } from "../../core/providers/identities.ts";
import { listProviders } from "../../core/providers/provider-admin.ts";
import type { Principal } from "../../core/sessions/session-tokens.ts";
import { signInWays } from "../../core/users/sign-in-ways.ts";
import type { PageCall } from "./page-call.ts";

/** The account page's "Sign-in methods" section: linked identities, providers to link, and whether a password is set. */
export async function identitiesView(call: PageCall, principal: Principal): Promise<Record<string, unknown>> {
  const { core } = call.pages;
  const [identities, providers, ways] = await Promise.all([listIdentities(core, principal.user.id), listProviders(core), signInWays(core.db, principal.user.id)]);
  const linked = new Set(identities.map((i) => i.provider));
  return {
    identities,
    linkable: providers.filter((p) => !linked.has(p.name)).map((p) => ({ name: p.name, display_name: p.display_name })),
    hasPassword: ways.password,
  };
}

export interface ProviderButton {
  name: string;
  label: string;
  href: string;
}

/** One link per provider for /login and /register, keeping return_to and ui_locales. */
export async function providerButtons(call: PageCall): Promise<ProviderButton[]> {
  const providers = await listProviders(call.pages.core);
  return providers.map((p) => ({
    name: p.name,
    label: call.t("providers.continue_with", { provider: p.display_name }),
    href: call.link(`/login/provider/${p.name}`),
  }));
}
