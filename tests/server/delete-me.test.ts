import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createAdmin, createPlainUser, failureOf, loginAs, type LoggedIn } from "../support/admin.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

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

function deleteMe(token: string | undefined, body: unknown) {
  return server.api("DELETE", "/api/v1/users/me", { token, body });
}

function me(token: string) {
  return server.api("GET", "/api/v1/users/me", { token });
}

function login(input: { email: string; password: string }) {
  return server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
}

describe("DELETE /users/me", () => {
  test("answers the user object with status deleted", async () => {
    const user = await createPlainUser(server);
    const before = (await me(user.token)).body.data;
    const res = await deleteMe(user.token, { password: user.input.password });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      error: null,
      data: {
        ...before,
        status: "deleted",
        is_active: false,
        deleted_at: expect.stringMatching(ISO_UTC),
        updated_at: expect.stringMatching(ISO_UTC),
      },
    });
    const view = await server.api("GET", `/api/v1/admin/users/${user.id}`, { token: admin.token });
    expect(view.body.data).toEqual(res.body.data);
  });

  test("revokes every session: this one, the others, and their refresh tokens", async () => {
    const user = await createPlainUser(server);
    const other = await loginAs(server.api, user.input);
    expect((await deleteMe(user.token, { password: user.input.password })).status).toBe(200);
    for (const tokens of [user.tokens, other]) {
      const access = await me(tokens.access_token);
      expect(access.status).toBe(401);
      expect(access.body).toEqual(failureOf("SESSION_REVOKED"));
      const refreshed = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
      expect(refreshed.status).toBe(401);
    }
  });

  test("afterwards login answers 401 INVALID_CREDENTIALS, with the right password too", async () => {
    const user = await createPlainUser(server);
    await deleteMe(user.token, { password: user.input.password });
    for (const password of [user.input.password, "some other password"]) {
      const res = await login({ email: user.input.email, password });
      expect(res.status).toBe(401);
      expect(res.body).toEqual(failureOf("INVALID_CREDENTIALS"));
    }
  });

  test("the same token cannot delete twice", async () => {
    const user = await createPlainUser(server);
    await deleteMe(user.token, { password: user.input.password });
    const again = await deleteMe(user.token, { password: user.input.password });
    expect(again.status).toBe(401);
  });

  test("an admin can restore the account, and it logs in again", async () => {
    const user = await createPlainUser(server);
    await deleteMe(user.token, { password: user.input.password });
    const restored = await server.api("POST", `/api/v1/admin/users/${user.id}/restore`, { token: admin.token });
    expect(restored.body.data).toEqual(expect.objectContaining({ status: "active", deleted_at: null }));
    expect((await login(user.input)).status).toBe(200);
  });

  test("a wrong password answers 400 WRONG_PASSWORD and changes nothing", async () => {
    const user = await createPlainUser(server);
    const other = await loginAs(server.api, user.input);
    const before = (await me(user.token)).body.data;
    const res = await deleteMe(user.token, { password: "not my password at all" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(failureOf("WRONG_PASSWORD"));
    expect((await me(user.token)).body.data).toEqual(before);
    expect((await me(other.access_token)).status).toBe(200);
    const refreshed = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: other.refresh_token } });
    expect(refreshed.status).toBe(200);
    expect((await login(user.input)).status).toBe(200);
  });

  test.each([
    ["no body", undefined],
    ["no password", {}],
    ["a password that is not a string", { password: 12345678 }],
    ["an unknown field", { password: "correct horse battery staple", confirm: true }],
  ])("%s answers 422 VALIDATION_ERROR and changes nothing", async (_what, body) => {
    const user = await createPlainUser(server);
    const res = await deleteMe(user.token, body);
    expect(res.status).toBe(422);
    expect(res.body).toEqual(failureOf("VALIDATION_ERROR"));
    expect((await me(user.token)).body.data.status).toBe("active");
  });

  test("without a token answers 401 UNAUTHENTICATED", async () => {
    const res = await deleteMe(undefined, { password: "whatever it is" });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(failureOf("UNAUTHENTICATED"));
  });
});
