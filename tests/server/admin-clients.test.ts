/**
 * /api/v1/admin/clients (SPEC §9 "Clients") over a real port: every route,
 * who may call them, the validation rules of core/oidc/client-admin.ts, the
 * secret shown once and stored as its SHA-256 only, removal revoking the
 * client's grants at once, and the audit entries and outbox events of each
 * change (with no secret and no hash in them).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { and, eq, isNull } from "drizzle-orm";
import { verifyAuditChain } from "../../src/core/audit/audit.ts";
import { watchChanges } from "../../src/core/db/change-announcements.ts";
import { auditLog, oauthClients, oauthConsents, outboxEvents, sessions } from "../../src/core/db/schema.ts";
import { sha256Hex } from "../../src/core/digest.ts";
import { clientSecretMatches, findClient } from "../../src/core/oidc/clients.ts";
import { findSessionWithUser, insertSession } from "../../src/core/sessions/queries.ts";
import { createAdmin, createPlainUser, failureOf, type LoggedIn } from "../support/admin.ts";
import { deliverUntilIdle, newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from "../support/hooks.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CLIENT_ID = /^[0-9a-f]{32}$/;
const SECRET = /^[A-Za-z0-9_-]{43,}$/;
const ALL_SCOPES = ["openid", "profile", "email", "offline_access", "roles"];

let server: TestServer;
let receiver: WebhookReceiver;
let admin: LoggedIn;
let plain: LoggedIn;
/** Every secret handed out in this file: none may appear in a stored event or an audit entry. */
const secrets: string[] = [];
beforeAll(async () => {
  const webhookSecret = newWebhookSecret();
  receiver = startWebhookReceiver(webhookSecret);
  server = await startTestServer({ USERSVC_WEBHOOK_URL: receiver.url, USERSVC_WEBHOOK_SECRET: webhookSecret });
  admin = await createAdmin(server);
  plain = await createPlainUser(server);
});
afterAll(async () => {
  await server.stop();
  await receiver.stop();
});

function call(method: string, path: string, body?: unknown, token: string = admin.token) {
  return server.api(method, `/api/v1/admin/clients${path}`, { token, body });
}

async function create(body: Record<string, unknown>) {
  const res = await call("POST", "", body);
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
  if (res.body.data.client_secret) secrets.push(res.body.data.client_secret);
  return res.body.data;
}

function fields(res: { body: any }): string[] {
  return res.body.error.details.map((d: { field: string }) => d.field);
}

async function auditEntries(event: string) {
  return server.core.db.select().from(auditLog).where(eq(auditLog.event, event)).orderBy(auditLog.id);
}

