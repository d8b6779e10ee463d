import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { asc, eq, gte, sql } from "drizzle-orm";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { verifyAuditChain } from "../../src/core/audit/audit.ts";
import type { Db } from "../../src/core/db/client.ts";
import { auditLog } from "../../src/core/db/schema.ts";
import { createUser } from "../../src/core/users/users.ts";
import { createAdmin, createPlainUser, failureOf, type LoggedIn } from "../support/admin.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let server: TestServer;
let admin: LoggedIn;
beforeAll(async () => {
  server = await startTestServer();
  admin = await createAdmin(server);
});
afterAll(() => server.stop());

interface AuditEntry {
  id: number;
  occurred_at: string;
  event: string;
  actor: { type: string; id: string | null };
  target_id: string | null;
  ip: string | null;
  data: Record<string, unknown>;
}

function adminCall(method: string, path: string, body?: unknown) {
  return server.api(method, `/api/v1/admin${path}`, { token: admin.token, body });
}

async function auditPage(query: string) {
  const res = await adminCall("GET", `/audit${query}`);
  expect(res.status).toBe(200);
  return res.body.data as { items: AuditEntry[]; total: number; limit: number; offset: number };
}

/** Entries about one user, newest first. */
async function auditOf(userId: string): Promise<AuditEntry[]> {
  return (await auditPage(`?user_id=${userId}&limit=200`)).items;
}

/**
 * Runs `action` at a moment of its own and answers the one entry it wrote
 * about `userId`, after checking it is the only new one.
 */
async function entryOf(userId: string, action: () => Promise<{ status: number }>): Promise<AuditEntry> {
  const before = await auditOf(userId);
  server.clock.advance(7);
  const at = server.core.now().getTime();
  const res = await action();
  expect(res.status).toBe(200);
  const after = await auditOf(userId);
  expect(after).toHaveLength(before.length + 1);
  const entry = after[0]!;
  expect(entry.occurred_at).toMatch(ISO_UTC);
  // The entry's time is the server's clock at the action.
  expect(Date.parse(entry.occurred_at)).toBeGreaterThanOrEqual(at);
  expect(Date.parse(entry.occurred_at)).toBeLessThan(at + 5_000);
  return entry;
}

