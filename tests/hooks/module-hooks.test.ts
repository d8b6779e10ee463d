/**
 * docs/hooks.md "Module hooks" and "Before-hooks": a TypeScript hooks module
 * written into a temporary directory at test time and loaded by an
 * in-process server, as USERSVC_HOOKS names it. beforeRegister vetoes or
 * shapes sign-ups, beforeLogin vetoes logins after the password was checked,
 * accessTokenClaims adds claims to every access token without touching the
 * reserved ones, and every way a hook can go wrong fails closed with
 * nothing written. A module that does not load stops the core from starting.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { count, eq } from "drizzle-orm";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { createCore } from "../../src/core/core.ts";
import { outboxEvents, sessions, users } from "../../src/core/db/schema.ts";
import { DomainError } from "../../src/core/errors.ts";
import { EVENT_TYPES } from "../../src/hooks/event-types.ts";
import { hooksDir, jwtClaims, writeHookFile } from "../support/hooks.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIMEOUT_MS = 200;

/**
 * The module under test. What it does depends on the username, so one
 * server covers every case. It records what it was called with, and its slow
 * hook waits for the test (or 5 s) so the test can let it finish late.
 */
const MODULE_SOURCE = `
interface Call { hook: string; input: unknown }
export const calls: Call[] = [];

let release: () => void = () => {};
const released = new Promise<void>((resolve) => { release = resolve; });
let finished: () => void = () => {};
/** Resolves once the slow hook has returned its (late) answer. */
export const slowFinished = new Promise<void>((resolve) => { finished = resolve; });
export function releaseSlow(): void { release(); }

export default {
  async beforeRegister(input: { email: string; username: string; metadata: Record<string, unknown>; ip: string | null }) {
    calls.push({ hook: "beforeRegister", input });
    const { email, username } = input;
    if (email.endsWith("@spam.example")) return { reject: "Sign-ups from spam.example are closed" };
    if (username.startsWith("shaped")) return { metadata: { tenant: "acme", plan: "free", ...input.metadata } };
    if (username.startsWith("stringmeta")) return { metadata: "vip" };
    if (username.startsWith("arraymeta")) return { metadata: ["vip"] };
    if (username.startsWith("bigmeta")) return { metadata: { blob: "x".repeat(9 * 1024) } };
    if (username.startsWith("numberanswer")) return 42;
    if (username.startsWith("thrower")) throw new Error("the tenant directory is down");
    if (username.startsWith("slow")) {
      await Promise.race([released, new Promise((resolve) => setTimeout(resolve, 5000))]);
      finished();
      return { metadata: { late: true } };
    }
    return undefined;
  },
  beforeLogin(input: { user: { username: string }; ip: string | null }) {
    calls.push({ hook: "beforeLogin", input });
    if (input.user.username.startsWith("banned")) return { reject: "This account may not log in here" };
    if (input.user.username.startsWith("loginthrow")) throw new Error("login policy unavailable");
  },
  accessTokenClaims(input: { user: { id: string; metadata: Record<string, unknown> }; session: { id: string } }) {
    calls.push({ hook: "accessTokenClaims", input });
    return {
      tenant: String(input.user.metadata.tenant ?? "none"),
      seen_session: input.session.id,
      // Every reserved claim, which must all be dropped:
      sub: "someone-else", sid: "another-session", jti: "fixed", type: "refresh", iss: "evil", aud: "evil",
      exp: 4102444800, iat: 1, nbf: 4102444800, roles: ["admin"], gen: 99, amr: ["hwk", "user", "mfa"],
    };
  },
};
`;

interface HookModule {
  calls: { hook: string; input: any }[];
  slowFinished: Promise<void>;
  releaseSlow(): void;
}

let dir: string;
let modulePath: string;
let hookModule: HookModule;
let server: TestServer;

