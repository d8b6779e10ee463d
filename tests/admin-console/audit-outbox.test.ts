/** /admin/audit (filters, pages, chain verification) and /admin/outbox (tabs, retry one, retry all), as a browser posts them. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { asc, eq } from "drizzle-orm";
import { listAudit } from "../../src/core/audit/audit.ts";
import { auditLog, outboxEvents } from "../../src/core/db/schema.ts";
import { MAX_ATTEMPTS } from "../../src/core/events/outbox.ts";
import { blockUser, unblockUser } from "../../src/core/users/lifecycle.ts";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { act, consoleAdmin, screen, type ConsoleAdmin } from "../support/admin-console.ts";
import { decodeEntities, errorCodeOf, formOf } from "../support/browserless.ts";
import { deliverUntilIdle, newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from "../support/hooks.ts";
import { registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

setDefaultTimeout(30_000);

let server: TestServer;
let admin: ConsoleAdmin;
let receiver: WebhookReceiver;
beforeAll(async () => {
  const secret = newWebhookSecret();
  receiver = startWebhookReceiver(secret);
  server = await startTestServer({ USERSVC_WEBHOOK_URL: receiver.url, USERSVC_WEBHOOK_SECRET: secret });
  admin = await consoleAdmin(server);
});
afterAll(async () => {
  await server.stop();
  await receiver.stop();
});

const auditIds = (html: string) => [...html.matchAll(/data-audit-id="(\d+)"/g)].map((m) => Number(m[1]));

describe("the audit log", () => {
  test("filters by target user, event and actor; the form keeps them", async () => {
    const { user } = await registerAndLogin(server.api);
    await act(admin.b, `/admin/users/${user.id}`, "/roles", { roles: "user tester" });
    const page = await screen(admin.b, `/admin/audit?user_id=${user.id}&event=user.updated&actor_id=${admin.id}`);
    const ids = auditIds(page.html);
    expect(ids.length).toBe(1);
    const expected = await listAudit(server.core.db, { userId: user.id, event: "user.updated", actorId: admin.id, limit: 5, offset: 0 });
    expect(ids).toEqual(expected.items.map((e) => e.id));
    expect(page.html).toContain(`value="${user.id}"`);
    expect(page.html).toContain('value="user.updated"');
    const registered = await screen(admin.b, `/admin/audit?user_id=${user.id}&event=user.registered`);
    expect(auditIds(registered.html).length).toBe(1);
  });

  test("since and until (UTC) bound the time; a malformed filter is a field error, not a 500", async () => {
    const future = await screen(admin.b, "/admin/audit?since=2999-01-01T00:00");
    expect(auditIds(future.html)).toEqual([]);
    const past = await screen(admin.b, "/admin/audit?until=2000-01-01T00:00");
    expect(auditIds(past.html)).toEqual([]);
    const now = await screen(admin.b, "/admin/audit?since=2000-01-01T00:00&until=2999-01-01T00:00");
    expect(auditIds(now.html).length).toBeGreaterThan(0);
    for (const query of ["user_id=nope", "actor_id=1", "since=yesterday"]) {
      const bad = await admin.b.get(`/admin/audit?${query}`);
      expect({ query, status: bad.status, code: errorCodeOf(bad.html) }).toEqual({ query, status: 422, code: "VALIDATION_ERROR" });
    }
  });

  test("pages of 50, newest first, without repeats", async () => {
    const { user } = await registerAndLogin(server.api);
    for (let i = 0; i < 26; i++) {
      await blockUser(server.core, CLI_ACTOR, user.id, { reason: `page ${i}`, until: null });
      await unblockUser(server.core, CLI_ACTOR, user.id);
    }
    const total = (await listAudit(server.core.db, { limit: 1, offset: 0 })).total;
    expect(total).toBeGreaterThan(50);
    const first = await screen(admin.b, "/admin/audit");
    const next = /<a href="([^"]+)" rel="next">/.exec(first.html)![1]!;
    const second = await screen(admin.b, decodeEntities(next));
    const a = auditIds(first.html);
    const b = auditIds(second.html);
    expect(a.length).toBe(50);
    expect(Math.min(...a)).toBeGreaterThan(Math.max(...b));
    expect([...a].sort((x, y) => y - x)).toEqual(a);
  });

  test("verify: intact, then an entry tampered before the checkpoint is found by verifying every entry", async () => {
    const intact = await act(admin.b, "/admin/audit", "/admin/audit/verify");
    expect(intact.status).toBe(200);
    expect(intact.html).toContain('data-chain="intact"');
    const [victim] = await server.core.db.select({ id: auditLog.id, event: auditLog.event }).from(auditLog).orderBy(auditLog.id).limit(1).offset(2);
    await server.core.db.update(auditLog).set({ event: "user.tampered" }).where(eq(auditLog.id, victim!.id));
    try {
      // From the checkpoint the first check left, the edit before it is not read; "Verify every entry" finds it.
      const quick = await act(admin.b, "/admin/audit", "/admin/audit/verify");
      expect(quick.html).toContain('data-chain="intact"');
      expect(quick.html).toContain("new since the checkpoint at entry");
      const broken = await act(admin.b, "/admin/audit", "/admin/audit/verify", { full: "yes" });
      expect(broken.html).toContain('data-chain="broken"');
      expect(broken.html).toContain(`broken at entry ${victim!.id}`);
    } finally {
      await server.core.db.update(auditLog).set({ event: victim!.event }).where(eq(auditLog.id, victim!.id));
    }
  });
});

describe("the outbox", () => {
  test("a dead event shows its error; Retry delivers it once the receiver recovers, audited with the admin", async () => {
    receiver.answer = () => 503;
    const { user } = await registerAndLogin(server.api);
    await deliverUntilIdle(server.core).catch(() => 0);
    // The user's first event: the later ones wait for it (one user's events are delivered in order).
    const [row] = await server.core.db.select().from(outboxEvents).where(eq(outboxEvents.userId, user.id)).orderBy(asc(outboxEvents.seq)).limit(1);
    await server.core.db.update(outboxEvents).set({ status: "dead", attempts: MAX_ATTEMPTS, lastError: "webhook answered 503 <b>x</b>" }).where(eq(outboxEvents.seq, row!.seq));
    receiver.answer = () => 204;

    const dead = await screen(admin.b, "/admin/outbox?status=dead");
    expect(dead.html).toContain(`data-seq="${row!.seq}"`);
    expect(dead.html).toContain("webhook answered 503 &lt;b&gt;x&lt;/b&gt;");
    const form = formOf(dead.html, "/admin/outbox/retry");
    const retried = await admin.b.post(form.action, { ...form.fields, seq: String(row!.seq) });
    expect(retried.status).toBe(303);
    expect((await admin.b.get(retried.location!)).html).toContain("queued for delivery again");
    await deliverUntilIdle(server.core);
    const [after] = await server.core.db.select().from(outboxEvents).where(eq(outboxEvents.seq, row!.seq));
    expect(after!.status).toBe("delivered");
    const audit = (await listAudit(server.core.db, { event: "events.retried", limit: 1, offset: 0 })).items[0];
    expect(audit?.actor).toEqual({ type: "admin", id: admin.id });
    expect(audit?.data).toEqual({ seq: row!.seq, count: 1 });

    // Retrying it again: nothing is dead any more, a 404 on the outbox page.
    const again = await admin.b.post(form.action, { ...form.fields, seq: String(row!.seq) });
    expect(again.status).toBe(404);
  });

  test("retry all asks first; with nothing dead it says so", async () => {
    const asked = await act(admin.b, "/admin/outbox", "/admin/outbox/retry-all");
    expect(asked.status).toBe(200);
    expect(asked.html).toContain("Retry every dead event?");
    const confirmed = await admin.b.post(formOf(asked.html, "/admin/outbox/retry-all").action, formOf(asked.html, "/admin/outbox/retry-all").fields);
    expect(confirmed.status).toBe(303);
    expect((await admin.b.get(confirmed.location!)).html).toContain("no dead events to retry");
  });

  test("the tabs filter by status", async () => {
    const delivered = await screen(admin.b, "/admin/outbox?status=delivered");
    expect(delivered.html).toMatch(/data-seq="\d+"/);
    expect(delivered.html).not.toMatch(/data-status="(pending|dead)"/);
  });
});
