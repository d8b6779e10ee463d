/**
 * usersvc block / unblock, in-process (tests/support/cli.ts): by id, email
 * or username, --until as a duration, a time or a date, the usage errors,
 * unknown users, the audit entries. That a running server refuses the
 * blocked user's tokens at once is tests/binary/operator.test.ts's.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cliText } from "../support/cli.ts";
import type { TestDatabase } from "../support/database.ts";
import {
  cliJson,
  databaseWithForeignUsers,
  type ForeignUser,
  foreignUsers,
  ISO_TIME,
  outcome,
  UUID,
  WEEK_MS,
} from "../support/operator.ts";

// Each command opens the database; on the embedded one that is ~0.5 s, and a test here runs up to four.
setDefaultTimeout(30_000);

describe("block and unblock", () => {
  let database: TestDatabase;
  let users: ForeignUser[];
  beforeAll(async () => {
    users = await foreignUsers();
    database = await databaseWithForeignUsers();
  });
  afterAll(() => database?.drop());

  /** ada by id, bert by email, ivo by username. */
  const TARGETS = [
    ["id", 0],
    ["email", 1],
    ["username", 3],
  ] as const;

  async function reference(kind: "id" | "email" | "username", user: ForeignUser): Promise<string> {
    if (kind === "email") return user.record.email;
    if (kind === "username") return user.record.username;
    return (await cliJson(["users", "show", user.record.username, "--json"], database.env)).id;
  }

  test.each(TARGETS)("block <%s> --reason spam --until 7d --json blocks the user for a week, as users show then reports", async (kind, index) => {
    const user = users[index]!;
    const before = Date.now();
    const result = await cliText(["block", await reference(kind, user), "--reason", "spam", "--until", "7d", "--json"], { env: database.env });
    const after = Date.now();
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
    const blocked = JSON.parse(result.stdout);
    expect(blocked).toEqual(
      expect.objectContaining({
        email: user.record.email.toLowerCase(),
        status: "blocked",
        is_active: false,
        blocked_reason: "spam",
        blocked_until: expect.stringMatching(ISO_TIME),
      }),
    );
    const until = Date.parse(blocked.blocked_until);
    expect(until).toBeGreaterThanOrEqual(before + WEEK_MS);
    expect(until).toBeLessThanOrEqual(after + WEEK_MS);
    expect(await cliJson(["users", "show", user.record.username, "--json"], database.env)).toEqual(blocked);
  });

  test("block without --json prints one line with the user, the end of the block and the reason", async () => {
    const dora = users[4]!;
    const result = await cliText(["block", dora.record.username, "--reason", "chargeback", "--until", "2099-01-01T00:00:00Z"], {
      env: database.env,
    });
    expect(outcome({ ...result, stdout: result.stdout.replace(UUID, "<id>") })).toEqual({
      exitCode: 0,
      stdout: `Blocked dora_argon2d <dora.argon2d@example.com> <id> blocked until 2099-01-01T00:00:00.000Z (chargeback)\n`,
      stderr: [],
    });
  });

  test.each([["tomorrow"], ["7x"], ["0d"], ["2030-13-45T00:00:00Z"], ["-7d"]])(
    "block --until %s is a usage error: exit 2, one stderr line, nobody blocked",
    async (until) => {
      const otto = users[5]!;
      const result = await cliText(["block", otto.record.username, "--until", until], { env: database.env });
      expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: [expect.stringMatching(/^usersvc: --until\b/)] });
      expect((await cliJson(["users", "show", otto.record.username, "--json"], database.env)).status).toBe("active");
    },
  );

  test("block --until a time already past is a usage error: exit 2 with VALIDATION_ERROR", async () => {
    const result = await cliText(["block", users[5]!.record.username, "--until", "2001-01-01T00:00:00Z"], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 2, stdout: "", stderr: ["usersvc: VALIDATION_ERROR: until: must be in the future"] });
  });

  test.each([["block"], ["unblock"]])("%s of an unknown user exits 1 with USER_NOT_FOUND", async (command) => {
    const result = await cliText([command, "nobody@example.com"], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: ['usersvc: USER_NOT_FOUND: No user matches "nobody@example.com"'] });
  });

  test("unblock lifts the block: reason and end cleared", async () => {
    const ivo = users[3]!;
    const result = await cliText(["unblock", ivo.record.email.toUpperCase()], { env: database.env });
    expect(outcome({ ...result, stdout: result.stdout.replace(UUID, "<id>") })).toEqual({
      exitCode: 0,
      stdout: "Unblocked ivo-argon2i <ivo.argon2i@example.com> <id> active\n",
      stderr: [],
    });
    expect(await cliJson(["users", "show", ivo.record.username, "--json"], database.env)).toEqual(
      expect.objectContaining({ status: "active", is_active: true, blocked_reason: null, blocked_until: null }),
    );
  });

  test("every block and unblock is in the audit log, and the chain is intact", async () => {
    // 6 imports, 4 blocks, 1 unblock.
    const result = await cliText(["audit", "verify"], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 0, stdout: "Audit chain intact: 11 entries\n", stderr: [] });
  });

  test("block --until a date alone blocks until the start of that day UTC; a past date is refused as past", async () => {
    const past = await cliText(["block", users[5]!.record.username, "--until", "2001-01-01"], { env: database.env });
    expect(outcome(past)).toEqual({ exitCode: 2, stdout: "", stderr: ["usersvc: VALIDATION_ERROR: until: must be in the future"] });
    const blocked = await cliJson(["block", users[5]!.record.username, "--until", "2999-01-01", "--json"], database.env);
    expect([blocked.status, blocked.blocked_until]).toEqual(["blocked", "2999-01-01T00:00:00.000Z"]);
    expect((await cliText(["unblock", users[5]!.record.username], { env: database.env })).exitCode).toBe(0);
  });
});
