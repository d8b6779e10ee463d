import { Command } from "commander";
import { type ChainReport, verifyAuditChain } from "../../core/audit/audit.ts";
import type { ProgramContext } from "../context.ts";
import type { CoreCommand } from "../types.ts";

/** "Audit chain intact: 8 entries", and when it started at a checkpoint, how many were new since. */
export function intactLine(report: ChainReport): string {
  const since = report.from > 0 ? ` (${report.checked} new since the checkpoint at entry ${report.from}; --full checks them all)` : "";
  return `Audit chain intact: ${report.total} entries${since}`;
}

export const auditVerify: CoreCommand<{ json: boolean; full: boolean }> = {
  name: "audit verify",
  allowedViaServer: true,
  async run(ctx, { json, full }) {
    const core = await ctx.core();
    const report = await verifyAuditChain(core.db, { full, now: core.now() });
    if (json) ctx.out.stdout(JSON.stringify(report));
    if (report.broken) {
      ctx.out.stderr(`usersvc: audit chain broken at entry ${report.broken.id}: ${report.broken.reason}`);
      return 1;
    }
    if (!json) ctx.out.stdout(intactLine(report));
    return 0;
  },
};

export function auditCommand(ctx: ProgramContext): Command {
  const verify = new Command("verify")
    .description(
      "check the audit log's hash chain from the last checkpoint (where the previous check ended); exit 1 naming the first edited or removed entry",
    )
    .option("--full", "check every entry from the first, and every checkpoint (finds an edit before the last checkpoint)")
    .option("--json", "print {ok, checked, total, from, broken} as JSON")
    .action((options: { json?: boolean; full?: boolean }) => ctx.execute(auditVerify, { json: Boolean(options.json), full: Boolean(options.full) }));
  return new Command("audit").description("the tamper-evident audit log").addCommand(verify);
}
