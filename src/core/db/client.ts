/**
 * Opens the database usersvc runs on: PostgreSQL through postgres.js when
 * DATABASE_URL is set, otherwise the embedded PGlite in the data directory
 * (which the caller must have locked, see data-dir-lock.ts).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { makeOwnerOnly, withOwnerOnlyUmask } from "./owner-only.ts";
import { PGLITE_ASSETS } from "./pglite-assets.ts";
import * as schema from "./schema.ts";

export type Database = ReturnType<typeof drizzlePostgres<typeof schema>>;
/** Either the database or a transaction: query functions take this first. */
export type Db = Database | Parameters<Parameters<Database["transaction"]>[0]>[0];

const PGLITE_SHARED_BUFFERS = "16MB";

export type DatabaseKind = "postgres" | "pglite";

export interface DatabaseHandle {
  db: Database;
  kind: DatabaseKind;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl: string | null;
  dataDir: string;
  /** Connection pool size for PostgreSQL. */
  poolSize?: number;
}

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) return openPostgres(options.databaseUrl, options.poolSize ?? 10);
  return openPglite(options.dataDir);
}

/** What the metrics report about the pool of a database opened here. */
export interface PoolInfo {
  max: number;
  /** The `application_name` of this pool's connections, to find them in pg_stat_activity; null for PGlite. */
  applicationName: string | null;
}
const pools = new WeakMap<Database, PoolInfo>();

export function poolInfo(db: Database): PoolInfo | null {
  return pools.get(db) ?? null;
}

async function openPostgres(url: string, poolSize: number): Promise<DatabaseHandle> {
  // Unique per pool, so each instance can count its own connections.
  const applicationName = `usersvc-${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const client = postgres(url, {
    max: poolSize,
    connection: { application_name: applicationName },
    onnotice: () => {},
    connect_timeout: 5,
    // No prepared statements: keeps usersvc usable behind PgBouncer in transaction mode.
    prepare: false,
  });
  const db = drizzlePostgres(client, { schema });
  pools.set(db, { max: poolSize, applicationName });
  return {
    db,
    kind: "postgres",
    close: () => client.end({ timeout: 5 }),
  };
}

async function openPglite(dataDir: string): Promise<DatabaseHandle> {
  const needsInit = !existsSync(join(dataDir, "PG_VERSION"));
  const compile = async (path: string): Promise<WebAssembly.Module> =>
    WebAssembly.compile(await Bun.file(path).arrayBuffer());
  // PGlite reads extension bundles with plain file I/O, which cannot see the
  // binary's embedded files: hand it a copy on disk for the time of start-up.
  const scratch = mkdtempSync(join(tmpdir(), "usersvc-pglite-"));
  const trgmBundle = join(scratch, "pg_trgm.tar.gz");
  await Bun.write(trgmBundle, Bun.file(PGLITE_ASSETS.pgTrgm));
  let client: PGlite;
  try {
    // umask is process-wide: during this await, whatever else the process creates is owner-only too (errs on the safe side).
    client = await withOwnerOnlyUmask(async () => PGlite.create({
      dataDir,
      pgliteWasmModule: await compile(PGLITE_ASSETS.pgliteWasm),
      ...(needsInit ? { initdbWasmModule: await compile(PGLITE_ASSETS.initdbWasm) } : {}),
      fsBundle: Bun.file(PGLITE_ASSETS.pgliteData),
      // PostgreSQL's default 128 MB of shared buffers is touched at start-up: an embedded
      // database of users and sessions is served as well from 16 MB and the OS page cache.
      startParams: [...PGlite.defaultStartParams, "-c", `shared_buffers=${PGLITE_SHARED_BUFFERS}`],
      extensions: { pg_trgm: { name: "pg_trgm", setup: async () => ({ bundlePath: pathToFileURL(trgmBundle) }) } },
    }));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  // Also tightens a directory an older usersvc left readable; again on close, for what the server wrote meanwhile.
  makeOwnerOnly(dataDir);
  // One drizzle type for both drivers: their query builders are the same pg-core API.
  const db = drizzlePglite(client, { schema }) as unknown as Database;
  pools.set(db, { max: 1, applicationName: null });
  return {
    db,
    kind: "pglite",
    async close(): Promise<void> {
      await client.close();
      makeOwnerOnly(dataDir);
    },
  };
}
