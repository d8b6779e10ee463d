/**
 * docs/hooks.md "Several instances", in-process: two cores with their own
 * connection pools on one PostgreSQL database run delivery passes at the
 * same time, as two `serve` workers would; every event reaches the webhook
 * receiver once, and each user's events in order. PostgreSQL only: the
 * embedded database has one process by design.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Core, createCore } from "../../src/core/core.ts";
import { openDatabase } from "../../src/core/db/client.ts";
import { deliverDueEvents } from "../../src/core/events/outbox.ts";
import { outboxBacklog } from "../../src/core/events/outbox-queries.ts";
import { SERVER_URL } from "../support/database.ts";
import { newWebhookSecret, outboxRows, startWebhookReceiver, type WebhookReceiver } from "../support/hooks.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const USERS = 20; // two events each: user.registered, user.verification_requested

/** Delivery passes of a few rows at a time until the outbox has nothing pending (bounded). */
async function work(core: Core): Promise<number> {
  let claimed = 0;
  for (let i = 0; i < 20_000; i++) {
    const n = await deliverDueEvents(core, 3);
    claimed += n;
    if (n === 0) {
      if ((await outboxBacklog(core.db)) === 0) return claimed;
      await new Promise((resolve) => setImmediate(resolve)); // the other instance holds the rest
    }
  }
  throw new Error("the outbox did not drain");
}

// Setup inside the test (no beforeAll): on the embedded database this is one named skip.
describe.skipIf(!SERVER_URL)("two cores on one PostgreSQL database (DATABASE_URL)", () => {
  test("delivering concurrently, each event reaches the receiver exactly once, in order per user", async () => {
    const secret = newWebhookSecret();
    const receiver = startWebhookReceiver(secret);
    const server = await startTestServer({ USERSVC_WEBHOOK_URL: receiver.url, USERSVC_WEBHOOK_SECRET: secret });
    const secondHandle = await openDatabase(server.core.config);
    try {
      const second = await createCore({
        config: server.core.config,
        db: secondHandle.db,
        dbKind: secondHandle.kind,
        logger: server.core.logger,
        now: server.clock.now,
      });
      await deliverTwice(server, second, receiver);
    } finally {
      await secondHandle.close();
      await server.stop();
      await receiver.stop();
    }
  });
});

async function deliverTwice(server: TestServer, second: Core, receiver: WebhookReceiver): Promise<void> {
  const users = await Promise.all(
    Array.from({ length: USERS }, async () => (await server.api("POST", "/api/v1/users", { body: newUser() })).body.data.id as string),
  );
  const rows = await outboxRows(server.core.db);
  expect(rows).toHaveLength(2 * USERS);

  // Two workers per instance, all at once.
  const claimed = await Promise.all([work(server.core), work(second), work(server.core), work(second)]);
  expect(claimed.reduce((a, b) => a + b, 0)).toBe(2 * USERS);
  expect(claimed[0]! + claimed[2]! > 0 && claimed[1]! + claimed[3]! > 0).toBe(true); // both instances delivered

  const perId = new Map<string, number>();
  for (const request of receiver.requests) perId.set(request.id, (perId.get(request.id) ?? 0) + 1);
  expect([...perId.values()].every((n) => n === 1)).toBe(true);
  expect(new Set(perId.keys())).toEqual(new Set(rows.map((r) => r.eventId)));
  expect(receiver.requests.every((r) => r.signatureValid && r.status === 204)).toBe(true);

  for (const userId of users) {
    const types = receiver.requests.filter((r) => r.event.data.user?.id === userId).map((r) => r.event.type);
    expect({ userId, types }).toEqual({ userId, types: ["user.registered", "user.verification_requested"] });
  }
  expect((await outboxRows(server.core.db)).every((r) => r.status === "delivered" && r.attempts === 1)).toBe(true);
}