describe("every admin action and lifecycle change writes an audit entry", () => {
  const byAdmin = () => ({ type: "admin", id: admin.id });

  test("PATCH /admin/users/{id}: user.updated with the fields (and the role change)", async () => {
    const user = await createPlainUser(server);
    const entry = await entryOf(user.id, () => adminCall("PATCH", `/users/${user.id}`, { is_verified: true, roles: ["user", "support"] }));
    expect(entry).toEqual({
      id: expect.any(Number),
      occurred_at: expect.any(String),
      event: "user.updated",
      actor: byAdmin(),
      target_id: user.id,
      ip: "127.0.0.1",
      data: { fields: ["is_verified", "roles"], roles: { from: ["user"], to: ["user", "support"] } },
    });
  });

  test("block: user.blocked with reason, until and the sessions revoked", async () => {
    const user = await createPlainUser(server);
    const until = new Date(server.core.now().getTime() + 86_400_000).toISOString();
    const entry = await entryOf(user.id, () => adminCall("POST", `/users/${user.id}/block`, { reason: "spam", until }));
    expect(entry).toEqual(
      expect.objectContaining({
        event: "user.blocked",
        actor: byAdmin(),
        target_id: user.id,
        ip: "127.0.0.1",
        data: { reason: "spam", until: expect.any(String), sessions_revoked: 1 },
      }),
    );
    expect(Date.parse(entry.data.until as string)).toBe(Date.parse(until));
  });

  test("unblock: user.unblocked", async () => {
    const user = await createPlainUser(server);
    await adminCall("POST", `/users/${user.id}/block`);
    const entry = await entryOf(user.id, () => adminCall("POST", `/users/${user.id}/unblock`));
    expect(entry).toEqual(
      expect.objectContaining({ event: "user.unblocked", actor: byAdmin(), target_id: user.id, ip: "127.0.0.1", data: {} }),
    );
  });

  test("soft delete: user.deleted with the sessions revoked; restore: user.restored", async () => {
    const user = await createPlainUser(server);
    const deleted = await entryOf(user.id, () => adminCall("DELETE", `/users/${user.id}`));
    expect(deleted).toEqual(
      expect.objectContaining({ event: "user.deleted", actor: byAdmin(), target_id: user.id, ip: "127.0.0.1", data: { sessions_revoked: 1 } }),
    );
    const restored = await entryOf(user.id, () => adminCall("POST", `/users/${user.id}/restore`));
    expect(restored).toEqual(
      expect.objectContaining({ event: "user.restored", actor: byAdmin(), target_id: user.id, ip: "127.0.0.1", data: {} }),
    );
    expect(restored.id).toBeGreaterThan(deleted.id);
  });

  test("force logout: session.revoked with the number revoked", async () => {
    const user = await createPlainUser(server);
    const entry = await entryOf(user.id, () => adminCall("POST", `/users/${user.id}/logout`));
    expect(entry).toEqual(
      expect.objectContaining({
        event: "session.revoked",
        actor: byAdmin(),
        target_id: user.id,
        ip: "127.0.0.1",
        data: { reason: "admin_logout", sessions_revoked: 1 },
      }),
    );
  });

  test("balance: balance.changed with the amount, the balance after and the transaction", async () => {
    const user = await createPlainUser(server);
    let transactionId = "";
    const entry = await entryOf(user.id, async () => {
      const res = await adminCall("POST", `/users/${user.id}/balance`, { amount: 250, reason: "refund" });
      transactionId = res.body.data.transaction.id;
      return res;
    });
    expect(entry).toEqual(
      expect.objectContaining({
        event: "balance.changed",
        actor: byAdmin(),
        target_id: user.id,
        ip: "127.0.0.1",
        data: { amount: 250, balance_after: 250, transaction_id: transactionId, reason: "refund" },
      }),
    );
  });

  test("purge: user.purged, and the user's earlier entries stay with its id", async () => {
    const user = await createPlainUser(server);
    const entry = await entryOf(user.id, () => adminCall("DELETE", `/users/${user.id}?hard=true`));
    expect(entry).toEqual(
      expect.objectContaining({ event: "user.purged", actor: byAdmin(), target_id: user.id, ip: "127.0.0.1", data: {} }),
    );
    expect((await auditOf(user.id)).map((e) => e.event)).toEqual(["user.purged", "user.registered"]);
  });

  test("registration and DELETE /users/me are recorded with the user as actor", async () => {
    const input = newUser();
    const registered = await server.api("POST", "/api/v1/users", { body: input });
    const id = registered.body.data.id;
    expect((await auditOf(id))[0]).toEqual(
      expect.objectContaining({ event: "user.registered", actor: { type: "user", id }, target_id: id, ip: "127.0.0.1" }),
    );
    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    const entry = await entryOf(id, () =>
      server.api("DELETE", "/api/v1/users/me", { token: login.body.data.access_token, body: { password: input.password } }),
    );
    expect(entry).toEqual(
      expect.objectContaining({ event: "user.deleted", actor: { type: "user", id }, target_id: id, ip: "127.0.0.1", data: { sessions_revoked: 1 } }),
    );
  });

  test("CLI actions are recorded with actor cli and no IP", async () => {
    const user = await createUser(server.core, newUser(), { actor: CLI_ACTOR });
    expect((await auditOf(user.id))[0]).toEqual(
      expect.objectContaining({ event: "user.registered", actor: { type: "cli", id: null }, ip: null, target_id: user.id }),
    );
  });

  test("refused or empty actions write nothing", async () => {
    const user = await createPlainUser(server);
    const before = await auditOf(user.id);
    const attempts = [
      () => adminCall("POST", `/users/${user.id}/balance`, { amount: -1, reason: "overdraft" }),
      () => adminCall("POST", `/users/${user.id}/block`, { until: "2000-01-01T00:00:00Z" }),
      () => adminCall("PATCH", `/users/${user.id}`, { email: admin.input.email }),
      () => adminCall("PATCH", `/users/${user.id}`, { roles: ["NOT VALID"] }),
      () => adminCall("POST", `/users/${user.id}/unblock`),
      () => adminCall("POST", `/users/${user.id}/restore`),
      () => server.api("DELETE", "/api/v1/users/me", { token: user.token, body: { password: "not the password" } }),
    ];
    const statuses = [];
    for (const attempt of attempts) statuses.push((await attempt()).status);
    expect(statuses).toEqual([409, 422, 409, 422, 200, 200, 400]);
    expect(await auditOf(user.id)).toEqual(before);
  });
});