describe("POST /admin/clients", () => {
  test("answers 201 with the client and its secret, once; only the secret's SHA-256 is stored", async () => {
    const res = await call("POST", "", {
      name: "  Billing  ",
      redirect_uris: ["https://billing.example.com/callback", "https://billing.example.com/callback", "http://127.0.0.1/cb"],
      post_logout_redirect_uris: ["https://billing.example.com/bye"],
      cors_origins: ["https://Billing.example.com:443/", "https://billing.example.com"],
      audience: "https://api.billing.example.com",
    });
    expect(res.status).toBe(201);
    const data = res.body.data;
    secrets.push(data.client_secret);
    expect(data).toEqual({
      client_id: expect.stringMatching(CLIENT_ID),
      name: "Billing",
      public: false,
      redirect_uris: ["https://billing.example.com/callback", "http://127.0.0.1/cb"],
      post_logout_redirect_uris: ["https://billing.example.com/bye"],
      grant_types: ["authorization_code", "refresh_token"],
      scopes: ALL_SCOPES,
      audience: "https://api.billing.example.com",
      cors_origins: ["https://billing.example.com"],
      skip_consent: false,
      id_token_alg: "RS256",
      created_at: expect.stringMatching(ISO_UTC),
      updated_at: data.created_at,
      secret_rotated_at: null,
      client_secret: expect.stringMatching(SECRET),
    });
    const [row] = await server.core.db.select().from(oauthClients).where(eq(oauthClients.id, data.client_id));
    expect(row!.secretHash).toBe(sha256Hex(data.client_secret));
    expect(JSON.stringify(row)).not.toContain(data.client_secret);
    expect(clientSecretMatches(row!, data.client_secret)).toBe(true);
  });

  test("a public client gets no secret and stores no hash; the audience defaults to the client id", async () => {
    const data = await create({ name: "Phone app", public: true, redirect_uris: ["com.example.phone:/oauth"] });
    expect({ client_secret: data.client_secret, public: data.public, audience: data.audience }).toEqual({
      client_secret: null,
      public: true,
      audience: data.client_id,
    });
    const client = await findClient(server.core.db, data.client_id);
    expect(client!.secretHash).toBeNull();
  });

  test("a machine client needs no redirect URI", async () => {
    const data = await create({ name: "Nightly job", grant_types: ["client_credentials"], scopes: [] });
    expect({ grant_types: data.grant_types, redirect_uris: data.redirect_uris, scopes: data.scopes }).toEqual({
      grant_types: ["client_credentials"],
      redirect_uris: [],
      scopes: [],
    });
  });

  test("refuses fields it does not know (no mass assignment of the id, the secret or its hash)", async () => {
    for (const extra of [{ client_id: "chosen" }, { client_secret: "chosen" }, { secret_hash: "00" }, { created_at: "2020-01-01T00:00:00Z" }]) {
      const res = await call("POST", "", { name: "Sneaky", redirect_uris: ["https://a.example.com/cb"], ...extra });
      expect({ status: res.status, body: res.body, fields: fields(res) }).toEqual({
        status: 422,
        body: failureOf("VALIDATION_ERROR"),
        fields: Object.keys(extra),
      });
    }
  });

  test("refuses values against the rules with one detail per bad field", async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [{ name: "" }, ["name", "redirect_uris"]],
      [{ name: "x".repeat(101), redirect_uris: ["https://a.example.com/cb"] }, ["name"]],
      [{ name: "Bell\u0007", redirect_uris: ["https://a.example.com/cb"] }, ["name"]],
      [{ name: "No redirect" }, ["redirect_uris"]],
      [{ name: "Plain http", redirect_uris: ["http://app.example.com/cb"] }, ["redirect_uris.0"]],
      [{ name: "Fragment", redirect_uris: ["https://a.example.com/cb#x"] }, ["redirect_uris.0"]],
      [{ name: "Relative", redirect_uris: ["https://a.example.com/cb", "/cb"] }, ["redirect_uris.1"]],
      [{ name: "Script", redirect_uris: ["javascript:alert(1)"] }, ["redirect_uris.0"]],
      [{ name: "Data", redirect_uris: ["data:text/html,hi"] }, ["redirect_uris.0"]],
      [{ name: "User info", redirect_uris: ["https://good.example.com@evil.example.com/cb"] }, ["redirect_uris.0"]],
      [{ name: "Lookalike", redirect_uris: ["http://localhost.evil.example.com/cb"] }, ["redirect_uris.0"]],
      [{ name: "Backslash", redirect_uris: ["https://good.example.com\\@evil.example.com/"] }, ["redirect_uris.0"]],
      [{ name: "Logout", redirect_uris: ["https://a.example.com/cb"], post_logout_redirect_uris: ["http://a.example.com/"] }, ["post_logout_redirect_uris.0"]],
      [{ name: "Grant", redirect_uris: ["https://a.example.com/cb"], grant_types: ["password"] }, ["grant_types"]],
      [{ name: "Implicit", redirect_uris: ["https://a.example.com/cb"], grant_types: ["implicit", "authorization_code"] }, ["grant_types"]],
      [{ name: "No grant", grant_types: [] }, ["grant_types"]],
      [{ name: "Refresh alone", grant_types: ["refresh_token"] }, ["grant_types"]],
      [{ name: "Public machine", public: true, grant_types: ["client_credentials"] }, ["grant_types"]],
      [{ name: "Scope", redirect_uris: ["https://a.example.com/cb"], scopes: ["admin"] }, ["scopes"]],
      [{ name: "No openid", redirect_uris: ["https://a.example.com/cb"], scopes: ["profile"] }, ["scopes"]],
      [{ name: "Empty audience", redirect_uris: ["https://a.example.com/cb"], audience: " " }, ["audience"]],
      [{ name: "Long audience", redirect_uris: ["https://a.example.com/cb"], audience: "a".repeat(201) }, ["audience"]],
      [{ name: "Origin path", redirect_uris: ["https://a.example.com/cb"], cors_origins: ["https://a.example.com/app"] }, ["cors_origins.0"]],
      [{ name: "Origin http", redirect_uris: ["https://a.example.com/cb"], cors_origins: ["http://a.example.com"] }, ["cors_origins.0"]],
      [{ name: "Origin star", redirect_uris: ["https://a.example.com/cb"], cors_origins: ["*"] }, ["cors_origins.0"]],
      [{ name: "Alg", redirect_uris: ["https://a.example.com/cb"], id_token_alg: "HS256" }, ["id_token_alg"]],
      [{ name: "Native first party", public: true, skip_consent: true, redirect_uris: ["com.example.app:/cb"] }, ["skip_consent"]],
      [{ name: "Types", redirect_uris: "https://a.example.com/cb" }, ["redirect_uris"]],
    ];
    const answers = [];
    for (const [body] of cases) {
      const res = await call("POST", "", body);
      answers.push({ name: body.name, status: res.status, code: res.body.error?.code, fields: res.status === 422 ? fields(res) : [] });
    }
    expect(answers).toEqual(cases.map(([body, expected]) => ({ name: body.name, status: 422, code: "VALIDATION_ERROR", fields: expected })));
  });

  test("accepts what RFC 8252 allows native and local apps: loopback http on any spelling usersvc matches, private-use schemes", async () => {
    const data = await create({
      name: "Desktop",
      public: true,
      redirect_uris: ["http://127.0.0.1/cb", "http://[::1]:8080/cb", "http://localhost:3000/cb", "com.example.desktop:/oauth2redirect"],
      cors_origins: ["http://localhost:3000", "http://127.0.0.1:5173"],
    });
    expect({ redirect_uris: data.redirect_uris, cors_origins: data.cors_origins }).toEqual({
      redirect_uris: ["http://127.0.0.1/cb", "http://[::1]:8080/cb", "http://localhost:3000/cb", "com.example.desktop:/oauth2redirect"],
      cors_origins: ["http://localhost:3000", "http://127.0.0.1:5173"],
    });
  });

  test("refuses usersvc's own audience and its refresh audience: the API would take such a token for one of its own", async () => {
    expect(server.core.config.audience).toBe("usersvc");
    for (const audience of ["usersvc", "usersvc:refresh", " usersvc "]) {
      const res = await call("POST", "", { name: "Confused", redirect_uris: ["https://a.example.com/cb"], audience });
      expect({ status: res.status, details: res.body.error.details }).toEqual({
        status: 422,
        details: [{ field: "audience", message: expect.stringContaining("USERSVC_AUDIENCE") }],
      });
    }
    const created = await create({ name: "Fine", redirect_uris: ["https://a.example.com/cb"], audience: "usersvc-reports" });
    const res = await call("PATCH", `/${created.client_id}`, { audience: "usersvc" });
    expect({ status: res.status, fields: fields(res) }).toEqual({ status: 422, fields: ["audience"] });
  });
});

