/** /admin/keys: the signing keys, rotation and rotation that revokes the previous keys (audited as keys.rotated). */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { listAudit } from "../../src/core/audit/audit.ts";
import { consoleAdmin, screen, type ConsoleAdmin } from "../support/admin-console.ts";
import { formOf } from "../support/browserless.ts";
import { registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

setDefaultTimeout(30_000);

let server: TestServer;
let admin: ConsoleAdmin;
beforeAll(async () => {
  server = await startTestServer();
  admin = await consoleAdmin(server);
});
afterAll(() => server.stop());

const currentKids = (html: string) => [...html.matchAll(/data-kid="([^"]+)" data-current="yes"/g)].map((m) => m[1]!);
const jwksKids = async () => ((await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

describe("signing keys", () => {
  test("lists the current keys without key material", async () => {
    const page = await screen(admin.b, "/admin/keys");
    expect(currentKids(page.html).length).toBe(2);
    expect(page.html).toContain("EdDSA");
    expect(page.html).toContain("RS256");
    expect(page.html).not.toContain('"d"');
    expect(page.html).not.toMatch(/"x":|"n":/);
  });

  test("rotate: a new current kid, in the JWKS and the list; the old one still verifies", async () => {
    const before = currentKids((await screen(admin.b, "/admin/keys")).html);
    const page = await screen(admin.b, "/admin/keys");
    const form = formOf(page.html, "/admin/keys/rotate");
    const done = await admin.b.post(form.action, form.fields);
    expect(done.status).toBe(303);
    const after = await admin.b.get(done.location!);
    expect(after.html).toContain("New signing keys are in use");
    const now = currentKids(after.html);
    expect(now.length).toBe(2);
    for (const kid of now) expect(before).not.toContain(kid);
    const published = await jwksKids();
    for (const kid of [...now, ...before]) expect(published).toContain(kid);
    expect(after.html).toMatch(/retired: verifies until/);
    const audit = await listAudit(server.core.db, { event: "keys.rotated", actorId: admin.id, limit: 10, offset: 0 });
    expect(audit.items.some((e) => e.actor.type === "admin" && (e.data as { revoke_previous: boolean }).revoke_previous === false)).toBe(true);
  });

  test("rotate-revoke asks first, then every earlier token is refused; the console session survives", async () => {
    const person = await registerAndLogin(server.api);
    expect((await server.api("GET", "/api/v1/users/me", { token: person.tokens.access_token })).status).toBe(200);
    const page = await screen(admin.b, "/admin/keys");
    const form = formOf(page.html, "/admin/keys/rotate-revoke");
    const ask = await admin.b.post(form.action, form.fields);
    expect(ask.status).toBe(200);
    expect(ask.html).toContain("Every token issued so far stops working");
    expect((await server.api("GET", "/api/v1/users/me", { token: person.tokens.access_token })).status).toBe(200);
    const confirm = formOf(ask.html, "/admin/keys/rotate-revoke");
    expect(confirm.fields.confirmed).toBe("yes");
    const done = await admin.b.post(confirm.action, confirm.fields);
    expect(done.status).toBe(303);
    expect((await server.api("GET", "/api/v1/users/me", { token: person.tokens.access_token })).status).toBe(401);
    const after = await screen(admin.b, done.location!);
    expect(after.html).toContain("The previous keys are deleted");
    expect(after.html).not.toContain("retired:");
    expect((await jwksKids()).sort()).toEqual(currentKids(after.html).sort());
    const audit = await listAudit(server.core.db, { event: "keys.rotated", actorId: admin.id, limit: 10, offset: 0 });
    expect(audit.items.some((e) => (e.data as { revoke_previous: boolean }).revoke_previous === true)).toBe(true);
  });

  test("a rotation without the CSRF token is refused", async () => {
    const before = currentKids((await screen(admin.b, "/admin/keys")).html);
    const page = await screen(admin.b, "/admin/keys");
    const form = formOf(page.html, "/admin/keys/rotate");
    const refused = await admin.b.post(form.action, { ...form.fields, csrf_token: "wrong" });
    expect(refused.status).toBe(403);
    expect(currentKids((await screen(admin.b, "/admin/keys")).html)).toEqual(before);
  });
});
