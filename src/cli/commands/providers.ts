import { Command } from "commander";
import { CLI_ACTOR } from "../../core/audit/actor.ts";
import { addProvider, listProviders, type NewProvider, type ProviderView, removeProvider, showProvider } from "../../core/providers/provider-admin.ts";
import type { ProgramContext } from "../context.ts";
import { table } from "../format.ts";
import { type Output, UsageError } from "../io.ts";
import { askConfirm } from "../prompts.ts";
import type { CoreCommand } from "../types.ts";

export const providersAdd: CoreCommand<{ input: NewProvider; json: boolean }> = {
  name: "providers add",
  allowedViaServer: true,
  async run(ctx, { input, json }) {
    const provider = await addProvider(await ctx.core(), CLI_ACTOR, input);
    printProvider(ctx.out, provider, json);
    if (!json) ctx.out.stderr(`Register this redirect URI at the provider: ${provider.callback_url}`);
    return 0;
  },
};

export const providersList: CoreCommand<{ json: boolean }> = {
  name: "providers list",
  allowedViaServer: true,
  async run(ctx, { json }) {
    const providers = await listProviders(await ctx.core());
    if (json) {
      ctx.out.stdout(JSON.stringify(providers));
      return 0;
    }
    const rows = providers.map((p) => [p.name, p.type, p.display_name, p.issuer ?? p.authorization_url ?? "-", p.created_at]);
    for (const line of table(["NAME", "TYPE", "DISPLAY NAME", "ISSUER / AUTHORIZE", "CREATED"], rows)) ctx.out.stdout(line);
    ctx.out.stderr(`${providers.length} provider(s)`);
    return 0;
  },
};

export const providersShow: CoreCommand<{ name: string; json: boolean }> = {
  name: "providers show",
  allowedViaServer: true,
  async run(ctx, { name, json }) {
    printProvider(ctx.out, await showProvider(await ctx.core(), name), json);
    return 0;
  },
};

export const providersRemove: CoreCommand<{ name: string; json: boolean }> = {
  name: "providers remove",
  allowedViaServer: true,
  async run(ctx, { name, json }) {
    const removed = await removeProvider(await ctx.core(), CLI_ACTOR, name);
    ctx.out.stdout(json ? JSON.stringify(removed) : `Removed provider ${removed.name}; ${removed.identities_removed} linked identit${removed.identities_removed === 1 ? "y" : "ies"} removed with it`);
    return 0;
  },
};