beforeAll(async () => {
  dir = hooksDir();
  modulePath = writeHookFile(dir, "hooks.ts", MODULE_SOURCE);
  server = await startTestServer({ USERSVC_HOOKS: modulePath, USERSVC_HOOK_TIMEOUT_MS: String(TIMEOUT_MS) });
  // The same path, so the same module instance the server loaded: its records and its gate.
  hookModule = (await import(modulePath)) as HookModule;
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function register(input: { email: string; username: string; password: string }) {
  return server.api("POST", "/api/v1/users", { body: input });
}

async function storedUserCount(email: string): Promise<number> {
  const [row] = await server.core.db.select({ n: count() }).from(users).where(eq(users.email, email));
  return Number(row?.n ?? 0);
}

async function totalUsers(): Promise<number> {
  const [row] = await server.core.db.select({ n: count() }).from(users);
  return Number(row?.n ?? 0);
}

async function sessionCount(userId: string): Promise<number> {
  const [row] = await server.core.db.select({ n: count() }).from(sessions).where(eq(sessions.userId, userId));
  return Number(row?.n ?? 0);
}

function hookFailed() {
  return {
    success: false,
    data: null,
    error: { code: "HOOK_FAILED", message: "A usersvc hook failed; the action was not carried out" },
  };
}

/** The log lines about a before-hook that failed. */
function hookFailureLogs(hook: string): Record<string, any>[] {
  return server.logs
    .map((line) => JSON.parse(line) as Record<string, any>)
    .filter((entry) => entry.hook === hook && entry.msg === "hook failed: refusing the action");
}

describe("the hooks module", () => {
  test("is loaded as a TypeScript module and lists its hooks", () => {
    expect(server.core.hooks.kind).toBe("module");
    expect(server.core.hooks.path).toBe(modulePath);
    expect(server.core.hooks.handlers).toEqual(["beforeRegister", "beforeLogin", "accessTokenClaims"]);
  });
});

describe("beforeRegister", () => {
  test("is called with {email, username, metadata, ip}: the normalised email and the client's address", async () => {
    const input = newUser();
    const res = await register({ ...input, email: `  ${input.email.toUpperCase()} ` });
    expect(res.status).toBe(201);
    const call = hookModule.calls.findLast((c) => c.hook === "beforeRegister");
    expect(call?.input).toEqual({ email: input.email, username: input.username, metadata: {}, ip: "127.0.0.1" });
    // It answered nothing: the sign-up goes through unchanged.
    expect(res.body.data.metadata).toEqual({});
  });

  test("rejecting a domain answers 403 HOOK_REJECTED with the hook's message, and nothing is stored", async () => {
    const before = await totalUsers();
    const input = newUser({ email: `eve${Date.now()}@spam.example` });
    const res = await register(input);
    expect({ status: res.status, body: res.body }).toEqual({
      status: 403,
      body: { success: false, data: null, error: { code: "HOOK_REJECTED", message: "Sign-ups from spam.example are closed" } },
    });
    expect(await storedUserCount(input.email)).toBe(0);
    expect(await totalUsers()).toBe(before);
  });

  test("the alias POST /auth/register runs the hook too", async () => {
    const res = await server.api("POST", "/api/v1/auth/register", { body: newUser({ email: `mallory${Date.now()}@spam.example` }) });
    expect(res.status).toBe(403);
    expect(res.body.error).toEqual({ code: "HOOK_REJECTED", message: "Sign-ups from spam.example are closed" });
  });

  test("returning {metadata} replaces the new user's metadata, in the answer and in the database", async () => {
    const input = newUser({ username: `shaped${Date.now()}` });
    const res = await register(input);
    expect(res.status).toBe(201);
    expect(res.body.data.metadata).toEqual({ tenant: "acme", plan: "free" });
    const [stored] = await server.core.db.select({ metadata: users.metadata }).from(users).where(eq(users.email, input.email));
    expect(stored?.metadata).toEqual({ tenant: "acme", plan: "free" });
    const me = await server.api("GET", "/api/v1/users/me", {
      token: (await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } })).body.data.access_token,
    });
    expect(me.body.data.metadata).toEqual({ tenant: "acme", plan: "free" });
  });

  test.each([
    ["a string as metadata", "stringmeta"],
    ["an array as metadata", "arraymeta"],
    ["metadata over 8 KiB", "bigmeta"],
    ["an answer that is not an object", "numberanswer"],
  ])("returning %s answers 503 HOOK_FAILED and stores nothing", async (_, prefix) => {
    const before = await totalUsers();
    const input = newUser({ username: `${prefix}${Date.now()}` });
    const res = await register(input);
    expect({ status: res.status, body: res.body }).toEqual({ status: 503, body: hookFailed() });
    expect(await storedUserCount(input.email)).toBe(0);
    expect(await totalUsers()).toBe(before);
  });

  test("a hook that throws answers 503 HOOK_FAILED, stores nothing, and the failure is logged with the hook's name", async () => {
    const before = await totalUsers();
    const input = newUser({ username: `thrower${Date.now()}` });
    const res = await register(input);
    expect({ status: res.status, body: res.body }).toEqual({ status: 503, body: hookFailed() });
    expect(await storedUserCount(input.email)).toBe(0);
    expect(await totalUsers()).toBe(before);
    const failures = hookFailureLogs("beforeRegister");
    expect(failures.some((entry) => String(entry.err?.message).includes("the tenant directory is down"))).toBe(true);
    // The error's message reaches the log, never the caller.
    expect(JSON.stringify(res.body)).not.toContain("tenant directory");
  });

  test(`a hook that runs past USERSVC_HOOK_TIMEOUT_MS (${TIMEOUT_MS} ms) answers 503 HOOK_FAILED at the time limit, and its late answer is ignored`, async () => {
    const before = await totalUsers();
    const input = newUser({ username: `slow${Date.now()}` });
    const started = performance.now();
    const res = await register(input);
    const elapsed = performance.now() - started;
    expect({ status: res.status, body: res.body }).toEqual({ status: 503, body: hookFailed() });
    // The hook itself would take 5 s; the answer came at the time limit (generous bound: the machine is shared).
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(elapsed).toBeLessThan(4500);
    expect(hookFailureLogs("beforeRegister").some((entry) => String(entry.err?.message).includes(`timed out after ${TIMEOUT_MS} ms`))).toBe(true);

    // Let the hook answer now, late: nothing may be written because of it.
    hookModule.releaseSlow();
    await hookModule.slowFinished;
    await new Promise((resolve) => setImmediate(resolve));
    expect(await storedUserCount(input.email)).toBe(0);
    expect(await totalUsers()).toBe(before);
  });

  test("without event handlers or a webhook, no event is written for the sign-ups", async () => {
    const [row] = await server.core.db.select({ n: count() }).from(outboxEvents);
    expect(Number(row?.n)).toBe(0);
  });
});

