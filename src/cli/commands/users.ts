import { Command } from "commander";
import { CLI_ACTOR } from "../../core/audit/actor.ts";
import { type AdminChanges, adminUpdateUser } from "../../core/users/admin-update.ts";
import { listUsers, USER_SORTS, type UserListQuery } from "../../core/users/list.ts";
import { toPublicUser } from "../../core/users/user-record.ts";
import { getUserByReference } from "../../core/users/users.ts";
import type { ProgramContext } from "../context.ts";
import type { CoreCommand } from "../types.ts";
import { table, userDetails } from "../format.ts";
import { UsageError } from "../io.ts";

export const usersList: CoreCommand<{ query: UserListQuery; json: boolean }> = {
  name: "users list",
  allowedViaServer: true,
  async run(ctx, { query, json }) {
    const page = await listUsers(await ctx.core(), query);
    if (json) {
      ctx.out.stdout(JSON.stringify(page));
      return 0;
    }
    const rows = page.items.map((u) => [u.id, u.email, u.username, u.status, u.roles.join(","), u.created_at]);
    for (const line of table(["ID", "EMAIL", "USERNAME", "STATUS", "ROLES", "CREATED"], rows)) ctx.out.stdout(line);
    const shown = page.items.length;
    ctx.out.stderr(`${shown} of ${page.total} user(s)${page.next_cursor ? `; next page: --cursor ${page.next_cursor}` : ""}`);
    return 0;
  },
};

export const usersShow: CoreCommand<{ user: string; json: boolean }> = {
  name: "users show",
  allowedViaServer: true,
  async run(ctx, { user, json }) {
    const core = await ctx.core();
    const view = toPublicUser(await getUserByReference(core, user), core.now());
    if (json) ctx.out.stdout(JSON.stringify(view));
    else for (const line of userDetails(view)) ctx.out.stdout(line);
    return 0;
  },
};

export const usersUpdate: CoreCommand<{ user: string; changes: AdminChanges; json: boolean }> = {
  name: "users update",
  allowedViaServer: true,
  async run(ctx, { user, changes, json }) {
    const core = await ctx.core();
    const target = await getUserByReference(core, user);
    const view = toPublicUser(await adminUpdateUser(core, CLI_ACTOR, target.id, changes), core.now());
    if (json) ctx.out.stdout(JSON.stringify(view));
    else for (const line of userDetails(view)) ctx.out.stdout(line);
    return 0;
  },
};

function jsonObject(flag: string, text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`${flag} takes a JSON object, e.g. '{"tenant":"acme"}'`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new UsageError(`${flag} takes a JSON object, e.g. '{"tenant":"acme"}'`);
  return value as Record<string, unknown>;
}

interface ListOptions {
  status?: string;
  q?: string;
  role?: string;
  sort?: string;
  limit?: string;
  cursor?: string;
  json?: boolean;
}

export function usersCommand(ctx: ProgramContext): Command {
  const list = new Command("list")
    .description("list users, newest first")
    .option("--status <status>", "active, blocked or deleted")
    .option("--q <text>", "substring of the email or username")
    .option("--role <role>", "only users with this role")
    .option("--sort <key>", `one of ${USER_SORTS.join(", ")}`)
    .option("--limit <n>", "1-200 (default 50)")
    .option("--cursor <cursor>", "the next page, as printed by the previous one")
    .option("--json", "print the page {items, total, limit, offset, next_cursor} as JSON")
    .action((options: ListOptions) => {
      const limit = options.limit === undefined ? undefined : Number(options.limit);
      if (limit !== undefined && !Number.isInteger(limit)) throw new UsageError("--limit takes a whole number");
      const { status, q, role, sort, cursor } = options;
      return ctx.execute(usersList, { query: { status, q, role, sort, cursor, limit }, json: Boolean(options.json) });
    });
  const show = new Command("show")
    .description("show one user")
    .argument("<user>", "an id, email or username")
    .option("--json", "print the user as JSON")
    .action((user: string, options: { json?: boolean }) => ctx.execute(usersShow, { user, json: Boolean(options.json) }));
  const update = new Command("update")
    .description("change a user's metadata or server-only app_metadata (replaced whole), as an admin would")
    .argument("<user>", "an id, email or username")
    .option("--app-metadata <json>", "server-only metadata, a JSON object (users cannot change it; hooks and tokens may rely on it)")
    .option("--metadata <json>", "the user's own metadata, a JSON object")
    .option("--json", "print the user as JSON")
    .action((user: string, options: { appMetadata?: string; metadata?: string; json?: boolean }) => {
      const changes: AdminChanges = {
        app_metadata: jsonObject("--app-metadata", options.appMetadata),
        metadata: jsonObject("--metadata", options.metadata),
      };
      if (changes.app_metadata === undefined && changes.metadata === undefined) throw new UsageError("give --app-metadata or --metadata");
      return ctx.execute(usersUpdate, { user, changes, json: Boolean(options.json) });
    });
  return new Command("users").description("look users up and change their metadata").addCommand(list).addCommand(show).addCommand(update);
}
