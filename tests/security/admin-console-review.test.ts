/**
 * The admin console (SPEC §11) read as an attacker would: hostile input that
 * must not make a 500, IDOR of another user's session, step-up and its brute
 * force, redirects through `back` and `return_to`, the purge confirmation,
 * the balance form under concurrency, secrets shown once, escaping and
 * headers, the profile form's email verification.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { listAudit } from "../../src/core/audit/audit.ts";
import { listTransactions } from "../../src/core/balance/balance.ts";
import { listActiveSessions } from "../../src/core/sessions/queries.ts";
import { getUserById } from "../../src/core/users/users.ts";
import { act, consoleAdmin, screen, type ConsoleAdmin } from "../support/admin-console.ts";
import { Browserless, decodeEntities, errorCodeOf, formOf } from "../support/browserless.ts";
import { registerAndLogin, registerVerified, startTestServer, type TestServer } from "../support/server.ts";

setDefaultTimeout(60_000);

let server: TestServer;
let admin: ConsoleAdmin;
beforeAll(async () => {
  server = await startTestServer();
  admin = await consoleAdmin(server);
});
afterAll(() => server.stop());

const pathOf = (id: string) => `/admin/users/${id}`;

describe("hostile input from the console's forms and links never makes a 500", () => {
  test("metadata JSON whose text escapes a NUL or a lone surrogate is a field error, and nothing is stored", async () => {
    const { user } = await registerAndLogin(server.api);
    for (const text of ['{"note": "a\\u0000b"}', '{"\\u0000": 1}', '{"note": "\\ud800"}']) {
      for (const field of ["metadata", "app_metadata"]) {
        const fields = { metadata: "{}", app_metadata: "{}", [field]: text };
        const page = await act(admin.b, pathOf(user.id), "/metadata", fields);
        expect(page.status).toBe(422);
        expect(errorCodeOf(page.html)).toBe("VALIDATION_ERROR");
        expect(page.html).toContain(`id="metadata-${field}-error"`);
      }
    }
    const stored = await getUserById(server.core, user.id);
    expect(stored.metadata).toEqual({});
  });

  test("an audit page offset too large for the database is not a 500", async () => {
    for (const offset of ["1e30", "99999999999999999999999", "9007199254740993"]) {
      const page = await admin.b.get(`/admin/audit?offset=${offset}`);
      expect(page.status).toBeLessThan(500);
    }
  });

  test("a client id or provider name that is not UTF-8 in the path is a 404, not a 500", async () => {
    for (const path of ["/admin/clients/%ff", "/admin/clients/%E0%A4%A"]) {
      const page = await admin.b.get(path);
      expect(page.status).toBeLessThan(500);
    }
    const providers = await screen(admin.b, "/admin/providers");
    const { csrf_token, back } = formOf(providers.html, "/admin/providers").fields;
    const page = await admin.b.post("/admin/providers/%ff/remove", { csrf_token: csrf_token!, back: back! });
    expect(page.status).toBeLessThan(500);
  });
});

describe("another user's things through a user's page", () => {
  test("revoking the session of another user through a user's page is a 404 and leaves it alive", async () => {
    const victim = await registerAndLogin(server.api);
    const other = await registerAndLogin(server.api);
    const [victimSession] = await listActiveSessions(server.core.db, victim.user.id, server.clock.now());
    const page = await act(admin.b, pathOf(other.user.id), "/sessions/revoke", { session_id: victimSession!.id });
    expect(page.status).toBe(404);
    expect((await server.api("GET", "/api/v1/users/me", { token: victim.tokens.access_token })).status).toBe(200);
  });
});

describe("another user's passkey through a user's page", () => {
  test("removing the passkey of another user through a user's page is a 404 and leaves it", async () => {
    const { passkeys } = await import("../../src/core/db/schema.ts");
    const { eq } = await import("drizzle-orm");
    const victim = await registerAndLogin(server.api);
    const other = await registerAndLogin(server.api);
    const [row] = await server.core.db
      .insert(passkeys)
      .values({ userId: victim.user.id, credentialId: `v${crypto.randomUUID()}`, publicKey: "k", deviceType: "singleDevice", backedUp: false, name: "victim key", createdAt: server.clock.now() })
      .returning();
    const page = await act(admin.b, pathOf(other.user.id), "/sessions/revoke-all", {});
    const { csrf_token, back } = formOf(page.html, "/sessions/revoke-all").fields;
    const res = await admin.b.post(`${pathOf(other.user.id)}/passkeys/remove`, { csrf_token: csrf_token!, back: back!, passkey_id: row!.id, confirmed: "yes" });
    expect(res.status).toBe(404);
    expect(await server.core.db.select().from(passkeys).where(eq(passkeys.id, row!.id))).toHaveLength(1);
  });
});

describe("redirects", () => {
  test("`back` of an action never leaves the console, signed in or not", async () => {
    const { user } = await registerAndLogin(server.api);
    const evil = ["//evil.example/admin", "https://evil.example/admin", "/\\evil.example", "/admin/../login", "/admin\\..\\..\\evil", "javascript:alert(1)//admin", "/account"];
    for (const back of evil) {
      const page = await act(admin.b, pathOf(user.id), "/sessions/revoke-all", { back, confirmed: "" });
      expect(page.status).toBe(200);
      const cancel = decodeEntities(/<a href="([^"]*)">Cancel<\/a>/.exec(page.html)?.[1] ?? "");
      expect(cancel === "/admin" || cancel.startsWith("/admin/") || cancel.startsWith("/admin?")).toBe(true);
      const anonymous = new Browserless(server.url);
      const out = await anonymous.post(`${pathOf(user.id)}/block`, { back });
      expect(out.status).toBe(303);
      const login = new URL(out.location!, server.url);
      expect(login.origin).toBe(server.url);
      expect(login.searchParams.get("return_to")).toBe("/admin");
    }
  });

  test("`?done=` puts no words on the page and /admin/confirm's return_to stays in the console", async () => {
    const page = await screen(admin.b, "/admin/users?done=%3Cscript%3Ealert(1)%3C/script%3E");
    expect(page.html).not.toContain("<script>alert");
    const confirm = await screen(admin.b, "/admin/confirm?return_to=https%3A%2F%2Fevil.example%2Fadmin");
    expect(formOf(confirm.html, "/admin/confirm").fields.return_to).toBe("/admin");
  });
});

describe("purge", () => {
  test("a variant of the email (case, spaces, unicode look-alike) does not purge", async () => {
    const { user, input } = await registerAndLogin(server.api);
    for (const typed of [input.email.toUpperCase(), ` ${input.email} `, input.email.replace("@", "\uFF20"), `${input.email}\u200b`]) {
      const page = await act(admin.b, pathOf(user.id), "/purge", { confirm_email: typed });
      expect(page.status).toBe(422);
      expect((await getUserById(server.core, user.id)).id).toBe(user.id);
    }
  });
});

describe("balance", () => {
  test("one form posted many times at once adjusts the balance once", async () => {
    const { user } = await registerAndLogin(server.api);
    const page = await screen(admin.b, pathOf(user.id));
    const form = formOf(page.html, "/balance");
    const answers = await Promise.all(Array.from({ length: 8 }, () => admin.b.post(form.action, { ...form.fields, amount: "500", reason: "race" })));
    for (const answer of answers) expect(answer.status).toBe(303);
    const ledger = await listTransactions(server.core, user.id, { limit: 50, offset: 0 });
    expect(ledger.total).toBe(1);
    expect((await getUserById(server.core, user.id)).balance).toBe(500);
  });
});

describe("profile form", () => {
  test("changing a verified user's email does not carry the old address's verification over", async () => {
    const { id } = await registerVerified(server);
    const page = await screen(admin.b, pathOf(id));
    const form = formOf(page.html, "/profile");
    // The browser sends the checkbox as it was drawn: checked, since the old address was verified.
    expect(page.html).toMatch(/id="profile-is_verified"[^>]*checked/);
    const done = await admin.b.post(form.action, { ...form.fields, email: `moved${Date.now()}@example.com`, is_verified: "on" });
    expect(done.status).toBe(303);
    expect((await getUserById(server.core, id)).isVerified).toBe(false);
  });

  test("an admin may still mark an unchanged address verified or not", async () => {
    const { user } = await registerAndLogin(server.api);
    const on = await act(admin.b, pathOf(user.id), "/profile", { is_verified: "on" });
    expect(on.status).toBe(303);
    expect((await getUserById(server.core, user.id)).isVerified).toBe(true);
    const page = await screen(admin.b, pathOf(user.id));
    const form = formOf(page.html, "/profile");
    const { is_verified: _checked, ...unchecked } = form.fields;
    const off = await admin.b.post(form.action, unchecked);
    expect(off.status).toBe(303);
    expect((await getUserById(server.core, user.id)).isVerified).toBe(false);
  });
});

describe("escaping and headers", () => {
  test("a user agent and a forwarded IP header reach the page escaped; every screen is no-store and cannot be framed", async () => {
    const { input, user } = await registerAndLogin(server.api);
    const ua = '<script>alert("ua")</script>';
    await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password }, headers: { "user-agent": ua, "x-forwarded-for": "<b>1.2.3.4</b>" } });
    for (const path of ["/admin", "/admin/users", pathOf(user.id), "/admin/audit", "/admin/outbox", "/admin/keys", "/admin/clients", "/admin/providers", "/admin/confirm"]) {
      const page = await screen(admin.b, path);
      expect(page.headers.get("cache-control")).toBe("no-store");
      expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(page.html).not.toContain("<script>");
      expect(page.html).not.toContain("<b>1.2.3.4");
    }
  });
});

describe("audit", () => {
  test("an action on a user's page is audited with the admin as actor and the client's IP", async () => {
    const { user } = await registerAndLogin(server.api);
    const done = await act(admin.b, pathOf(user.id), "/sessions/revoke-all", { confirmed: "yes" });
    expect(done.status).toBe(303);
    const [entry] = (await listAudit(server.core.db, { event: "session.revoked", userId: user.id, limit: 1, offset: 0 })).items;
    expect(entry?.actor).toEqual({ type: "admin", id: admin.id });
    expect(entry?.ip).toBe("127.0.0.1");
  });
});

describe("step-up", () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ USERSVC_LOGIN_MAX_ATTEMPTS: "3", USERSVC_ADMIN_MAX_AGE: "600" });
  });
  afterAll(() => limited.stop());

  test("an old sign-in must confirm before any action, and the confirm password is limited like a login", async () => {
    const a = await consoleAdmin(limited);
    const { user } = await registerAndLogin(limited.api);
    limited.clock.advance(601);
    const asked = await act(a.b, pathOf(user.id), "/block", { reason: "x" });
    expect(asked.status).toBe(303);
    expect(asked.location).toStartWith("/admin/confirm?");
    expect((await getUserById(limited.core, user.id)).status).toBe("active");
    const confirm = await screen(a.b, asked.location!);
    const form = formOf(confirm.html, "/admin/confirm");
    for (let i = 0; i < 3; i++) expect((await a.b.post(form.action, { ...form.fields, password: `wrong ${i}` })).status).toBe(401);
    const limitedOut = await a.b.post(form.action, { ...form.fields, password: a.password });
    expect(limitedOut.status).toBe(429);
    expect(errorCodeOf(limitedOut.html)).toBe("RATE_LIMITED");
    expect(limitedOut.headers.get("retry-after")).toBeTruthy();
    const still = await act(a.b, pathOf(user.id), "/block", { reason: "x" });
    expect(still.location).toStartWith("/admin/confirm?");
  });
});

describe("more hostile input on the console's links", () => {
  test("odd filters, cursors, limits and offsets on the lists are never a 500", async () => {
    const paths = [
      "/admin/users?limit=1e30",
      "/admin/users?limit=-1",
      "/admin/users?cursor=%7B%7D",
      "/admin/users?cursor=" + "A".repeat(3000),
      "/admin/users?sort=password_hash",
      "/admin/users?status=%3Cb%3E",
      "/admin/users?role=" + "r".repeat(3000),
      "/admin/users?q=%25_%5C" + "x".repeat(3000),
      "/admin/outbox?status=%3Cb%3E",
      "/admin/clients?offset=1e30",
      "/admin/clients/" + "c".repeat(3000),
      "/admin/audit?event=" + "e".repeat(3000),
      "/admin/audit?since=0000-01-01",
      "/admin/audit?since=0001-01-01T00:00%2B01:00",
      "/admin/audit?until=9999-12-31T23:59:59.9999999Z",
      "/admin/audit?user_id=%3Cb%3E",
    ];
    for (const path of paths) {
      const page = await admin.b.get(path);
      expect(page.status < 500 ? "not a 500" : `${page.status} at ${path}`).toBe("not a 500");
      expect(page.html).not.toContain("<b>");
    }
  });

  test("a stranger's posts of any shape to the console are refused without a 500", async () => {
    const stranger = new Browserless(server.url);
    const { user } = await registerAndLogin(server.api);
    for (const [type, body] of [
      ["application/json", '{"reason":"x"}'],
      ["multipart/form-data; boundary=x", "--x--"],
      ["application/x-www-form-urlencoded", "back=%00"],
      ["application/x-www-form-urlencoded", "back=" + "%ff".repeat(100)],
    ] as const) {
      const res = await fetch(`${server.url}${pathOf(user.id)}/block`, { method: "POST", headers: { "content-type": type, origin: server.url }, body });
      expect(res.status).toBeLessThan(500);
    }
    expect((await stranger.post(`${pathOf(user.id)}/purge`, { confirm_email: "x" })).status).toBe(303);
    expect((await getUserById(server.core, user.id)).status).toBe("active");
  });
});

describe("what other people wrote, on the admin's screens", () => {
  test("OIDC client names and provider labels, passkey names, outbox errors and audit data are escaped", async () => {
    const xss = '"><script>alert(1)</script>';
    const list = await screen(admin.b, "/admin/clients");
    const add = formOf(list.html, "/admin/clients");
    const created = await admin.b.post(add.action, {
      ...add.fields,
      name: xss,
      type: "confidential",
      redirect_uris: "https://app.example.test/cb?x=%22%3E%3Cscript%3E",
      grant_authorization_code: "on",
      scopes: "openid",
      id_token_alg: "RS256",
    });
    expect(created.status).toBe(200);
    expect(created.html).not.toContain("<script>");
    const providers = await screen(admin.b, "/admin/providers");
    const addProvider = formOf(providers.html, "/admin/providers");
    const added = await admin.b.post(addProvider.action, { ...addProvider.fields, type: "github", name: `gh${Date.now().toString(36)}`, display_name: xss, client_id: xss, client_secret: "s" });
    expect(added.status).toBe(303);
    const { user } = await registerAndLogin(server.api);
    const { passkeys, outboxEvents } = await import("../../src/core/db/schema.ts");
    const now = server.clock.now();
    await server.core.db.insert(passkeys).values({ userId: user.id, credentialId: `c${Date.now()}`, publicKey: "k", deviceType: "singleDevice", backedUp: false, name: xss, createdAt: now });
    await server.core.db.insert(outboxEvents).values({ eventId: crypto.randomUUID(), target: "webhook", type: "user.updated", payload: {}, status: "dead", nextAttemptAt: now, lastError: xss, createdAt: now });
    await act(admin.b, pathOf(user.id), "/block", { reason: `</code>${xss}` });
    for (const path of ["/admin/clients", "/admin/providers", pathOf(user.id), "/admin/outbox?status=dead", "/admin/audit", "/login"]) {
      const page = await screen(admin.b, path === "/login" ? "/admin" : path);
      expect(page.html).not.toContain("<script>");
    }
    const login = await new Browserless(server.url).get("/login");
    expect(login.html).not.toContain("<script>");
  });
});

describe("secrets", () => {
  test("a client secret is shown once, on a no-store page, and is in no log, audit entry or later page", async () => {
    const list = await screen(admin.b, "/admin/clients");
    const add = formOf(list.html, "/admin/clients");
    const created = await admin.b.post(add.action, { ...add.fields, name: "secret app", type: "confidential", redirect_uris: "https://app.example.test/cb", grant_authorization_code: "on", scopes: "openid", id_token_alg: "RS256" });
    expect(created.status).toBe(200);
    expect(created.headers.get("cache-control")).toBe("no-store");
    const secret = decodeEntities(/data-client-secret>([^<]+)</.exec(created.html)?.[1] ?? "");
    expect(secret.length).toBeGreaterThan(20);
    const clientId = /data-client-id="([^"]+)"/.exec(created.html)![1]!;
    for (const path of ["/admin/clients", `/admin/clients/${clientId}`, "/admin/audit"]) {
      expect((await screen(admin.b, path)).html).not.toContain(secret);
    }
    const audit = await listAudit(server.core.db, { limit: 200, offset: 0 });
    expect(JSON.stringify(audit.items)).not.toContain(secret);
    expect(server.logs.join("\n")).not.toContain(secret);
    const { sha256Hex } = await import("../../src/core/digest.ts");
    expect((await screen(admin.b, `/admin/clients/${clientId}`)).html).not.toContain(sha256Hex(secret));
  });

  test("a user's page shows no password hash, session cookie hash or signing key material", async () => {
    const { user } = await registerAndLogin(server.api);
    const { findPasswordHash } = await import("../../src/core/users/queries.ts");
    const hash = (await findPasswordHash(server.core.db, user.id))!;
    const page = await screen(admin.b, pathOf(user.id));
    expect(page.html).not.toContain(hash);
    expect(page.html).not.toContain("$argon2");
    const keys = await screen(admin.b, "/admin/keys");
    expect(keys.html).not.toMatch(/"d"|PRIVATE KEY|"kty"/);
  });
});

describe("the last-admin rule under concurrency", () => {
  test("blocking, deleting and demoting one admin at once from the console: no 500 (no deadlock), and the rule holds", async () => {
    for (let i = 0; i < 6; i++) {
      const target = await consoleAdmin(server);
      const page = await screen(admin.b, pathOf(target.id));
      const form = (action: string) => formOf(page.html, action);
      const answers = await Promise.all([
        admin.b.post(form("/block").action, { ...form("/block").fields, reason: "race" }),
        admin.b.post(form("/roles").action, { ...form("/roles").fields, roles: "user" }),
        admin.b.post(form("/delete").action, { ...form("/delete").fields, confirmed: "yes" }),
        admin.b.post(form("/roles").action, { ...form("/roles").fields, roles: "user admin ops" }),
      ]);
      for (const answer of answers) expect(answer.status).toBeLessThan(500);
    }
  });

  test("two admins blocking each other at once leave one of them an active admin", async () => {
    const { startTestServer: start } = await import("../support/server.ts");
    const alone = await start();
    try {
      const a = await consoleAdmin(alone);
      const b = await consoleAdmin(alone);
      const pageA = await screen(a.b, pathOf(b.id));
      const pageB = await screen(b.b, pathOf(a.id));
      await Promise.all([
        a.b.post(formOf(pageA.html, "/block").action, { ...formOf(pageA.html, "/block").fields, reason: "coup" }),
        b.b.post(formOf(pageB.html, "/block").action, { ...formOf(pageB.html, "/block").fields, reason: "coup" }),
      ]);
      const statuses = [(await getUserById(alone.core, a.id)).status, (await getUserById(alone.core, b.id)).status];
      expect(statuses).toContain("active");
    } finally {
      await alone.stop();
    }
  });
});

describe("every console action is audited with the admin as actor and the client's IP", () => {
  test("user page, keys, outbox, clients and providers", async () => {
    const { auditLog } = await import("../../src/core/db/schema.ts");
    const { max } = await import("drizzle-orm");
    const [mark] = await server.core.db.select({ id: max(auditLog.id) }).from(auditLog);
    const { user, tokens } = await registerAndLogin(server.api);
    const [session] = await listActiveSessions(server.core.db, user.id, server.clock.now());
    const u = pathOf(user.id);
    const steps: [string, string, Record<string, string>][] = [
      [u, "/profile", { username: `renamed${Date.now().toString(36)}` }],
      [u, "/roles", { roles: "user ops" }],
      [u, "/metadata", { metadata: '{"a":1}', app_metadata: '{"b":2}' }],
      [u, "/balance", { amount: "5", reason: "audit" }],
      [u, "/sessions/revoke", { session_id: session!.id }],
      [u, "/block", { reason: "audit" }],
      [u, "/unblock", {}],
      [u, "/sessions/revoke-all", { confirmed: "yes" }],
      [u, "/delete", { confirmed: "yes" }],
      [u, "/restore", {}],
    ];
    for (const [path, action, fields] of steps) {
      const done = await act(admin.b, path, action, fields);
      expect(`${action} ${done.status}`).toBe(`${action} 303`);
    }
    void tokens;
    if (server.core.tokens.asymmetric) expect((await act(admin.b, "/admin/keys", "/admin/keys/rotate")).status).toBe(303);
    const list = await screen(admin.b, "/admin/clients");
    const add = formOf(list.html, "/admin/clients");
    const created = await admin.b.post(add.action, { ...add.fields, name: "audited", type: "confidential", redirect_uris: "https://app.example.test/cb", grant_authorization_code: "on", scopes: "openid", id_token_alg: "RS256" });
    const clientId = /data-client-id="([^"]+)"/.exec(created.html)![1]!;
    const clientPath = `/admin/clients/${clientId}`;
    expect((await act(admin.b, clientPath, `${clientPath}`, { name: "audited 2", grant_authorization_code: "on" })).status).toBe(303);
    expect((await act(admin.b, clientPath, "/rotate-secret", { confirmed: "yes" })).status).toBe(200);
    expect((await act(admin.b, clientPath, "/remove", { confirmed: "yes" })).status).toBe(303);
    const providerName = `au${Date.now().toString(36)}`;
    const secret = `provider-secret-${crypto.randomUUID()}`;
    expect((await act(admin.b, "/admin/providers", "/admin/providers", { type: "github", name: providerName, client_id: "id", client_secret: secret })).status).toBe(303);
    expect((await act(admin.b, "/admin/providers", `/admin/providers/${providerName}/remove`, { confirmed: "yes" })).status).toBe(303);
    const purged = await act(admin.b, u, "/purge", { confirm_email: (await getUserById(server.core, user.id)).email });
    expect(purged.status).toBe(303);

    const entries = (await listAudit(server.core.db, { limit: 500, offset: 0 })).items.filter((e) => e.id > Number(mark?.id ?? 0));
    const byAdmin = entries.filter((e) => e.event !== "user.registered" && e.event !== "user.logged_in" && e.event !== "session.created");
    const events = new Set(byAdmin.map((e) => e.event));
    for (const event of ["user.updated", "balance.changed", "session.revoked", "user.blocked", "user.unblocked", "user.deleted", "user.restored", "user.purged", "oauth.client_created", "oauth.client_updated", "oauth.client_removed", "provider.added", "provider.removed"]) {
      expect(events).toContain(event);
    }
    for (const entry of byAdmin) {
      expect({ event: entry.event, actor: entry.actor, ip: entry.ip }).toEqual({ event: entry.event, actor: { type: "admin", id: admin.id }, ip: "127.0.0.1" });
    }
    expect(JSON.stringify(entries)).not.toContain(secret);
    expect(server.logs.join("\n")).not.toContain(secret);
    expect((await screen(admin.b, "/admin/providers")).html).not.toContain(secret);
  });
});

describe("the audit log's times before year 1", () => {
  test("since or until in year 0 is no 500, on the console nor on the API (the same core query)", async () => {
    const { createAdmin } = await import("../support/admin.ts");
    const apiAdmin = await createAdmin(server);
    for (const q of ["since=0000-01-01T00:00:00Z", "until=0000-06-01T00:00:00Z", "since=0001-01-01T00:00:00%2B01:00"]) {
      expect((await admin.b.get(`/admin/audit?${q}`)).status).toBe(200);
      expect((await server.api("GET", `/api/v1/admin/audit?${q}`, { token: apiAdmin.token })).status).toBe(200);
    }
    const none = await admin.b.get("/admin/audit?until=0000-06-01T00:00");
    expect(none.html).toContain("0 entries");
    const all = await server.api("GET", "/api/v1/admin/audit?since=0000-01-01T00:00:00Z", { token: apiAdmin.token });
    expect(all.body.data.total ?? all.body.data.items?.length).toBeGreaterThan(0);
  });
});

describe("every POST of the console, read from the app itself", () => {
  test("refused to nobody, to a plain user with a valid CSRF token, and to an admin without one or from another origin", async () => {
    const { createApp } = await import("../../src/server/app.ts");
    const { signInBrowser } = await import("../support/admin-console.ts");
    const { newUser } = await import("../support/server.ts");
    const { createUser } = await import("../../src/core/users/users.ts");
    const { CLI_ACTOR } = await import("../../src/core/audit/actor.ts");
    const victim = await registerAndLogin(server.api);
    const posts = createApp(server.core, { docs: false })
      .routes.filter((route) => route.method === "POST" && route.path.startsWith("/admin"))
      .map((route) => route.path.replace(":id", route.path.startsWith("/admin/users") ? victim.user.id : "x").replace(":name", "x"));
    expect(posts.length).toBeGreaterThan(20);
    const input = newUser();
    await createUser(server.core, input, { actor: CLI_ACTOR, isVerified: true });
    const plain = await signInBrowser(server, input.email, input.password);
    const account = await plain.get("/account");
    const plainCsrf = /name="csrf_token" value="([^"]+)"/.exec(account.html)![1]!;
    const adminCsrf = formOf((await screen(admin.b, "/admin")).html, "/admin/audit/verify").fields.csrf_token!;
    const fields = { confirmed: "yes", confirm_email: victim.input.email, reason: "x", amount: "5", roles: "user admin", session_id: victim.user.id, password: "x" };
    for (const path of posts) {
      const anonymous = await new Browserless(server.url).post(path, fields);
      expect(`${path} ${anonymous.status} ${anonymous.location?.split("?")[0]}`).toBe(`${path} 303 /login`);
      const asPlain = await plain.post(path, { ...fields, csrf_token: plainCsrf });
      expect(`${path} ${asPlain.status}`).toBe(`${path} 403`);
      const noToken = await admin.b.post(path, fields);
      expect(`${path} ${noToken.status}`).toBe(`${path} 403`);
      admin.b.origin = "https://evil.example";
      const crossSite = await admin.b.post(path, { ...fields, csrf_token: adminCsrf });
      admin.b.origin = server.url;
      expect(`${path} ${crossSite.status}`).toBe(`${path} 403`);
    }
    const after = await getUserById(server.core, victim.user.id);
    expect(after.status).toBe("active");
    expect(after.roles).toEqual(["user"]);
    expect(after.balance).toBe(0);
  });
});

describe("behind a proxy that strips the public URL's path", () => {
  test("the way back to a screen (the forms' back, the sign-in's return_to) keeps the screen's path", async () => {
    const prefixed = await startTestServer({ USERSVC_PUBLIC_URL: "http://id.example.test/auth" });
    try {
      const { createUser } = await import("../../src/core/users/users.ts");
      const { CLI_ACTOR } = await import("../../src/core/audit/actor.ts");
      const { newUser } = await import("../support/server.ts");
      const anonymous = new Browserless(prefixed.url);
      const out = await anonymous.get("/admin/users?status=blocked");
      expect(new URL(out.location!, "http://x").searchParams.get("return_to")).toBe("/auth/admin/users?status=blocked");
      const input = newUser();
      await createUser(prefixed.core, input, { actor: CLI_ACTOR, roles: ["user", "admin"], isVerified: true });
      const b = new Browserless(prefixed.url);
      const login = formOf((await b.get("/login")).html, "/auth/login");
      expect((await b.post("/login", { ...login.fields, identifier: input.email, password: input.password })).status).toBe(303);
      const overview = await screen(b, "/admin");
      expect(formOf(overview.html, "/auth/admin/audit/verify").fields.back).toBe("/auth/admin");
      // "Are you sure?" posts the action again, at the proxy's path of it.
      const outbox = await screen(b, "/admin/outbox");
      const retryAll = formOf(outbox.html, "/auth/admin/outbox/retry-all");
      const ask = await b.post("/admin/outbox/retry-all", retryAll.fields);
      expect(ask.status).toBe(200);
      expect(formOf(ask.html, "/retry-all").action).toBe("/auth/admin/outbox/retry-all");
    } finally {
      await prefixed.stop();
    }
  });
});