describe("beforeLogin", () => {
  test("is called with {user, ip} after the password was checked; a rejection answers 403 HOOK_REJECTED and creates no session", async () => {
    const input = newUser({ username: `banned${Date.now()}` });
    const registered = await register(input);
    expect(registered.status).toBe(201);
    const userId = registered.body.data.id as string;

    // A wrong password never reaches the hook.
    const callsBefore = hookModule.calls.filter((c) => c.hook === "beforeLogin").length;
    const wrong = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: "not the password at all" } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("INVALID_CREDENTIALS");
    expect(hookModule.calls.filter((c) => c.hook === "beforeLogin").length).toBe(callsBefore);

    const res = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect({ status: res.status, body: res.body }).toEqual({
      status: 403,
      body: { success: false, data: null, error: { code: "HOOK_REJECTED", message: "This account may not log in here" } },
    });
    expect(await sessionCount(userId)).toBe(0);
    const call = hookModule.calls.findLast((c) => c.hook === "beforeLogin");
    expect(call?.input).toEqual({ user: registered.body.data, ip: "127.0.0.1" });
    expect(JSON.stringify(call?.input)).not.toContain("argon2");
  });

  test("a beforeLogin that throws answers 503 HOOK_FAILED and creates no session", async () => {
    const input = newUser({ username: `loginthrow${Date.now()}` });
    const registered = await register(input);
    const res = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect({ status: res.status, body: res.body }).toEqual({ status: 503, body: hookFailed() });
    expect(await sessionCount(registered.body.data.id)).toBe(0);
  });
});

describe("accessTokenClaims", () => {
  let input: ReturnType<typeof newUser>;
  let userId: string;
  beforeAll(async () => {
    input = newUser({ username: `shapedclaims${Date.now()}` });
    const registered = await register(input);
    expect(registered.status).toBe(201);
    userId = registered.body.data.id;
  });

  /** Checks an access token: the hook's tenant is in, every reserved claim is usersvc's own. */
  function expectOwnClaims(token: string): Record<string, unknown> {
    const claims = jwtClaims(token);
    expect(claims).toEqual({
      sub: userId,
      sid: expect.stringMatching(UUID),
      jti: expect.stringMatching(UUID),
      type: "access",
      iss: "usersvc",
      aud: "usersvc",
      iat: expect.any(Number),
      exp: expect.any(Number),
      roles: ["user"],
      gen: expect.any(Number),
      amr: ["pwd"],
      tenant: "acme",
      seen_session: claims.sid,
    });
    expect(claims.exp as number).toBe((claims.iat as number) + 900);
    expect(claims.gen).not.toBe(99);
    return claims;
  }

  test("adds a tenant claim to the access token of a login, and cannot override sub, sid, jti, type, iss, aud, exp, iat, nbf, roles, gen or amr", async () => {
    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect(login.status).toBe(200);
    const claims = expectOwnClaims(login.body.data.access_token);
    expect(hookModule.calls.findLast((c) => c.hook === "accessTokenClaims")?.input).toEqual({
      user: expect.objectContaining({ id: userId, metadata: { tenant: "acme", plan: "free" } }),
      session: { id: claims.sid },
    });
    // The token works: had gen, nbf or type been taken from the hook, it would be refused.
    const me = await server.api("GET", "/api/v1/users/me", { token: login.body.data.access_token });
    expect(me.status).toBe(200);
    // Refresh tokens carry no extra claims.
    expect(jwtClaims(login.body.data.refresh_token).tenant).toBeUndefined();
  });

  test("adds the claim to the access token of a refresh", async () => {
    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    const refreshed = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: login.body.data.refresh_token } });
    expect(refreshed.status).toBe(200);
    const claims = expectOwnClaims(refreshed.body.data.access_token);
    expect(claims.sid).toBe(jwtClaims(login.body.data.access_token).sid);
    expect((await server.api("GET", "/api/v1/users/me", { token: refreshed.body.data.access_token })).status).toBe(200);
  });

  test("adds the claim to the access token of a change of password", async () => {
    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    const changed = await server.api("POST", "/api/v1/auth/change-password", {
      token: login.body.data.access_token,
      body: { current_password: input.password, new_password: "a different horse battery" },
    });
    expect(changed.status).toBe(200);
    expectOwnClaims(changed.body.data.access_token);
    expect((await server.api("GET", "/api/v1/users/me", { token: changed.body.data.access_token })).status).toBe(200);
    input.password = "a different horse battery";
  });
});

