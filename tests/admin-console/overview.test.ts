/** /admin: the overview's figures (counted at the server's clock, in UTC buckets), its charts and their tables, the audit verify form. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "drizzle-orm";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { rows } from "../../src/core/db/migrate.ts";
import { outboxBacklog } from "../../src/core/events/outbox-queries.ts";
import { blockUser, softDeleteUser } from "../../src/core/users/lifecycle.ts";
import { consoleAdmin, screen, signInBrowser, type ConsoleAdmin } from "../support/admin-console.ts";
import { decodeEntities, formOf } from "../support/browserless.ts";
import { newUser, registerAndLogin, registerVerified, startTestServer, type TestServer } from "../support/server.ts";

setDefaultTimeout(60_000);

// A webhook nobody delivers to (the test server runs no outbox worker), so the outbox has rows to count.
const WEBHOOK = { USERSVC_WEBHOOK_URL: "http://127.0.0.1:9/usersvc", USERSVC_WEBHOOK_SECRET: `whsec_${Buffer.from("overview-test-webhook-secret-32b").toString("base64")}` };

let server: TestServer;
let admin: ConsoleAdmin;
beforeAll(async () => {
  server = await startTestServer(WEBHOOK);
  admin = await consoleAdmin(server);
});
afterAll(() => server.stop());

type Bar = Record<string, string>;

function cards(html: string): Record<string, number> {
  return Object.fromEntries([...html.matchAll(/data-figure="([a-z-]+)" data-value="(\d+)"/g)].map((m) => [m[1]!, Number(m[2])]));
}

/** The `data-*` attributes of each drawn bar of a chart, keyed by its day or hour. */
function bars(html: string, key: "day" | "hour"): Map<string, Bar> {
  const found = new Map<string, Bar>();
  for (const m of html.matchAll(/<g class="bar"((?: data-[a-z]+="[^"]*")+)>/g)) {
    const attrs = Object.fromEntries([...m[1]!.matchAll(/data-([a-z]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!]));
    if (attrs[key]) found.set(attrs[key]!, attrs);
  }
  return found;
}

const sum = (map: Map<string, Bar>, field: string) => [...map.values()].reduce((total, bar) => total + Number(bar[field] ?? 0), 0);
const dayOf = (time: Date) => time.toISOString().slice(0, 10);
const hourOf = (time: Date) => time.toISOString().slice(0, 13);
const login = (email: string, password: string) => server.api("POST", "/api/v1/auth/login", { body: { email, password } });

async function overview() {
  const page = await screen(admin.b, "/admin");
  return { html: page.html, cards: cards(page.html), days: bars(page.html, "day"), hours: bars(page.html, "hour") };
}

describe("overview", () => {
  test("a signed-in user without the admin role is refused", async () => {
    const plain = await registerVerified(server);
    const b = await signInBrowser(server, plain.input.email, plain.input.password);
    const page = await b.get("/admin");
    expect(page.status).toBe(403);
    expect(page.html).not.toContain("data-figure");
  });

  test("counts sign-ups, sign-ins by outcome, sessions, blocked and deleted users, the outbox", async () => {
    const before = await overview();
    expect(before.days.size).toBe(14);

    const hour = hourOf(server.clock.now());
    const day = dayOf(server.clock.now());
    const alice = await registerAndLogin(server.api);
    expect((await login(alice.input.email, alice.input.password)).status).toBe(200);
    expect((await login(alice.input.email, "wrong password entirely")).status).toBe(401);
    expect((await login(alice.input.email, "another wrong password")).status).toBe(401);
    expect((await login(`nobody${Date.now()}@example.com`, "whatever password")).status).toBe(401);

    const bob = newUser();
    const bobId = (await server.api("POST", "/api/v1/users", { body: bob })).body.data.id as string;
    await blockUser(server.core, CLI_ACTOR, bobId, { reason: "test" });
    expect((await login(bob.email, bob.password)).status).toBe(403);

    const carol = await registerAndLogin(server.api);
    await softDeleteUser(server.core, CLI_ACTOR, carol.user.id);

    const dead = rows(await server.core.db.execute(sql`update outbox_events set status = 'dead' where seq = (select min(seq) from outbox_events where status = 'pending') returning seq`));
    expect(dead.length).toBe(1);

    const after = await overview();
    const delta = (id: string) => after.cards[id]! - before.cards[id]!;
    expect(delta("sign-ups")).toBe(3);
    expect(delta("sign-ins")).toBe(3);
    // alice's two sessions; carol's was revoked by the delete.
    expect(delta("active-sessions")).toBe(2);
    expect(delta("blocked-users")).toBe(1);
    expect(delta("deleted-users")).toBe(1);
    expect(after.cards["outbox-pending"]).toBe(await outboxBacklog(server.core.db));
    expect(after.cards["outbox-dead"]).toBe(before.cards["outbox-dead"]! + 1);

    // The same figures in the charts' bars (the hour of the sign-ins, the day of the sign-ups).
    if (hourOf(server.clock.now()) === hour) {
      const bar = after.hours.get(hour)!;
      const was = before.hours.get(hour) ?? {};
      const grew = (field: string) => Number(bar[field]) - Number(was[field] ?? 0);
      expect([grew("succeeded"), grew("failed"), grew("blocked"), grew("unverified")]).toEqual([3, 3, 1, 0]);
    }
    if (dayOf(server.clock.now()) === day) expect(Number(after.days.get(day)!.count) - Number(before.days.get(day)!.count)).toBe(3);
    expect(sum(after.hours, "succeeded")).toBe(after.cards["sign-ins"]!);
    expect(sum(after.days, "count")).toBe(after.cards["sign-ups"]!);
  });

  test("each chart is an SVG image with a summary, a legend and a table of its figures", async () => {
    const { html, cards: figures } = await overview();
    const summaryOf = (name: string) => {
      const svg = new RegExp(`<svg [^>]*role="img" aria-label="([^"]+)" data-chart-svg="${name}"`).exec(html);
      expect(svg).not.toBeNull();
      return decodeEntities(svg![1]!);
    };
    for (const name of ["sign-ups", "sign-ins"]) {
      expect(html).toContain(`<figure class="chart" data-chart="${name}">`);
      expect(summaryOf(name)).toContain("(UTC)");
    }
    expect(summaryOf("sign-ins")).toContain(`${figures["sign-ins"]} succeeded`);
    expect(summaryOf("sign-ins")).toMatch(/[1-9]\d* failed/);
    expect(summaryOf("sign-ups")).toContain(`${figures["sign-ups"]} in all`);
    expect(html).toContain('<ul class="legend">');
    expect(html).toContain("Refused: account blocked");
    expect(html).toMatch(/<tr data-hour="\d{4}-\d{2}-\d{2}T\d{2}"><th scope="row">/);
    expect([...html.matchAll(/<tr data-day=/g)].length).toBe(14);
    expect(html).not.toMatch(/<script|style="/);
  });

  test("the audit chain: a form posting to /admin/audit/verify, which shows the result", async () => {
    const page = await screen(admin.b, "/admin");
    const form = formOf(page.html, "/admin/audit/verify");
    expect(form.action).toEndWith("/admin/audit/verify");
    expect(page.html).toMatch(/data-audit-newest="[1-9]\d*"/);
    const verified = await admin.b.post(form.action, form.fields);
    expect(verified.status).toBe(200);
    expect(verified.html).toContain('data-chain="intact"');
  });

  test("the signing keys in use, with their age at the server's clock", async () => {
    const page = await screen(admin.b, "/admin");
    expect([...page.html.matchAll(/<li data-kid="[^"]+">(EdDSA|RS256) key/g)].length).toBe(2);
    expect(page.html).toContain("<span data-age>0 minutes</span>");
  });

  test("buckets follow the clock: a sign-up a day later lands on its own day; after 14 days the old figures are gone", async () => {
    const earlier = dayOf(server.clock.now());
    server.clock.advance(25 * 3600);
    admin.b = await signInBrowser(server, admin.email, admin.password);
    await registerAndLogin(server.api);
    const today = dayOf(server.clock.now());
    const next = await overview();
    expect(next.days.get(today)!.count).toBe("1");
    expect(Number(next.days.get(earlier)!.count)).toBeGreaterThanOrEqual(3);

    server.clock.advance(14 * 24 * 3600);
    admin.b = await signInBrowser(server, admin.email, admin.password);
    const later = await overview();
    expect(later.cards["sign-ups"]).toBe(0);
    // Only the admin's sign-in just now.
    expect(later.cards["sign-ins"]).toBe(1);
    expect(later.hours.size).toBe(1);
    expect(later.html).toContain("<span data-age>15 days</span>");
  });
});

describe("overview without hooks or a webhook", () => {
  test("refused sign-ins are counted all the same (they need no outbox event)", async () => {
    const bare = await startTestServer();
    try {
      const someone = await consoleAdmin(bare);
      expect((await bare.api("POST", "/api/v1/auth/login", { body: { email: someone.email, password: "wrong password here" } })).status).toBe(401);
      const page = await screen(someone.b, "/admin");
      expect(cards(page.html)["sign-ins"]).toBe(1);
      const hour = bars(page.html, "hour").get(hourOf(bare.clock.now()));
      expect({ succeeded: hour?.succeeded, failed: hour?.failed }).toEqual({ succeeded: "1", failed: "1" });
    } finally {
      await bare.stop();
    }
  });
});
