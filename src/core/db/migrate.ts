import { getTableName, is, sql } from "drizzle-orm";
import { PgTable } from "drizzle-orm/pg-core";
import type { Database } from "./client.ts";
import * as schema from "./schema.ts";
import { type EmbeddedMigration, loadMigrations } from "./migrations-macro.ts" with { type: "macro" };

export const EMBEDDED_MIGRATIONS: EmbeddedMigration[] = loadMigrations();

/**
 * Applies the migrations the database has not seen yet and returns their
 * tags. Uses drizzle's own migrator (an internal API, hence the pinned
 * drizzle-orm version) so the bookkeeping matches `drizzle-kit migrate`.
 */
export async function migrateDatabase(db: Database): Promise<string[]> {
  const before = await appliedMigrationHashes(db);
  // biome-ignore lint: drizzle exposes no public migrate() that takes in-memory migrations.
  const internal = db as unknown as { dialect: { migrate: Function }; session: unknown };
  await internal.dialect.migrate(EMBEDDED_MIGRATIONS, internal.session, { migrationsFolder: "<embedded>" });
  return EMBEDDED_MIGRATIONS.filter((m) => !before.has(m.hash)).map((m) => m.tag);
}

/** Tags of embedded migrations not yet applied (empty: schema is current). */
export async function pendingMigrations(db: Database): Promise<string[]> {
  const applied = await appliedMigrationHashes(db);
  return EMBEDDED_MIGRATIONS.filter((m) => !applied.has(m.hash)).map((m) => m.tag);
}

async function appliedMigrationHashes(db: Database): Promise<Set<string>> {
  const exists = await db.execute(sql`select to_regclass('drizzle.__drizzle_migrations') is not null as present`);
  if (!rows<{ present: boolean }>(exists)[0]?.present) return new Set();
  const result = await db.execute(sql`select hash from drizzle.__drizzle_migrations`);
  return new Set(rows<{ hash: string }>(result).map((r) => r.hash));
}

/** Drops every object usersvc created. */
export async function dropDatabaseObjects(db: Database): Promise<void> {
  const tables = Object.values(schema)
    .filter((value) => is(value, PgTable))
    .map((table) => sql.identifier(getTableName(table as PgTable)));
  await db.execute(sql`drop table if exists ${sql.join(tables, sql`, `)} cascade`);
  await db.execute(sql`drop schema if exists drizzle cascade`);
}

/** postgres.js returns an array; PGlite returns { rows }. */
export function rows<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : ((result as { rows: T[] }).rows ?? []);
}
