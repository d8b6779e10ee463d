import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "drizzle-orm";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { createUser } from "../../src/core/users/users.ts";
import { createAdmin, createPlainUser, failureOf, loginAs, type LoggedIn } from "../support/admin.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

let server: TestServer;
let admin: LoggedIn;
let plain: LoggedIn;
beforeAll(async () => {
  server = await startTestServer({ USERSVC_LOGIN_MAX_ATTEMPTS: "1000" });
  admin = await createAdmin(server);
  plain = await createPlainUser(server);
});
afterAll(() => server.stop());

interface RouteCase {
  method: string;
  /** The path for a target user id. */
  path: (id: string) => string;
  body?: unknown;
  /** The same route with input that fails validation (bad id, query or body). */
  invalid?: { path: (id: string) => string; body?: unknown };
}

const ROUTES: Record<string, RouteCase> = {
  "GET /admin/check": { method: "GET", path: () => "/admin/check" },
  "GET /admin/users": {
    method: "GET",
    path: () => "/admin/users",
    invalid: { path: () => "/admin/users?limit=0&sort=nope&bogus=1" },
  },
  "GET /admin/users/{id}": {
    method: "GET",
    path: (id) => `/admin/users/${id}`,
    invalid: { path: () => "/admin/users/not-a-uuid" },
  },
  "PATCH /admin/users/{id}": {
    method: "PATCH",
    path: (id) => `/admin/users/${id}`,
    body: { is_verified: true },
    invalid: { path: () => "/admin/users/not-a-uuid", body: { roles: "admin", bogus: 1 } },
  },
  "DELETE /admin/users/{id}": {
    method: "DELETE",
    path: (id) => `/admin/users/${id}`,
    invalid: { path: () => "/admin/users/not-a-uuid?hard=maybe" },
  },
  "DELETE /admin/users/{id}?hard=true": {
    method: "DELETE",
    path: (id) => `/admin/users/${id}?hard=true`,
    invalid: { path: () => "/admin/users/not-a-uuid?hard=true" },
  },
  "POST /admin/users/{id}/restore": {
    method: "POST",
    path: (id) => `/admin/users/${id}/restore`,
    invalid: { path: () => "/admin/users/not-a-uuid/restore" },
  },
  "POST /admin/users/{id}/block": {
    method: "POST",
    path: (id) => `/admin/users/${id}/block`,
    body: { reason: "spam" },
    invalid: { path: () => "/admin/users/not-a-uuid/block", body: { until: 5, bogus: true } },
  },
  "POST /admin/users/{id}/unblock": {
    method: "POST",
    path: (id) => `/admin/users/${id}/unblock`,
    invalid: { path: () => "/admin/users/not-a-uuid/unblock" },
  },
  "POST /admin/users/{id}/logout": {
    method: "POST",
    path: (id) => `/admin/users/${id}/logout`,
    invalid: { path: () => "/admin/users/not-a-uuid/logout" },
  },
  "POST /admin/users/{id}/balance": {
    method: "POST",
    path: (id) => `/admin/users/${id}/balance`,
    body: { amount: 5, reason: "welcome gift" },
    invalid: { path: () => "/admin/users/not-a-uuid/balance", body: { amount: "lots" } },
  },
  "GET /admin/audit": {
    method: "GET",
    path: () => "/admin/audit",
    invalid: { path: () => "/admin/audit?user_id=nope&limit=0" },
  },
};

/** A fresh user for a route to act on, so no test depends on another's leftovers. */
async function target(): Promise<string> {
  return (await createUser(server.core, newUser(), { actor: CLI_ACTOR })).id;
}

function call(token: string | undefined, method: string, path: string, body?: unknown) {
  return server.api(method, `/api/v1${path}`, { token, body });
}

describe.each(Object.entries(ROUTES))("%s", (_name, route) => {
  test("without a token answers 401 UNAUTHENTICATED", async () => {
    const res = await call(undefined, route.method, route.path(await target()), route.body);
    expect(res.status).toBe(401);
    expect(res.body).toEqual(failureOf("UNAUTHENTICATED"));
  });

  test("with a garbled authorization header answers 401 UNAUTHENTICATED", async () => {
    const path = `/api/v1${route.path(await target())}`;
    const res = await server.api(route.method, path, { body: route.body, headers: { authorization: "Basic YTpi" } });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(failureOf("UNAUTHENTICATED"));
  });

  test("a plain user answers 403 FORBIDDEN", async () => {
    const res = await call(plain.token, route.method, route.path(await target()), route.body);
    expect(res.status).toBe(403);
    expect(res.body).toEqual(failureOf("FORBIDDEN"));
  });

  test("an admin succeeds", async () => {
    const res = await call(admin.token, route.method, route.path(await target()), route.body);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, data: expect.any(Object), error: null });
  });

  if (route.invalid) {
    const invalid = route.invalid;
    test("with invalid input, no token still answers 401 (auth before validation)", async () => {
      const res = await call(undefined, route.method, invalid.path(""), invalid.body);
      expect(res.status).toBe(401);
      expect(res.body).toEqual(failureOf("UNAUTHENTICATED"));
    });

    test("with invalid input, a plain user still answers 403 FORBIDDEN, not 422", async () => {
      const res = await call(plain.token, route.method, invalid.path(""), invalid.body);
      expect(res.status).toBe(403);
      expect(res.body).toEqual(failureOf("FORBIDDEN"));
    });

    test("with invalid input, an admin answers 422 VALIDATION_ERROR", async () => {
      const res = await call(admin.token, route.method, invalid.path(""), invalid.body);
      expect(res.status).toBe(422);
      expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
    });
  }
});

