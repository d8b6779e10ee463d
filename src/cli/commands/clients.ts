import { Command } from "commander";
import { CLI_ACTOR } from "../../core/audit/actor.ts";
import {
  type ClientChanges,
  type ClientView,
  type ClientWithSecret,
  createClient,
  listClients,
  type NewClient,
  removeClient,
  rotateClientSecret,
  showClient,
  updateClient,
} from "../../core/oidc/client-admin.ts";
import type { ProgramContext } from "../context.ts";
import { table } from "../format.ts";
import { type Output, UsageError } from "../io.ts";
import { askConfirm } from "../prompts.ts";
import type { CoreCommand } from "../types.ts";

const SECRET_WARNING = "The client secret is shown only this once: store it now (usersvc keeps only its SHA-256).";

export const clientsAdd: CoreCommand<{ input: NewClient; json: boolean }> = {
  name: "clients add",
  allowedViaServer: true,
  async run(ctx, { input, json }) {
    printWithSecret(ctx.out, await createClient(await ctx.core(), CLI_ACTOR, input), json);
    return 0;
  },
};

export const clientsList: CoreCommand<{ limit?: number; offset?: number; json: boolean }> = {
  name: "clients list",
  allowedViaServer: true,
  async run(ctx, { limit, offset, json }) {
    const page = await listClients(await ctx.core(), { limit, offset });
    if (json) {
      ctx.out.stdout(JSON.stringify(page));
      return 0;
    }
    const rows = page.items.map((c) => [c.client_id, c.name, c.public ? "public" : "confidential", c.grant_types.join(","), c.created_at]);
    for (const line of table(["CLIENT ID", "NAME", "TYPE", "GRANTS", "CREATED"], rows)) ctx.out.stdout(line);
    ctx.out.stderr(`${page.items.length} of ${page.total} client(s)`);
    return 0;
  },
};

export const clientsShow: CoreCommand<{ id: string; json: boolean }> = {
  name: "clients show",
  allowedViaServer: true,
  async run(ctx, { id, json }) {
    printClient(ctx.out, await showClient(await ctx.core(), id), json);
    return 0;
  },
};

export const clientsUpdate: CoreCommand<{ id: string; changes: ClientChanges; json: boolean }> = {
  name: "clients update",
  allowedViaServer: true,
  async run(ctx, { id, changes, json }) {
    printClient(ctx.out, await updateClient(await ctx.core(), CLI_ACTOR, id, changes), json);
    return 0;
  },
};

export const clientsRotateSecret: CoreCommand<{ id: string; json: boolean }> = {
  name: "clients rotate-secret",
  allowedViaServer: true,
  async run(ctx, { id, json }) {
    printWithSecret(ctx.out, await rotateClientSecret(await ctx.core(), CLI_ACTOR, id), json);
    return 0;
  },
};

export const clientsRemove: CoreCommand<{ id: string; json: boolean }> = {
  name: "clients remove",
  allowedViaServer: true,
  async run(ctx, { id, json }) {
    const removed = await removeClient(await ctx.core(), CLI_ACTOR, id);
    ctx.out.stdout(json ? JSON.stringify(removed) : `Removed client ${removed.client_id}; ${removed.sessions_revoked} grant(s) revoked`);
    return 0;
  },
};

function printClient(out: Output, client: ClientView, json: boolean): void {
  if (json) out.stdout(JSON.stringify(client));
  else for (const line of clientDetails(client)) out.stdout(line);
}

/** The client, then its secret (stdout: it is data) and, on stderr, that it is never shown again. */
function printWithSecret(out: Output, client: ClientWithSecret, json: boolean): void {
  if (json) out.stdout(JSON.stringify(client));
  else {
    for (const line of clientDetails(client)) out.stdout(line);
    if (client.client_secret !== null) out.stdout(detail("client secret", client.client_secret));
  }
  if (client.client_secret !== null) out.stderr(SECRET_WARNING);
}

