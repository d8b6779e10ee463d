import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { runLifecycleSweep } from "../../src/core/users/lifecycle.ts";
import { createUser } from "../../src/core/users/users.ts";
import { createAdmin, createPlainUser, failureOf, loginAs, type LoggedIn } from "../support/admin.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let server: TestServer;
let admin: LoggedIn;
beforeAll(async () => {
  server = await startTestServer({ USERSVC_LOGIN_MAX_ATTEMPTS: "1000" });
  admin = await createAdmin(server);
});
afterAll(() => server.stop());

function adminCall(method: string, path: string, body?: unknown) {
  return server.api(method, `/api/v1/admin${path}`, { token: admin.token, body });
}

function me(token: string) {
  return server.api("GET", "/api/v1/users/me", { token });
}

function refresh(refreshToken: string) {
  return server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: refreshToken } });
}

function login(input: { email: string; password: string }) {
  return server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
}

async function userView(id: string) {
  const res = await adminCall("GET", `/users/${id}`);
  expect(res.status).toBe(200);
  return res.body.data;
}

/** A moment `seconds` from the server's now, as ISO-8601. */
function inSeconds(seconds: number): string {
  return new Date(server.core.now().getTime() + seconds * 1000).toISOString();
}

/** After moving the clock, the admin's access token may have expired: log in again. */
async function renewAdminToken(): Promise<void> {
  admin.token = (await loginAs(server.api, admin.input)).access_token;
}

