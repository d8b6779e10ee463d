import { Command } from "commander";
import { CLI_ACTOR } from "../../core/audit/actor.ts";
import { checkPasswordStrength, isCommonPassword } from "../../core/passwords/hasher.ts";
import { DomainError, ERROR_MESSAGES } from "../../core/errors.ts";
import { checkEmail, checkPasswordLength, checkUsername, firstProblem, normalizeEmail } from "../../core/users/validation.ts";
import { toPublicUser, type UserRecord } from "../../core/users/user-record.ts";
import { createUser, getUserByReference, grantRole } from "../../core/users/users.ts";
import type { ProgramContext } from "../context.ts";
import { UsageError } from "../io.ts";
import { assertDatabaseReady } from "../run-command.ts";
import type { CoreCommand } from "../types.ts";
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

/** The rules core applies to a new user, checked answer by answer on a terminal. */
const checkEmailAnswer = (v: string): string | undefined => firstProblem((e, p) => checkEmail(normalizeEmail(e), p), v);
const checkUsernameAnswer = (v: string): string | undefined => firstProblem((u, p) => checkUsername(u.trim(), p), v);
const checkPasswordAnswer = (v: string): string | undefined =>
  firstProblem(checkPasswordLength, v) ?? (isCommonPassword(v) ? ERROR_MESSAGES.WEAK_PASSWORD : undefined);

async function gather(options: CreateAdminOptions, ctx: ProgramContext): Promise<CreateAdminArgs> {
  const io = ctx.io;
  const json = Boolean(options.json);
  const asks = options.promote
    ? options.email === undefined && options.username === undefined
    : options.email === undefined || options.username === undefined || !options.passwordStdin;
  // Before the first question: a database that is not ready would refuse every answer.
  if (asks && io.stdinIsTTY) await assertDatabaseReady(ctx.runtime());
  if (options.promote) {
    const user = options.email ?? options.username ?? (await askText(io, "--email or --username", "Email or username of the user to promote"));
    return { mode: "promote", user, json };
  }
  const email = options.email ?? (await askText(io, "--email", "Admin email", checkEmailAnswer));
  const username = options.username ?? (await askText(io, "--username", "Admin username", checkUsernameAnswer));
  let password: string;
  if (options.passwordStdin) {
    if (io.stdinIsTTY) throw new UsageError("--password-stdin expects the password piped in, not a terminal");
    password = (await io.readStdin()).replace(/\r?\n$/, "");
    if (!password) throw new UsageError("--password-stdin: nothing was read from standard input");
  } else {
    const config = ctx.runtime().config;
    password = await askPassword(io, "Admin password", {
      validate: checkPasswordAnswer,
      check: async (v) => {
        try {
          await checkPasswordStrength({ config }, v);
          return undefined;
        } catch (error) {
          if (error instanceof DomainError) return error.message;
          throw error;
        }
      },
    });
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
    .action(async (options: CreateAdminOptions) => ctx.execute(createAdmin, await gather(options, ctx)));
}