describe("GET /admin/clients and /admin/clients/{id}", () => {
  test("list the clients newest first, with limit and offset, never with a secret or a hash", async () => {
    const first = await create({ name: "List one", redirect_uris: ["https://one.example.com/cb"] });
    server.clock.advance(1);
    const second = await create({ name: "List two", redirect_uris: ["https://two.example.com/cb"] });
    const res = await call("GET", "?limit=2");
    expect(res.status).toBe(200);
    const { client_secret: _, ...secondView } = second;
    expect(res.body.data).toEqual({ items: [secondView, expect.objectContaining({ client_id: expect.any(String) })], total: expect.any(Number), limit: 2, offset: 0 });
    const all = await call("GET", "?limit=200");
    expect(all.body.data.items.map((c: { client_id: string }) => c.client_id)).toContain(first.client_id);
    expect(all.body.data.total).toBe(all.body.data.items.length);
    const text = JSON.stringify(all.body);
    const hashes = (await server.core.db.select({ h: oauthClients.secretHash }).from(oauthClients)).map((r) => r.h).filter((h) => h !== null);
    expect(hashes.length).toBeGreaterThan(0);
    expect([...secrets, ...hashes].filter((s) => text.includes(s!))).toEqual([]);
    expect(all.body.data.items.filter((c: object) => "client_secret" in c || "secret_hash" in c)).toEqual([]);
  });

  test("a page out of bounds is a validation error naming it", async () => {
    const res = await call("GET", "?limit=500");
    expect({ status: res.status, fields: fields(res) }).toEqual({ status: 422, fields: ["limit"] });
  });

  test("GET one answers the client without its secret; an unknown id is 404 NOT_FOUND", async () => {
    const created = await create({ name: "Shown", redirect_uris: ["https://shown.example.com/cb"] });
    const { client_secret: _, ...view } = created;
    const res = await call("GET", `/${created.client_id}`);
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { success: true, data: view, error: null } });
    for (const id of ["0".repeat(32), "x".repeat(300)]) {
      const missing = await call("GET", `/${id}`);
      expect({ status: missing.status, body: missing.body }).toEqual({ status: 404, body: failureOf("NOT_FOUND") });
    }
  });
});

