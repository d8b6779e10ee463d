/**
 * Mass assignment and privilege escalation. Nothing a user sends can set a
 * field the SPEC does not give it (roles, status, balance, verification, ids,
 * timestamps, another user's data): unknown fields are refused with 422 and
 * the stored row stays byte for byte the same. Nothing a user holds reaches
 * another user's sessions or any admin route, and admin rights are read from
 * the database on every request, not from the token. The last-admin rule
 * (409 LAST_ADMIN) is proven in tests/server/last-admin.test.ts.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { decodeJwt } from "jose";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { sessions, users } from "../../src/core/db/schema.ts";
import { blockUser } from "../../src/core/users/lifecycle.ts";
import { createApp } from "../../src/server/app.ts";
import { createAdmin, createPlainUser, failureOf, loginAs, type LoggedIn } from "../support/admin.ts";
import { newUser, startTestServer, type ApiResponse, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

/** The whole stored row, password hash included: "unchanged" means unchanged in every column. */
async function storedRow(id: string) {
  const [row] = await server.core.db.select().from(users).where(eq(users.id, id));
  return row;
}

async function sessionCount(userId: string): Promise<number> {
  return (await server.core.db.select().from(sessions).where(eq(sessions.userId, userId))).length;
}

function expectRefusedField(res: ApiResponse, field: string): void {
  expect({ status: res.status, body: res.body }).toEqual({ status: 422, body: failureOf("VALIDATION_ERROR") });
  expect(res.body.error.details).toContainEqual({ field, message: expect.any(String) });
}

/** Fields that only the server (or an admin route) may set, with a value an attacker would want. */
function privilegedFields(victimId: string): [string, unknown][] {
  return [
    ["roles", ["user", "admin"]],
    ["is_admin", true],
    ["status", "active"],
    ["balance", 1_000_000],
    ["is_verified", true],
    ["id", victimId],
    ["user_id", victimId],
    ["sub", victimId],
    ["created_at", "2000-01-01T00:00:00.000Z"],
    ["updated_at", "2000-01-01T00:00:00.000Z"],
    ["deleted_at", null],
    ["last_login_at", "2000-01-01T00:00:00.000Z"],
    ["blocked_reason", null],
    ["blocked_until", null],
    ["password_hash", "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"],
  ];
}

describe("mass assignment: privileged fields are refused with 422 and change nothing", () => {
  let victim: LoggedIn;
  beforeAll(async () => {
    victim = await createPlainUser(server);
  });

  test.each(privilegedFields("00000000-0000-4000-8000-000000000000").map(([field]) => field))(
    "register with %s answers 422 naming it, and no user is stored",
    async (field) => {
      const value = Object.fromEntries(privilegedFields(victim.id))[field];
      const input = { ...newUser(), [field]: value };
      const res = await server.api("POST", "/api/v1/users", { body: input });
      expectRefusedField(res, field);
      const stored = await server.core.db.select().from(users).where(eq(users.email, input.email));
      expect(stored).toEqual([]);
      expect(await storedRow(victim.id)).toBeDefined();
    },
  );

  describe.each(["PATCH", "PUT"])("%s /users/me", (method) => {
    test.each(privilegedFields("00000000-0000-4000-8000-000000000000").map(([field]) => field))(
      "with %s (beside a legitimate change) answers 422 naming it; neither the caller nor another user changes",
      async (field) => {
        const caller = await createPlainUser(server);
        const value = Object.fromEntries(privilegedFields(victim.id))[field];
        const [callerBefore, victimBefore] = [await storedRow(caller.id), await storedRow(victim.id)];
        const res = await server.api(method, "/api/v1/users/me", {
          token: caller.token,
          body: { [field]: value, username: `renamed${Date.now().toString(36)}`, metadata: { note: "x" } },
        });
        expectRefusedField(res, field);
        expect(await storedRow(caller.id)).toEqual(callerBefore);
        expect(await storedRow(victim.id)).toEqual(victimBefore);
      },
    );

    test("email (an admin-only field) answers 422 and the email stays", async () => {
      const caller = await createPlainUser(server);
      const before = await storedRow(caller.id);
      expectRefusedField(
        await server.api(method, "/api/v1/users/me", { token: caller.token, body: { email: victim.input.email } }),
        "email",
      );
      expect(await storedRow(caller.id)).toEqual(before);
    });
  });

  test.each(["roles", "is_admin", "status", "user_id", "id", "email", "username"])(
    "change-password with %s answers 422; the password and the row are unchanged",
    async (field) => {
      const caller = await createPlainUser(server);
      const before = await storedRow(caller.id);
      const value = Object.fromEntries([...privilegedFields(victim.id), ["email", victim.input.email], ["username", victim.input.username]])[field];
      const res = await server.api("POST", "/api/v1/auth/change-password", {
        token: caller.token,
        body: { current_password: caller.input.password, new_password: "a fresh passphrase 2031", [field]: value },
      });
      expectRefusedField(res, field);
      expect(await storedRow(caller.id)).toEqual(before);
      // The caller's session survived: a refused change revokes nothing.
      expect((await server.api("GET", "/api/v1/users/me", { token: caller.token })).status).toBe(200);
    },
  );

  test.each(["roles", "is_admin", "status", "is_verified", "user_id", "sub"])(
    "login with %s answers 422 and starts no session",
    async (field) => {
      const caller = await createPlainUser(server);
      const value = Object.fromEntries(privilegedFields(victim.id))[field];
      const sessionsBefore = await sessionCount(caller.id);
      const res = await server.api("POST", "/api/v1/auth/login", {
        body: { email: caller.input.email, password: caller.input.password, [field]: value },
      });
      expectRefusedField(res, field);
      expect(await sessionCount(caller.id)).toBe(sessionsBefore);
      expect(await sessionCount(victim.id)).toBe(1);
    },
  );

  test("DELETE /users/me with a user_id answers 422 and deletes nobody", async () => {
    const caller = await createPlainUser(server);
    const res = await server.api("DELETE", "/api/v1/users/me", {
      token: caller.token,
      body: { password: caller.input.password, user_id: victim.id },
    });
    expectRefusedField(res, "user_id");
    expect((await storedRow(caller.id))!.status).toBe("active");
    expect((await storedRow(victim.id))!.status).toBe("active");
  });

  test("metadata named like privileged fields is stored as metadata and grants nothing", async () => {
    const caller = await createPlainUser(server);
    const metadata = { roles: ["admin"], is_admin: true, status: "active", balance: 10 ** 9, is_verified: true };
    const res = await server.api("PATCH", "/api/v1/users/me", { token: caller.token, body: { metadata } });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(
      expect.objectContaining({ metadata, roles: ["user"], is_admin: false, balance: 0, is_verified: false }),
    );
    const row = await storedRow(caller.id);
    expect([row!.roles, row!.balance, row!.isVerified]).toEqual([["user"], 0, false]);
    const relogged = await loginAs(server.api, caller.input);
    expect(decodeJwt(relogged.access_token).roles).toEqual(["user"]);
    expect((await server.api("GET", "/api/v1/admin/check", { token: relogged.access_token })).status).toBe(403);
  });
});

