/**
 * A fresh database for each test file: a new, empty PostgreSQL database on
 * the server in DATABASE_URL when it is set, otherwise a new PGlite data
 * directory copied from a migrated template made once per run (initdb is
 * slow). Callers migrate (migrating again is a no-op on the template copy).
 */
import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { openDatabase } from "../../src/core/db/client.ts";
import { EMBEDDED_MIGRATIONS, migrateDatabase } from "../../src/core/db/migrate.ts";

export interface TestDatabase {
  /** Environment that points usersvc at this database. */
  env: { DATABASE_URL?: string; USERSVC_DATA_DIR: string };
  kind: "postgres" | "pglite";
  drop(): Promise<void>;
}

export const SERVER_URL = process.env.DATABASE_URL?.trim() || null;
/**
 * USERSVC_TEST_POOLER_URL (CI's PgBouncer in transaction mode, in front of
 * DATABASE_URL's server): usersvc under test connects through it, while the
 * fixtures that create and drop databases go to the server directly.
 */
const POOLER_URL = process.env.USERSVC_TEST_POOLER_URL?.trim() || null;

export async function createTestDatabase(): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), "usersvc-test-"));
  if (SERVER_URL) {
    const name = `usersvc_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
    const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    const url = new URL(POOLER_URL ?? SERVER_URL);
    url.pathname = `/${name}`;
    return {
      env: { DATABASE_URL: url.toString(), USERSVC_DATA_DIR: dataDir },
      kind: "postgres",
      async drop() {
        const sql = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
        await sql.unsafe(`drop database if exists ${name} with (force)`);
        await sql.end();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  cpSync(await pgliteTemplate(), dataDir, { recursive: true });
  return {
    env: { USERSVC_DATA_DIR: dataDir },
    kind: "pglite",
    async drop() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An empty data directory (not even initdb'd): for tests of first start. */
export function emptyDataDir(): string {
  return mkdtempSync(join(tmpdir(), "usersvc-empty-"));
}

let template: Promise<string> | null = null;

function pgliteTemplate(): Promise<string> {
  template ??= (async () => {
    const key = Bun.hash(EMBEDDED_MIGRATIONS.map((m) => m.hash).join()).toString(16);
    const dir = join(tmpdir(), `usersvc-pglite-template-${key}`);
    if (existsSync(join(dir, "PG_VERSION"))) return dir;
    const building = `${dir}.${process.pid}.tmp`;
    rmSync(building, { recursive: true, force: true });
    const handle = await openDatabase({ databaseUrl: null, dataDir: building });
    await migrateDatabase(handle.db);
    await handle.close();
    if (!existsSync(dir)) renameSync(building, dir);
    else rmSync(building, { recursive: true, force: true });
    return dir;
  })();
  return template;
}
