/** /admin/users/:id: a user's page and every action on it, each calling the core use case and audited with the admin as actor. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { listAudit } from "../../src/core/audit/audit.ts";
import { getUserById } from "../../src/core/users/users.ts";
import { act, consoleAdmin, screen, signInBrowser, type ConsoleAdmin } from "../support/admin-console.ts";
import { decodeEntities, errorCodeOf, formOf } from "../support/browserless.ts";
import { registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

setDefaultTimeout(30_000);

let server: TestServer;
let admin: ConsoleAdmin;
beforeAll(async () => {
  server = await startTestServer();
  admin = await consoleAdmin(server);
});
afterAll(() => server.stop());

const pathOf = (id: string) => `/admin/users/${id}`;
const lastAudit = async (event: string, userId: string) => (await listAudit(server.core.db, { event, userId, limit: 1, offset: 0 })).items[0];

/** Posts the form of the user's page whose action ends with `action`; the follow-up page after its 303. */
async function postOnPage(userId: string, action: string, fields: Record<string, string> = {}) {
  const done = await act(admin.b, pathOf(userId), action, fields);
  return { done, page: done.status === 303 ? await admin.b.get(done.location!) : done };
}

describe("a user's page", () => {
  test("shows the profile, metadata, sessions, balance and audit trail, escaping what the user wrote", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const xss = '</textarea><script>alert("m")</script>';
    expect((await server.api("PATCH", "/api/v1/users/me", { token: tokens.access_token, body: { metadata: { note: xss } } })).status).toBe(200);
    const page = await screen(admin.b, pathOf(user.id));
    for (const id of ["profile", "metadata", "status", "sessions", "balance", "mfa", "passkeys", "identities", "audit", "danger"]) {
      expect(page.html).toContain(`id="${id}"`);
    }
    expect(page.html).not.toContain("<script>alert");
    expect(page.html).toContain("&lt;/textarea&gt;&lt;script&gt;");
    expect(page.html).toMatch(/data-session-id="[0-9a-f-]{36}"/);
    expect(page.html).toContain('data-audit-event="user.registered"');
    expect(page.headers.get("cache-control")).toBe("no-store");
  });

  test("an unknown or malformed id is a 404 page", async () => {
    for (const id of ["00000000-0000-4000-8000-000000000000", "not-a-uuid"]) {
      const page = await admin.b.get(pathOf(id));
      expect(page.status).toBe(404);
      expect(errorCodeOf(page.html)).toBe("USER_NOT_FOUND");
    }
  });

  test("block for 7 days with a reason: the token stops at once, the audit names the admin and IP; unblock", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const reason = '<img src=x onerror="alert(1)"> spam';
    const { done, page } = await postOnPage(user.id, "/block", { reason, duration: "7d" });
    expect(done.status).toBe(303);
    expect(page.html).toContain("User blocked.");
    expect(page.html).toContain('data-status="blocked"');
    expect(page.html).not.toContain("<img src=x");
    expect(page.html).toContain("&lt;img src=x");
    expect((await server.api("GET", "/api/v1/users/me", { token: tokens.access_token })).status).not.toBe(200);
    const stored = await getUserById(server.core, user.id);
    const week = server.core.now().getTime() + 7 * 86_400_000;
    expect(Math.abs(stored.blockedUntil!.getTime() - week)).toBeLessThan(60_000);
    expect(stored.blockedReason).toBe(reason);
    const audit = await lastAudit("user.blocked", user.id);
    expect(audit?.actor).toEqual({ type: "admin", id: admin.id });
    expect(audit?.ip).toBeTruthy();

    const unblocked = await postOnPage(user.id, "/unblock");
    expect(unblocked.page.html).toContain("User unblocked.");
    expect((await getUserById(server.core, user.id)).status).toBe("active");
  });

  test("metadata: invalid JSON is a field error that keeps what was typed and changes nothing; valid JSON saves", async () => {
    const { user } = await registerAndLogin(server.api);
    const bad = await act(admin.b, pathOf(user.id), "/metadata", { metadata: '{"plan": "pro",}', app_metadata: "{}" });
    expect(bad.status).toBe(422);
    expect(bad.html).toContain('id="metadata-metadata-error"');
    expect(decodeEntities(bad.html)).toContain('{"plan": "pro",}');
    expect((await getUserById(server.core, user.id)).metadata).toEqual({});
    const array = await act(admin.b, pathOf(user.id), "/metadata", { metadata: "{}", app_metadata: "[1]" });
    expect(array.status).toBe(422);
    expect(array.html).toContain("must be a JSON object");

    const { page } = await postOnPage(user.id, "/metadata", { metadata: '{"plan":"pro"}', app_metadata: '{"tier":2}' });
    expect(page.html).toContain("Metadata saved.");
    const stored = await getUserById(server.core, user.id);
    expect(stored.metadata).toEqual({ plan: "pro" });
    expect(stored.appMetadata).toEqual({ tier: 2 });
  });

  test("profile and roles save; removing the only admin's own role is refused (LAST_ADMIN)", async () => {
    const { user, input } = await registerAndLogin(server.api);
    const { page } = await postOnPage(user.id, "/profile", { email: input.email, username: `${input.username}x`, is_verified: "on" });
    expect(page.html).toContain("Profile saved.");
    expect((await getUserById(server.core, user.id)).isVerified).toBe(true);
    const roles = await postOnPage(user.id, "/roles", { roles: "user, support" });
    expect(roles.page.html).toContain("Roles saved.");
    expect((await getUserById(server.core, user.id)).roles.sort()).toEqual(["support", "user"]);

    const last = await act(admin.b, pathOf(admin.id), "/roles", { roles: "user" });
    expect(last.status).toBe(409);
    expect(errorCodeOf(last.html)).toBe("LAST_ADMIN");
    expect((await getUserById(server.core, admin.id)).roles).toContain("admin");
  });

  test("balance: a double submit of one form is applied once; a second form is a second adjustment", async () => {
    const { user } = await registerAndLogin(server.api);
    const page = await screen(admin.b, pathOf(user.id));
    const form = formOf(page.html, "/balance");
    const fields = { ...form.fields, amount: "500", reason: "welcome credit" };
    const [first, second] = await Promise.all([admin.b.post(form.action, fields), admin.b.post(form.action, fields)]);
    expect([first.status, second.status]).toEqual([303, 303]);
    expect((await getUserById(server.core, user.id)).balance).toBe(500);
    const again = await postOnPage(user.id, "/balance", { amount: "-120", reason: "refund" });
    expect(again.page.html).toContain('data-balance="380"');
    const bad = await act(admin.b, pathOf(user.id), "/balance", { amount: "12.5", reason: "x" });
    expect(bad.status).toBe(422);
    expect((await getUserById(server.core, user.id)).balance).toBe(380);
    expect((await lastAudit("balance.changed", user.id))?.actor).toEqual({ type: "admin", id: admin.id });
  });

  test("revoke one session: its refresh token stops working", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const page = await screen(admin.b, pathOf(user.id));
    const sessionId = /data-session-id="([0-9a-f-]{36})"/.exec(page.html)![1]!;
    const { page: after } = await postOnPage(user.id, "/sessions/revoke", { session_id: sessionId });
    expect(after.html).toContain("Session revoked.");
    expect(after.html).not.toContain(`data-session-id="${sessionId}"`);
    const refresh = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
    expect(refresh.status).toBe(401);
    const form = formOf(page.html, "/sessions/revoke");
    const notHers = await admin.b.post(form.action, { ...form.fields, session_id: "00000000-0000-4000-8000-000000000000" });
    expect(notHers.status).toBe(404);
  });

  test("delete asks first, then restore; purge needs the email typed exactly", async () => {
    const { user, input } = await registerAndLogin(server.api);
    const asked = await act(admin.b, pathOf(user.id), "/delete");
    expect(asked.status).toBe(200);
    expect(asked.html).toContain("Delete user");
    expect((await getUserById(server.core, user.id)).status).toBe("active");
    const confirmed = await admin.b.post(formOf(asked.html, "/delete").action, formOf(asked.html, "/delete").fields);
    expect(confirmed.status).toBe(303);
    expect((await getUserById(server.core, user.id)).status).toBe("deleted");
    await postOnPage(user.id, "/restore");
    expect((await getUserById(server.core, user.id)).status).toBe("active");

    const wrong = await act(admin.b, pathOf(user.id), "/purge", { confirm_email: input.email.toUpperCase() });
    expect(wrong.status).toBe(422);
    expect(wrong.html).toContain('id="purge-confirm_email-error"');
    expect((await getUserById(server.core, user.id)).id).toBe(user.id);
    const purged = await act(admin.b, pathOf(user.id), "/purge", { confirm_email: input.email });
    expect(purged.status).toBe(303);
    expect((await admin.b.get(purged.location!)).html).toContain("User purged");
    expect((await admin.b.get(pathOf(user.id))).status).toBe(404);
    expect((await lastAudit("user.purged", user.id))?.actor).toEqual({ type: "admin", id: admin.id });
  });

  test("an action after USERSVC_ADMIN_MAX_AGE asks for the password, then goes back to the user's page", async () => {
    const other = await consoleAdmin(server);
    const { user } = await registerAndLogin(server.api);
    server.clock.advance(901);
    try {
      const page = await screen(other.b, pathOf(user.id));
      const form = formOf(page.html, "/roles");
      const asked = await other.b.post(form.action, { ...form.fields, roles: "user tester" });
      expect(asked.status).toBe(303);
      expect(asked.location).toContain("/admin/confirm?return_to=");
      expect((await getUserById(server.core, user.id)).roles).toEqual(["user"]);
      const confirm = await other.b.get(asked.location!);
      const back = await other.b.submit(confirm, "/admin/confirm", { password: other.password });
      expect(back.status).toBe(303);
      expect(back.location).toBe(pathOf(user.id));
      const retried = await other.b.post(form.action, { ...form.fields, roles: "user tester" });
      expect(retried.status).toBe(303);
      expect((await getUserById(server.core, user.id)).roles.sort()).toEqual(["tester", "user"]);
    } finally {
      server.clock.advance(-901);
    }
  });

  test("a plain user's browser cannot post the page's actions", async () => {
    const { user, input } = await registerAndLogin(server.api);
    const b = await signInBrowser(server, input.email, input.password);
    const page = await screen(admin.b, pathOf(user.id));
    const form = formOf(page.html, "/roles");
    const mine = await b.get("/account");
    const csrf = formOf(mine.html, "/logout").fields.csrf_token ?? "";
    const refused = await b.post(form.action, { csrf_token: csrf, roles: "user admin" });
    expect(refused.status).toBe(403);
    expect((await getUserById(server.core, user.id)).roles).toEqual(["user"]);
  });
});
