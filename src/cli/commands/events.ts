import { Command } from "commander";
import { CLI_ACTOR } from "../../core/audit/actor.ts";
import { retryDeadEvents } from "../../core/events/outbox.ts";
import { listOutbox } from "../../core/events/outbox-queries.ts";
import type { ProgramContext } from "../context.ts";
import type { CoreCommand } from "../types.ts";
import { table } from "../format.ts";
import { UsageError } from "../io.ts";

type Status = "pending" | "delivered" | "dead";

export const eventsList: CoreCommand<{ status?: Status; limit: number; json: boolean }> = {
  name: "events list",
  allowedViaServer: true,
  async run(ctx, { status, limit, json }) {
    const items = await listOutbox((await ctx.core()).db, { status, limit });
    if (json) {
      for (const item of items) ctx.out.stdout(JSON.stringify(item));
      return 0;
    }
    const rows = items.map((e) => [
      String(e.seq),
      e.type,
      e.target,
      e.status,
      String(e.attempts),
      e.status === "pending" ? e.next_attempt_at : (e.delivered_at ?? "-"),
      e.last_error ?? "",
    ]);
    for (const line of table(["SEQ", "EVENT", "TARGET", "STATUS", "ATTEMPTS", "NEXT/DELIVERED", "LAST ERROR"], rows)) {
      ctx.out.stdout(line);
    }
    return 0;
  },
};

export const eventsRetry: CoreCommand<{ which: { seq: number } | "all" }> = {
  name: "events retry",
  allowedViaServer: true,
  async run(ctx, { which }) {
    const retried = await retryDeadEvents(await ctx.core(), CLI_ACTOR, which);
    if (retried === 0 && which !== "all") {
      ctx.out.stderr(`usersvc: no dead-lettered event with seq ${which.seq}`);
      return 1;
    }
    ctx.out.stdout(`Queued ${retried} event(s) for delivery again.`);
    return 0;
  },
};

export function eventsCommand(ctx: ProgramContext): Command {
  const list = new Command("list")
    .description("the outbox, newest first: pending, delivered and dead-lettered events")
    .option("--failed", "only dead-lettered events (delivery gave up after its last attempt)")
    .option("--status <status>", "pending, delivered or dead")
    .option("--limit <n>", "how many, 1-1000", "50")
    .option("--json", "one JSON object per line")
    .action((options: { failed?: boolean; status?: string; limit: string; json?: boolean }) => {
      const status = options.failed ? "dead" : options.status;
      if (status !== undefined && !["pending", "delivered", "dead"].includes(status)) {
        throw new UsageError("--status takes pending, delivered or dead");
      }
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError("--limit takes 1-1000");
      return ctx.execute(eventsList, { status: status as Status | undefined, limit, json: Boolean(options.json) });
    });
  const retry = new Command("retry")
    .description("deliver a dead-lettered event again (attempts start over)")
    .argument("[seq]", "the SEQ shown by events list")
    .option("--all-failed", "every dead-lettered event")
    .action((seq: string | undefined, options: { allFailed?: boolean }) => {
      // Boolean(): without the flag, allFailed is undefined, and `undefined === false` let a bare `events retry` through.
      if (Boolean(options.allFailed) === (seq !== undefined)) throw new UsageError("give either a SEQ or --all-failed");
      if (seq !== undefined && !/^\d+$/.test(seq)) throw new UsageError("SEQ is a number (see usersvc events list)");
      return ctx.execute(eventsRetry, { which: options.allFailed ? "all" : { seq: Number(seq) } });
    });
  return new Command("events").description("the event outbox").addCommand(list).addCommand(retry);
}