describe("PATCH /admin/clients/{id}", () => {
  test("changes the given fields only, lists replaced, and audits the names of what changed", async () => {
    const created = await create({ name: "Patched", redirect_uris: ["https://p.example.com/a"], cors_origins: ["https://p.example.com"] });
    server.clock.advance(5);
    const res = await call("PATCH", `/${created.client_id}`, {
      name: "Patched again",
      redirect_uris: ["https://p.example.com/b", "https://p.example.com/c"],
      skip_consent: true,
      audience: null,
      cors_origins: [],
      id_token_alg: "EdDSA",
    });
    expect(res.status).toBe(200);
    const { client_secret: _, ...before } = created;
    expect(res.body.data).toEqual({
      ...before,
      name: "Patched again",
      redirect_uris: ["https://p.example.com/b", "https://p.example.com/c"],
      skip_consent: true,
      cors_origins: [],
      id_token_alg: "EdDSA",
      updated_at: expect.stringMatching(ISO_UTC),
    });
    expect(Date.parse(res.body.data.updated_at) - Date.parse(created.updated_at)).toBeGreaterThanOrEqual(5000);
    const entry = (await auditEntries("oauth.client_updated")).at(-1)!;
    expect({ actor: [entry.actorType, entry.actorId], target: entry.targetId, data: entry.data }).toEqual({
      actor: ["admin", admin.id],
      target: null,
      data: { client_id: created.client_id, name: "Patched again", changed: ["name", "redirect_uris", "cors_origins", "skip_consent", "id_token_alg"] },
    });
    expect(entry.ip).toBe("127.0.0.1");
  });

  test("checks the client as a whole: dropping the redirect URIs of a code client is refused, a machine client may", async () => {
    const created = await create({ name: "Whole", redirect_uris: ["https://w.example.com/cb"] });
    const refused = await call("PATCH", `/${created.client_id}`, { redirect_uris: [] });
    expect({ status: refused.status, fields: fields(refused) }).toEqual({ status: 422, fields: ["redirect_uris"] });
    const machine = await call("PATCH", `/${created.client_id}`, { redirect_uris: [], grant_types: ["client_credentials"] });
    expect({ status: machine.status, redirect_uris: machine.body.data.redirect_uris, grants: machine.body.data.grant_types }).toEqual({
      status: 200,
      redirect_uris: [],
      grants: ["client_credentials"],
    });
  });

  test("a change that changes nothing writes nothing: no audit entry, no event, the same updated_at", async () => {
    const created = await create({ name: "Same", redirect_uris: ["https://same.example.com/cb"] });
    const audits = (await auditEntries("oauth.client_updated")).length;
    server.clock.advance(5);
    const res = await call("PATCH", `/${created.client_id}`, { name: " Same ", redirect_uris: ["https://same.example.com/cb"] });
    expect({ status: res.status, updated_at: res.body.data.updated_at }).toEqual({ status: 200, updated_at: created.updated_at });
    expect((await auditEntries("oauth.client_updated")).length).toBe(audits);
  });

  test("whether a client is public cannot be changed; unknown fields are refused; an unknown id is 404", async () => {
    const created = await create({ name: "Fixed", redirect_uris: ["https://f.example.com/cb"] });
    const flip = await call("PATCH", `/${created.client_id}`, { public: true });
    expect({ status: flip.status, fields: fields(flip) }).toEqual({ status: 422, fields: ["public"] });
    const missing = await call("PATCH", `/${"0".repeat(32)}`, { name: "Ghost" });
    expect({ status: missing.status, body: missing.body }).toEqual({ status: 404, body: failureOf("NOT_FOUND") });
  });
});

