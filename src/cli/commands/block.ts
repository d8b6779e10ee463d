import { Command } from "commander";
import { CLI_ACTOR } from "../../core/audit/actor.ts";
import { blockUser, unblockUser } from "../../core/users/lifecycle.ts";
import { toPublicUser, type UserRecord } from "../../core/users/user-record.ts";
import { getUserByReference } from "../../core/users/users.ts";
import type { ProgramContext } from "../context.ts";
import type { CommandContext, CoreCommand } from "../types.ts";
import { userSummary } from "../format.ts";
import { UsageError } from "../io.ts";

interface BlockArgs {
  user: string;
  reason: string | null;
  until: string | null;
  json: boolean;
}

export const block: CoreCommand<BlockArgs> = {
  name: "block",
  allowedViaServer: true,
  async run(ctx, args) {
    const core = await ctx.core();
    const target = await getUserByReference(core, args.user);
    const user = await blockUser(core, CLI_ACTOR, target.id, { reason: args.reason, until: args.until });
    return printResult(ctx, user, args.json, "Blocked");
  },
};

export const unblock: CoreCommand<{ user: string; json: boolean }> = {
  name: "unblock",
  allowedViaServer: true,
  async run(ctx, args) {
    const core = await ctx.core();
    const target = await getUserByReference(core, args.user);
    return printResult(ctx, await unblockUser(core, CLI_ACTOR, target.id), args.json, "Unblocked");
  },
};

async function printResult(ctx: CommandContext, user: UserRecord, json: boolean, verb: string): Promise<number> {
  const view = toPublicUser(user, (await ctx.core()).now());
  ctx.out.stdout(json ? JSON.stringify(view) : `${verb} ${userSummary(view)}`);
  return 0;
}

const DURATION = /^(\d+)([mhdw])$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** `--until` takes an ISO-8601 time, a date alone (core: the start of that day UTC) or a duration from now: 30m, 12h, 7d, 2w. */
export function resolveUntil(until: string | undefined, now: Date): string | null {
  if (until === undefined) return null;
  const duration = DURATION.exec(until.trim());
  if (duration) {
    const ms = Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS];
    if (ms <= 0) throw new UsageError("--until: the duration must be more than 0");
    return new Date(now.getTime() + ms).toISOString();
  }
  if (!/^\d{4}-\d{2}-\d{2}(T|$)/.test(until) || Number.isNaN(Date.parse(until))) {
    throw new UsageError("--until takes an ISO-8601 date (2030-01-31) or time (2030-01-31T12:00:00Z), or a duration (30m, 12h, 7d, 2w)");
  }
  return until;
}

export function blockCommands(ctx: ProgramContext): Command[] {
  const blockCommand = new Command("block")
    .description("block a user (all sessions revoked), optionally until a time")
    .argument("<user>", "an id, email or username")
    .option("--reason <text>", "why; shown to admins and kept in the audit log")
    .option("--until <when>", "ISO-8601 time, a date (2030-01-31: its start, UTC) or a duration from now (30m, 12h, 7d, 2w); the block then ends by itself")
    .option("--json", "print the user as JSON")
    .action((user: string, options: { reason?: string; until?: string; json?: boolean }) =>
      ctx.execute(block, {
        user,
        reason: options.reason ?? null,
        until: resolveUntil(options.until, new Date()),
        json: Boolean(options.json),
      }),
    );
  const unblockCommand = new Command("unblock")
    .description("lift a user's block")
    .argument("<user>", "an id, email or username")
    .option("--json", "print the user as JSON")
    .action((user: string, options: { json?: boolean }) => ctx.execute(unblock, { user, json: Boolean(options.json) }));
  return [blockCommand, unblockCommand];
}
