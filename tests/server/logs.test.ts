import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { decodeJwt } from "jose";
import { newUser, startTestServer, type CallOptions, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Sent {
  id: string;
  method: string;
  route: string;
  status: number;
  echoedId: string | null;
}

let server: TestServer;
const sent: Sent[] = [];
const secrets: string[] = [];
let played: Promise<Record<string, unknown>[]> | null = null;

/** The request log is written just after the response; let those callbacks run (no timer involved). */
async function settleLogs(expectedRequestLines: number): Promise<void> {
  for (let turn = 0; turn < 1000; turn++) {
    const lines = server.logs.filter((l) => l.includes('"msg":"request"')).length;
    if (lines >= expectedRequestLines) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Sends a request tagged with its own X-Request-Id and remembers what came back. */
async function call(method: string, path: string, route: string, options: CallOptions = {}) {
  const id = `logs-test-${sent.length + 1}-${crypto.randomUUID()}`;
  const res = await server.api(method, path, { ...options, headers: { ...options.headers, "x-request-id": id } });
  sent.push({ id, method, route, status: res.status, echoedId: res.headers.get("x-request-id") });
  return res;
}

beforeAll(async () => {
  server = await startTestServer({ USERSVC_LOGIN_MAX_ATTEMPTS: "1000" });
});
afterAll(() => server.stop());

/**
 * Register, log in, refresh, change the password and a few failures, once,
 * inside the first test that asks (hooks have a short time limit of their
 * own); answers the log lines parsed.
 */
function scenario(): Promise<Record<string, unknown>[]> {
  played ??= play();
  return played;
}

async function play(): Promise<Record<string, unknown>[]> {
  const input = newUser({ password: "first secret passphrase 9137" });
  const newPassword = "second secret passphrase 2468";
  secrets.push(input.password, newPassword);

  const registered = await call("POST", "/api/v1/users", "/api/v1/users", { body: input });
  expect(registered.status).toBe(201);
  await call("POST", "/api/v1/auth/register", "/api/v1/auth/register", { body: newUser({ password: "password123" }) });
  const wrong = await call("POST", "/api/v1/auth/login", "/api/v1/auth/login", {
    body: { email: input.email, password: `${input.password}x` },
  });
  secrets.push(`${input.password}x`);
  expect(wrong.status).toBe(401);
  const login = await call("POST", "/api/v1/auth/login", "/api/v1/auth/login", {
    body: { email: input.email, password: input.password },
  });
  expect(login.status).toBe(200);
  const refreshed = await call("POST", "/api/v1/auth/refresh", "/api/v1/auth/refresh", {
    body: { refresh_token: login.body.data.refresh_token },
  });
  expect(refreshed.status).toBe(200);
  const changed = await call("POST", "/api/v1/auth/change-password", "/api/v1/auth/change-password", {
    token: refreshed.body.data.access_token,
    body: { current_password: input.password, new_password: newPassword },
  });
  expect(changed.status).toBe(200);
  await call("GET", "/api/v1/users/me", "/api/v1/users/me", { token: changed.body.data.access_token });
  await call("GET", "/api/v1/users/me", "/api/v1/users/me", { token: login.body.data.access_token });
  await call("PATCH", "/api/v1/users/me", "/api/v1/users/me", {
    token: changed.body.data.access_token,
    body: { roles: ["admin"] },
  });
  await call("DELETE", `/api/v1/users/me/sessions/${crypto.randomUUID()}`, "/api/v1/users/me/sessions/:id", {
    token: changed.body.data.access_token,
  });
  const reused = await call("POST", "/api/v1/auth/refresh", "/api/v1/auth/refresh", {
    body: { refresh_token: login.body.data.refresh_token },
  });
  expect(reused.status).toBe(401);
  await call("POST", "/api/v1/auth/login", "/api/v1/auth/login", {
    body: "a=1",
    headers: { "content-type": "text/plain" },
  });
  await call("POST", "/api/v1/auth/login", "/api/v1/auth/login", {
    body: { email: input.email, password: "y".repeat(70_000) },
  });
  await call("GET", "/api/v1/no-such-route", "/api/v1/no-such-route");
  await call("GET", "/healthz", "/healthz");

  for (const pair of [login.body.data, refreshed.body.data, changed.body.data]) {
    secrets.push(pair.access_token, pair.refresh_token);
    secrets.push(pair.access_token.split(".")[2], pair.refresh_token.split(".")[2]);
    secrets.push(decodeJwt(pair.refresh_token).jti as string);
  }
  await settleLogs(sent.length);
  return server.logs.map((line) => JSON.parse(line));
}

describe("the request log", () => {
  test("every log line is one JSON object", async () => {
    await scenario();
    expect(server.logs.length).toBeGreaterThanOrEqual(sent.length);
    for (const line of server.logs) {
      expect(line.trimEnd().split("\n")).toHaveLength(1);
      expect(typeof JSON.parse(line)).toBe("object");
    }
  });

  test("each request writes exactly one line with req_id, method, route, status and duration_ms", async () => {
    const parsed = await scenario();
    for (const request of sent) {
      const lines = parsed.filter((l) => l.req_id === request.id);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toEqual(
        expect.objectContaining({
          req_id: request.id,
          method: request.method,
          route: request.route,
          status: request.status,
          duration_ms: expect.any(Number),
        }),
      );
      expect(lines[0]!.duration_ms as number).toBeGreaterThanOrEqual(0);
    }
  });

  test("the logged status is the status the client received, for errors too", async () => {
    const parsed = await scenario();
    const statuses = sent.map((r) => r.status);
    expect(statuses).toEqual(expect.arrayContaining([200, 201, 401, 404, 413, 415, 422]));
    const logged = sent.map((r) => parsed.find((l) => l.req_id === r.id)?.status);
    expect(logged).toEqual(statuses);
  });

  test("the request id is echoed in the X-Request-Id response header", async () => {
    await scenario();
    for (const request of sent) expect(request.echoedId).toBe(request.id);
  });

  test("a request without X-Request-Id gets a generated one, logged and echoed", async () => {
    await scenario();
    const res = await server.api("GET", "/healthz");
    const id = res.headers.get("x-request-id");
    expect(id).toMatch(UUID);
    await settleLogs(sent.length + 1);
    const lines = server.logs.map((l) => JSON.parse(l)).filter((l) => l.req_id === id);
    expect(lines).toEqual([expect.objectContaining({ method: "GET", route: "/healthz", status: 200 })]);
  });
});

describe("secrets in logs", () => {
  test("no line contains a password, the new password, a token or a hash", async () => {
    await scenario();
    const all = server.logs.join("");
    expect(secrets.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(all).not.toContain(secret);
    expect(all).not.toContain("$argon2");
    expect(all.toLowerCase()).not.toContain("bearer ");
  });

  test("no line carries a request body or headers", async () => {
    const parsed = await scenario();
    for (const line of parsed) {
      expect(line).not.toHaveProperty("body");
      expect(line).not.toHaveProperty("headers");
      expect(line).not.toHaveProperty("password");
    }
  });
});
