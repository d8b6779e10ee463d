import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createAdmin, createPlainUser, failureOf, type LoggedIn } from "../support/admin.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

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

interface Transaction {
  id: string;
  amount: number;
  balance_after: number;
  reason: string;
  actor: { type: string; id: string | null };
  idempotency_key: string | null;
  created_at: string;
}

function adjust(userId: string, body: unknown) {
  return server.api("POST", `/api/v1/admin/users/${userId}/balance`, { token: admin.token, body });
}

async function balanceOf(user: LoggedIn): Promise<number> {
  const res = await server.api("GET", "/api/v1/users/me/balance", { token: user.token });
  expect(res.status).toBe(200);
  return res.body.data.balance;
}

function transactionsOf(user: LoggedIn, query = "?limit=200") {
  return server.api("GET", `/api/v1/users/me/balance/transactions${query}`, { token: user.token });
}

async function ledgerOf(user: LoggedIn): Promise<Transaction[]> {
  const res = await transactionsOf(user);
  expect(res.status).toBe(200);
  return res.body.data.items;
}

describe("POST /admin/users/{id}/balance", () => {
  test("a credit answers the new balance and its ledger transaction", async () => {
    const user = await createPlainUser(server);
    const res = await adjust(user.id, { amount: 500, reason: "top-up" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      error: null,
      data: {
        balance: 500,
        transaction: {
          id: expect.any(String),
          amount: 500,
          balance_after: 500,
          reason: "top-up",
          actor: { type: "admin", id: admin.id },
          idempotency_key: null,
          created_at: expect.stringMatching(ISO_UTC),
        },
      },
    });
    expect(await balanceOf(user)).toBe(500);
    const view = await server.api("GET", `/api/v1/admin/users/${user.id}`, { token: admin.token });
    expect(view.body.data.balance).toBe(500);
    expect((await server.api("GET", "/api/v1/users/me", { token: user.token })).body.data.balance).toBe(500);
    expect(await ledgerOf(user)).toEqual([res.body.data.transaction]);
  });

  test("a debit lowers the balance, down to exactly 0", async () => {
    const user = await createPlainUser(server);
    await adjust(user.id, { amount: 300, reason: "top-up" });
    const debit = await adjust(user.id, { amount: -120, reason: "purchase" });
    expect(debit.status).toBe(200);
    expect(debit.body.data).toEqual({
      balance: 180,
      transaction: expect.objectContaining({ amount: -120, balance_after: 180, reason: "purchase" }),
    });
    const rest = await adjust(user.id, { amount: -180, reason: "purchase" });
    expect(rest.body.data.balance).toBe(0);
    expect(await balanceOf(user)).toBe(0);
  });

  test("a debit below 0 answers 409 INSUFFICIENT_BALANCE and writes nothing", async () => {
    const user = await createPlainUser(server);
    await adjust(user.id, { amount: 100, reason: "top-up" });
    const auditBefore = await server.api("GET", `/api/v1/admin/audit?user_id=${user.id}`, { token: admin.token });
    const res = await adjust(user.id, { amount: -101, reason: "too much", idempotency_key: "overdraft-1" });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(failureOf("INSUFFICIENT_BALANCE"));
    expect(await balanceOf(user)).toBe(100);
    expect(await ledgerOf(user)).toHaveLength(1);
    const auditAfter = await server.api("GET", `/api/v1/admin/audit?user_id=${user.id}`, { token: admin.token });
    expect(auditAfter.body.data.total).toBe(auditBefore.body.data.total);

    // The refused key was not used up: once funded, the same request applies.
    await adjust(user.id, { amount: 1, reason: "top-up" });
    const retry = await adjust(user.id, { amount: -101, reason: "too much", idempotency_key: "overdraft-1" });
    expect(retry.status).toBe(200);
    expect(retry.body.data.balance).toBe(0);
  });

  test("a debit on an empty balance answers 409 INSUFFICIENT_BALANCE", async () => {
    const user = await createPlainUser(server);
    const res = await adjust(user.id, { amount: -1, reason: "nothing there" });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(failureOf("INSUFFICIENT_BALANCE"));
    expect(await ledgerOf(user)).toEqual([]);
  });

  test.each([
    ["amount 0", { amount: 0, reason: "nothing" }, "amount"],
    ["a fractional amount", { amount: 1.5, reason: "half" }, "amount"],
    ["an amount as a string", { amount: "5", reason: "text" }, "amount"],
    ["an amount of null", { amount: null, reason: "null" }, "amount"],
    ["no amount", { reason: "none" }, "amount"],
    ["an amount over 10^15", { amount: 1e16, reason: "huge" }, "amount"],
    ["no reason", { amount: 5 }, "reason"],
    ["an empty reason", { amount: 5, reason: "   " }, "reason"],
    ["a reason over 500 characters", { amount: 5, reason: "r".repeat(501) }, "reason"],
    ["an empty idempotency key", { amount: 5, reason: "ok", idempotency_key: "" }, "idempotency_key"],
    ["an idempotency key as a number", { amount: 5, reason: "ok", idempotency_key: 7 }, "idempotency_key"],
    ["an unknown field", { amount: 5, reason: "ok", currency: "EUR" }, "currency"],
  ])("%s answers 422 VALIDATION_ERROR naming the field and writes nothing", async (_what, body, field) => {
    const user = await createPlainUser(server);
    const res = await adjust(user.id, body);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    expect(await balanceOf(user)).toBe(0);
    expect(await ledgerOf(user)).toEqual([]);
  });

  test("a balance of a soft-deleted user answers 404 USER_NOT_FOUND and writes nothing", async () => {
    const user = await createPlainUser(server);
    await adjust(user.id, { amount: 50, reason: "top-up" });
    expect((await server.api("DELETE", `/api/v1/admin/users/${user.id}`, { token: admin.token })).status).toBe(200);
    for (const amount of [10, -10]) {
      const res = await adjust(user.id, { amount, reason: "after delete" });
      expect(res.status).toBe(404);
      expect(res.body).toEqual(failureOf("USER_NOT_FOUND"));
    }
    const view = await server.api("GET", `/api/v1/admin/users/${user.id}`, { token: admin.token });
    expect(view.body.data.balance).toBe(50);
  });

  test("an unknown or purged user answers 404 USER_NOT_FOUND", async () => {
    const user = await createPlainUser(server);
    await server.api("DELETE", `/api/v1/admin/users/${user.id}?hard=true`, { token: admin.token });
    for (const id of [user.id, crypto.randomUUID()]) {
      const res = await adjust(id, { amount: 10, reason: "x", idempotency_key: "k" });
      expect(res.status).toBe(404);
      expect(res.body).toEqual(failureOf("USER_NOT_FOUND"));
    }
  });

  test("a blocked user's balance can still be adjusted", async () => {
    const user = await createPlainUser(server);
    await server.api("POST", `/api/v1/admin/users/${user.id}/block`, { token: admin.token });
    const res = await adjust(user.id, { amount: 25, reason: "refund" });
    expect(res.status).toBe(200);
    expect(res.body.data.balance).toBe(25);
  });
});