function clientDetails(client: ClientView): string[] {
  const list = (values: string[]): string => (values.length > 0 ? values.join(" ") : "-");
  return [
    detail("client id", client.client_id),
    detail("name", client.name),
    detail("type", client.public ? "public (no secret, PKCE)" : "confidential"),
    detail("redirect URIs", list(client.redirect_uris)),
    detail("logout URIs", list(client.post_logout_redirect_uris)),
    detail("grants", list(client.grant_types)),
    detail("scopes", list(client.scopes)),
    detail("audience", client.audience),
    detail("CORS origins", list(client.cors_origins)),
    detail("skip consent", String(client.skip_consent)),
    detail("id token alg", client.id_token_alg),
    detail("created", client.created_at),
    detail("updated", client.updated_at),
    detail("secret rotated", client.secret_rotated_at ?? "-"),
  ];
}

function detail(key: string, value: string): string {
  return `${`${key}:`.padEnd(16)}${value}`;
}

/** A repeatable option: `--redirect-uri a --redirect-uri b`. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function wholeNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new UsageError(`${flag} takes a whole number`);
  return n;
}

const RULES_HELP = `
Redirect and post-logout URIs: https://…; http:// only on 127.0.0.1, [::1] or
localhost (a registered http://127.0.0.1 or [::1] URI matches any port); or a
native app's reverse-domain scheme (com.example.app:/callback). No fragment.
Grants: authorization_code, refresh_token, client_credentials (default the
first two; refresh_token needs authorization_code; client_credentials needs a
confidential client). Scopes: openid, profile, email, offline_access, roles
(default all; authorization_code needs openid). --audience is the aud of the
client's access tokens (default the client id; never USERSVC_AUDIENCE).
CORS origins are bare origins: https://app.example.com[:port].`;

interface SettingOptions {
  name?: string;
  redirectUri?: string[] | false;
  postLogoutRedirectUri?: string[] | false;
  grant?: string[];
  scope?: string[];
  audience?: string | false;
  corsOrigin?: string[] | false;
  skipConsent?: boolean;
  idTokenAlg?: string;
  json?: boolean;
}

/** `--no-x` (false) clears a list; absent (undefined) leaves it. */
function listOption(value: string[] | false | undefined): string[] | undefined {
  return value === false ? [] : value;
}

