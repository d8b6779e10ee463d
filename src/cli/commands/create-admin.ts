import { Command } from "commander";
import { CLI_ACTOR } from "../../core/audit/actor.ts";
import { toPublicUser, type UserRecord } from "../../core/users/user-record.ts";
import { createUser, getUserByReference, grantRole } from "../../core/users/users.ts";
import type { ProgramContext } from "../context.ts";
import type { CoreCommand } from "../types.ts";
import { type CliIO, UsageError } from "../io.ts";
import { askPassword, askText } from "../prompts.ts";

type CreateAdminArgs =
  | { mode: "create"; email: string; username: string; password: string; json: boolean }
  | { mode: "promote"; user: string; json: boolean };

export const createAdmin: CoreCommand<CreateAdminArgs> = {
  name: "create-admin",
  allowedViaServer: true,
  async run(ctx, args) {
    const core = await ctx.core();
    let user: UserRecord;
    if (args.mode === "promote") {
      user = await grantRole(core, CLI_ACTOR, await getUserByReference(core, args.user), "admin");
    } else {
      const { email, username, password } = args;
      user = await createUser(core, { email, username, password }, { actor: CLI_ACTOR, roles: ["user", "admin"], isVerified: true });
    }
    const verb = args.mode === "promote" ? "Promoted" : "Created";
    ctx.out.stdout(args.json ? JSON.stringify(toPublicUser(user, core.now())) : `${verb} admin ${user.username} <${user.email}> ${user.id}`);
    return 0;
  },
};

interface CreateAdminOptions {
  email?: string;
  username?: string;
  passwordStdin?: boolean;
  promote?: boolean;
  json?: boolean;
}

async function gather(options: CreateAdminOptions, io: CliIO): Promise<CreateAdminArgs> {
  const json = Boolean(options.json);
  if (options.promote) {
    const user = options.email ?? options.username ?? (await askText(io, "--email or --username", "Email or username of the user to promote"));
    return { mode: "promote", user, json };
  }
  const email = options.email ?? (await askText(io, "--email", "Admin email", (v) => (v.includes("@") ? undefined : "an email address")));
  const username = options.username ?? (await askText(io, "--username", "Admin username", (v) => (v.trim().length >= 3 ? undefined : "3-32 characters")));
  let password: string;
  if (options.passwordStdin) {
    if (io.stdinIsTTY) throw new UsageError("--password-stdin expects the password piped in, not a terminal");
    password = (await io.readStdin()).replace(/\r?\n$/, "");
    if (!password) throw new UsageError("--password-stdin: nothing was read from standard input");
  } else {
    password = await askPassword(io, "Admin password");
  }
  return { mode: "create", email, username, password, json };
}

export function createAdminCommand(ctx: ProgramContext): Command {
  return new Command("create-admin")
    .description("create an admin user (asks on a terminal for what is missing), or promote an existing user")
    .option("--email <email>", "email of the new admin (with --promote: the user to promote)")
    .option("--username <name>", "username of the new admin (with --promote: the user to promote)")
    .option("--password-stdin", "read the password from standard input (never pass it as a flag)")
    .option("--promote", "give the admin role to an existing user instead of creating one")
    .option("--json", "print the user as JSON on stdout")
    .addHelpText(
      "after",
      "\nExamples:\n  usersvc create-admin                       # asks for everything on a terminal\n" +
        "  printf '%s' \"$PW\" | usersvc create-admin --email ops@example.com --username ops --password-stdin\n" +
        "  usersvc create-admin --promote --email alice@example.com",
    )
    .action(async (options: CreateAdminOptions) => ctx.execute(createAdmin, await gather(options, ctx.io)));
}