describe("idempotency keys", () => {
  test("a repeated key answers the first result (same transaction) and applies once", async () => {
    const user = await createPlainUser(server);
    const body = { amount: 70, reason: "order 17", idempotency_key: "order-17" };
    const first = await adjust(user.id, body);
    expect(first.status).toBe(200);
    expect(first.body.data.transaction.idempotency_key).toBe("order-17");
    await adjust(user.id, { amount: 5, reason: "other" });
    const again = await adjust(user.id, body);
    expect(again.status).toBe(200);
    expect(again.body.data).toEqual(first.body.data);
    expect(await balanceOf(user)).toBe(75);
    expect(await ledgerOf(user)).toHaveLength(2);
  });

  test("a repeated key with another amount still answers the first result and applies nothing", async () => {
    const user = await createPlainUser(server);
    const first = await adjust(user.id, { amount: 40, reason: "first", idempotency_key: "same-key" });
    const second = await adjust(user.id, { amount: 999, reason: "second", idempotency_key: "same-key" });
    expect(second.status).toBe(200);
    expect(second.body.data).toEqual(first.body.data);
    expect(await balanceOf(user)).toBe(40);
  });

  test("the same key for two users applies to each", async () => {
    const a = await createPlainUser(server);
    const b = await createPlainUser(server);
    const ra = await adjust(a.id, { amount: 10, reason: "bonus", idempotency_key: "shared" });
    const rb = await adjust(b.id, { amount: 20, reason: "bonus", idempotency_key: "shared" });
    expect(ra.body.data.transaction.id).not.toBe(rb.body.data.transaction.id);
    expect(await balanceOf(a)).toBe(10);
    expect(await balanceOf(b)).toBe(20);
  });

  test("the same key sent 10 times at once applies once, and every answer is the same", async () => {
    const user = await createPlainUser(server);
    for (let round = 0; round < 3; round++) {
      const body = { amount: 33, reason: "concurrent", idempotency_key: `burst-${round}` };
      const results = await Promise.all(Array.from({ length: 10 }, () => adjust(user.id, body)));
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
      const ids = new Set(results.map((r) => r.body.data.transaction.id));
      expect(ids.size).toBe(1);
      expect(new Set(results.map((r) => r.body.data.balance))).toEqual(new Set([33 * (round + 1)]));
      expect(await balanceOf(user)).toBe(33 * (round + 1));
    }
    expect(await ledgerOf(user)).toHaveLength(3);
  });
});

