import { Command } from "commander";
import { CLI_ACTOR } from "../../core/audit/actor.ts";
import { BEFORE_HOOKS, loadConfiguredHooks } from "../../hooks/hooks.ts";
import { hookTypesSource } from "../../hooks/types-source.ts" with { type: "macro" };
import { EVENT_TYPES } from "../../hooks/event-types.ts";
import type { EventType, HookUser, UsersvcEvent } from "../../hooks/types.ts";
import type { ProgramContext } from "../context.ts";
import { OperationalError, UsageError } from "../io.ts";

/** A made-up user for `hooks test`: nothing is read from or written to the database. */
function sampleUser(): HookUser {
  const now = new Date().toISOString();
  return {
    id: "00000000-0000-4000-8000-000000000000",
    email: "sample@example.com",
    username: "sample",
    roles: ["user"],
    is_admin: false,
    is_active: true,
    is_verified: false,
    status: "active",
    blocked_reason: null,
    blocked_until: null,
    metadata: {},
    app_metadata: {},
    balance: 0,
    created_at: now,
    updated_at: now,
    last_login_at: null,
    deleted_at: null,
  };
}

/** What the email events carry besides the user, made up like the user. */
function sampleData(type: EventType): Record<string, unknown> {
  const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
  switch (type) {
    case "user.verification_requested":
      return { token: "sample-token", code: "123456", expires_at: expiresAt };
    case "user.password_reset_requested":
      return { token: "sample-token", expires_at: expiresAt };
    case "user.email_change_requested":
      return { token: "sample-token", new_email: "new-sample@example.com", expires_at: expiresAt };
    case "user.email_changed":
      return { previous_email: "old-sample@example.com" };
    default:
      return {};
  }
}

export function hooksCommand(ctx: ProgramContext): Command {
  const load = async () => {
    const { config, logger } = ctx.runtime();
    if (!config.hooksPath) throw new OperationalError("USERSVC_HOOKS is not set: there are no hooks to check");
    return loadConfiguredHooks(config, logger);
  };

  const check = new Command("check")
    .description("load USERSVC_HOOKS and list the hooks and event handlers it provides")
    .option("--json", "print {kind, path, handlers} as JSON")
    .action(async (options: { json?: boolean }) => {
      const hooks = await load();
      if (options.json) {
        ctx.io.stdout(JSON.stringify({ kind: hooks.kind, path: hooks.path, handlers: hooks.handlers }));
      } else {
        ctx.io.stdout(`${hooks.kind} ${hooks.path}`);
        ctx.io.stdout(
          hooks.kind === "script"
            ? "handlers: every hook and event (the script is called with its name)"
            : `handlers: ${hooks.handlers.join(", ") || "(none)"}`,
        );
      }
      ctx.finish(0);
    });

  const test = new Command("test")
    .description("call one hook or event handler with a sample payload and print the answer (nothing is stored)")
    .addHelpText(
      "after",
      "\nThe handler really runs: for an email event (user.verification_requested,\n" +
        "user.password_reset_requested, user.email_change_requested) it really sends the email\n" +
        "your handler sends, to the sample user's address. usersvc's own email (USERSVC_SMTP_URL)\n" +
        "is not involved: check it with `usersvc email test`.",
    )
    .argument("<name>", `${BEFORE_HOOKS.join(", ")}, or an event such as user.registered`)
    .action(async (name: string) => {
      const hooks = await load();
      const user = sampleUser();
      const ip = "127.0.0.1";
      let answer: unknown;
      if (name === "beforeRegister") {
        answer = await hooks.beforeRegister({ email: user.email, username: user.username, metadata: {}, ip });
      } else if (name === "beforeLogin") {
        await hooks.beforeLogin({ user, ip });
        answer = "allowed";
      } else if (name === "accessTokenClaims") {
        answer = await hooks.accessTokenClaims({ user, session: { id: "00000000-0000-4000-8000-000000000001" } });
      } else if ((EVENT_TYPES as readonly string[]).includes(name)) {
        const event: UsersvcEvent = {
          id: crypto.randomUUID(),
          type: name as EventType,
          occurred_at: new Date().toISOString(),
          actor: { type: CLI_ACTOR.type, id: null },
          data: { user, ...sampleData(name as EventType) },
        };
        if (!hooks.handlesEvent(event.type)) throw new OperationalError(`no handler for ${name} (and no "on")`);
        try {
          await hooks.deliverEvent(event);
        } catch (error) {
          throw new OperationalError(`${name}: delivery failed: ${(error as Error).message}`);
        }
        answer = "delivered";
      } else {
        throw new UsageError(`unknown hook or event "${name}"`);
      }
      ctx.io.stdout(typeof answer === "string" ? `${name}: ${answer}` : `${name}: ${JSON.stringify(answer)}`);
      ctx.finish(0);
    });

  const types = new Command("types")
    .description("print the TypeScript types of the hook contract (usersvc hooks types > usersvc-hooks.d.ts)")
    .action(() => {
      ctx.io.stdout(hookTypesSource().trimEnd());
      ctx.finish(0);
    });

  return new Command("hooks").description("the host project's hooks (USERSVC_HOOKS)").addCommand(check).addCommand(test).addCommand(types);
}
