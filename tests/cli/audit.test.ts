/**
 * usersvc audit verify, in-process (tests/support/cli.ts): an intact chain
 * and the checkpoint it leaves, an entry edited before the checkpoint (found
 * by --full) and put back, the checkpointed entry edited, an entry deleted. The same
 * verdict through a running server's control socket is
 * tests/binary/operator.test.ts's.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { auditLog } from "../../src/core/db/schema.ts";
import { cliText } from "../support/cli.ts";
import type { TestDatabase } from "../support/database.ts";
import { databaseWithForeignUsers, outcome, withDatabase } from "../support/operator.ts";

// Each command opens the database; on the embedded one that is ~0.5 s, and a test here runs up to five.
setDefaultTimeout(30_000);

describe("audit verify", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await databaseWithForeignUsers();
    for (const args of [["block", "bert_2b", "--reason", "spam", "--until", "7d"], ["unblock", "bert_2b"]]) {
      const result = await cliText(args, { env: database.env });
      if (result.exitCode !== 0) throw new Error(`${args.join(" ")} failed: ${result.stderr}`);
    }
  });
  afterAll(() => database.drop());

  test("an intact chain: exit 0 with the number of entries; the next check starts from the checkpoint the first left", async () => {
    const text = await cliText(["audit", "verify"], { env: database.env });
    const json = await cliText(["audit", "verify", "--json"], { env: database.env });
    expect(outcome(text)).toEqual({ exitCode: 0, stdout: "Audit chain intact: 8 entries\n", stderr: [] });
    expect(outcome(json)).toEqual({ exitCode: 0, stdout: `${JSON.stringify({ ok: true, checked: 0, total: 8, from: 8, broken: null })}\n`, stderr: [] });
    expect(outcome(await cliText(["audit", "verify"], { env: database.env }))).toEqual({
      exitCode: 0,
      stdout: "Audit chain intact: 8 entries (0 new since the checkpoint at entry 8; --full checks them all)\n",
      stderr: [],
    });
  });

  test("an entry edited before the checkpoint: found by --full, naming that entry; putting it back heals the chain", async () => {
    const original = await withDatabase(database, async (db) => {
      const [entry] = await db.select().from(auditLog).where(eq(auditLog.id, 7));
      await db.update(auditLog).set({ data: { ...entry!.data, reason: "not spam" } }).where(eq(auditLog.id, 7));
      return entry!;
    });
    expect({ event: original.event, reason: original.data.reason }).toEqual({ event: "user.blocked", reason: "spam" });

    // The check from the checkpoint (entry 8) does not read entry 7: the documented trade.
    expect((await cliText(["audit", "verify"], { env: database.env })).exitCode).toBe(0);
    const BROKEN = "usersvc: audit chain broken at entry 7: its content does not match its hash (edited)";
    const [text, json] = [await cliText(["audit", "verify", "--full"], { env: database.env }), await cliText(["audit", "verify", "--full", "--json"], { env: database.env })];
    expect(outcome(text)).toEqual({ exitCode: 1, stdout: "", stderr: [BROKEN] });
    expect(outcome(json)).toEqual({ exitCode: 1, stdout: expect.any(String), stderr: [BROKEN] });
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, checked: 6, total: 6, from: 0, broken: { id: 7, reason: "its content does not match its hash (edited)" } });

    await withDatabase(database, (db) => db.update(auditLog).set({ data: original.data }).where(eq(auditLog.id, 7)));
    expect(outcome(await cliText(["audit", "verify", "--full"], { env: database.env }))).toEqual({
      exitCode: 0,
      stdout: "Audit chain intact: 8 entries\n",
      stderr: [],
    });
  });

  test("the checkpointed entry edited: found without --full", async () => {
    const original = await withDatabase(database, async (db) => {
      const [entry] = await db.select().from(auditLog).where(eq(auditLog.id, 8));
      await db.update(auditLog).set({ data: { ...entry!.data, tampered: true } }).where(eq(auditLog.id, 8));
      return entry!;
    });
    const result = await cliText(["audit", "verify"], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: ["usersvc: audit chain broken at entry 8: its content does not match its hash (edited)"] });
    await withDatabase(database, (db) => db.update(auditLog).set({ data: original.data }).where(eq(auditLog.id, 8)));
  });

  test("an entry deleted from the table: --full exits 1 naming the entry after the gap", async () => {
    await withDatabase(database, (db) => db.delete(auditLog).where(eq(auditLog.id, 3)));
    const result = await cliText(["audit", "verify", "--full", "--json"], { env: database.env });
    expect(outcome(result)).toEqual({
      exitCode: 1,
      stdout: `${JSON.stringify({ ok: false, checked: 2, total: 2, from: 0, broken: { id: 4, reason: "entry 3 is missing (removed)" } })}\n`,
      stderr: ["usersvc: audit chain broken at entry 4: entry 3 is missing (removed)"],
    });
  });
});