describe("concurrent adjustments", () => {
  test("50 parallel credits of 1..50 give the exact total and a gapless ledger chain", async () => {
    const user = await createPlainUser(server);
    const amounts = Array.from({ length: 50 }, (_, i) => i + 1);
    const results = await Promise.all(amounts.map((amount) => adjust(user.id, { amount, reason: `credit ${amount}` })));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    const total = (50 * 51) / 2;
    expect(await balanceOf(user)).toBe(total);

    const ledger = await ledgerOf(user);
    expect(ledger).toHaveLength(50);
    const chain = [...ledger].sort((a, b) => a.balance_after - b.balance_after);
    let previous = 0;
    for (const row of chain) {
      expect(row.balance_after).toBe(previous + row.amount);
      previous = row.balance_after;
    }
    expect(previous).toBe(total);
    expect(chain.map((r) => r.amount).sort((a, b) => a - b)).toEqual(amounts);
    // Each answer is its own transaction's result.
    for (const res of results) {
      expect(res.body.data.balance).toBe(res.body.data.transaction.balance_after);
    }
  });

  test("50 parallel credits mixed with debits give the exact total and one consistent chain", async () => {
    const user = await createPlainUser(server);
    await adjust(user.id, { amount: 1000, reason: "funding" });
    // Credits are multiples of 1000 and the debits add up to 275, so no two balances on the
    // way can be equal: every balance before a change names exactly one ledger row.
    const amounts = Array.from({ length: 50 }, (_, i) => ((i + 1) % 5 === 0 ? -(i + 1) : (i + 1) * 1000));
    const results = await Promise.all(
      amounts.map((amount, i) => adjust(user.id, { amount, reason: `mixed ${i}`, idempotency_key: `mixed-${i}` })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    const total = 1000 + amounts.reduce((sum, a) => sum + a, 0);
    expect(await balanceOf(user)).toBe(total);

    const ledger = await ledgerOf(user);
    expect(ledger).toHaveLength(51);
    const byBalanceBefore = new Map<number, Transaction>();
    for (const row of ledger) {
      const before = row.balance_after - row.amount;
      expect(byBalanceBefore.has(before)).toBe(false);
      byBalanceBefore.set(before, row);
    }
    let balance = 0;
    for (let step = 0; step < ledger.length; step++) {
      const row = byBalanceBefore.get(balance);
      expect(row).toBeDefined();
      expect(row!.balance_after).toBeGreaterThanOrEqual(0);
      balance = row!.balance_after;
    }
    expect(balance).toBe(total);
  });

  test("parallel debits never take the balance below 0: exactly the affordable ones succeed", async () => {
    const user = await createPlainUser(server);
    await adjust(user.id, { amount: 100, reason: "funding" });
    const results = await Promise.all(Array.from({ length: 30 }, () => adjust(user.id, { amount: -7, reason: "spend" })));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    expect(ok).toHaveLength(14);
    expect(refused).toHaveLength(16);
    for (const r of refused) expect(r.body).toEqual(failureOf("INSUFFICIENT_BALANCE"));
    expect(await balanceOf(user)).toBe(2);
    expect(await ledgerOf(user)).toHaveLength(15);
  });
});

describe("GET /users/me/balance and /users/me/balance/transactions", () => {
  let user: LoggedIn;
  let made: Transaction[];
  beforeAll(async () => {
    user = await createPlainUser(server);
    made = [];
    for (const amount of [100, -30, 45, -15, 200]) {
      server.clock.advance(1);
      made.push((await adjust(user.id, { amount, reason: `step ${amount}` })).body.data.transaction);
    }
  });

  test("GET /users/me/balance answers {balance}", async () => {
    const res = await server.api("GET", "/api/v1/users/me/balance", { token: user.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, data: { balance: 300 }, error: null });
  });

  test("the transactions are {items, total, limit, offset}, newest first", async () => {
    const res = await transactionsOf(user, "");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      error: null,
      data: { items: [...made].reverse(), total: 5, limit: 50, offset: 0 },
    });
  });

  test("limit and offset page through them", async () => {
    const res = await transactionsOf(user, "?limit=2&offset=1");
    expect(res.body.data).toEqual({ items: [...made].reverse().slice(1, 3), total: 5, limit: 2, offset: 1 });
    const past = await transactionsOf(user, "?offset=10");
    expect(past.body.data).toEqual({ items: [], total: 5, limit: 50, offset: 10 });
  });

  test.each([
    ["?limit=0", "limit"],
    ["?limit=201", "limit"],
    ["?limit=-1", "limit"],
    ["?limit=abc", "limit"],
    ["?limit=1.5", "limit"],
    ["?offset=-1", "offset"],
    ["?offset=x", "offset"],
    ["?offset=1e20", "offset"],
    ["?page=2", "page"],
  ])("%s answers 422 VALIDATION_ERROR naming %s", async (query, field) => {
    const res = await transactionsOf(user, query);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual([field]);
  });

  test("a user sees only its own transactions", async () => {
    const other = await createPlainUser(server);
    expect((await transactionsOf(other, "")).body.data).toEqual({ items: [], total: 0, limit: 50, offset: 0 });
    expect(await balanceOf(other)).toBe(0);
  });

  test("both need a token", async () => {
    for (const path of ["/api/v1/users/me/balance", "/api/v1/users/me/balance/transactions"]) {
      const res = await server.api("GET", path);
      expect(res.status).toBe(401);
      expect(res.body).toEqual(failureOf("UNAUTHENTICATED"));
    }
  });

  test("after a soft delete the user's token no longer reads its balance", async () => {
    const gone = await createPlainUser(server);
    await adjust(gone.id, { amount: 10, reason: "x" });
    await server.api("DELETE", `/api/v1/admin/users/${gone.id}`, { token: admin.token });
    expect((await server.api("GET", "/api/v1/users/me/balance", { token: gone.token })).status).toBe(401);
    expect((await transactionsOf(gone)).status).toBe(401);
  });
});
