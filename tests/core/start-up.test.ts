/**
 * openUsersvc, the one start-up serve, the CLI, the test server and the
 * benches share: what it refuses, what it starts, and that close() leaves
 * nothing open.
 */
import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { openUsersvc, StartUpError } from "../../src/core/start-up.ts";
import { createLogger } from "../../src/logger.ts";
import { createTestDatabase, emptyDataDir, SERVER_URL, type TestDatabase } from "../support/database.ts";

// More than bun's 5 s default: real servers and databases, and a test that measures many hashes, on a shared machine.
setDefaultTimeout(60_000);

const logger = createLogger("silent");
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A database without usersvc's schema: a new PostgreSQL database, or an empty data directory. */
async function unmigratedEnv(): Promise<Record<string, string>> {
  if (SERVER_URL) {
    const database: TestDatabase = await createTestDatabase();
    cleanups.push(() => database.drop());
    return { ...database.env };
  }
  const dir = emptyDataDir();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return { USERSVC_DATA_DIR: dir };
}

test("without migrate, the database opens but core() refuses a schema that is not current, naming the command to run", async () => {
  const usersvc = await openUsersvc(loadConfig(await unmigratedEnv()), logger);
  cleanups.push(() => usersvc.close());
  await usersvc.db.execute(sql`select 1`); // open and answering
  const refused = usersvc.core();
  await expect(refused).rejects.toBeInstanceOf(StartUpError);
  await expect(refused).rejects.toThrow("the database schema is not current: run `usersvc init-db`");
});

test("with migrate, it applies every migration, reports them, and builds one core however often it is asked", async () => {
  const usersvc = await openUsersvc(loadConfig(await unmigratedEnv()), logger, { migrate: true });
  cleanups.push(() => usersvc.close());
  expect(usersvc.applied.length).toBeGreaterThan(0);
  const [a, b] = await Promise.all([usersvc.core(), usersvc.core()]);
  expect(a).toBe(b);
  expect(a.db).toBe(usersvc.db);
});

test("an unreachable database is a StartUpError naming the setting", async () => {
  const config = loadConfig({ DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" });
  const opened = openUsersvc(config, logger);
  await expect(opened).rejects.toBeInstanceOf(StartUpError);
  await expect(opened).rejects.toThrow(/^DATABASE_URL: cannot open the database \(/);
});

test("hooks that do not load refuse the core, and close() still releases the database (twice is harmless)", async () => {
  const env = await unmigratedEnv();
  const hooksPath = join(env.USERSVC_DATA_DIR!, "..", `broken-hooks-${process.pid}.ts`);
  writeFileSync(hooksPath, "export default { beforeLogin: 42 };\nthrow new Error('broken on purpose');\n");
  cleanups.push(() => rmSync(hooksPath, { force: true }));
  const usersvc = await openUsersvc(loadConfig({ ...env, USERSVC_HOOKS: hooksPath }), logger, { migrate: true, watchKeys: true, background: true });
  await expect(usersvc.core()).rejects.toBeInstanceOf(ConfigError);
  await usersvc.close();
  await usersvc.close();
  // The embedded database has one opener: a second start-up works only if the first really closed.
  const again = await openUsersvc(loadConfig(env), logger);
  cleanups.push(() => again.close());
  expect((await again.core()).dbKind).toBe(SERVER_URL ? "postgres" : "pglite");
});