describe("no user reaches another user", () => {
  test("DELETE /users/me/sessions/{id} with another user's session id answers 404, and that session lives on", async () => {
    const alice = await createPlainUser(server);
    const bob = await createPlainUser(server);
    const bobSession = decodeJwt(bob.token).sid as string;
    for (const id of [bobSession, bobSession.toUpperCase()]) {
      const res = await server.api("DELETE", `/api/v1/users/me/sessions/${id}`, { token: alice.token });
      expect({ status: res.status, body: res.body }).toEqual({ status: 404, body: failureOf("NOT_FOUND") });
    }
    expect((await server.api("GET", "/api/v1/users/me", { token: bob.token })).status).toBe(200);
    const [row] = await server.core.db.select().from(sessions).where(eq(sessions.id, bobSession));
    expect(row!.revokedAt).toBeNull();
  });

  test("another user's session answers exactly like a session that never existed", async () => {
    const alice = await createPlainUser(server);
    const bob = await createPlainUser(server);
    const theirs = await server.api("DELETE", `/api/v1/users/me/sessions/${decodeJwt(bob.token).sid}`, { token: alice.token });
    const nobodys = await server.api("DELETE", `/api/v1/users/me/sessions/${crypto.randomUUID()}`, { token: alice.token });
    expect([theirs.status, theirs.body]).toEqual([nobodys.status, nobodys.body]);
  });

  test("the session list and every /users/me answer are the caller's own", async () => {
    const alice = await createPlainUser(server);
    const bob = await createPlainUser(server);
    const list = await server.api("GET", "/api/v1/users/me/sessions", { token: alice.token });
    expect(list.body.data.map((s: { id: string }) => s.id)).toEqual([decodeJwt(alice.token).sid]);
    for (const path of ["/api/v1/users/me", "/api/v1/users/me/balance", "/api/v1/users/me/balance/transactions", "/api/v1/users/me/mfa"]) {
      const res = await server.api("GET", `${path}?user_id=${bob.id}&id=${bob.id}`, { token: alice.token });
      // Either the query is refused or it is ignored; never Bob's data.
      expect(JSON.stringify(res.body)).not.toContain(bob.input.email);
      if (path === "/api/v1/users/me" && res.status === 200) expect(res.body.data.id).toBe(alice.id);
    }
  });
});

