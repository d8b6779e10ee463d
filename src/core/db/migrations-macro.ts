/**
 * Runs at bundle time (imported `with { type: "macro" }`): reads migrations/
 * exactly as drizzle's readMigrationFiles() does, so the compiled binary
 * carries its migrations and never reads the source tree at run time.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface EmbeddedMigration {
  tag: string;
  sql: string[];
  bps: boolean;
  folderMillis: number;
  hash: string;
}

export function loadMigrations(): EmbeddedMigration[] {
  const root = join(import.meta.dir, "..", "..", "..", "migrations");
  const journal = JSON.parse(readFileSync(join(root, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string; when: number; breakpoints: boolean }[];
  };
  return journal.entries.map((entry) => {
    const query = readFileSync(join(root, `${entry.tag}.sql`), "utf8");
    return {
      tag: entry.tag,
      sql: query.split("--> statement-breakpoint"),
      bps: entry.breakpoints,
      folderMillis: entry.when,
      hash: createHash("sha256").update(query).digest("hex"),
    };
  });
}
