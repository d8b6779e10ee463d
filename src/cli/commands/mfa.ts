import { Command } from "commander";
import { CLI_ACTOR } from "../../core/audit/actor.ts";
import { resetMfa } from "../../core/mfa/factors.ts";
import { getUserByReference } from "../../core/users/users.ts";
import type { ProgramContext } from "../context.ts";
import type { CoreCommand } from "../types.ts";

export const mfaReset: CoreCommand<{ user: string; json: boolean }> = {
  name: "mfa reset",
  allowedViaServer: true,
  async run(ctx, args) {
    const core = await ctx.core();
    const target = await getUserByReference(core, args.user);
    const result = await resetMfa(core, CLI_ACTOR, target.id);
    if (args.json) ctx.out.stdout(JSON.stringify({ id: target.id, ...result }));
    else ctx.out.stdout(result.removed ? `Two-factor authentication removed for ${target.email}` : `${target.email} had no second factor`);
    return 0;
  },
};

export function mfaCommand(ctx: ProgramContext): Command {
  const reset = new Command("reset")
    .description("remove a user's second factor and recovery codes (for a user who lost them); audited as user.mfa_reset")
    .argument("<user>", "an id, email or username")
    .option("--json", "print the outcome as JSON")
    .action((user: string, options: { json?: boolean }) => ctx.execute(mfaReset, { user, json: Boolean(options.json) }));
  return new Command("mfa").description("two-factor authentication of users").addCommand(reset);
}