describe("POST /admin/users/{id}/block", () => {
  test("blocks with a reason and an end time and answers the blocked user", async () => {
    const user = await createPlainUser(server);
    const until = inSeconds(3600);
    const res = await adminCall("POST", `/users/${user.id}/block`, { reason: "  chargeback fraud  ", until });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      error: null,
      data: expect.objectContaining({
        id: user.id,
        status: "blocked",
        is_active: false,
        blocked_reason: "chargeback fraud",
        blocked_until: until,
      }),
    });
    expect(await userView(user.id)).toEqual(res.body.data);
  });

  test("without a body blocks until unblocked, with no reason", async () => {
    const user = await createPlainUser(server);
    const res = await adminCall("POST", `/users/${user.id}/block`);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(expect.objectContaining({ status: "blocked", blocked_reason: null, blocked_until: null }));
  });

  test("the user's access and refresh tokens are refused on the very next request", async () => {
    const user = await createPlainUser(server);
    const second = await loginAs(server.api, user.input);
    expect((await adminCall("POST", `/users/${user.id}/block`, { reason: "spam" })).status).toBe(200);

    for (const token of [user.token, second.access_token]) {
      const res = await me(token);
      expect(res.status).toBe(401);
      expect(res.body).toEqual(failureOf("SESSION_REVOKED"));
    }
    for (const token of [user.tokens.refresh_token, second.refresh_token]) {
      const res = await refresh(token);
      expect(res.status).toBe(401);
      expect(res.body.success).toBe(false);
    }
  });

  test("login answers 403 ACCOUNT_BLOCKED only with the right password", async () => {
    const user = await createPlainUser(server);
    await adminCall("POST", `/users/${user.id}/block`, { reason: "spam" });
    const wrong = await login({ email: user.input.email, password: "definitely not it" });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual(failureOf("INVALID_CREDENTIALS"));
    const right = await login(user.input);
    expect(right.status).toBe(403);
    expect(right.body).toEqual(failureOf("ACCOUNT_BLOCKED"));
  });

  test("a block ends by itself at its until: login works and the user shows active", async () => {
    const user = await createPlainUser(server);
    await adminCall("POST", `/users/${user.id}/block`, { reason: "cool off", until: inSeconds(600) });

    server.clock.advance(599);
    expect((await login(user.input)).status).toBe(403);
    expect((await userView(user.id)).status).toBe("blocked");

    server.clock.advance(2);
    const res = await login(user.input);
    expect(res.status).toBe(200);
    expect((await me(res.body.data.access_token)).body.data).toEqual(
      expect.objectContaining({ status: "active", is_active: true, blocked_reason: null, blocked_until: null }),
    );
    expect(await userView(user.id)).toEqual(expect.objectContaining({ status: "active", is_active: true }));
    await renewAdminToken();
  });

  test("blocking again replaces the reason and end time", async () => {
    const user = await createPlainUser(server);
    await adminCall("POST", `/users/${user.id}/block`, { reason: "first", until: inSeconds(60) });
    const res = await adminCall("POST", `/users/${user.id}/block`, { reason: "second" });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(expect.objectContaining({ status: "blocked", blocked_reason: "second", blocked_until: null }));
  });

  test.each([
    ["until in the past", () => ({ until: inSeconds(-1) })],
    ["until now", () => ({ until: server.core.now().toISOString() })],
    ["until that is not a date", () => ({ until: "tomorrow" })],
    ["until with a month 13", () => ({ until: "2999-13-01T00:00:00Z" })],
    ["until on a day the month does not have", () => ({ until: "2999-02-31" })],
    ["until a past date alone", () => ({ until: "2000-01-01" })],
    ["until as a number", () => ({ until: Date.now() + 60_000 })],
    ["a reason over 500 characters", () => ({ reason: "x".repeat(501) })],
    ["an unknown field", () => ({ reason: "spam", days: 3 })],
  ])("%s answers 422 VALIDATION_ERROR and blocks nothing", async (_what, body) => {
    const user = await createPlainUser(server);
    const res = await adminCall("POST", `/users/${user.id}/block`, body());
    expect(res.status).toBe(422);
    expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
    expect((await me(user.token)).status).toBe(200);
    expect((await userView(user.id)).status).toBe("active");
  });

  test("a past until names the field", async () => {
    const user = await createPlainUser(server);
    const res = await adminCall("POST", `/users/${user.id}/block`, { until: inSeconds(-3600) });
    expect(res.body.error.details).toEqual([{ field: "until", message: expect.any(String) }]);
  });

  test("a date alone blocks until the start of that day UTC", async () => {
    const user = await createPlainUser(server);
    const res = await adminCall("POST", `/users/${user.id}/block`, { until: "2999-01-01" });
    expect([res.status, res.body.data?.blocked_until]).toEqual([200, "2999-01-01T00:00:00.000Z"]);
  });

  test("a past date gets its own message, not the one for a value that is no date", async () => {
    const user = await createPlainUser(server);
    const past = await adminCall("POST", `/users/${user.id}/block`, { until: "2000-01-01" });
    const notADate = await adminCall("POST", `/users/${user.id}/block`, { until: "01/01/2999" });
    expect(past.body.error.details).toEqual([{ field: "until", message: "must be in the future" }]);
    expect(notADate.body.error.details).toEqual([
      { field: "until", message: "must be an ISO-8601 date (2030-01-31, the start of that day UTC) or date-time (2030-01-31T12:00:00Z)" },
    ]);
  });

  test("an unknown user answers 404 USER_NOT_FOUND, a bad id 422", async () => {
    const res = await adminCall("POST", `/users/${crypto.randomUUID()}/block`, { reason: "x" });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(failureOf("USER_NOT_FOUND"));
    expect((await adminCall("POST", "/users/xyz/block", { reason: "x" })).status).toBe(422);
  });

  test("a soft-deleted user cannot be blocked: 404 USER_NOT_FOUND", async () => {
    const user = await createPlainUser(server);
    await adminCall("DELETE", `/users/${user.id}`);
    const res = await adminCall("POST", `/users/${user.id}/block`, { reason: "x" });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(failureOf("USER_NOT_FOUND"));
    expect((await userView(user.id)).status).toBe("deleted");
  });
});

