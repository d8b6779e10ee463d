import { Command } from "commander";
import { verifyAuditChain } from "../../core/audit/audit.ts";
import type { ProgramContext } from "../context.ts";
import type { CoreCommand } from "../types.ts";

export const auditVerify: CoreCommand<{ json: boolean }> = {
  name: "audit verify",
  allowedViaServer: true,
  async run(ctx, { json }) {
    const report = await verifyAuditChain((await ctx.core()).db);
    if (json) ctx.out.stdout(JSON.stringify(report));
    if (report.broken) {
      ctx.out.stderr(`usersvc: audit chain broken at entry ${report.broken.id}: ${report.broken.reason}`);
      return 1;
    }
    if (!json) ctx.out.stdout(`Audit chain intact: ${report.checked} entries`);
    return 0;
  },
};

export function auditCommand(ctx: ProgramContext): Command {
  const verify = new Command("verify")
    .description("check the audit log's hash chain; exit 1 naming the first edited or removed entry")
    .option("--json", "print {ok, checked, broken} as JSON")
    .action((options: { json?: boolean }) => ctx.execute(auditVerify, { json: Boolean(options.json) }));
  return new Command("audit").description("the tamper-evident audit log").addCommand(verify);
}