describe("GET /admin/audit", () => {
  let subject: LoggedIn;
  beforeAll(async () => {
    subject = await createPlainUser(server);
    for (let i = 1; i <= 6; i++) {
      await adminCall("POST", `/users/${subject.id}/balance`, { amount: i, reason: `credit ${i}` });
    }
    await adminCall("POST", `/users/${subject.id}/block`);
    await adminCall("POST", `/users/${subject.id}/unblock`);
  });

  test("answers {items, total, limit, offset}, newest first, with the default limit 50", async () => {
    const res = await adminCall("GET", "/audit");
    expect(res.body).toEqual({
      success: true,
      error: null,
      data: { items: expect.any(Array), total: expect.any(Number), limit: 50, offset: 0 },
    });
    const ids = res.body.data.items.map((e: AuditEntry) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(ids.length).toBe(Math.min(50, res.body.data.total));
  });

  test("user_id filters by target", async () => {
    const page = await auditPage(`?user_id=${subject.id}`);
    expect(page.total).toBe(9);
    expect(page.items.every((e) => e.target_id === subject.id)).toBe(true);
    expect(page.items.map((e) => e.event)).toEqual([
      "user.unblocked",
      "user.blocked",
      ...Array(6).fill("balance.changed"),
      "user.registered",
    ]);
  });

  test("event filters by event, and combines with user_id", async () => {
    const all = await auditPage("?event=balance.changed&limit=200");
    expect(all.items.every((e) => e.event === "balance.changed")).toBe(true);
    expect(all.total).toBe(all.items.length);
    const mine = await auditPage(`?event=balance.changed&user_id=${subject.id}`);
    expect(mine.total).toBe(6);
    expect(mine.items.map((e) => e.data.amount)).toEqual([6, 5, 4, 3, 2, 1]);
    expect((await auditPage("?event=no.such.event")).total).toBe(0);
  });

  test("limit and offset page through the entries", async () => {
    const full = await auditPage(`?user_id=${subject.id}`);
    const page = await auditPage(`?user_id=${subject.id}&limit=3&offset=2`);
    expect(page).toEqual({ items: full.items.slice(2, 5), total: 9, limit: 3, offset: 2 });
    const past = await auditPage(`?user_id=${subject.id}&offset=100`);
    expect(past).toEqual({ items: [], total: 9, limit: 50, offset: 100 });
  });

  test.each([
    ["?limit=0", "limit"],
    ["?limit=201", "limit"],
    ["?limit=2.5", "limit"],
    ["?offset=-1", "offset"],
    ["?offset=1e20", "offset"],
    ["?user_id=not-a-uuid", "user_id"],
    ["?actor=me", "actor"],
  ])("%s answers 422 VALIDATION_ERROR naming %s", async (query, field) => {
    const res = await adminCall("GET", `/audit${query}`);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual([field]);
  });
});

describe("the audit hash chain", () => {
  /** Tampers inside a transaction that is rolled back, so each test starts from the intact chain. */
  async function verifyAfter(tamper: (tx: Db) => Promise<unknown>, options: { full: boolean } = { full: true }) {
    let report: Awaited<ReturnType<typeof verifyAuditChain>> | undefined;
    const rollback = new Error("rollback");
    await server.core.db
      .transaction(async (tx) => {
        await tamper(tx);
        report = await verifyAuditChain(tx, { full: options.full, now: server.core.now() });
        throw rollback;
      })
      .catch((error) => {
        if (error !== rollback) throw error;
      });
    return report!;
  }

  async function entryCount(): Promise<number> {
    return (await auditPage("?limit=1")).total;
  }

  test("the untouched chain verifies, every entry checked", async () => {
    const total = await entryCount();
    expect(total).toBeGreaterThan(20);
    expect(await verifyAuditChain(server.core.db, { now: server.core.now() })).toEqual({ ok: true, checked: total, total, from: 0, broken: null });
  });

  test.each([
    ["data", sql`update audit_log set data = '{"amount": 1000000}'::jsonb where id = 7`],
    ["event", sql`update audit_log set event = 'user.restored' where id = 7`],
    ["actor_id", sql`update audit_log set actor_id = null where id = 7`],
    ["target_id", sql`update audit_log set target_id = gen_random_uuid() where id = 7`],
    ["ip", sql`update audit_log set ip = '10.0.0.1' where id = 7`],
    ["occurred_at", sql`update audit_log set occurred_at = occurred_at + interval '1 second' where id = 7`],
    ["hash", sql`update audit_log set hash = repeat('a', 64) where id = 7`],
  ])("an edited %s is reported at that entry as edited", async (_column, statement) => {
    const report = await verifyAfter((tx) => tx.execute(statement));
    expect(report).toEqual({ ok: false, checked: 6, total: 6, from: 0, broken: { id: 7, reason: expect.stringContaining("edited") } });
    expect(report.broken!.reason).toMatch(/content does not match its hash/);
  });

  test("a deleted middle entry is reported at the next entry as missing", async () => {
    const report = await verifyAfter((tx) => tx.execute(sql`delete from audit_log where id = 7`));
    expect(report).toEqual({ ok: false, checked: 6, total: 6, from: 0, broken: { id: 8, reason: expect.stringMatching(/entries 7 are missing|7.*missing/) } });
  });

  test("several deleted entries are reported as one missing range", async () => {
    const report = await verifyAfter((tx) => tx.execute(sql`delete from audit_log where id between 5 and 9`));
    expect(report).toEqual({ ok: false, checked: 4, total: 4, from: 0, broken: { id: 10, reason: expect.stringContaining("5-9") } });
  });

  test("a changed prev_hash is reported at that entry as a broken link", async () => {
    const report = await verifyAfter((tx) =>
      tx.execute(sql`update audit_log set prev_hash = (select hash from audit_log where id = 3) where id = 7`),
    );
    expect(report).toEqual({ ok: false, checked: 6, total: 6, from: 0, broken: { id: 7, reason: expect.stringContaining("link to entry 6") } });
  });

  test("an entry edited with a freshly computed hash is caught by the next entry's link", async () => {
    const report = await verifyAfter(async (tx) => {
      const [row] = await tx.select().from(auditLog).where(eq(auditLog.id, 7));
      const forged = { ...row!, data: { forged: true } };
      await tx.execute(
        sql`update audit_log set data = ${JSON.stringify(forged.data)}::jsonb, hash = ${hashOf(forged)} where id = 7`,
      );
    });
    expect(report).toEqual({ ok: false, checked: 7, total: 7, from: 0, broken: { id: 8, reason: expect.stringContaining("link to entry 7") } });
  });

  test("a forged entry appended with a made-up prev_hash is reported", async () => {
    const total = await entryCount();
    const report = await verifyAfter((tx) =>
      tx.execute(sql`
        insert into audit_log (id, occurred_at, event, actor_type, actor_id, target_id, ip, data, prev_hash, hash)
        values (${total + 1}, now(), 'user.updated', 'system', null, null, null, '{}'::jsonb, ${"b".repeat(64)}, ${"c".repeat(64)})`),
    );
    expect(report).toEqual({ ok: false, checked: total, total, from: 0, broken: { id: total + 1, reason: expect.stringContaining("link") } });
  });

  test("the chain still verifies after the rolled-back tampering, and after more actions", async () => {
    const user = await createPlainUser(server);
    await adminCall("POST", `/users/${user.id}/block`);
    await adminCall("DELETE", `/users/${user.id}?hard=true`);
    // From the checkpoint the first test left: only what was appended since is checked.
    const report = await verifyAuditChain(server.core.db, { now: server.core.now() });
    const total = await entryCount();
    expect(report).toEqual({ ok: true, checked: total - report.from, total, from: expect.any(Number), broken: null });
    expect(report.from).toBeGreaterThan(20);
    expect(report.checked).toBeLessThan(10);
  });

  test("concurrent actions keep the chain linear and valid", async () => {
    const users = await Promise.all(Array.from({ length: 5 }, () => createPlainUser(server)));
    await Promise.all(
      users.flatMap((u) => [
        adminCall("POST", `/users/${u.id}/balance`, { amount: 5, reason: "x" }),
        adminCall("POST", `/users/${u.id}/logout`),
        adminCall("PATCH", `/users/${u.id}`, { is_verified: true }),
      ]),
    );
    const report = await verifyAuditChain(server.core.db, { now: server.core.now() });
    expect(report).toEqual({ ok: true, checked: expect.any(Number), total: await entryCount(), from: expect.any(Number), broken: null });
    expect(await verifyAuditChain(server.core.db, { full: true, now: server.core.now() })).toMatchObject({ ok: true, checked: await entryCount(), from: 0 });
  });

  test("the whole chain rewritten up to the last checkpoint (every hash recomputed) is found there", async () => {
    const checkpoint = (await verifyAuditChain(server.core.db, { now: server.core.now() })).total;
    const report = await verifyAfter(async (tx) => {
      // An insider edits entry 3 and recomputes every hash after it: the chain is consistent again.
      const rows = await tx.select().from(auditLog).where(gte(auditLog.id, 3)).orderBy(asc(auditLog.id));
      let prevHash = rows[0]!.prevHash;
      for (const row of rows) {
        const forged = { ...row, prevHash, data: row.id === 3 ? { forged: true } : row.data };
        const hash = hashOf(forged);
        await tx.execute(sql`update audit_log set data = ${JSON.stringify(forged.data)}::jsonb, prev_hash = ${prevHash}, hash = ${hash} where id = ${row.id}`);
        prevHash = hash;
      }
    }, { full: false });
    expect(report).toEqual({ ok: false, checked: 0, total: 0, from: checkpoint, broken: { id: checkpoint, reason: expect.stringContaining("not the one checkpointed") } });
  });

  test("the last checkpoint's entry deleted is found; an edit before it is found only by a full check", async () => {
    const { total } = await verifyAuditChain(server.core.db, { now: server.core.now() });
    const removed = await verifyAfter((tx) => tx.execute(sql`delete from audit_log where id = ${total}`), { full: false });
    expect(removed.broken).toEqual({ id: total, reason: expect.stringContaining("missing (removed)") });

    const [original] = await server.core.db.select().from(auditLog).where(eq(auditLog.id, 2));
    await server.core.db.execute(sql`update audit_log set data = '{"tampered": true}'::jsonb where id = 2`);
    try {
      expect(await verifyAuditChain(server.core.db, { now: server.core.now() })).toMatchObject({ ok: true, from: total });
      const full = await verifyAuditChain(server.core.db, { full: true, now: server.core.now() });
      expect(full).toEqual({ ok: false, checked: 1, total: 1, from: 0, broken: { id: 2, reason: expect.stringContaining("edited") } });
    } finally {
      await server.core.db.update(auditLog).set({ data: original!.data }).where(eq(auditLog.id, 2));
    }
  });
});

type AuditRow = typeof auditLog.$inferSelect;

/** The documented hash of an entry: sha256 of the previous hash, a newline and the entry as canonical JSON. */
function hashOf(row: AuditRow): string {
  const content = canonicalJson({
    id: row.id,
    occurred_at: row.occurredAt.toISOString(),
    event: row.event,
    actor_type: row.actorType,
    actor_id: row.actorId,
    target_id: row.targetId,
    ip: row.ip,
    data: row.data,
  });
  return createHash("sha256").update(`${row.prevHash}\n${content}`).digest("hex");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value as object).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}
