/**
 * The embedded data directory holds every password hash and session: like
 * PostgreSQL's PGDATA it is owner-only, each directory 0700 and each file
 * 0600, from its first start on, whatever the process umask.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../../src/core/db/client.ts";
import { lockFilePath, tryLockDataDir } from "../../../src/core/db/data-dir-lock.ts";
import { migrateDatabase } from "../../../src/core/db/migrate.ts";

// More than bun's 5 s default: real servers and databases, and a test that measures many hashes, on a shared machine.
setDefaultTimeout(60_000);

const parent = mkdtempSync(join(tmpdir(), "usersvc-modes-"));
afterAll(() => rmSync(parent, { recursive: true, force: true }));

/** Every entry under root (root included) whose permission bits are not the owner-only ones: "mode path". */
function looseEntries(root: string): string[] {
  const loose: string[] = [];
  const visit = (path: string): void => {
    const stat = lstatSync(path);
    const mode = stat.mode & 0o777;
    const wanted = stat.isDirectory() ? 0o700 : 0o600;
    if (mode !== wanted) loose.push(`${mode.toString(8)} ${path.slice(root.length) || "/"}`);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(root);
  return loose;
}

function countEntries(root: string): number {
  return readdirSync(root, { recursive: true }).length;
}

async function openAndUse(dataDir: string): Promise<{ whileOpen: string[]; afterClose: string[] }> {
  const lock = tryLockDataDir(dataDir);
  if (!lock) throw new Error("data directory unexpectedly locked");
  try {
    const handle = await openDatabase({ databaseUrl: null, dataDir });
    await migrateDatabase(handle.db);
    const whileOpen = looseEntries(dataDir);
    await handle.close();
    return { whileOpen, afterClose: looseEntries(dataDir) };
  } finally {
    lock.release();
  }
}

test("a fresh data directory, its lock file and every PGlite file in it are owner-only (dirs 0700, files 0600)", async () => {
  const dataDir = join(parent, "fresh", "usersvc-data");
  const previous = process.umask(0o022);
  try {
    const modes = await openAndUse(dataDir);
    expect(modes).toEqual({ whileOpen: [], afterClose: [] });
  } finally {
    process.umask(previous);
  }
  expect(countEntries(dataDir)).toBeGreaterThan(100);
  expect(lstatSync(lockFilePath(dataDir)).mode & 0o777).toBe(0o600);
});

test("a data directory left readable by an older version is made owner-only when it is next opened", async () => {
  const dataDir = join(parent, "fresh", "usersvc-data");
  const loosen = (path: string): void => {
    const directory = lstatSync(path).isDirectory();
    chmodSync(path, directory ? 0o755 : 0o666);
    if (directory) for (const name of readdirSync(path)) loosen(join(path, name));
  };
  loosen(dataDir);
  expect(looseEntries(dataDir).length).toBeGreaterThan(100);
  expect(await openAndUse(dataDir)).toEqual({ whileOpen: [], afterClose: [] });
});
