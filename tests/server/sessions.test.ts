import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { decodeJwt } from "jose";
import { registerAndLogin, startTestServer, type TestServer, type TokenPairBody } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

async function login(credentials: { email: string; password: string }, userAgent = "sessions-test"): Promise<TokenPairBody> {
  const res = await server.api("POST", "/api/v1/auth/login", { body: credentials, headers: { "user-agent": userAgent } });
  expect(res.status).toBe(200);
  return res.body.data;
}

function me(token: string) {
  return server.api("GET", "/api/v1/users/me", { token });
}

function refresh(refreshToken: string) {
  return server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: refreshToken } });
}

function sessionsOf(token: string) {
  return server.api("GET", "/api/v1/users/me/sessions", { token });
}

function sidOf(tokens: TokenPairBody): string {
  return decodeJwt(tokens.access_token).sid as string;
}

/** A user with `count` sessions, each logged in with its own user agent. */
async function userWithSessions(count: number) {
  const { input, tokens } = await registerAndLogin(server.api);
  const credentials = { email: input.email, password: input.password };
  const more: TokenPairBody[] = [];
  for (let i = 1; i < count; i++) more.push(await login(credentials, `agent-${i}`));
  return { credentials, sessions: [tokens, ...more] };
}

function changePassword(token: string, body: unknown) {
  return server.api("POST", "/api/v1/auth/change-password", { token, body });
}

describe("POST /auth/logout", () => {
  test("logout answers {revoked: 1}", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const res = await server.api("POST", "/api/v1/auth/logout", { token: tokens.access_token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, data: { revoked: 1 }, error: null });
  });

  test("after logout, the session's access token is refused on the next request", async () => {
    const { tokens } = await registerAndLogin(server.api);
    expect((await server.api("POST", "/api/v1/auth/logout", { token: tokens.access_token })).status).toBe(200);
    const res = await me(tokens.access_token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("SESSION_REVOKED");
  });

  test("after logout, the session's refresh token is refused", async () => {
    const { tokens } = await registerAndLogin(server.api);
    expect((await server.api("POST", "/api/v1/auth/logout", { token: tokens.access_token })).status).toBe(200);
    const res = await refresh(tokens.refresh_token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("SESSION_REVOKED");
  });

  test("logout leaves the user's other sessions working", async () => {
    const { sessions } = await userWithSessions(2);
    const [gone, kept] = sessions as [TokenPairBody, TokenPairBody];
    expect((await server.api("POST", "/api/v1/auth/logout", { token: gone.access_token })).status).toBe(200);
    expect((await me(kept.access_token)).status).toBe(200);
    expect((await refresh(kept.refresh_token)).status).toBe(200);
  });

  test("logout without a token answers 401 UNAUTHENTICATED", async () => {
    const res = await server.api("POST", "/api/v1/auth/logout");
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("UNAUTHENTICATED");
  });
});

describe("POST /auth/logout-all", () => {
  test("logout-all answers the number of sessions it revoked", async () => {
    const { sessions } = await userWithSessions(3);
    const res = await server.api("POST", "/api/v1/auth/logout-all", { token: sessions[0]!.access_token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, data: { revoked: 3 }, error: null });
  });

  test("after logout-all, no access or refresh token of the user works", async () => {
    const { sessions } = await userWithSessions(3);
    expect((await server.api("POST", "/api/v1/auth/logout-all", { token: sessions[1]!.access_token })).status).toBe(200);
    for (const tokens of sessions) {
      expect((await me(tokens.access_token)).status).toBe(401);
      expect((await refresh(tokens.refresh_token)).status).toBe(401);
    }
  });

  test("logout-all leaves other users' sessions alone", async () => {
    const alice = await userWithSessions(2);
    const bob = await registerAndLogin(server.api);
    expect((await server.api("POST", "/api/v1/auth/logout-all", { token: alice.sessions[0]!.access_token })).status).toBe(200);
    expect((await me(bob.tokens.access_token)).status).toBe(200);
  });

  test("the credentials still work after logout-all", async () => {
    const { credentials, sessions } = await userWithSessions(1);
    expect((await server.api("POST", "/api/v1/auth/logout-all", { token: sessions[0]!.access_token })).status).toBe(200);
    const fresh = await login(credentials);
    expect((await me(fresh.access_token)).status).toBe(200);
  });
});

describe("GET /users/me/sessions", () => {
  test("lists the active sessions with id, times, user agent, ip and the current flag", async () => {
    const { sessions } = await userWithSessions(2);
    const [first, second] = sessions as [TokenPairBody, TokenPairBody];
    const res = await sessionsOf(second.access_token);
    expect(res.status).toBe(200);
    expect(res.body.success).toBe(true);
    const byId = (id: string) => res.body.data.find((s: { id: string }) => s.id === id);
    expect(res.body.data).toHaveLength(2);
    expect(byId(sidOf(second))).toEqual({
      id: sidOf(second),
      created_at: expect.stringMatching(ISO_UTC),
      last_used_at: expect.stringMatching(ISO_UTC),
      user_agent: "agent-1",
      ip: "127.0.0.1",
      current: true,
    });
    expect(byId(sidOf(first))).toEqual({
      id: sidOf(first),
      created_at: expect.stringMatching(ISO_UTC),
      last_used_at: expect.stringMatching(ISO_UTC),
      user_agent: expect.any(String),
      ip: "127.0.0.1",
      current: false,
    });
  });

  test("the current flag follows the token that asks", async () => {
    const { sessions } = await userWithSessions(2);
    const [first] = sessions as [TokenPairBody];
    const res = await sessionsOf(first.access_token);
    const current = res.body.data.filter((s: { current: boolean }) => s.current).map((s: { id: string }) => s.id);
    expect(current).toEqual([sidOf(first)]);
  });

  test("a logged-out session is no longer listed", async () => {
    const { sessions } = await userWithSessions(2);
    const [gone, kept] = sessions as [TokenPairBody, TokenPairBody];
    await server.api("POST", "/api/v1/auth/logout", { token: gone.access_token });
    const res = await sessionsOf(kept.access_token);
    expect(res.body.data.map((s: { id: string }) => s.id)).toEqual([sidOf(kept)]);
  });

  test("another user's sessions are never listed", async () => {
    await userWithSessions(2);
    const { tokens } = await registerAndLogin(server.api);
    const res = await sessionsOf(tokens.access_token);
    expect(res.body.data.map((s: { id: string }) => s.id)).toEqual([sidOf(tokens)]);
  });

  test("a refresh moves last_used_at forward", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const before = (await sessionsOf(tokens.access_token)).body.data[0];
    server.clock.advance(60);
    const rotated = await refresh(tokens.refresh_token);
    const after = (await sessionsOf(rotated.body.data.access_token)).body.data[0];
    expect(after.created_at).toBe(before.created_at);
    expect(Date.parse(after.last_used_at)).toBeGreaterThanOrEqual(Date.parse(before.last_used_at) + 60_000);
  });
});

