/**
 * Who may use the admin console (SPEC §11) and its step-up: only role admin,
 * checked on every request; actions need the CSRF token and a sign-in or
 * password confirmation within USERSVC_ADMIN_MAX_AGE.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { listAudit } from "../../src/core/audit/audit.ts";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { adminUpdateUser } from "../../src/core/users/admin-update.ts";
import { blockUser } from "../../src/core/users/lifecycle.ts";
import { createUser } from "../../src/core/users/users.ts";
import { consoleAdmin, signInBrowser } from "../support/admin-console.ts";
import { Browserless, formOf, headingOf } from "../support/browserless.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

setDefaultTimeout(30_000);

const ADMIN_MAX_AGE = 600;
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ USERSVC_ADMIN_MAX_AGE: String(ADMIN_MAX_AGE) });
});
afterAll(() => server.stop());

describe("who may open the console", () => {
  test("nobody signed in goes to the sign-in, and comes back to the screen asked for", async () => {
    const b = new Browserless(server.url);
    const page = await b.get("/admin?x=1");
    expect(page.status).toBe(303);
    const login = new URL(page.location!, server.url);
    expect(login.pathname).toBe("/login");
    expect(login.searchParams.get("return_to")).toBe("/admin?x=1");
  });

  test("a plain user is refused with 403 and sees no navigation", async () => {
    const input = newUser();
    await createUser(server.core, input, { actor: CLI_ACTOR, isVerified: true });
    const b = await signInBrowser(server, input.email, input.password);
    const page = await b.get("/admin");
    expect(page.status).toBe(403);
    expect(page.html).toContain('data-error-code="FORBIDDEN"');
    expect(page.html).not.toContain("admin-nav");
  });

  test("an admin sees the console, never cached", async () => {
    const { b } = await consoleAdmin(server);
    const page = await b.get("/admin");
    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toBe("no-store");
    expect(page.html).toContain('aria-current="page"');
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  test("a demoted admin loses the console on the next request", async () => {
    const admin = await consoleAdmin(server);
    expect((await admin.b.get("/admin")).status).toBe(200);
    await adminUpdateUser(server.core, CLI_ACTOR, admin.id, { roles: ["user"] });
    expect((await admin.b.get("/admin")).status).toBe(403);
  });

  test("a blocked admin's session ends: the next request goes to the sign-in", async () => {
    const admin = await consoleAdmin(server);
    await consoleAdmin(server); // another admin, so the last-admin rule allows the block
    await blockUser(server.core, CLI_ACTOR, admin.id, { reason: "test" });
    const page = await admin.b.get("/admin");
    expect(page.status).toBe(303);
    expect(page.location).toStartWith("/login");
  });
});

describe("step-up", () => {
  test("the confirm page takes the password and goes back to a console path only", async () => {
    const admin = await consoleAdmin(server);
    const page = await admin.b.get("/admin/confirm?return_to=/admin/users");
    expect(page.status).toBe(200);
    expect(headingOf(page.html)).toBe("Confirm it is you");
    const form = formOf(page.html, "/admin/confirm");
    const wrong = await admin.b.post(form.action, { ...form.fields, password: "not the password" });
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain('data-error-code="WRONG_PASSWORD"');
    const right = await admin.b.post(form.action, { ...form.fields, password: admin.password });
    expect(right.status).toBe(303);
    expect(right.location).toBe("/admin/users");
    const elsewhere = await admin.b.post(form.action, { ...form.fields, password: admin.password, return_to: "/account" });
    expect(elsewhere.location).toBe("/admin");
    const offsite = await admin.b.post(form.action, { ...form.fields, password: admin.password, return_to: "https://evil.example/admin" });
    expect(offsite.location).toBe("/admin");
    // Each confirmation, right or wrong, is in the audit log with the admin and the IP.
    const trail = (await listAudit(server.core.db, { actorId: admin.id, limit: 10, offset: 0 })).items.map((e) => [e.event, e.actor.type, e.ip]);
    expect(trail.filter(([event]) => event === "session.step_up_failed")).toEqual([["session.step_up_failed", "admin", "127.0.0.1"]]);
    expect(trail.filter(([event]) => event === "session.stepped_up").length).toBe(3);
  });

  test("without the CSRF token the confirmation is refused", async () => {
    const admin = await consoleAdmin(server);
    const res = await admin.b.post("/admin/confirm", { password: admin.password });
    expect(res.status).toBe(403);
  });
});
