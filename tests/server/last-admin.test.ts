import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq, ne } from "drizzle-orm";
import { adminActor, CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { users } from "../../src/core/db/schema.ts";
import { DomainError } from "../../src/core/errors.ts";
import { adminUpdateUser } from "../../src/core/users/admin-update.ts";
import { blockUser, purgeUser, softDeleteUser } from "../../src/core/users/lifecycle.ts";
import { userColumns } from "../../src/core/users/queries.ts";
import { isActiveAdmin } from "../../src/core/users/user-record.ts";
import { createUser } from "../../src/core/users/users.ts";
import { createAdmin, createPlainUser, failureOf, loginAs, type LoggedIn } from "../support/admin.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

let server: TestServer;
let admin: LoggedIn;
beforeAll(async () => {
  server = await startTestServer();
  admin = await createAdmin(server);
});
afterAll(() => server.stop());

/** Every test starts with `admin` as the only admin, active and logged in. */
beforeEach(async () => {
  await server.core.db.update(users).set({ roles: ["user"] }).where(ne(users.id, admin.id));
  await server.core.db
    .update(users)
    .set({ roles: ["user", "admin"], status: "active", blockedReason: null, blockedUntil: null, deletedAt: null })
    .where(eq(users.id, admin.id));
  if ((await call(admin.token, "GET", "/admin/check")).status !== 200) {
    admin.token = (await loginAs(server.api, admin.input)).access_token;
  }
});

function call(token: string, method: string, path: string, body?: unknown) {
  return server.api(method, `/api/v1${path}`, { token, body });
}

/** Ids of the admins that are active now, read from the database (callers may have lost their rights). */
async function activeAdmins(): Promise<string[]> {
  const rows = await server.core.db.select(userColumns).from(users);
  return rows
    .filter((u) => isActiveAdmin(u, server.core.now()))
    .map((u) => u.id)
    .sort();
}

/** The error code a core call rejected with, or "ok". */
async function outcome(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return "ok";
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
}

describe("the only active admin", () => {
  // Every row has four entries: with three, bun would take the fourth parameter for a done callback.
  const refusals: [string, string, string, unknown][] = [
    ["demoted (PATCH roles without admin)", "PATCH", "", { roles: ["user"] }],
    ["demoted to no roles at all", "PATCH", "", { roles: [] }],
    ["blocked", "POST", "/block", { reason: "oops" }],
    ["blocked until a time", "POST", "/block", { until: "2999-01-01T00:00:00Z" }],
    ["soft-deleted", "DELETE", "", undefined],
    ["purged", "DELETE", "?hard=true", undefined],
  ];
  test.each(refusals)("cannot be %s: 409 LAST_ADMIN and nothing changes", async (_what, method, suffix, body) => {
    const before = (await call(admin.token, "GET", `/admin/users/${admin.id}`)).body.data;
    const res = await call(admin.token, method, `/admin/users/${admin.id}${suffix}`, body);
    expect(res.status).toBe(409);
    expect(res.body).toEqual(failureOf("LAST_ADMIN"));
    const after = await call(admin.token, "GET", `/admin/users/${admin.id}`);
    expect(after.status).toBe(200);
    expect(after.body.data).toEqual(before);
  });

  test("cannot delete its own account through DELETE /users/me: 409 LAST_ADMIN, sessions kept", async () => {
    const res = await call(admin.token, "DELETE", "/users/me", { password: admin.input.password });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(failureOf("LAST_ADMIN"));
    const me = await call(admin.token, "GET", "/users/me");
    expect(me.status).toBe(200);
    expect(me.body.data).toEqual(expect.objectContaining({ status: "active", is_admin: true }));
  });

  test("is protected from the CLI's actions too", async () => {
    for (const work of [
      () => blockUser(server.core, CLI_ACTOR, admin.id, {}),
      () => softDeleteUser(server.core, CLI_ACTOR, admin.id),
      () => purgeUser(server.core, CLI_ACTOR, admin.id),
      () => adminUpdateUser(server.core, CLI_ACTOR, admin.id, { roles: ["user"] }),
    ]) {
      expect(await outcome(work())).toBe("LAST_ADMIN");
    }
    expect(await activeAdmins()).toEqual([admin.id]);
  });

  test("may still change its other fields and add roles", async () => {
    const res = await call(admin.token, "PATCH", `/admin/users/${admin.id}`, {
      roles: ["admin", "support"],
      is_verified: true,
      metadata: { team: "ops" },
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(expect.objectContaining({ roles: ["admin", "support"], is_admin: true, is_verified: true }));
  });

  test("a blocked or soft-deleted second admin does not count", async () => {
    const blocked = await createAdmin(server);
    const deleted = await createAdmin(server);
    expect((await call(admin.token, "POST", `/admin/users/${blocked.id}/block`)).status).toBe(200);
    expect((await call(admin.token, "DELETE", `/admin/users/${deleted.id}`)).status).toBe(200);
    const res = await call(admin.token, "PATCH", `/admin/users/${admin.id}`, { roles: ["user"] });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(failureOf("LAST_ADMIN"));
  });

  test("a second admin whose block has expired counts as active", async () => {
    const other = await createAdmin(server);
    const until = new Date(server.core.now().getTime() + 60_000).toISOString();
    expect((await call(admin.token, "POST", `/admin/users/${other.id}/block`, { until })).status).toBe(200);
    expect((await call(admin.token, "PATCH", `/admin/users/${admin.id}`, { roles: ["user"] })).status).toBe(409);
    server.clock.advance(61);
    const res = await call(admin.token, "PATCH", `/admin/users/${admin.id}`, { roles: ["user"] });
    expect(res.status).toBe(200);
    expect(res.body.data.is_admin).toBe(false);
  });

  test("with two admins one can be demoted, then the other cannot", async () => {
    const other = await createAdmin(server);
    expect((await call(admin.token, "PATCH", `/admin/users/${other.id}`, { roles: ["user"] })).status).toBe(200);
    const res = await call(admin.token, "PATCH", `/admin/users/${admin.id}`, { roles: ["user"] });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(failureOf("LAST_ADMIN"));
    expect(await activeAdmins()).toEqual([admin.id]);
  });

  test("with two admins one can delete its own account, then the other cannot", async () => {
    const other = await createAdmin(server);
    expect((await call(other.token, "DELETE", "/users/me", { password: other.input.password })).status).toBe(200);
    const res = await call(admin.token, "DELETE", "/users/me", { password: admin.input.password });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(failureOf("LAST_ADMIN"));
  });

  test("plain users are never LAST_ADMIN", async () => {
    const user = await createPlainUser(server);
    expect((await call(admin.token, "POST", `/admin/users/${user.id}/block`)).status).toBe(200);
    expect((await call(admin.token, "DELETE", `/admin/users/${user.id}?hard=true`)).status).toBe(200);
  });
});

describe("concurrent demotions of the last two admins", () => {
  const ROUNDS = [1, 2, 3, 4, 5];

  test.each(ROUNDS)("A demotes B while B demotes A (round %i): one wins, the other is refused, one admin is left", async () => {
    const b = await createAdmin(server);
    const results = await Promise.all([
      call(admin.token, "PATCH", `/admin/users/${b.id}`, { roles: ["user"] }),
      call(b.token, "PATCH", `/admin/users/${admin.id}`, { roles: ["user"] }),
    ]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    // The loser is refused by the guard (409), or, when the winner committed before the
    // loser's request was authorized, because it is no longer an admin (403).
    for (const loser of results.filter((r) => r.status !== 200)) {
      expect([failureOf("LAST_ADMIN"), failureOf("FORBIDDEN")]).toContainEqual(loser.body);
    }
    expect(await activeAdmins()).toHaveLength(1);
  });

  test.each(ROUNDS)("one admin removes the other and itself at once (round %i): one admin is left", async () => {
    const b = await createAdmin(server);
    const results = await Promise.all([
      call(admin.token, "PATCH", `/admin/users/${b.id}`, { roles: ["user"] }),
      call(admin.token, "PATCH", `/admin/users/${admin.id}`, { roles: ["user"] }),
    ]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const loser of results.filter((r) => r.status !== 200)) {
      expect([failureOf("LAST_ADMIN"), failureOf("FORBIDDEN")]).toContainEqual(loser.body);
    }
    expect(await activeAdmins()).toHaveLength(1);
  });

  test.each(ROUNDS)("both admins delete their own accounts at once (round %i): exactly one gets 409 LAST_ADMIN", async () => {
    const b = await createAdmin(server);
    const results = await Promise.all(
      [admin, b].map((who) => call(who.token, "DELETE", "/users/me", { password: who.input.password })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(results.find((r) => r.status === 409)!.body).toEqual(failureOf("LAST_ADMIN"));
    expect(await activeAdmins()).toHaveLength(1);
  });

  type Race = (a: string, b: string) => Promise<unknown>[];
  const races: [string, Race][] = [
    ["demote each other", (a, b) => [
      adminUpdateUser(server.core, adminActor(a, null), b, { roles: ["user"] }),
      adminUpdateUser(server.core, adminActor(b, null), a, { roles: ["user"] }),
    ]],
    ["block each other", (a, b) => [
      blockUser(server.core, adminActor(a, null), b, {}),
      blockUser(server.core, adminActor(b, null), a, {}),
    ]],
    ["delete each other", (a, b) => [
      softDeleteUser(server.core, adminActor(a, null), b),
      softDeleteUser(server.core, adminActor(b, null), a),
    ]],
    ["purge each other", (a, b) => [
      purgeUser(server.core, adminActor(a, null), b),
      purgeUser(server.core, adminActor(b, null), a),
    ]],
    ["block one while demoting the other", (a, b) => [
      blockUser(server.core, adminActor(a, null), b, {}),
      adminUpdateUser(server.core, adminActor(b, null), a, { roles: ["user"] }),
    ]],
    ["delete one while blocking the other", (a, b) => [
      softDeleteUser(server.core, adminActor(a, null), b),
      blockUser(server.core, adminActor(b, null), a, {}),
    ]],
  ];

  test.each(races)("in the core, two admins that %s: one wins, the other gets LAST_ADMIN (3 rounds)", async (_name, race) => {
    for (let round = 0; round < 3; round++) {
      // Two admins of their own, so a purge never removes the file's `admin`.
      const [a, b] = await Promise.all([0, 1].map(() => createUser(server.core, newUser(), { actor: CLI_ACTOR, roles: ["admin"] })));
      await server.core.db.update(users).set({ roles: ["user"] }).where(eq(users.id, admin.id));
      const outcomes = await Promise.all(race(a!.id, b!.id).map(outcome));
      expect(outcomes.sort()).toEqual(["LAST_ADMIN", "ok"]);
      const left = await activeAdmins();
      expect(left).toHaveLength(1);
      expect([a!.id, b!.id]).toContain(left[0]!);
      // Retire both before the next round.
      await server.core.db.update(users).set({ roles: ["user"] }).where(ne(users.id, admin.id));
    }
  });
});
