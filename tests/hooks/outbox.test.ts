/**
 * docs/hooks.md "Delivery guarantees" and "Webhooks", in-process: a real
 * webhook receiver on a port of its own checks every Standard Webhooks
 * signature; delivery passes are direct calls to deliverDueEvents (what
 * serve's worker runs on a timer), and retries are made due by moving the
 * server's clock — nothing waits for a backoff.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config.ts";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { createCore } from "../../src/core/core.ts";
import {
  backoffSeconds,
  deliverDueEvents,
  MAX_ATTEMPTS,
  retryDeadEvents,
} from "../../src/core/events/outbox.ts";
import { listOutbox, type OutboxRow } from "../../src/core/events/outbox-queries.ts";
import { createUser } from "../../src/core/users/users.ts";
import { recordChange } from "../../src/core/events/record.ts";
import { auditLog } from "../../src/core/db/schema.ts";
import { count } from "drizzle-orm";
import {
  deliverUntilIdle,
  hooksDir,
  newWebhookSecret,
  outboxRows,
  type ReceivedWebhook,
  startWebhookReceiver,
  type WebhookReceiver,
  writeHookFile,
} from "../support/hooks.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Moves the server's clock just past the row's next attempt. */
function advancePast(server: TestServer, row: OutboxRow): void {
  const wait = row.nextAttemptAt.getTime() - server.clock.now().getTime();
  server.clock.advance(Math.max(wait, 0) / 1000 + 0.01);
}

async function rowsOf(server: TestServer, userId: string): Promise<OutboxRow[]> {
  return (await outboxRows(server.core.db)).filter((row) => row.userId === userId);
}

async function rowBySeq(server: TestServer, seq: number): Promise<OutboxRow> {
  return (await outboxRows(server.core.db)).find((row) => row.seq === seq)!;
}

/** Requests the receiver got for one event. */
function requestsFor(receiver: WebhookReceiver, eventId: string): ReceivedWebhook[] {
  return receiver.requests.filter((r) => r.id === eventId);
}

/** Every event id acknowledged more than once. */
function deliveredTwice(receiver: WebhookReceiver): string[] {
  const counts = new Map<string, number>();
  for (const r of receiver.delivered()) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
  return [...counts].filter(([, n]) => n > 1).map(([id]) => id);
}

/** Seconds from now to the row's next attempt, with the ±20 % jitter of attempt n+1 ≈ 2ⁿ s. */
function expectBackoff(server: TestServer, row: OutboxRow, attempts: number, failedAt: Date): void {
  const seconds = (row.nextAttemptAt.getTime() - failedAt.getTime()) / 1000;
  const base = Math.min(2 ** attempts, 3600);
  expect(seconds).toBeGreaterThanOrEqual(Math.floor(base * 0.8) - 1);
  expect(seconds).toBeLessThanOrEqual(Math.ceil(base * 1.2) + 1);
  expect(server.clock.now().getTime()).toBeLessThan(row.nextAttemptAt.getTime());
}