export function clientsCommand(ctx: ProgramContext): Command {
  const add = new Command("add")
    .description("register an OpenID Connect client; prints its secret once (none with --public)")
    .requiredOption("--name <name>", "shown to users on the consent page (1-100 characters)")
    .option("--redirect-uri <uri>", "where authorization answers go; repeat for several (required for authorization_code)", collect)
    .option("--post-logout-redirect-uri <uri>", "where RP-initiated logout may return to; repeatable", collect)
    .option("--public", "a browser or native app: no secret, PKCE alone")
    .option("--grant <type>", "authorization_code, refresh_token or client_credentials; repeatable (default the first two)", collect)
    .option("--scope <scope>", "openid, profile, email, offline_access or roles; repeatable (default all)", collect)
    .option("--audience <aud>", "the aud of its access tokens: the API it calls (default the client id)")
    .option("--cors-origin <origin>", "a browser origin allowed to call the token endpoints; repeatable", collect)
    .option("--skip-consent", "first-party: its users are not asked for consent")
    .option("--id-token-alg <alg>", "RS256 (default) or EdDSA")
    .option("--json", "print the client with its client_secret as JSON")
    .addHelpText("after", RULES_HELP)
    .action((options: SettingOptions & { name: string; public?: boolean }) => {
      const input: NewClient = {
        name: options.name,
        redirect_uris: listOption(options.redirectUri),
        post_logout_redirect_uris: listOption(options.postLogoutRedirectUri),
        public: Boolean(options.public),
        grant_types: options.grant,
        scopes: options.scope,
        audience: typeof options.audience === "string" ? options.audience : undefined,
        cors_origins: listOption(options.corsOrigin),
        skip_consent: Boolean(options.skipConsent),
        id_token_alg: options.idTokenAlg,
      };
      return ctx.execute(clientsAdd, { input, json: Boolean(options.json) });
    });

  const list = new Command("list")
    .description("list the clients, newest first (never their secrets)")
    .option("--limit <n>", "1-200 (default 50)")
    .option("--offset <n>", "clients to skip (default 0)")
    .option("--json", "print the page {items, total, limit, offset} as JSON")
    .action((options: { limit?: string; offset?: string; json?: boolean }) =>
      ctx.execute(clientsList, {
        limit: wholeNumber("--limit", options.limit),
        offset: wholeNumber("--offset", options.offset),
        json: Boolean(options.json),
      }),
    );

  const show = new Command("show")
    .description("show one client (never its secret)")
    .argument("<id>", "the client id")
    .option("--json", "print the client as JSON")
    .action((id: string, options: { json?: boolean }) => ctx.execute(clientsShow, { id, json: Boolean(options.json) }));

  const update = new Command("update")
    .description("change a client; a list option given replaces the whole list, options not given stay as they are")
    .argument("<id>", "the client id")
    .option("--name <name>", "the name shown on the consent page")
    .option("--redirect-uri <uri>", "the redirect URIs (replaces them all); repeatable", collect)
    .option("--no-redirect-uri", "remove every redirect URI (a client_credentials client)")
    .option("--post-logout-redirect-uri <uri>", "the post-logout redirect URIs (replaces them all); repeatable", collect)
    .option("--no-post-logout-redirect-uri", "remove every post-logout redirect URI")
    .option("--grant <type>", "the grants (replaces them all); repeatable", collect)
    .option("--scope <scope>", "the scopes (replaces them all); repeatable", collect)
    .option("--audience <aud>", "the aud of its access tokens")
    .option("--no-audience", "access tokens' aud back to the client id")
    .option("--cors-origin <origin>", "the CORS origins (replaces them all); repeatable", collect)
    .option("--no-cors-origin", "remove every CORS origin")
    .option("--skip-consent", "first-party: no consent page")
    .option("--no-skip-consent", "ask users for consent again")
    .option("--id-token-alg <alg>", "RS256 or EdDSA")
    .option("--json", "print the client as JSON")
    .addHelpText("after", `${RULES_HELP}\nWhether a client is public cannot change: remove it and add it again.`)
    .action((id: string, options: SettingOptions) => {
      const changes: ClientChanges = {
        name: options.name,
        redirect_uris: listOption(options.redirectUri),
        post_logout_redirect_uris: listOption(options.postLogoutRedirectUri),
        grant_types: options.grant,
        scopes: options.scope,
        audience: options.audience === false ? null : options.audience,
        cors_origins: listOption(options.corsOrigin),
        skip_consent: options.skipConsent,
        id_token_alg: options.idTokenAlg,
      };
      if (Object.values(changes).every((value) => value === undefined)) {
        throw new UsageError("clients update needs at least one change (see usersvc clients update --help)");
      }
      return ctx.execute(clientsUpdate, { id, changes, json: Boolean(options.json) });
    });

  const rotateSecret = new Command("rotate-secret")
    .description("give a confidential client a new secret, printed once; the old one stops working at once")
    .argument("<id>", "the client id")
    .option("--json", "print the client with its new client_secret as JSON")
    .action((id: string, options: { json?: boolean }) => ctx.execute(clientsRotateSecret, { id, json: Boolean(options.json) }));

  const remove = new Command("remove")
    .description("remove a client: its grants are revoked at once (asks first on a terminal)")
    .argument("<id>", "the client id")
    .option("--yes", "do not ask; required without a terminal")
    .option("--json", "print {client_id, removed, sessions_revoked} as JSON")
    .action(async (id: string, options: { yes?: boolean; json?: boolean }) => {
      if (!options.yes) {
        const { io } = ctx;
        if (!io.stdinIsTTY) throw new UsageError("clients remove needs --yes when there is no terminal to ask on");
        if (!(await askConfirm(io, `Remove client ${id}? Every token issued to it stops working and its users must sign in to it again.`))) {
          io.stderr("Nothing changed.");
          return ctx.finish(1);
        }
      }
      await ctx.execute(clientsRemove, { id, json: Boolean(options.json) });
    });

  return new Command("clients")
    .description("OpenID Connect clients: the applications that sign their users in with usersvc")
    .addCommand(add)
    .addCommand(list)
    .addCommand(show)
    .addCommand(update)
    .addCommand(rotateSecret)
    .addCommand(remove);
}
