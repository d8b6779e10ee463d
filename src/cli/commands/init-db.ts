import { Command } from "commander";
import { migrateDatabase } from "../../core/db/migrate.ts";
import type { ProgramContext } from "../context.ts";
import type { CoreCommand } from "../types.ts";

export const initDb: CoreCommand<{ json: boolean }> = {
  name: "init-db",
  allowedViaServer: true,
  async run({ db, out }, { json }) {
    const applied = await migrateDatabase(db);
    if (json) out.stdout(JSON.stringify({ applied }));
    else if (applied.length === 0) out.stderr("Schema is up to date; nothing to apply.");
    else for (const tag of applied) out.stderr(`Applied migration ${tag}`);
    return 0;
  },
};

export function initDbCommand(ctx: ProgramContext): Command {
  return new Command("init-db")
    .description("create or migrate the schema (idempotent); prints what it applied")
    .option("--json", "print {applied: [...]} on stdout")
    .action((options: { json?: boolean }) => ctx.execute(initDb, { json: Boolean(options.json) }));
}