describe("DELETE /users/me/sessions/{id}", () => {
  test("revoking one's own other session answers 200 and that session stops working", async () => {
    const { sessions } = await userWithSessions(2);
    const [kept, gone] = sessions as [TokenPairBody, TokenPairBody];
    const res = await server.api("DELETE", `/api/v1/users/me/sessions/${sidOf(gone)}`, { token: kept.access_token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, data: { revoked: 1 }, error: null });
    expect((await me(gone.access_token)).status).toBe(401);
    expect((await refresh(gone.refresh_token)).status).toBe(401);
    expect((await me(kept.access_token)).status).toBe(200);
  });

  test("revoking the current session works like logout", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const res = await server.api("DELETE", `/api/v1/users/me/sessions/${sidOf(tokens)}`, { token: tokens.access_token });
    expect(res.status).toBe(200);
    expect((await me(tokens.access_token)).status).toBe(401);
  });

  test("the id is accepted in upper case", async () => {
    const { sessions } = await userWithSessions(2);
    const [kept, gone] = sessions as [TokenPairBody, TokenPairBody];
    const res = await server.api("DELETE", `/api/v1/users/me/sessions/${sidOf(gone).toUpperCase()}`, {
      token: kept.access_token,
    });
    expect(res.status).toBe(200);
  });

  test("another user's session id answers 404 and leaves that session alive", async () => {
    const alice = await registerAndLogin(server.api);
    const bob = await registerAndLogin(server.api);
    const res = await server.api("DELETE", `/api/v1/users/me/sessions/${sidOf(bob.tokens)}`, {
      token: alice.tokens.access_token,
    });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ success: false, data: null, error: { code: "NOT_FOUND", message: expect.any(String) } });
    expect((await me(bob.tokens.access_token)).status).toBe(200);
  });

  test("an unknown session id answers 404", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const res = await server.api("DELETE", `/api/v1/users/me/sessions/${crypto.randomUUID()}`, { token: tokens.access_token });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
  });

  test("an already revoked session answers 404", async () => {
    const { sessions } = await userWithSessions(2);
    const [kept, gone] = sessions as [TokenPairBody, TokenPairBody];
    const path = `/api/v1/users/me/sessions/${sidOf(gone)}`;
    expect((await server.api("DELETE", path, { token: kept.access_token })).status).toBe(200);
    const again = await server.api("DELETE", path, { token: kept.access_token });
    expect(again.status).toBe(404);
  });

  test("an id that is not a UUID answers 422 VALIDATION_ERROR", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const res = await server.api("DELETE", "/api/v1/users/me/sessions/not-a-uuid", { token: tokens.access_token });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({
      code: "VALIDATION_ERROR",
      message: expect.any(String),
      details: [{ field: "id", message: expect.any(String) }],
    });
  });
});

