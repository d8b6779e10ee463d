import { Command } from "commander";
import { dropDatabaseObjects } from "../../core/db/migrate.ts";
import type { CoreCommand } from "../types.ts";
import type { ProgramContext } from "../context.ts";
import { UsageError } from "../io.ts";
import { askConfirm } from "../prompts.ts";

export const dropDb: CoreCommand<Record<string, never>> = {
  name: "drop-db",
  allowedViaServer: false,
  async run({ db, out }) {
    await dropDatabaseObjects(db);
    out.stderr("Dropped every usersvc table and the migration history.");
    return 0;
  },
};

export function dropDbCommand(ctx: ProgramContext): Command {
  return new Command("drop-db")
    .description("drop everything usersvc created in the database (asks first on a terminal)")
    .option("--yes", "do not ask; required without a terminal")
    .action(async (options: { yes?: boolean }) => {
      const { io } = ctx;
      if (!options.yes) {
        if (!io.stdinIsTTY) throw new UsageError("drop-db needs --yes when there is no terminal to ask on");
        if (!(await askConfirm(io, "Drop every usersvc table and all users? This cannot be undone."))) {
          io.stderr("Nothing dropped.");
          return ctx.finish(1);
        }
      }
      await ctx.execute(dropDb, {});
    });
}
