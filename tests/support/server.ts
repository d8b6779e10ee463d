/**
 * An in-process usersvc on a real port (port 0) over a fresh database, with
 * a clock tests can move and the log lines it wrote.
 */
import { randomBytes } from "node:crypto";
import { sha256Hex } from "../../src/core/digest.ts";
import { oneTimeTokens } from "../../src/core/db/schema.ts";
import { loadConfig, type Env } from "../../src/config.ts";
import type { Core } from "../../src/core/core.ts";
import { tryLockDataDir } from "../../src/core/db/data-dir-lock.ts";
import { openUsersvc } from "../../src/core/start-up.ts";
import { updateUser } from "../../src/core/users/queries.ts";
import { createLogger } from "../../src/logger.ts";
import { createApp } from "../../src/server/app.ts";
import { createTestDatabase } from "./database.ts";

export interface TestClock {
  now(): Date;
  advance(seconds: number): void;
}

export interface TestServer {
  url: string;
  /** The environment pointing at this server's database. */
  env: Env;
  core: Core;
  clock: TestClock;
  /** Every JSON log line written so far. */
  logs: string[];
  api: Api;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  /** Run on another test server's database (PostgreSQL only: PGlite has one opener). */
  shareDatabaseWith?: TestServer;
  /** Listen here instead of a free port: when the public URL must name the server itself (an OpenID Connect issuer). */
  port?: number;
}

export async function startTestServer(env: Env = {}, options: TestServerOptions = {}): Promise<TestServer> {
  const shared = options.shareDatabaseWith;
  const database = shared ? { env: shared.env, drop: async () => {} } : await createTestDatabase();
  // Tests drive many logins and sign-ups from one IP; the rate-limit tests set their own limits.
  const config = loadConfig({
    LOG_LEVEL: "info",
    USERSVC_LOGIN_MAX_ATTEMPTS: "100000",
    USERSVC_RATE_LIMIT_PER_IP: "100000",
    ...database.env,
    ...env,
  });
  const logs: string[] = [];
  const logger = createLogger(config.logLevel, { write: (line: string) => void logs.push(line) });
  let offsetMs = 0;
  const clock: TestClock = {
    now: () => new Date(Date.now() + offsetMs),
    advance: (seconds) => {
      offsetMs += seconds * 1000;
    },
  };
  const usersvc = await openUsersvc(config, logger, { migrate: true, watchKeys: true, now: clock.now });
  const core = await usersvc.core().catch(async (error: unknown) => {
    await usersvc.close();
    await database.drop();
    throw error;
  });
  // strictErrors: an error code a route does not declare in /docs/json fails the test that reaches it.
  const app = createApp(core, { strictErrors: true }).listen({ hostname: "127.0.0.1", port: options.port ?? 0 });
  const url = `http://127.0.0.1:${app.server!.port}`;
  return {
    url,
    env: database.env,
    core,
    clock,
    logs,
    api: createApi(url),
    async stop() {
      await app.stop();
      await usersvc.close();
      await database.drop();
    },
  };
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface CallOptions {
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
}

export type Api = (method: string, path: string, options?: CallOptions) => Promise<ApiResponse>;

export function createApi(baseUrl: string): Api {
  return async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const body =
      options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    const response = await fetch(baseUrl + path, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: response.status, headers: response.headers, body: parsed };
  };
}

let counter = 0;

/** A unique, valid registration body. */
export function newUser(overrides: Partial<{ email: string; username: string; password: string }> = {}) {
  counter += 1;
  const tag = `${Date.now().toString(36)}${counter}`;
  return { email: `user${tag}@example.com`, username: `user${tag}`, password: "correct horse battery staple", ...overrides };
}

/** Registers a user and logs in; returns the user and its tokens. */
export async function registerAndLogin(api: Api, overrides: Parameters<typeof newUser>[0] = {}) {
  const input = newUser(overrides);
  const registered = await api("POST", "/api/v1/users", { body: input });
  if (registered.status !== 201) throw new Error(`register failed: ${JSON.stringify(registered.body)}`);
  const login = await api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
  if (login.status !== 200) throw new Error(`login failed: ${JSON.stringify(login.body)}`);
  return { input, user: registered.body.data, tokens: login.body.data as TokenPairBody };
}

/** A registered user whose email is confirmed (set in the database, for tests that are not about email). */
export async function registerVerified(server: TestServer, overrides: Parameters<typeof newUser>[0] = {}) {
  const input = newUser(overrides);
  const registered = await server.api("POST", "/api/v1/users", { body: input });
  if (registered.status !== 201) throw new Error(`register failed: ${JSON.stringify(registered.body)}`);
  const id = registered.body.data.id as string;
  await updateUser(server.core.db, id, { isVerified: true }, server.clock.now());
  return { input, id };
}

export interface TokenPairBody {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  refresh_expires_in: number;
}

/** A password-reset token as the emailed link would carry it, written straight to the database (for servers without hooks to receive the event). */
export async function issueResetToken(server: TestServer, userId: string): Promise<string> {
  const token = randomBytes(32).toString("base64url");
  const now = server.clock.now();
  await server.core.db.insert(oneTimeTokens).values({
    tokenHash: sha256Hex(token),
    userId,
    purpose: "reset_password",
    expiresAt: new Date(now.getTime() + 3_600_000),
    createdAt: now,
  });
  return token;
}

/**
 * An in-process usersvc HTTP API on a real port over an existing test
 * database (given by its environment), for as long as `use` runs. On the
 * embedded database it holds the data directory lock meanwhile, as serve
 * does, so nothing opens the directory a second time; run no CLI command
 * on that database inside `use`.
 */
export async function withServerOn<T>(env: Env, use: (url: string) => Promise<T>): Promise<T> {
  const config = loadConfig({ LOG_LEVEL: "silent", USERSVC_LOGIN_MAX_ATTEMPTS: "100000", USERSVC_RATE_LIMIT_PER_IP: "100000", ...env });
  const lock = config.databaseUrl ? null : tryLockDataDir(config.dataDir);
  if (!config.databaseUrl && !lock) throw new Error(`${config.dataDir} is held by a running usersvc`);
  try {
    const usersvc = await openUsersvc(config, createLogger("silent", { write: () => {} }));
    try {
      const app = createApp(await usersvc.core()).listen({ hostname: "127.0.0.1", port: 0 });
      try {
        return await use(`http://127.0.0.1:${app.server!.port}`);
      } finally {
        await app.stop();
      }
    } finally {
      await usersvc.close();
    }
  } finally {
    lock?.release();
  }
}