describe("a hooks module that does not load", () => {
  /** What createCore throws for this hooks file. */
  async function startFailure(hooksPath: string): Promise<unknown> {
    return createCore({ config: loadConfig({ USERSVC_HOOKS: hooksPath }), db: server.core.db, dbKind: server.core.dbKind, logger: server.core.logger }).then(
      () => null,
      (error: unknown) => error,
    );
  }

  test("with an unknown hook key stops the core from starting: ConfigError naming USERSVC_HOOKS, the key and the file", async () => {
    const path = writeHookFile(dir, "unknown-key.ts", `export default { beforeRegister() {}, afterRegister() {} };\n`);
    const error = await startFailure(path);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([`USERSVC_HOOKS: unknown hook "afterRegister" in ${path}`]);
  });

  test("a handler for every event usersvc sends is a known key (user.mfa_reset was once refused at start-up)", async () => {
    const handlers = EVENT_TYPES.map((type) => `${JSON.stringify(type)}() {}`).join(", ");
    const path = writeHookFile(dir, "every-event.ts", `export default { ${handlers} };\n`);
    expect(await startFailure(path)).toBeNull();
    expect(EVENT_TYPES).toContain("user.mfa_reset");
  });

  test("with a syntax error stops the core from starting, naming USERSVC_HOOKS and the file", async () => {
    const path = writeHookFile(dir, "broken.ts", `export default { beforeRegister( {\n`);
    const error = await startFailure(path);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([expect.stringContaining(`USERSVC_HOOKS: cannot load ${path}`)]);
  });

  test("that does not exist stops the core from starting, naming USERSVC_HOOKS", async () => {
    const path = `${dir}/missing.ts`;
    const error = await startFailure(path);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([`USERSVC_HOOKS: ${path} is not a file`]);
  });
});

describe("a .js hooks module", () => {
  test("loads like a .ts one and its beforeRegister vetoes through the runner", async () => {
    // A directory of its own: Bun's resolver caches directory listings, and in the listing it
    // saw earlier, dir/hooks.js did not exist yet (it would have resolved it to dir/hooks.ts).
    const jsDir = hooksDir();
    const path = writeHookFile(
      jsDir,
      "hooks.js",
      `export default {\n  beforeRegister({ email }) {\n    if (email.endsWith("@closed.example")) return { reject: "closed" };\n  },\n  "user.registered"() {},\n  on() {},\n};\n`,
    );
    const core = await createCore({ config: loadConfig({ USERSVC_HOOKS: path }), db: server.core.db, dbKind: server.core.dbKind, logger: server.core.logger });
    expect({ kind: core.hooks.kind, handlers: core.hooks.handlers }).toEqual({ kind: "module", handlers: ["beforeRegister", "user.registered", "on"] });
    const refused = await core.hooks.beforeRegister({ email: "a@closed.example", username: "a", metadata: {}, ip: null }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DomainError);
    expect({ code: (refused as DomainError).code, message: (refused as DomainError).message }).toEqual({ code: "HOOK_REJECTED", message: "closed" });
    expect(await core.hooks.beforeRegister({ email: "a@open.example", username: "a", metadata: {}, ip: null })).toEqual({});
    rmSync(jsDir, { recursive: true, force: true });
  });
});