describe("webhook delivery", () => {
  const secret = newWebhookSecret();
  let receiver: WebhookReceiver;
  let server: TestServer;
  beforeAll(async () => {
    receiver = startWebhookReceiver(secret);
    server = await startTestServer({ USERSVC_WEBHOOK_URL: receiver.url, USERSVC_WEBHOOK_SECRET: secret });
  });
  afterAll(async () => {
    await server.stop();
    await receiver.stop();
  });

  test("an event is retried with backoff until the receiver recovers, then delivered exactly once, with the same webhook-id and valid signatures; the user's later event waits, another user's does not", async () => {
    let failuresLeft = 3;
    receiver.answer = () => (failuresLeft-- > 0 ? 500 : 204);

    const ana = (await server.api("POST", "/api/v1/users", { body: newUser() })).body.data;
    const [registered, verification] = await rowsOf(server, ana.id);
    expect([registered?.type, verification?.type]).toEqual(["user.registered", "user.verification_requested"]);
    expect([registered?.target, verification?.target]).toEqual(["webhook", "webhook"]);

    // Three failed attempts, each made due by the clock.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const before = Math.floor(server.clock.now().getTime() / 1000);
      expect(await deliverDueEvents(server.core)).toBe(1); // only the first of ana's events is claimable
      const after = Math.floor(server.clock.now().getTime() / 1000);
      const failedAt = server.clock.now();
      const row = await rowBySeq(server, registered!.seq);
      expect({ status: row.status, attempts: row.attempts, lastError: row.lastError, lockedUntil: row.lockedUntil }).toEqual({
        status: "pending",
        attempts: attempt,
        lastError: "webhook answered 500",
        lockedUntil: null,
      });
      expectBackoff(server, row, attempt, failedAt);
      const timestamp = Number(receiver.requests.at(-1)!.timestamp);
      expect(timestamp).toBeGreaterThanOrEqual(before);
      expect(timestamp).toBeLessThanOrEqual(after);
      // Not due yet, and the later event of the same user is held back meanwhile.
      expect(await deliverDueEvents(server.core)).toBe(0);
      expect((await rowBySeq(server, verification!.seq)).attempts).toBe(0);
      if (attempt < 3) advancePast(server, row);
    }

    // The receiver is back; another user signs up while ana's event waits for its 4th attempt.
    const ben = (await server.api("POST", "/api/v1/users", { body: newUser() })).body.data;
    expect(await deliverUntilIdle(server.core)).toBe(2);
    expect(receiver.delivered().map((r) => [r.event.type, r.event.data.user?.id])).toEqual([
      ["user.registered", ben.id],
      ["user.verification_requested", ben.id],
    ]);

    advancePast(server, await rowBySeq(server, registered!.seq));
    expect(await deliverUntilIdle(server.core)).toBe(2);
    expect(receiver.delivered().map((r) => [r.event.type, r.event.data.user?.id])).toEqual([
      ["user.registered", ben.id],
      ["user.verification_requested", ben.id],
      ["user.registered", ana.id],
      ["user.verification_requested", ana.id],
    ]);

    const attempts = requestsFor(receiver, registered!.eventId);
    expect(attempts.map((r) => r.status)).toEqual([500, 500, 500, 204]);
    expect(new Set(attempts.map((r) => r.id))).toEqual(new Set([registered!.eventId]));
    expect(new Set(attempts.map((r) => r.body)).size).toBe(1); // the same event each time
    expect(receiver.requests.every((r) => r.signatureValid && r.contentType === "application/json")).toBe(true);
    expect(receiver.requests.every((r) => r.signature.startsWith("v1,") && /^\d+$/.test(r.timestamp))).toBe(true);
    expect(deliveredTwice(receiver)).toEqual([]);

    const event = attempts[0]!.event;
    expect(event).toEqual({
      id: registered!.eventId,
      type: "user.registered",
      occurred_at: expect.any(String),
      actor: { type: "user", id: ana.id },
      data: { user: ana, roles: ["user"] },
    });
    expect(event.id).toMatch(UUID);

    const final = await rowsOf(server, ana.id);
    expect(final.map((r) => ({ status: r.status, attempts: r.attempts, lastError: r.lastError, delivered: r.deliveredAt !== null }))).toEqual([
      { status: "delivered", attempts: 4, lastError: null, delivered: true },
      { status: "delivered", attempts: 1, lastError: null, delivered: true },
    ]);
  });

  test(`after ${MAX_ATTEMPTS} failed attempts an event is dead-lettered, the user's next event goes on, and retryDeadEvents (events retry) queues it again`, async () => {
    receiver.answer = () => 500;
    const requestsBefore = receiver.requests.length;
    const carl = (await server.api("POST", "/api/v1/users", { body: newUser() })).body.data;
    const dora = (await server.api("POST", "/api/v1/users", { body: newUser() })).body.data;
    const carlRegistered = (await rowsOf(server, carl.id))[0]!;
    const doraRegistered = (await rowsOf(server, dora.id))[0]!;

    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      expect(await deliverDueEvents(server.core)).toBe(2); // carl's and dora's first events, side by side
      const failedAt = server.clock.now();
      const row = await rowBySeq(server, carlRegistered.seq);
      expect({ attempts: row.attempts, status: row.status }).toEqual({
        attempts: attempt,
        status: attempt < MAX_ATTEMPTS ? "pending" : "dead",
      });
      if (attempt < MAX_ATTEMPTS) {
        expectBackoff(server, row, attempt, failedAt);
        const other = await rowBySeq(server, doraRegistered.seq);
        advancePast(server, row.nextAttemptAt > other.nextAttemptAt ? row : other); // both due again
      }
    }
    expect(requestsFor(receiver, carlRegistered.eventId)).toHaveLength(MAX_ATTEMPTS);
    expect(receiver.requests.length - requestsBefore).toBe(2 * MAX_ATTEMPTS);

    const dead = await listOutbox(server.core.db, { status: "dead", limit: 50 });
    expect(dead.map((e) => ({ seq: e.seq, type: e.type, attempts: e.attempts, last_error: e.last_error }))).toEqual([
      { seq: doraRegistered.seq, type: "user.registered", attempts: MAX_ATTEMPTS, last_error: "webhook answered 500" },
      { seq: carlRegistered.seq, type: "user.registered", attempts: MAX_ATTEMPTS, last_error: "webhook answered 500" },
    ]);

    // A dead event no longer holds the user's later events back.
    receiver.answer = () => 204;
    expect(await deliverUntilIdle(server.core)).toBe(2);
    expect(receiver.delivered().slice(-2).map((r) => [r.event.type, r.event.data.user?.id]).sort()).toEqual(
      [
        ["user.verification_requested", carl.id],
        ["user.verification_requested", dora.id],
      ].sort(),
    );

    // Retry one by its seq: back to pending, due now, attempts start over.
    expect(await retryDeadEvents(server.core, CLI_ACTOR, { seq: carlRegistered.seq })).toBe(1);
    const queued = await rowBySeq(server, carlRegistered.seq);
    expect({ status: queued.status, attempts: queued.attempts }).toEqual({ status: "pending", attempts: 0 });
    expect(queued.nextAttemptAt.getTime()).toBeLessThanOrEqual(server.clock.now().getTime());
    expect(await retryDeadEvents(server.core, CLI_ACTOR, { seq: carlRegistered.seq })).toBe(0); // no longer dead
    expect(await deliverUntilIdle(server.core)).toBe(1);
    expect((await rowBySeq(server, carlRegistered.seq)).status).toBe("delivered");

    // And every remaining one.
    expect(await retryDeadEvents(server.core, CLI_ACTOR, "all")).toBe(1);
    expect(await deliverUntilIdle(server.core)).toBe(1);
    expect(await listOutbox(server.core.db, { status: "dead", limit: 50 })).toEqual([]);
    for (const row of [carlRegistered, doraRegistered]) {
      const requests = requestsFor(receiver, row.eventId);
      expect(requests.map((r) => r.status)).toEqual([...Array(MAX_ATTEMPTS).fill(500), 204]);
      expect(requests.every((r) => r.signatureValid)).toBe(true);
    }
    expect(deliveredTwice(receiver)).toEqual([]);
  });

  test("a dead-lettered verification event no longer holds its single-use token", async () => {
    receiver.answer = () => 500;
    const erin = (await server.api("POST", "/api/v1/users", { body: newUser() })).body.data;
    const stored = async () => (await rowsOf(server, erin.id)).find((r) => r.type === "user.verification_requested")!;
    expect(((await stored()).payload.data as Record<string, unknown>).token).toBeString();
    for (let pass = 0; pass < 3 * MAX_ATTEMPTS && (await stored()).status !== "dead"; pass++) {
      await deliverDueEvents(server.core);
      server.clock.advance(4000); // past the longest backoff
    }
    const dead = await stored();
    expect(dead.status).toBe("dead");
    expect(dead.payload.data).not.toHaveProperty("token");
    expect((dead.payload.data as Record<string, any>).user.id).toBe(erin.id);
    receiver.answer = () => 204;
    await retryDeadEvents(server.core, CLI_ACTOR, "all");
    await deliverUntilIdle(server.core);
  });

  test("backoff: attempt n+1 waits about 2ⁿ seconds (±20 %), at most an hour", () => {
    for (let n = 1; n <= 20; n++) {
      const base = Math.min(2 ** n, 3600);
      for (let i = 0; i < 20; i++) {
        const seconds = backoffSeconds(n);
        expect(seconds).toBeGreaterThanOrEqual(Math.floor(base * 0.8));
        expect(seconds).toBeLessThanOrEqual(Math.ceil(base * 1.2));
      }
    }
  });

  test("a failing receiver never fails the request that caused the event", async () => {
    receiver.answer = () => 500;
    // A delivery pass runs alongside the requests, failing every delivery.
    const input = newUser();
    const [registered] = await Promise.all([server.api("POST", "/api/v1/users", { body: input }), deliverDueEvents(server.core)]);
    expect(registered.status).toBe(201);
    const [login] = await Promise.all([
      server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } }),
      deliverDueEvents(server.core),
    ]);
    expect(login.status).toBe(200);
    await deliverDueEvents(server.core);
    const logout = await server.api("POST", "/api/v1/auth/logout", { token: login.body.data.access_token });
    expect(logout.status).toBe(200);

    const mine = await rowsOf(server, registered.body.data.id);
    expect(mine.map((r) => r.type)).toEqual(["user.registered", "user.verification_requested", "user.logged_in", "session.revoked"]);
    expect(mine[0]!.lastError).toBe("webhook answered 500");
    expect(mine.every((r) => r.status === "pending")).toBe(true);

    // Clean up for the tests below: the receiver recovers and the backlog drains, in order.
    receiver.answer = () => 204;
    for (let i = 0; i < 10 && (await rowsOf(server, registered.body.data.id)).some((r) => r.status === "pending"); i++) {
      const pending = (await rowsOf(server, registered.body.data.id)).filter((r) => r.status === "pending");
      advancePast(server, pending[0]!);
      await deliverUntilIdle(server.core);
    }
    const delivered = receiver.delivered().filter((r) => r.event.data.user?.id === registered.body.data.id);
    expect(delivered.map((r) => r.event.type)).toEqual(["user.registered", "user.verification_requested", "user.logged_in", "session.revoked"]);
  });

  test("a registration failing with EMAIL_TAKEN writes no event, nor do racing sign-ups with one email that lose", async () => {
    const input = newUser();
    expect((await server.api("POST", "/api/v1/users", { body: input })).status).toBe(201);
    const before = (await outboxRows(server.core.db)).length;
    const again = await server.api("POST", "/api/v1/users", { body: { ...input, username: `${input.username}x` } });
    expect({ status: again.status, code: again.body.error.code }).toEqual({ status: 409, code: "EMAIL_TAKEN" });
    expect((await outboxRows(server.core.db)).length).toBe(before);

    // Racing sign-ups with one email: the losers' transactions roll back with their events.
    const email = newUser().email;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => server.api("POST", "/api/v1/users", { body: newUser({ email, username: `race${Date.now()}${i}` }) })),
    );
    const created = results.filter((r) => r.status === 201);
    expect(created).toHaveLength(1);
    expect(results.filter((r) => r.status === 409).map((r) => r.body.error.code)).toEqual(Array(7).fill("EMAIL_TAKEN"));
    const events = (await outboxRows(server.core.db)).filter((row) => (row.payload as any).data.user?.email === email);
    expect(events.map((row) => [row.type, row.userId])).toEqual([
      ["user.registered", created[0]!.body.data.id],
      ["user.verification_requested", created[0]!.body.data.id],
    ]);
    await deliverUntilIdle(server.core);
  });

  test("an event recorded in a transaction that rolls back disappears with it (and its audit entry)", async () => {
    const user = await createUser(server.core, newUser(), { actor: CLI_ACTOR });
    await deliverUntilIdle(server.core);
    const before = await outboxRows(server.core.db);
    const [auditBefore] = await server.core.db.select({ n: count() }).from(auditLog);
    const failure = await server.core.db
      .transaction(async (tx) => {
        await recordChange(server.core, tx, { type: "user.updated", actor: CLI_ACTOR, user, data: { fields: ["metadata"] } });
        expect((await outboxRows(tx)).length).toBe(before.length + 1); // there, inside the transaction
        throw new Error("the change failed after its event was written");
      })
      .catch((error: unknown) => error);
    expect((failure as Error).message).toBe("the change failed after its event was written");
    expect(await outboxRows(server.core.db)).toEqual(before);
    const [auditAfter] = await server.core.db.select({ n: count() }).from(auditLog);
    expect(auditAfter?.n).toBe(auditBefore!.n);
  });
});