function printProvider(out: Output, provider: ProviderView, json: boolean): void {
  if (json) {
    out.stdout(JSON.stringify(provider));
    return;
  }
  const detail = (key: string, value: string | null) => `${`${key}:`.padEnd(16)}${value ?? "-"}`;
  for (const line of [
    detail("name", provider.name),
    detail("type", provider.type),
    detail("display name", provider.display_name),
    detail("client id", provider.client_id),
    detail("issuer", provider.issuer),
    detail("authorize URL", provider.authorization_url),
    detail("token URL", provider.token_url),
    detail("userinfo URL", provider.userinfo_url),
    detail("scopes", provider.scopes.join(" ")),
    detail("callback URL", provider.callback_url),
    detail("created", provider.created_at),
  ])
    out.stdout(line);
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const RULES_HELP = `
Types: oidc (any OpenID Connect issuer, found through <issuer>/.well-known/
openid-configuration; --issuer required), google (issuer
https://accounts.google.com), github (OAuth 2.0 and GitHub's REST API). Every
endpoint can be overridden; for GitHub Enterprise Server:
  --authorization-url https://ghe.example.com/login/oauth/authorize
  --token-url https://ghe.example.com/login/oauth/access_token
  --userinfo-url https://ghe.example.com/api/v3/user
URLs are https://, or http:// on localhost, 127.0.0.1 or [::1]. The client
secret is read from standard input, stored in the database (which must be
protected like a secret: it also holds the signing keys) and never shown.
Register the callback URL it prints at the provider.

Example:
  printf '%s' "$SECRET" | usersvc providers add --type github --name github \\
    --client-id Iv1.0123456789abcdef --client-secret-stdin`;

export function providersCommand(ctx: ProgramContext): Command {
  const add = new Command("add")
    .description("add a sign-in provider: a button on /login and /register")
    .requiredOption("--type <type>", "oidc, github or google")
    .requiredOption("--name <name>", "a slug, ^[a-z0-9][a-z0-9-]{0,31}$, in the callback URL")
    .requiredOption("--client-id <id>", "the client id usersvc has at the provider")
    .option("--client-secret-stdin", "read the client secret from standard input (required; never pass it as a flag)")
    .option("--issuer <url>", "the OpenID Connect issuer (required for oidc)")
    .option("--scope <scope>", "a scope to ask for; repeat for several (default openid email profile; GitHub read:user user:email)", collect)
    .option("--display-name <text>", "the button's label: Continue with <text> (default GitHub, Google, or the name)")
    .option("--authorization-url <url>", "override the authorization endpoint")
    .option("--token-url <url>", "override the token endpoint")
    .option("--userinfo-url <url>", "override userinfo (GitHub: its /user; the emails are <url>/emails)")
    .option("--json", "print the provider as JSON")
    .addHelpText("after", RULES_HELP)
    .action(async (options: AddOptions) => {
      const { io } = ctx;
      if (!options.clientSecretStdin) throw new UsageError("providers add needs --client-secret-stdin, with the secret piped in");
      if (io.stdinIsTTY) throw new UsageError("--client-secret-stdin expects the secret piped in, not a terminal");
      const secret = (await io.readStdin()).replace(/\r?\n$/, "");
      if (!secret) throw new UsageError("--client-secret-stdin: nothing was read from standard input");
      const input: NewProvider = {
        name: options.name,
        type: options.type,
        client_id: options.clientId,
        client_secret: secret,
        display_name: options.displayName,
        issuer: options.issuer,
        authorization_url: options.authorizationUrl,
        token_url: options.tokenUrl,
        userinfo_url: options.userinfoUrl,
        scopes: options.scope,
      };
      await ctx.execute(providersAdd, { input, json: Boolean(options.json) });
    });

  const list = new Command("list")
    .description("list the sign-in providers (never their secrets)")
    .option("--json", "print the list as JSON")
    .action((options: { json?: boolean }) => ctx.execute(providersList, { json: Boolean(options.json) }));

  const show = new Command("show")
    .description("show one sign-in provider (never its secret) and the callback URL to register")
    .argument("<name>", "the provider's name")
    .option("--json", "print the provider as JSON")
    .action((name: string, options: { json?: boolean }) => ctx.execute(providersShow, { name, json: Boolean(options.json) }));

  const remove = new Command("remove")
    .description("remove a provider and every user's link to it (asks first on a terminal)")
    .argument("<name>", "the provider's name")
    .option("--yes", "do not ask; required without a terminal")
    .option("--json", "print {name, removed, identities_removed} as JSON")
    .action(async (name: string, options: { yes?: boolean; json?: boolean }) => {
      if (!options.yes) {
        const { io } = ctx;
        if (!io.stdinIsTTY) throw new UsageError("providers remove needs --yes when there is no terminal to ask on");
        const question = `Remove provider ${name}? Every user's link to it goes too; users with no other way in must reset their password by email.`;
        if (!(await askConfirm(io, question))) {
          io.stderr("Nothing changed.");
          return ctx.finish(1);
        }
      }
      await ctx.execute(providersRemove, { name, json: Boolean(options.json) });
    });

  return new Command("providers")
    .description("sign-in providers: OpenID Connect issuers, GitHub and Google on the sign-in pages")
    .addCommand(add)
    .addCommand(list)
    .addCommand(show)
    .addCommand(remove);
}

interface AddOptions {
  type: string;
  name: string;
  clientId: string;
  clientSecretStdin?: boolean;
  issuer?: string;
  scope?: string[];
  displayName?: string;
  authorizationUrl?: string;
  tokenUrl?: string;
  userinfoUrl?: string;
  json?: boolean;
}