describe("POST /auth/change-password", () => {
  const NEW_PASSWORD = "a brand new passphrase 2024";

  test("a wrong current password answers 400 WRONG_PASSWORD and changes nothing", async () => {
    const { credentials, sessions } = await userWithSessions(2);
    const res = await changePassword(sessions[0]!.access_token, {
      current_password: "not the password at all",
      new_password: NEW_PASSWORD,
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ success: false, data: null, error: { code: "WRONG_PASSWORD", message: expect.any(String) } });
    expect((await me(sessions[1]!.access_token)).status).toBe(200);
    await login(credentials);
  });

  test("a common new password answers 422 WEAK_PASSWORD and changes nothing", async () => {
    const { credentials, sessions } = await userWithSessions(1);
    const res = await changePassword(sessions[0]!.access_token, {
      current_password: credentials.password,
      new_password: "password123",
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("WEAK_PASSWORD");
    expect((await me(sessions[0]!.access_token)).status).toBe(200);
    await login(credentials);
  });

  test("a short new password answers 422 VALIDATION_ERROR naming new_password", async () => {
    const { credentials, sessions } = await userWithSessions(1);
    const res = await changePassword(sessions[0]!.access_token, { current_password: credentials.password, new_password: "short" });
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual([{ field: "new_password", message: expect.any(String) }]);
  });

  test("a body with unknown fields answers 422", async () => {
    const { credentials, sessions } = await userWithSessions(1);
    const res = await changePassword(sessions[0]!.access_token, {
      current_password: credentials.password,
      new_password: NEW_PASSWORD,
      roles: ["admin"],
    });
    expect(res.status).toBe(422);
    await login(credentials);
  });

  test("success answers a fresh pair for the same session", async () => {
    const { credentials, sessions } = await userWithSessions(1);
    const old = sessions[0]!;
    const res = await changePassword(old.access_token, { current_password: credentials.password, new_password: NEW_PASSWORD });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      token_type: "bearer",
      expires_in: 900,
      refresh_expires_in: 2_592_000,
    });
    const fresh: TokenPairBody = res.body.data;
    expect(sidOf(fresh)).toBe(sidOf(old));
    expect(decodeJwt(fresh.refresh_token).sid).toBe(sidOf(old));
    expect(fresh.refresh_token).not.toBe(old.refresh_token);
    expect((await me(fresh.access_token)).status).toBe(200);
    expect((await refresh(fresh.refresh_token)).status).toBe(200);
  });

  test("the old access token of the same session is refused with SESSION_REVOKED", async () => {
    const { credentials, sessions } = await userWithSessions(1);
    const old = sessions[0]!;
    expect(
      (await changePassword(old.access_token, { current_password: credentials.password, new_password: NEW_PASSWORD })).status,
    ).toBe(200);
    const res = await me(old.access_token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("SESSION_REVOKED");
  });

  test("the session's refresh token from before the change is spent, not reused: 401, and the new pair keeps working", async () => {
    const { credentials, sessions } = await userWithSessions(1);
    const old = sessions[0]!;
    const res = await changePassword(old.access_token, { current_password: credentials.password, new_password: NEW_PASSWORD });
    expect(res.status).toBe(200);
    const fresh: TokenPairBody = res.body.data;
    const replayed = await refresh(old.refresh_token);
    expect([replayed.status, replayed.body.error?.code]).toEqual([401, "INVALID_TOKEN"]);
    expect((await me(fresh.access_token)).status).toBe(200);
    const next = await refresh(fresh.refresh_token);
    expect(next.status).toBe(200);
    // Still only spent after the new pair rotated.
    expect((await refresh(old.refresh_token)).status).toBe(401);
    expect((await me(next.body.data.access_token)).status).toBe(200);
  });

  test("a refresh token minted before tokens carried a generation still refreshes a session whose password changed", async () => {
    const { credentials, sessions } = await userWithSessions(1);
    const changed = await changePassword(sessions[0]!.access_token, { current_password: credentials.password, new_password: NEW_PASSWORD });
    expect(changed.status).toBe(200);
    // The session's current refresh token, as a version before this one signed it: no gen claim.
    const current = decodeJwt(changed.body.data.refresh_token);
    const legacy = await server.core.tokens.mint({
      sub: String(current.sub),
      sid: String(current.sid),
      jti: String(current.jti),
      type: "refresh",
      ttlSeconds: 3600,
    });
    expect(decodeJwt(legacy).gen).toBeUndefined();
    expect((await refresh(legacy)).status).toBe(200);
  });

  test("a refresh token without a generation from before the change never refreshes: the change spent its jti", async () => {
    const { credentials, sessions } = await userWithSessions(1);
    const before = decodeJwt(sessions[0]!.refresh_token);
    const changed = await changePassword(sessions[0]!.access_token, { current_password: credentials.password, new_password: NEW_PASSWORD });
    expect(changed.status).toBe(200);
    const legacy = await server.core.tokens.mint({ sub: String(before.sub), sid: String(before.sid), jti: String(before.jti), type: "refresh", ttlSeconds: 3600 });
    const res = await refresh(legacy);
    expect(res.status).toBe(401);
    expect(res.body.data).toBeNull();
  });

  test("the user's other sessions are revoked", async () => {
    const { credentials, sessions } = await userWithSessions(3);
    const [current, ...others] = sessions as [TokenPairBody, ...TokenPairBody[]];
    const res = await changePassword(current.access_token, { current_password: credentials.password, new_password: NEW_PASSWORD });
    expect(res.status).toBe(200);
    for (const other of others) {
      expect((await me(other.access_token)).status).toBe(401);
      expect((await refresh(other.refresh_token)).status).toBe(401);
    }
    const listed = await sessionsOf(res.body.data.access_token);
    expect(listed.body.data.map((s: { id: string }) => s.id)).toEqual([sidOf(current)]);
  });

  test("the new password logs in and the old one does not", async () => {
    const { credentials, sessions } = await userWithSessions(1);
    expect(
      (await changePassword(sessions[0]!.access_token, { current_password: credentials.password, new_password: NEW_PASSWORD }))
        .status,
    ).toBe(200);
    const old = await server.api("POST", "/api/v1/auth/login", { body: credentials });
    expect(old.status).toBe(401);
    expect(old.body.error.code).toBe("INVALID_CREDENTIALS");
    await login({ email: credentials.email, password: NEW_PASSWORD });
  });

  test("another user's sessions survive the change", async () => {
    const { credentials, sessions } = await userWithSessions(1);
    const bob = await registerAndLogin(server.api);
    expect(
      (await changePassword(sessions[0]!.access_token, { current_password: credentials.password, new_password: NEW_PASSWORD }))
        .status,
    ).toBe(200);
    expect((await me(bob.tokens.access_token)).status).toBe(200);
  });

  test("change-password without a token answers 401 UNAUTHENTICATED", async () => {
    const res = await server.api("POST", "/api/v1/auth/change-password", {
      body: { current_password: "whatever it is", new_password: NEW_PASSWORD },
    });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("UNAUTHENTICATED");
  });
});