describe("POST /admin/clients/{id}/rotate-secret", () => {
  test("answers a new secret once; the old one stops matching at once, the new one matches", async () => {
    const created = await create({ name: "Rotated", redirect_uris: ["https://r.example.com/cb"] });
    server.clock.advance(3);
    const res = await call("POST", `/${created.client_id}/rotate-secret`);
    expect(res.status).toBe(200);
    const rotated = res.body.data;
    secrets.push(rotated.client_secret);
    expect(rotated).toEqual({
      ...created,
      client_secret: expect.stringMatching(SECRET),
      secret_rotated_at: expect.stringMatching(ISO_UTC),
      updated_at: rotated.secret_rotated_at,
    });
    expect(Date.parse(rotated.secret_rotated_at) - Date.parse(created.created_at)).toBeGreaterThanOrEqual(3000);
    expect(rotated.client_secret).not.toBe(created.client_secret);
    const client = (await findClient(server.core.db, created.client_id))!;
    expect([clientSecretMatches(client, created.client_secret), clientSecretMatches(client, rotated.client_secret)]).toEqual([false, true]);
    const entry = (await auditEntries("oauth.client_updated")).at(-1)!;
    expect(entry.data).toEqual({ client_id: created.client_id, name: "Rotated", changed: ["client_secret"] });
  });

  test("a public client has no secret to rotate (422); an unknown id is 404", async () => {
    const created = await create({ name: "Public", public: true, redirect_uris: ["https://pub.example.com/cb"] });
    const res = await call("POST", `/${created.client_id}/rotate-secret`);
    expect({ status: res.status, fields: fields(res) }).toEqual({ status: 422, fields: ["client_id"] });
    const missing = await call("POST", `/${"0".repeat(32)}/rotate-secret`);
    expect({ status: missing.status, body: missing.body }).toEqual({ status: 404, body: failureOf("NOT_FOUND") });
  });
});