describe("POST /admin/users/{id}/unblock", () => {
  test("lifts a block: the user shows active and logs in", async () => {
    const user = await createPlainUser(server);
    await adminCall("POST", `/users/${user.id}/block`, { reason: "spam", until: inSeconds(3600) });
    const res = await adminCall("POST", `/users/${user.id}/unblock`);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(
      expect.objectContaining({ status: "active", is_active: true, blocked_reason: null, blocked_until: null }),
    );
    expect((await login(user.input)).status).toBe(200);
  });

  test("tokens revoked by the block stay revoked after the unblock", async () => {
    const user = await createPlainUser(server);
    await adminCall("POST", `/users/${user.id}/block`);
    await adminCall("POST", `/users/${user.id}/unblock`);
    expect((await me(user.token)).status).toBe(401);
    expect((await refresh(user.tokens.refresh_token)).status).toBe(401);
  });

  test("unblocking an active user answers the user unchanged", async () => {
    const user = await createPlainUser(server);
    const before = await userView(user.id);
    const res = await adminCall("POST", `/users/${user.id}/unblock`);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(before);
  });

  test("an unknown user answers 404 USER_NOT_FOUND", async () => {
    const res = await adminCall("POST", `/users/${crypto.randomUUID()}/unblock`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual(failureOf("USER_NOT_FOUND"));
  });
});

describe("DELETE /admin/users/{id} (soft) and POST /admin/users/{id}/restore", () => {
  test("a soft delete answers the user with status deleted and deleted_at set", async () => {
    const user = await createPlainUser(server);
    const res = await adminCall("DELETE", `/users/${user.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      error: null,
      data: expect.objectContaining({
        id: user.id,
        status: "deleted",
        is_active: false,
        deleted_at: expect.stringMatching(ISO_UTC),
      }),
    });
    expect(await userView(user.id)).toEqual(res.body.data);
  });

  test("?hard=false is a soft delete too", async () => {
    const user = await createPlainUser(server);
    const res = await adminCall("DELETE", `/users/${user.id}?hard=false`);
    expect(res.status).toBe(200);
    expect(res.body.data.status).toBe("deleted");
  });

  test("the deleted user's tokens are refused and its login answers 401 INVALID_CREDENTIALS", async () => {
    const user = await createPlainUser(server);
    await adminCall("DELETE", `/users/${user.id}`);
    const access = await me(user.token);
    expect(access.status).toBe(401);
    expect(access.body).toEqual(failureOf("SESSION_REVOKED"));
    expect((await refresh(user.tokens.refresh_token)).status).toBe(401);
    for (const password of [user.input.password, "a wrong password"]) {
      const res = await login({ email: user.input.email, password });
      expect(res.status).toBe(401);
      expect(res.body).toEqual(failureOf("INVALID_CREDENTIALS"));
    }
  });

  test("deleting a deleted user again answers it unchanged", async () => {
    const user = await createPlainUser(server);
    const first = await adminCall("DELETE", `/users/${user.id}`);
    server.clock.advance(1);
    const second = await adminCall("DELETE", `/users/${user.id}`);
    expect(second.status).toBe(200);
    expect(second.body.data).toEqual(first.body.data);
  });

  test("soft-deleting a blocked user clears the block", async () => {
    const user = await createPlainUser(server);
    await adminCall("POST", `/users/${user.id}/block`, { reason: "spam", until: inSeconds(3600) });
    const res = await adminCall("DELETE", `/users/${user.id}`);
    expect(res.body.data).toEqual(expect.objectContaining({ status: "deleted", blocked_reason: null, blocked_until: null }));
  });

  test("restore brings the user back: active, deleted_at null, and it can log in again", async () => {
    const user = await createPlainUser(server);
    await adminCall("DELETE", `/users/${user.id}`);
    const res = await adminCall("POST", `/users/${user.id}/restore`);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(expect.objectContaining({ id: user.id, status: "active", is_active: true, deleted_at: null }));
    const again = await login(user.input);
    expect(again.status).toBe(200);
    expect((await me(again.body.data.access_token)).status).toBe(200);
    // Sessions revoked by the delete stay revoked.
    expect((await me(user.token)).status).toBe(401);
  });

  test("restoring a user that is not deleted answers it unchanged", async () => {
    const user = await createPlainUser(server);
    const before = await userView(user.id);
    const res = await adminCall("POST", `/users/${user.id}/restore`);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(before);
  });

  test("unknown users answer 404 USER_NOT_FOUND", async () => {
    for (const [method, path] of [
      ["DELETE", `/users/${crypto.randomUUID()}`],
      ["POST", `/users/${crypto.randomUUID()}/restore`],
    ] as const) {
      const res = await adminCall(method, path);
      expect(res.status).toBe(404);
      expect(res.body).toEqual(failureOf("USER_NOT_FOUND"));
    }
  });
});

describe("DELETE /admin/users/{id}?hard=true", () => {
  test("purges the user for good: {id, purged: true}, then 404; audit entries keep the id", async () => {
    const user = await createPlainUser(server);
    await adminCall("POST", `/users/${user.id}/balance`, { amount: 100, reason: "gift" });
    const res = await adminCall("DELETE", `/users/${user.id}?hard=true`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, data: { id: user.id, purged: true }, error: null });

    const gone = await adminCall("GET", `/users/${user.id}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual(failureOf("USER_NOT_FOUND"));
    expect((await me(user.token)).status).toBe(401);
    expect((await login(user.input)).status).toBe(401);

    const audit = await adminCall("GET", `/audit?user_id=${user.id}&limit=200`);
    const events = audit.body.data.items.map((e: { event: string; target_id: string }) => [e.event, e.target_id]);
    expect(events).toEqual([
      ["user.purged", user.id],
      ["balance.changed", user.id],
      ["user.registered", user.id],
    ]);
    // Nothing personal stays behind in the log.
    expect(JSON.stringify(audit.body)).not.toContain(user.input.email);
    expect(JSON.stringify(audit.body)).not.toContain(user.input.username);
  });

  test("a soft-deleted user can be purged", async () => {
    const user = await createPlainUser(server);
    await adminCall("DELETE", `/users/${user.id}`);
    const res = await adminCall("DELETE", `/users/${user.id}?hard=true`);
    expect(res.body.data).toEqual({ id: user.id, purged: true });
    expect((await adminCall("GET", `/users/${user.id}`)).status).toBe(404);
  });

  test("purged email and username are free again", async () => {
    const user = await createPlainUser(server);
    await adminCall("DELETE", `/users/${user.id}?hard=true`);
    const again = await server.api("POST", "/api/v1/users", { body: user.input });
    expect(again.status).toBe(201);
    expect(again.body.data.id).not.toBe(user.id);
  });

  test("an unknown user answers 404 USER_NOT_FOUND, and hard=yes 422", async () => {
    const res = await adminCall("DELETE", `/users/${crypto.randomUUID()}?hard=true`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual(failureOf("USER_NOT_FOUND"));
    const user = await createPlainUser(server);
    expect((await adminCall("DELETE", `/users/${user.id}?hard=yes`)).status).toBe(422);
    expect((await userView(user.id)).status).toBe("active");
  });
});

describe("POST /admin/users/{id}/logout", () => {
  test("revokes every session of the user: {revoked: n}, and its tokens are refused", async () => {
    const user = await createPlainUser(server);
    const second = await loginAs(server.api, user.input);
    const res = await adminCall("POST", `/users/${user.id}/logout`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, data: { revoked: 2 }, error: null });
    for (const tokens of [user.tokens, second]) {
      const access = await me(tokens.access_token);
      expect(access.status).toBe(401);
      expect(access.body).toEqual(failureOf("SESSION_REVOKED"));
      expect((await refresh(tokens.refresh_token)).status).toBe(401);
    }
    expect((await userView(user.id)).status).toBe("active");
    expect((await login(user.input)).status).toBe(200);
  });

  test("a user without live sessions answers {revoked: 0}", async () => {
    const user = await createUser(server.core, newUser(), { actor: CLI_ACTOR });
    const res = await adminCall("POST", `/users/${user.id}/logout`);
    expect(res.body).toEqual({ success: true, data: { revoked: 0 }, error: null });
  });

  test("other users' sessions are untouched", async () => {
    const user = await createPlainUser(server);
    const bystander = await createPlainUser(server);
    await adminCall("POST", `/users/${user.id}/logout`);
    expect((await me(bystander.token)).status).toBe(200);
  });

  test("an unknown user answers 404 USER_NOT_FOUND", async () => {
    const res = await adminCall("POST", `/users/${crypto.randomUUID()}/logout`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual(failureOf("USER_NOT_FOUND"));
  });
});

describe("the lifecycle sweep (USERSVC_PURGE_AFTER=2)", () => {
  let sweepServer: TestServer;
  let sweepAdmin: LoggedIn;
  beforeAll(async () => {
    sweepServer = await startTestServer({ USERSVC_PURGE_AFTER: "2" });
    sweepAdmin = await createAdmin(sweepServer);
  });
  afterAll(() => sweepServer.stop());

  async function call(method: string, path: string, body?: unknown) {
    // The clock moves by days here: log in afresh so the admin's token is never expired.
    const token = (await loginAs(sweepServer.api, sweepAdmin.input)).access_token;
    return sweepServer.api(method, `/api/v1/admin${path}`, { token, body });
  }

  async function auditOf(userId: string) {
    return (await call("GET", `/audit?user_id=${userId}`)).body.data.items;
  }

  test("purges users soft-deleted more than 2 days ago, and only those", async () => {
    const doomed = await createUser(sweepServer.core, newUser(), { actor: CLI_ACTOR });
    const restored = await createUser(sweepServer.core, newUser(), { actor: CLI_ACTOR });
    const later = await createUser(sweepServer.core, newUser(), { actor: CLI_ACTOR });
    await call("DELETE", `/users/${doomed.id}`);
    await call("DELETE", `/users/${restored.id}`);
    expect(await runLifecycleSweep(sweepServer.core)).toEqual({ unblocked: 0, purged: 0 });

    sweepServer.clock.advance(86_400);
    await call("DELETE", `/users/${later.id}`);
    await call("POST", `/users/${restored.id}/restore`);
    sweepServer.clock.advance(86_400 - 60);
    expect(await runLifecycleSweep(sweepServer.core)).toEqual({ unblocked: 0, purged: 0 });
    expect((await call("GET", `/users/${doomed.id}`)).body.data.status).toBe("deleted");

    sweepServer.clock.advance(120);
    expect(await runLifecycleSweep(sweepServer.core)).toEqual({ unblocked: 0, purged: 1 });
    const gone = await call("GET", `/users/${doomed.id}`);
    expect(gone.status).toBe(404);
    expect((await call("GET", `/users/${restored.id}`)).body.data.status).toBe("active");
    expect((await call("GET", `/users/${later.id}`)).body.data.status).toBe("deleted");

    const [purgedEntry] = await auditOf(doomed.id);
    expect(purgedEntry).toEqual({
      id: expect.any(Number),
      occurred_at: expect.stringMatching(ISO_UTC),
      event: "user.purged",
      actor: { type: "system", id: null },
      target_id: doomed.id,
      ip: null,
      data: { after_days: 2 },
    });

    expect(await runLifecycleSweep(sweepServer.core)).toEqual({ unblocked: 0, purged: 0 });
    sweepServer.clock.advance(86_400);
    expect(await runLifecycleSweep(sweepServer.core)).toEqual({ unblocked: 0, purged: 1 });
    expect((await call("GET", `/users/${later.id}`)).status).toBe(404);
  });

  test("records expired blocks as unblocked by the system, once", async () => {
    const user = await createPlainUser(sweepServer);
    const forever = await createPlainUser(sweepServer);
    const until = new Date(sweepServer.core.now().getTime() + 60_000).toISOString();
    await call("POST", `/users/${user.id}/block`, { reason: "cool off", until });
    await call("POST", `/users/${forever.id}/block`, { reason: "spam" });
    expect(await runLifecycleSweep(sweepServer.core)).toEqual({ unblocked: 0, purged: 0 });

    sweepServer.clock.advance(60);
    expect(await runLifecycleSweep(sweepServer.core)).toEqual({ unblocked: 1, purged: 0 });
    expect(await runLifecycleSweep(sweepServer.core)).toEqual({ unblocked: 0, purged: 0 });

    const [entry] = await auditOf(user.id);
    expect(entry).toEqual(
      expect.objectContaining({ event: "user.unblocked", actor: { type: "system", id: null }, data: { expired: true } }),
    );
    expect((await call("GET", `/users/${user.id}`)).body.data).toEqual(
      expect.objectContaining({ status: "active", blocked_reason: null, blocked_until: null }),
    );
    expect((await call("GET", `/users/${forever.id}`)).body.data.status).toBe("blocked");
    expect((await loginAs(sweepServer.api, user.input)).access_token).toEqual(expect.any(String));
  });
});
