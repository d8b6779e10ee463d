/**
 * Issue 10 §11 and §12: a reused refresh token is an event and an audit
 * entry, not only a log line; a session has an absolute lifetime
 * (USERSVC_SESSION_MAX_AGE) that refreshing cannot stretch.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createAdmin, createPlainUser } from "../support/admin.ts";
import { newWebhookSecret, outboxRows, startWebhookReceiver, type WebhookReceiver } from "../support/hooks.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const DAY = 86_400;
let server: TestServer;
let receiver: WebhookReceiver;
beforeAll(async () => {
  const secret = newWebhookSecret();
  receiver = startWebhookReceiver(secret);
  server = await startTestServer({
    USERSVC_WEBHOOK_URL: receiver.url,
    USERSVC_WEBHOOK_SECRET: secret,
    USERSVC_SESSION_MAX_AGE: String(2 * DAY),
    USERSVC_REFRESH_TTL: String(DAY),
  });
});
afterAll(async () => {
  await server.stop();
  receiver.stop();
});

const refresh = (refreshToken: string) => server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: refreshToken } });

describe("refresh token reuse", () => {
  test("revokes the session and records session.revoked (reason refresh_token_reused) as an event and an audit entry", async () => {
    const admin = await createAdmin(server);
    const user = await createPlainUser(server);
    const first = user.tokens.refresh_token;
    expect((await refresh(first)).status).toBe(200);
    const reused = await refresh(first);
    expect([reused.status, reused.body.error.code]).toEqual([401, "REFRESH_TOKEN_REUSED"]);

    const events = (await outboxRows(server.core.db)).filter((row) => row.type === "session.revoked" && row.userId === user.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.payload.data).toEqual(expect.objectContaining({ reason: "refresh_token_reused", session_id: expect.any(String), sessions_revoked: 1 }));
    const audit = await server.api("GET", `/api/v1/admin/audit?event=session.revoked&user_id=${user.id}`, { token: admin.token });
    expect(audit.body.data.items).toEqual([expect.objectContaining({ data: expect.objectContaining({ reason: "refresh_token_reused" }) })]);

    // A second replay finds the session already revoked: no second event.
    expect((await refresh(first)).status).toBe(401);
    expect((await outboxRows(server.core.db)).filter((row) => row.type === "session.revoked" && row.userId === user.id)).toHaveLength(1);
  });
});

describe("USERSVC_SESSION_MAX_AGE", () => {
  test("refreshing keeps a session alive only until its absolute lifetime; then 401 and a new sign-in", async () => {
    const user = await createPlainUser(server);
    let refreshToken = user.tokens.refresh_token;
    // Refresh every 20 hours: each refresh token lives a day, the session two.
    for (let hours = 20; hours < 48; hours += 20) {
      server.clock.advance(20 * 3600);
      const res = await refresh(refreshToken);
      expect(res.status).toBe(200);
      // The refresh token never outlives the session.
      expect(res.body.data.refresh_expires_in).toBeLessThanOrEqual(2 * DAY - hours * 3600);
      refreshToken = res.body.data.refresh_token;
    }
    server.clock.advance(9 * 3600); // 49 h after sign-in
    const late = await refresh(refreshToken);
    expect(late.status).toBe(401);
    expect(["TOKEN_EXPIRED", "SESSION_REVOKED"]).toContain(late.body.error.code);
  });
});