describe("DELETE /admin/clients/{id}", () => {
  test("revokes the client's live grants at once (this instance's auth cache drops them), then removes it with its consents", async () => {
    const created = await create({ name: "Removed", redirect_uris: ["https://rm.example.com/cb"] });
    const other = await create({ name: "Kept", redirect_uris: ["https://kept.example.com/cb"] });
    const db = server.core.db;
    const now = server.core.now();
    const later = new Date(now.getTime() + 3_600_000);
    const grant = (clientId: string, extra: Partial<typeof sessions.$inferInsert> = {}) =>
      insertSession(db, { userId: plain.id, refreshJti: crypto.randomUUID(), expiresAt: later, clientId, scope: "openid", ...extra });
    const live = await grant(created.client_id);
    await grant(created.client_id, { expiresAt: new Date(now.getTime() - 1000) });
    await grant(created.client_id, { revokedAt: now, revokedReason: "logout" });
    const kept = await grant(other.client_id);
    await db.insert(oauthConsents).values({ userId: plain.id, clientId: created.client_id, scopes: ["openid"], createdAt: now, updatedAt: now });

    // The grant's session is in this instance's auth cache, as a token check would leave it.
    const read = () => findSessionWithUser(db, live.id);
    expect((await server.core.authCache.sessionWithUser(live.id, read))?.session.id).toBe(live.id);
    const announced: string[] = [];
    watchChanges(db, (change) => {
      if ("sessionId" in change) announced.push(change.sessionId);
    });

    const res = await call("DELETE", `/${created.client_id}`);
    expect({ status: res.status, body: res.body }).toEqual({
      status: 200,
      body: { success: true, data: { client_id: created.client_id, removed: true, sessions_revoked: 1 }, error: null },
    });
    expect(announced).toEqual([live.id]);
    expect(await server.core.authCache.sessionWithUser(live.id, read)).toBeNull();
    const left = await db.select({ id: sessions.id, clientId: sessions.clientId, revokedAt: sessions.revokedAt }).from(sessions).where(eq(sessions.userId, plain.id));
    expect(left.filter((s) => s.clientId !== null)).toEqual([{ id: kept.id, clientId: other.client_id, revokedAt: null }]);
    expect(await db.select().from(oauthConsents).where(eq(oauthConsents.clientId, created.client_id))).toEqual([]);
    expect(await findClient(db, created.client_id)).toBeNull();

    const entry = (await auditEntries("oauth.client_removed")).at(-1)!;
    expect({ actor: [entry.actorType, entry.actorId], target: entry.targetId, data: entry.data }).toEqual({
      actor: ["admin", admin.id],
      target: null,
      data: { client_id: created.client_id, name: "Removed", sessions_revoked: 1 },
    });
    const again = await call("DELETE", `/${created.client_id}`);
    expect({ status: again.status, body: again.body }).toEqual({ status: 404, body: failureOf("NOT_FOUND") });
  });
});

describe("who may call", () => {
  const routes: [string, (id: string) => string, unknown][] = [
    ["GET", () => "", undefined],
    ["POST", () => "", { name: "Nope", redirect_uris: ["https://n.example.com/cb"] }],
    ["GET", (id) => `/${id}`, undefined],
    ["PATCH", (id) => `/${id}`, { name: "Nope" }],
    ["POST", (id) => `/${id}/rotate-secret`, undefined],
    ["DELETE", (id) => `/${id}`, undefined],
  ];

  test("no token: 401 UNAUTHENTICATED; a plain user: 403 FORBIDDEN, before any input is looked at; nothing changes", async () => {
    const created = await create({ name: "Guarded", redirect_uris: ["https://g.example.com/cb"] });
    const answers = [];
    for (const [method, path, body] of routes) {
      for (const [who, token] of [["nobody", ""], ["plain", plain.token]] as const) {
        const res = await server.api(method, `/api/v1/admin/clients${path(created.client_id)}`, { token: token || undefined, body });
        answers.push({ route: `${method} ${path(":id")}`, who, status: res.status, code: res.body.error?.code });
      }
    }
    expect(answers).toEqual(
      routes.flatMap(([method, path]) => [
        { route: `${method} ${path(":id")}`, who: "nobody", status: 401, code: "UNAUTHENTICATED" },
        { route: `${method} ${path(":id")}`, who: "plain", status: 403, code: "FORBIDDEN" },
      ]),
    );
    const client = (await findClient(server.core.db, created.client_id))!;
    expect({ name: client.name, matches: clientSecretMatches(client, created.client_secret) }).toEqual({ name: "Guarded", matches: true });
  });
});

