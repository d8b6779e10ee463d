/**
 * What the operator-command tests share, in-process (tests/cli/) and
 * through the binary (tests/binary/operator.test.ts): users whose passwords
 * were hashed by other systems, made at test time by
 * tests/fixtures/make-foreign-hashes.cjs under node with the bcryptjs and
 * argon2 packages pinned in package-lock.json (what is imported is exactly
 * what those libraries write today, fresh salts on every run, no password
 * hash in the repo); a scratch directory; and a way to tamper with a test
 * database from this process.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Database, openDatabase } from "../../src/core/db/client.ts";
import { tryLockDataDir } from "../../src/core/db/data-dir-lock.ts";
import { cli } from "./cli.ts";
import { createMigratedTestDatabase } from "./binary.ts";
import type { TestDatabase } from "./database.ts";

const FIXTURE_SCRIPT = join(import.meta.dir, "..", "fixtures", "make-foreign-hashes.cjs");
export const USERSVC_HASH_PREFIX = "$argon2id$v=19$m=65536,t=2,p=1$";
export const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
export const UUIDS = new RegExp(UUID.source, "g");
export const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ISO_TIMES = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g;
export const WEEK_MS = 7 * 86_400_000;

export interface ImportRecord {
  email: string;
  username: string;
  password_hash: string;
  [field: string]: unknown;
}

/** One user as the fixture script prints it: the import line and the password behind its hash. */
export interface ForeignUser {
  scheme: string;
  password: string;
  record: ImportRecord;
}

let foreignUsersMade: Promise<ForeignUser[]> | null = null;

/** Runs the fixture generator under node (once per test file). */
export function foreignUsers(): Promise<ForeignUser[]> {
  foreignUsersMade ??= (async () => {
    await using proc = Bun.spawn(["node", FIXTURE_SCRIPT], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (exitCode !== 0) throw new Error(`node ${FIXTURE_SCRIPT} failed (exit ${exitCode}); run npm install first:\n${stderr}`);
    return linesOf(stdout).map((line) => JSON.parse(line) as ForeignUser);
  })();
  return foreignUsersMade;
}

/** The part of a hash that names its scheme: "$2a$10$" or "$argon2id$v=19$m=65536,p=4,t=3". */
export function hashScheme(hash: string): string {
  return hash.startsWith("$2") ? hash.slice(0, 7) : hash.split("$").slice(0, 4).join("$");
}

/** The non-empty lines of a stream. */
export function linesOf(text: string): string[] {
  return text.split("\n").filter((line) => line.length > 0);
}

export function jsonLines(records: unknown[]): string[] {
  return records.map((record) => JSON.stringify(record));
}

/** Ids and times replaced, to compare two runs that differ only in those. */
export function masked(text: string): string {
  return text.replace(UUIDS, "<id>").replace(ISO_TIMES, "<time>");
}

/** The result with stderr split into lines, for one toEqual over all three. */
export function outcome(result: { exitCode: number | null; stdout: string; stderr: string }): { exitCode: number | null; stdout: string; stderr: string[] } {
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: linesOf(result.stderr) };
}

/** A scratch directory and a writer of files of lines into it. */
export function scratchDir(prefix: string): { dir: string; writeLines(name: string, lines: string[]): string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    writeLines(name, lines) {
      const path = join(dir, name);
      writeFileSync(path, lines.map((line) => `${line}\n`).join(""));
      return path;
    },
  };
}

/**
 * Opens the test database in this process, as an intruder with file or
 * database access would, for tampering. On the embedded database it takes
 * the data directory lock first, so it fails instead of opening a directory
 * a running usersvc holds.
 */
export async function withDatabase<T>(database: TestDatabase, use: (db: Database) => Promise<T>): Promise<T> {
  const lock = database.kind === "pglite" ? tryLockDataDir(database.env.USERSVC_DATA_DIR) : null;
  if (database.kind === "pglite" && !lock) throw new Error("the data directory is held by a running usersvc: stop it first");
  try {
    const handle = await openDatabase({
      databaseUrl: database.env.DATABASE_URL ?? null,
      dataDir: database.env.USERSVC_DATA_DIR,
      poolSize: 1,
    });
    try {
      return await use(handle.db);
    } finally {
      await handle.close();
    }
  } finally {
    lock?.release();
  }
}

// In-process drivers (tests/support/cli.ts) for the commands most tests read back with.

/** A command that must succeed, with its stdout parsed as one JSON value. */
export async function cliJson(args: string[], env: Record<string, string>): Promise<any> {
  const result = await cli(args, { env });
  if (result.exitCode !== 0) throw new Error(`usersvc ${args.join(" ")} exited ${result.exitCode}: ${result.stderr.join("\n")}`);
  return JSON.parse(result.stdout.join("\n"));
}

export function usersPage(env: Record<string, string>, args: string[] = []): Promise<any> {
  return cliJson(["users", "list", "--json", ...args], env);
}

export async function exportedUsers(env: Record<string, string>): Promise<any[]> {
  const result = await cli(["export"], { env });
  if (result.exitCode !== 0) throw new Error(`usersvc export exited ${result.exitCode}: ${result.stderr.join("\n")}`);
  return result.stdout.map((line) => JSON.parse(line));
}

/** A fresh database with the fixture's foreign users (and `extra` records) imported in-process. */
export async function databaseWithForeignUsers(extra: ImportRecord[] = []): Promise<TestDatabase> {
  const database = await createMigratedTestDatabase();
  const records = [...(await foreignUsers()).map((u) => u.record), ...extra];
  const result = await cli(["import", "-"], { env: database.env, stdin: jsonLines(records).map((l) => `${l}\n`).join("") });
  if (result.exitCode !== 0) throw new Error(`seeding import failed (exit ${result.exitCode}): ${[...result.stdout, ...result.stderr].join("\n")}`);
  return database;
}