describe("module event handlers", () => {
  const secret = newWebhookSecret();
  let dir: string;
  let handled: string;
  let receiver: WebhookReceiver;
  let server: TestServer;
  beforeAll(async () => {
    dir = hooksDir();
    handled = join(dir, "handled.log");
    writeFileSync(handled, "");
    const modulePath = writeHookFile(
      dir,
      "hooks.ts",
      `import { appendFileSync } from "node:fs";
const failuresLeft = new Map<string, number>();

export default {
  beforeRegister({ email }: { email: string }) {
    if (email.endsWith("@spam.example")) return { reject: "Sign-ups from spam.example are closed" };
  },
  "user.registered"(event: { id: string; data: { user: { id: string; username: string } } }, ctx: { log(m: string, d?: object): void }) {
    appendFileSync(${JSON.stringify(handled)}, \`user.registered \${event.id}\\n\`);
    // A flaky handler: fails twice for each of these users' events, then works.
    if (event.data.user.username.startsWith("flaky")) {
      const left = failuresLeft.get(event.id) ?? 2;
      failuresLeft.set(event.id, left - 1);
      if (left > 0) throw new Error("the CRM is down");
    }
    ctx.log("welcome", { user: event.data.user.id });
  },
  on(event: { id: string; type: string }, ctx: { log(m: string, d?: object): void }) {
    appendFileSync(${JSON.stringify(handled)}, \`on \${event.type} \${event.id}\\n\`);
    ctx.log("usersvc event", { type: event.type, id: event.id });
  },
};
`,
    );
    receiver = startWebhookReceiver(secret);
    server = await startTestServer({ USERSVC_HOOKS: modulePath, USERSVC_WEBHOOK_URL: receiver.url, USERSVC_WEBHOOK_SECRET: secret });
  });
  afterAll(async () => {
    await server.stop();
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function handledLines(): string[] {
    return readFileSync(handled, "utf8").split("\n").filter(Boolean);
  }

  function logEntries(): Record<string, any>[] {
    return server.logs.map((line) => JSON.parse(line) as Record<string, any>);
  }

  test("a registration rejected by beforeRegister writes no event", async () => {
    const before = await outboxRows(server.core.db);
    const res = await server.api("POST", "/api/v1/users", { body: newUser({ email: `eve${Date.now()}@spam.example` }) });
    expect(res.status).toBe(403);
    expect(await outboxRows(server.core.db)).toEqual(before);
  });

  test("each event gets one row per target, sharing its id; the per-event handler and then `on` receive it, and ctx.log writes to the server's log", async () => {
    const user = (await server.api("POST", "/api/v1/users", { body: newUser() })).body.data;
    const rows = await rowsOf(server, user.id);
    expect(rows.map((r) => [r.type, r.target])).toEqual([
      ["user.registered", "hooks"],
      ["user.registered", "webhook"],
      ["user.verification_requested", "hooks"],
      ["user.verification_requested", "webhook"],
    ]);
    expect(rows[0]!.eventId).toBe(rows[1]!.eventId);
    expect(rows[2]!.eventId).toBe(rows[3]!.eventId);
    const [registeredId, verificationId] = [rows[0]!.eventId, rows[2]!.eventId];

    await deliverUntilIdle(server.core);
    expect((await rowsOf(server, user.id)).map((r) => r.status)).toEqual(["delivered", "delivered", "delivered", "delivered"]);
    expect(handledLines()).toEqual([
      `user.registered ${registeredId}`,
      `on user.registered ${registeredId}`,
      `on user.verification_requested ${verificationId}`,
    ]);
    expect(receiver.delivered().map((r) => r.id)).toEqual([registeredId, verificationId]);

    const logs = logEntries();
    expect(logs).toContainEqual(expect.objectContaining({ module: "hooks", hook: "user.registered", msg: "welcome", user: user.id }));
    expect(logs).toContainEqual(expect.objectContaining({ module: "hooks", hook: "on", msg: "usersvc event", type: "user.registered", id: registeredId }));
    expect(logs).toContainEqual(
      expect.objectContaining({ module: "hooks", hook: "on", msg: "usersvc event", type: "user.verification_requested", id: verificationId }),
    );
  });

  test("targets are independent: while the webhook fails, the hooks see each event once", async () => {
    writeFileSync(handled, "");
    receiver.answer = () => 503;
    const user = (await server.api("POST", "/api/v1/users", { body: newUser() })).body.data;
    for (let round = 0; round < 3; round++) {
      await deliverUntilIdle(server.core);
      const pending = (await rowsOf(server, user.id)).filter((r) => r.status === "pending");
      if (pending[0]) advancePast(server, pending[0]);
    }
    const rows = await rowsOf(server, user.id);
    expect(rows.map((r) => [r.type, r.target, r.status])).toEqual([
      ["user.registered", "hooks", "delivered"],
      ["user.registered", "webhook", "pending"],
      ["user.verification_requested", "hooks", "delivered"],
      ["user.verification_requested", "webhook", "pending"],
    ]);
    expect(rows[1]!.attempts).toBe(3);
    expect(rows[1]!.lastError).toBe("webhook answered 503");
    expect(handledLines()).toEqual([
      `user.registered ${rows[0]!.eventId}`,
      `on user.registered ${rows[0]!.eventId}`,
      `on user.verification_requested ${rows[2]!.eventId}`,
    ]);

    receiver.answer = () => 204;
    advancePast(server, rows[1]!);
    await deliverUntilIdle(server.core);
    expect((await rowsOf(server, user.id)).every((r) => r.status === "delivered")).toBe(true);
    expect(handledLines()).toHaveLength(3); // the hooks did not see anything twice
  });

  test("a handler that throws is retried with the same event until it succeeds; the failure is recorded meanwhile", async () => {
    writeFileSync(handled, "");
    const user = (await server.api("POST", "/api/v1/users", { body: newUser({ username: `flaky${Date.now()}` }) })).body.data;
    const hooksRow = (await rowsOf(server, user.id)).find((r) => r.target === "hooks" && r.type === "user.registered")!;
    for (let attempt = 1; attempt <= 2; attempt++) {
      await deliverUntilIdle(server.core);
      const row = await rowBySeq(server, hooksRow.seq);
      expect({ status: row.status, attempts: row.attempts, lastError: row.lastError }).toEqual({
        status: "pending",
        attempts: attempt,
        lastError: "hook user.registered threw: the CRM is down",
      });
      advancePast(server, row);
    }
    await deliverUntilIdle(server.core);
    expect((await rowBySeq(server, hooksRow.seq)).status).toBe("delivered");
    const verification = (await rowsOf(server, user.id)).find((r) => r.target === "hooks" && r.type === "user.verification_requested")!;
    expect(handledLines()).toEqual([
      `user.registered ${hooksRow.eventId}`,
      `user.registered ${hooksRow.eventId}`,
      `user.registered ${hooksRow.eventId}`,
      `on user.registered ${hooksRow.eventId}`,
      `on user.verification_requested ${verification.eventId}`,
    ]);
    expect(logEntries()).toContainEqual(
      expect.objectContaining({ module: "outbox", target: "hooks", event: "user.registered", msg: "event delivery failed", attempts: 1 }),
    );
  });
});

describe("when no target is configured", () => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    server = await startTestServer();
    dir = hooksDir();
  });
  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("no event is written: neither hooks with event handlers nor a webhook", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: "wrong password here" } });
    await server.api("PATCH", "/api/v1/users/me", { token: tokens.access_token, body: { metadata: { a: 1 } } });
    await server.api("POST", "/api/v1/auth/logout", { token: tokens.access_token });
    expect(await outboxRows(server.core.db)).toEqual([]);
  });

  test("events are written only for the types the hooks handle (no `on`, no webhook)", async () => {
    const path = writeHookFile(dir, "only-registered.ts", `export default { "user.registered"() {} };\n`);
    const core = await createCore({ config: loadConfig({ USERSVC_HOOKS: path }), db: server.core.db, dbKind: server.core.dbKind, logger: server.core.logger });
    const user = await createUser(core, newUser(), { actor: CLI_ACTOR });
    const rows = await outboxRows(server.core.db);
    expect(rows.map((r) => [r.type, r.target, r.userId])).toEqual([["user.registered", "hooks", user.id]]);
    expect(rows[0]!.payload).toEqual(expect.objectContaining({ type: "user.registered", actor: { type: "cli", id: null } }));
  });
});