describe("events and the audit chain", () => {
  test("every change has its oauth.client_* event, with no user and the client's public view, never a secret or a hash", async () => {
    const created = await create({ name: "Evented", redirect_uris: ["https://e.example.com/cb"] });
    await call("PATCH", `/${created.client_id}`, { name: "Evented 2" });
    const rotated = await call("POST", `/${created.client_id}/rotate-secret`);
    secrets.push(rotated.body.data.client_secret);
    const hashes = [sha256Hex(created.client_secret), sha256Hex(rotated.body.data.client_secret)];
    await call("DELETE", `/${created.client_id}`);

    const rows = await server.core.db.select().from(outboxEvents).where(and(eq(outboxEvents.target, "webhook"), isNull(outboxEvents.userId))).orderBy(outboxEvents.seq);
    const mine = rows.filter((r) => (r.payload as any).data.client?.client_id === created.client_id);
    expect(mine.map((r) => [r.type, (r.payload as any).data.client.name, (r.payload as any).data.changed ?? null])).toEqual([
      ["oauth.client_created", "Evented", null],
      ["oauth.client_updated", "Evented 2", ["name"]],
      ["oauth.client_updated", "Evented 2", ["client_secret"]],
      ["oauth.client_removed", "Evented 2", null],
    ]);
    const { client_secret: _, ...view } = created;
    expect((mine[0]!.payload as any).data).toEqual({ client: view });
    expect((mine[3]!.payload as any).data.sessions_revoked).toBe(0);
    expect((mine[0]!.payload as any).actor).toEqual({ type: "admin", id: admin.id });

    // Nothing stored anywhere in the outbox or the audit log holds a secret handed out in this file, or its hash.
    const stored = JSON.stringify(await server.core.db.select().from(outboxEvents)) + JSON.stringify(await server.core.db.select().from(auditLog));
    const allHashes = [...hashes, ...secrets.map(sha256Hex)];
    expect([...secrets, ...allHashes].filter((s) => stored.includes(s))).toEqual([]);

    await deliverUntilIdle(server.core);
    const delivered = receiver.delivered().filter((r) => r.event.data.client?.client_id === created.client_id);
    expect(delivered.map((r) => r.event.type)).toEqual(["oauth.client_created", "oauth.client_updated", "oauth.client_updated", "oauth.client_removed"]);
    expect(delivered.filter((r) => [...secrets, ...allHashes].some((s) => r.body.includes(s)))).toEqual([]);
  });

  test("the admin audit log lists them by event, and the hash chain still verifies", async () => {
    const res = await server.api("GET", "/api/v1/admin/audit?event=oauth.client_created&limit=200", { token: admin.token });
    expect(res.status).toBe(200);
    expect(res.body.data.items.length).toBeGreaterThan(5);
    expect(res.body.data.items.every((e: any) => e.target_id === null && e.actor.type === "admin" && typeof e.data.client_id === "string")).toBe(true);
    expect(await verifyAuditChain(server.core.db, { full: true, now: server.core.now() })).toMatchObject({ ok: true, broken: null });
  });
});

describe("the OpenAPI document", () => {
  test("lists the six client routes with their success and error statuses", async () => {
    const document = (await (await fetch(`${server.url}/docs/json`)).json()) as { paths: Record<string, Record<string, { responses: object }>> };
    const statuses = (path: string, method: string) => Object.keys(document.paths[path]?.[method]?.responses ?? {}).sort();
    expect({
      list: statuses("/api/v1/admin/clients", "get"),
      create: statuses("/api/v1/admin/clients", "post"),
      show: statuses("/api/v1/admin/clients/{id}", "get"),
      patch: statuses("/api/v1/admin/clients/{id}", "patch"),
      rotate: statuses("/api/v1/admin/clients/{id}/rotate-secret", "post"),
      remove: statuses("/api/v1/admin/clients/{id}", "delete"),
    }).toEqual({
      list: ["200", "401", "403", "422", "500"],
      create: ["201", "401", "403", "413", "415", "422", "500"],
      show: ["200", "401", "403", "404", "422", "500"],
      patch: ["200", "401", "403", "404", "413", "415", "422", "500"],
      rotate: ["200", "401", "403", "404", "413", "415", "422", "500"],
      remove: ["200", "401", "403", "404", "413", "415", "422", "500"],
    });
  });
});