describe("admin role changes apply on the very next request", () => {
  test("GET /admin/check answers {is_admin: true} to an admin", async () => {
    const res = await call(admin.token, "GET", "/admin/check");
    expect(res.body).toEqual({ success: true, data: { is_admin: true }, error: null });
  });

  test("an admin demoted by another admin gets 403 FORBIDDEN with the old token, which still opens /users/me", async () => {
    const demoted = await createAdmin(server);
    expect((await call(demoted.token, "GET", "/admin/check")).status).toBe(200);

    const res = await call(admin.token, "PATCH", `/admin/users/${demoted.id}`, { roles: ["user"] });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(expect.objectContaining({ roles: ["user"], is_admin: false }));

    const check = await call(demoted.token, "GET", "/admin/check");
    expect(check.status).toBe(403);
    expect(check.body).toEqual(failureOf("FORBIDDEN"));
    const list = await call(demoted.token, "GET", "/admin/users");
    expect(list.status).toBe(403);
    const me = await call(demoted.token, "GET", "/users/me");
    expect(me.status).toBe(200);
    expect(me.body.data.is_admin).toBe(false);
  });

  test("a plain user promoted by an admin is an admin on the next request with the old token", async () => {
    const promoted = await createPlainUser(server);
    expect((await call(promoted.token, "GET", "/admin/check")).status).toBe(403);
    const res = await call(admin.token, "PATCH", `/admin/users/${promoted.id}`, { roles: ["user", "admin"] });
    expect(res.status).toBe(200);
    expect((await call(promoted.token, "GET", "/admin/check")).status).toBe(200);
  });

  test("a blocked admin's token is refused, and its login answers 403 ACCOUNT_BLOCKED", async () => {
    const blocked = await createAdmin(server);
    const res = await call(admin.token, "POST", `/admin/users/${blocked.id}/block`, { reason: "compromised" });
    expect(res.status).toBe(200);

    const check = await call(blocked.token, "GET", "/admin/check");
    expect(check.status).toBe(401);
    expect(check.body).toEqual(failureOf("SESSION_REVOKED"));
    const refreshed = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: blocked.tokens.refresh_token } });
    expect(refreshed.status).toBe(401);
    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: blocked.input.email, password: blocked.input.password } });
    expect(login.status).toBe(403);
    expect(login.body).toEqual(failureOf("ACCOUNT_BLOCKED"));
  });

  test("a blocked admin whose session somehow survived gets 403 ACCOUNT_BLOCKED, not admin access", async () => {
    const blocked = await createAdmin(server);
    // Block in the table alone, leaving the session alive (as a row edited by hand would).
    await server.core.db.execute(sql`update users set status = 'blocked' where id = ${blocked.id}`);
    const check = await call(blocked.token, "GET", "/admin/check");
    expect(check.status).toBe(403);
    expect(check.body).toEqual(failureOf("ACCOUNT_BLOCKED"));
  });

  test("a soft-deleted admin's token is refused with 401", async () => {
    const deleted = await createAdmin(server);
    expect((await call(admin.token, "DELETE", `/admin/users/${deleted.id}`)).status).toBe(200);
    const check = await call(deleted.token, "GET", "/admin/check");
    expect(check.status).toBe(401);
    expect(check.body).toEqual(failureOf("SESSION_REVOKED"));
  });

  test("an admin logged in again after being unblocked is an admin again", async () => {
    const blocked = await createAdmin(server);
    expect((await call(admin.token, "POST", `/admin/users/${blocked.id}/block`)).status).toBe(200);
    expect((await call(admin.token, "POST", `/admin/users/${blocked.id}/unblock`)).status).toBe(200);
    const tokens = await loginAs(server.api, blocked.input);
    expect((await call(tokens.access_token, "GET", "/admin/check")).status).toBe(200);
  });
});
