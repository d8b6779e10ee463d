/**
 * Issue 10 §5: app_metadata is written by admins, operators and hooks only,
 * so a claim built from it (the examples' tenant) is one no user can choose;
 * and an admin's change of email takes the address's proof with it (§12).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { and, eq, isNull } from "drizzle-orm";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { oneTimeTokens, users } from "../../src/core/db/schema.ts";
import { exportUsers, importUsers } from "../../src/core/users/transfer.ts";
import { createAdmin, createPlainUser } from "../support/admin.ts";
import { jwtClaims } from "../support/hooks.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const EXAMPLE_HOOKS = join(import.meta.dir, "..", "..", "examples", "hooks", "hooks.ts");

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ USERSVC_HOOKS: EXAMPLE_HOOKS });
});
afterAll(() => server.stop());

const refresh = (refreshToken: string) => server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: refreshToken } });

describe("app_metadata", () => {
  test("a user cannot write app_metadata: PATCH /users/me with it answers 422 and changes nothing", async () => {
    const user = await createPlainUser(server);
    for (const method of ["PATCH", "PUT"]) {
      const res = await server.api(method, "/api/v1/users/me", { token: user.token, body: { app_metadata: { tenant: "victim-corp" } } });
      expect([res.status, res.body.error.code]).toEqual([422, "VALIDATION_ERROR"]);
    }
    const me = await server.api("GET", "/api/v1/users/me", { token: user.token });
    expect(me.body.data.app_metadata).toEqual({ tenant: "default" });
  });

  test("the example's tenant claim follows app_metadata: editing metadata.tenant does not change it, an admin's change does", async () => {
    const admin = await createAdmin(server);
    const user = await createPlainUser(server);
    // The attack of the issue: the user-editable metadata names another tenant, then a refresh.
    expect((await server.api("PATCH", "/api/v1/users/me", { token: user.token, body: { metadata: { tenant: "victim-corp" } } })).status).toBe(200);
    const afterUserEdit = await refresh(user.tokens.refresh_token);
    expect(jwtClaims(afterUserEdit.body.data.access_token).tenant).toBe("default");

    const patched = await server.api("PATCH", `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { app_metadata: { tenant: "acme" } } });
    expect([patched.status, patched.body.data.app_metadata, patched.body.data.metadata]).toEqual([200, { tenant: "acme" }, { tenant: "victim-corp" }]);
    const afterAdminEdit = await refresh(afterUserEdit.body.data.refresh_token);
    expect(jwtClaims(afterAdminEdit.body.data.access_token).tenant).toBe("acme");
  });

  test("an admin's app_metadata is checked like metadata: not an object, or over 8 KiB, answers 422", async () => {
    const admin = await createAdmin(server);
    const user = await createPlainUser(server);
    for (const app_metadata of [[1, 2], "text", { big: "x".repeat(9000) }]) {
      const res = await server.api("PATCH", `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { app_metadata } });
      expect(res.status).toBe(422);
    }
  });

  test("export carries app_metadata; on import, beforeRegister's app_metadata replaces the line's", async () => {
    const admin = await createAdmin(server);
    const user = await createPlainUser(server);
    await server.api("PATCH", `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { app_metadata: { tenant: "acme", plan: "pro" } } });
    const lines: string[] = [];
    await exportUsers(server.core, (line) => lines.push(line));
    const exported = lines.map((line) => JSON.parse(line)).find((record) => record.id === user.id);
    expect(exported.app_metadata).toEqual({ tenant: "acme", plan: "pro" });

    const moved = { ...exported, id: crypto.randomUUID(), email: `moved-${exported.email}`, username: `moved_${exported.username}`.slice(0, 32) };
    const [outcome] = await importUsers(server.core, CLI_ACTOR, [JSON.stringify(moved)], { dryRun: false });
    expect(outcome!.result).toBe("created");
    const [stored] = await server.core.db.select().from(users).where(eq(users.id, moved.id));
    // beforeRegister (the example hooks) sets the tenant of every new user, imports included.
    expect(stored!.appMetadata).toEqual({ tenant: "default" });
  });
});

test("without hooks, import keeps each line's app_metadata", async () => {
  const plain = await startTestServer();
  try {
    const record = { email: `imported-${Date.now()}@example.com`, username: `imported_${Date.now()}`, password_hash: "$2b$10$" + "a".repeat(53), app_metadata: { tenant: "acme" } };
    const [outcome] = await importUsers(plain.core, CLI_ACTOR, [JSON.stringify(record)], { dryRun: false });
    expect(outcome!.result).toBe("created");
    const [stored] = await plain.core.db.select().from(users).where(eq(users.email, record.email));
    expect(stored!.appMetadata).toEqual({ tenant: "acme" });
    const bad = await importUsers(plain.core, CLI_ACTOR, [JSON.stringify({ ...record, email: `x${record.email}`, username: `x${record.username}`, app_metadata: [1] })], { dryRun: true });
    expect(bad[0]).toEqual(expect.objectContaining({ result: "invalid", message: expect.stringContaining("app_metadata") }));
  } finally {
    await plain.stop();
  }
});

describe("an admin's change of email", () => {
  test("clears is_verified and spends the verification and reset tokens sent to the old address", async () => {
    const admin = await createAdmin(server);
    const user = await createPlainUser(server);
    await server.api("PATCH", `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { is_verified: true } });
    await server.api("POST", "/api/v1/auth/forgot-password", { body: { email: user.input.email } });
    const outstanding = () =>
      server.core.db.select().from(oneTimeTokens).where(and(eq(oneTimeTokens.userId, user.id), isNull(oneTimeTokens.usedAt)));
    // forgot-password answers before it writes its token (the same time whether or not the email exists): wait for it.
    const resetWritten = async () => (await outstanding()).some((t) => t.purpose === "reset_password");
    for (let i = 0; i < 100 && !(await resetWritten()); i++) await Bun.sleep(20);
    expect(await resetWritten()).toBe(true);

    const changed = await server.api("PATCH", `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { email: `new-${user.input.email}` } });
    expect([changed.status, changed.body.data.is_verified]).toEqual([200, false]);
    expect(await outstanding()).toEqual([]);
  });

  test("keeps is_verified when the admin sets it in the same change, and when the email does not change", async () => {
    const admin = await createAdmin(server);
    const user = await createPlainUser(server);
    const both = await server.api("PATCH", `/api/v1/admin/users/${user.id}`, {
      token: admin.token,
      body: { email: `vouched-${user.input.email}`, is_verified: true },
    });
    expect(both.body.data.is_verified).toBe(true);
    const same = await server.api("PATCH", `/api/v1/admin/users/${user.id}`, { token: admin.token, body: { email: `VOUCHED-${user.input.email}` } });
    expect(same.body.data.is_verified).toBe(true);
  });
});