describe("admin routes", () => {
  let admin: LoggedIn;
  beforeAll(async () => {
    admin = await createAdmin(server);
  });

  function adminRoutes(): { method: string; path: string }[] {
    return createApp(server.core, { docs: false })
      .routes.filter((r) => r.path.startsWith("/api/v1/admin/"))
      .map((r) => ({ method: r.method, path: r.path }));
  }

  /** A body each route would accept from an admin, so a 403 can only come from the role check. */
  function validBody(method: string, path: string): unknown {
    if (path.endsWith("/balance")) return { amount: 1_000, reason: "escalation attempt" };
    if (path.endsWith("/block")) return { reason: "escalation attempt" };
    if (method === "PATCH") return { roles: ["user", "admin"], is_verified: true };
    return undefined;
  }

  test("every admin route answers 403 FORBIDDEN to a plain user, aimed at itself or at another user, and changes nothing", async () => {
    const routes = adminRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(11);
    const caller = await createPlainUser(server);
    const other = await createPlainUser(server);
    for (const target of [caller, other]) {
      const before = [await storedRow(caller.id), await storedRow(other.id)];
      for (const { method, path } of routes) {
        const res = await server.api(method, path.replace(":id", target.id), { token: caller.token, body: validBody(method, path) });
        expect({ route: `${method} ${path}`, status: res.status, body: res.body }).toEqual({
          route: `${method} ${path}`,
          status: 403,
          body: failureOf("FORBIDDEN"),
        });
      }
      expect([await storedRow(caller.id), await storedRow(other.id)]).toEqual(before);
    }
  });

  test("an admin succeeds on the same requests (the 403s above come from the role check alone)", async () => {
    const target = await createPlainUser(server);
    const res = await server.api("PATCH", `/api/v1/admin/users/${target.id}`, { token: admin.token, body: validBody("PATCH", "") });
    expect([res.status, res.body.data.roles]).toEqual([200, ["user", "admin"]]);
    expect((await server.api("GET", "/api/v1/admin/check", { token: admin.token })).status).toBe(200);
  });

  test("a token that claims roles [\"admin\"], signed with the server's own key, still answers 403: roles come from the database", async () => {
    const caller = await createPlainUser(server);
    const claims = decodeJwt(caller.token);
    const forged = await server.core.tokens.mint({
      sub: caller.id,
      sid: claims.sid as string,
      jti: crypto.randomUUID(),
      type: "access",
      ttlSeconds: 600,
      extra: { roles: ["user", "admin"], gen: claims.gen },
    });
    expect(decodeJwt(forged).roles).toEqual(["user", "admin"]);
    expect((await server.api("GET", "/api/v1/users/me", { token: forged })).status).toBe(200);
    const res = await server.api("GET", "/api/v1/admin/users", { token: forged });
    expect({ status: res.status, body: res.body }).toEqual({ status: 403, body: failureOf("FORBIDDEN") });
  });

  test("a demoted admin loses admin access on the next request, while its token stays cryptographically valid", async () => {
    const demoted = await createAdmin(server);
    expect((await server.api("GET", "/api/v1/admin/check", { token: demoted.token })).status).toBe(200);
    const res = await server.api("PATCH", `/api/v1/admin/users/${demoted.id}`, { token: admin.token, body: { roles: ["user"] } });
    expect(res.status).toBe(200);
    expect(decodeJwt(demoted.token).roles).toEqual(["user", "admin"]);
    expect((await server.api("GET", "/api/v1/users/me", { token: demoted.token })).status).toBe(200);
    for (const [method, path] of [["GET", "/api/v1/admin/check"], ["GET", "/api/v1/admin/users"], ["POST", `/api/v1/admin/users/${admin.id}/block`]]) {
      const refused = await server.api(method!, path!, { token: demoted.token, body: method === "POST" ? { reason: "revenge" } : undefined });
      expect([path, refused.status, refused.body.error?.code]).toEqual([path, 403, "FORBIDDEN"]);
    }
    expect((await storedRow(admin.id))!.status).toBe("active");
  });

  test("a blocked admin's token opens no admin route on the next request", async () => {
    const blocked = await createAdmin(server);
    await blockUser(server.core, CLI_ACTOR, blocked.id, { reason: "compromised" });
    for (const path of ["/api/v1/admin/check", "/api/v1/admin/users", "/api/v1/users/me"]) {
      const res = await server.api("GET", path, { token: blocked.token });
      expect([path, res.status]).toEqual([path, 401]);
    }
  });

  test("an admin blocked in the database with its session left alive gets 403 ACCOUNT_BLOCKED, not admin access", async () => {
    const blocked = await createAdmin(server);
    await server.core.db.update(users).set({ status: "blocked" }).where(eq(users.id, blocked.id));
    const res = await server.api("GET", "/api/v1/admin/users", { token: blocked.token });
    expect({ status: res.status, body: res.body }).toEqual({ status: 403, body: failureOf("ACCOUNT_BLOCKED") });
  });

  test("a plain user promoted behind the instance's back (SQL, another instance) is an admin within 1 s, same token", async () => {
    const promoted = await createPlainUser(server);
    expect((await server.api("GET", "/api/v1/admin/check", { token: promoted.token })).status).toBe(403);
    await server.core.db.update(users).set({ roles: ["user", "admin"] }).where(eq(users.id, promoted.id));
    server.clock.advance(server.core.config.authCacheMs / 1000);
    expect((await server.api("GET", "/api/v1/admin/check", { token: promoted.token })).status).toBe(200);
  });
});
