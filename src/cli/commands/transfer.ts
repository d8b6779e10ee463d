import { closeSync, fchmodSync, openSync, readFileSync, writeSync } from "node:fs";
import { Command } from "commander";
import { CLI_ACTOR } from "../../core/audit/actor.ts";
import { exportUsers, importUsers, type ImportOutcome } from "../../core/users/transfer.ts";
import type { ProgramContext } from "../context.ts";
import type { CoreCommand } from "../types.ts";
import { OperationalError } from "../io.ts";

export const exportCommand: CoreCommand<Record<string, never>> = {
  name: "export",
  allowedViaServer: true,
  async run(ctx) {
    const count = await exportUsers(await ctx.core(), (line) => ctx.out.stdout(line));
    ctx.out.stderr(`Exported ${count} user(s).`);
    return 0;
  },
};

export const importCommand: CoreCommand<{ lines: string[]; dryRun: boolean; json: boolean }> = {
  name: "import",
  allowedViaServer: true,
  async run(ctx, { lines, dryRun, json }) {
    const outcomes = await importUsers(await ctx.core(), CLI_ACTOR, lines, { dryRun });
    for (const outcome of outcomes) ctx.out.stdout(json ? JSON.stringify(outcome) : describe(outcome));
    const count = (result: ImportOutcome["result"]): number => outcomes.filter((o) => o.result === result).length;
    const created = dryRun ? `${count("would_create")} would be created` : `${count("created")} created`;
    ctx.out.stderr(`${dryRun ? "Dry run: " : ""}${created}, ${count("skipped")} skipped, ${count("invalid")} invalid.`);
    return count("invalid") > 0 ? 1 : 0;
  },
};

function describe(outcome: ImportOutcome): string {
  switch (outcome.result) {
    case "created":
      return `line ${outcome.line}: created ${outcome.email} ${outcome.id}`;
    case "would_create":
      return `line ${outcome.line}: would create ${outcome.email}`;
    case "skipped":
      return `line ${outcome.line}: skipped: ${outcome.code}: ${outcome.message}`;
    case "invalid":
      return `line ${outcome.line}: invalid: ${outcome.message}`;
  }
}

export function transferCommands(ctx: ProgramContext): Command[] {
  const exporting = new Command("export")
    .description("write every user as JSON lines, password hashes included (keep the file secret)")
    .option("--out <file>", "write to this file (created with mode 0600) instead of stdout")
    .action(async (options: { out?: string }) => {
      if (!options.out) return ctx.execute(exportCommand, {});
      const fd = openFile(options.out);
      try {
        await ctx.execute(exportCommand, {}, { stdout: (line) => writeSync(fd, `${line}\n`) });
      } finally {
        closeSync(fd);
      }
    });
  const importing = new Command("import")
    .description("create users from JSON lines (usersvc export, or argon2/bcrypt hashes from elsewhere); reports each line")
    .argument("<file>", "JSON lines file, or - for standard input")
    .option("--dry-run", "check every line and report what would happen; change nothing")
    .option("--json", "print each line's outcome as JSON")
    .addHelpText(
      "after",
      "\nEach line: {email, username, password_hash, roles?, status?, is_verified?, metadata?, app_metadata?, balance?, id?, created_at?, …}.\n" +
        "Existing emails, usernames or ids are skipped; invalid lines are reported; exit 1 if any line was invalid.\n" +
        "Hashes must be within usersvc's cost limits: argon2 m <= 262144 KiB, t <= 10, p <= 8; bcrypt cost 4-15.",
    )
    .action(async (file: string, options: { dryRun?: boolean; json?: boolean }) => {
      const text = file === "-" ? await ctx.io.readStdin() : readText(file);
      await ctx.execute(importCommand, { lines: text.split(/\r?\n/), dryRun: Boolean(options.dryRun), json: Boolean(options.json) });
    });
  return [exporting, importing];
}

function openFile(path: string): number {
  try {
    const fd = openSync(path, "w", 0o600);
    // The mode above applies only to a new file: an existing one keeps its own (often 0644),
    // which would leave every password hash readable by other local users.
    fchmodSync(fd, 0o600);
    return fd;
  } catch (error) {
    throw new OperationalError(`--out: cannot write ${path} (${(error as Error).message})`);
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new OperationalError(`cannot read ${path} (${(error as Error).message})`);
  }
}
