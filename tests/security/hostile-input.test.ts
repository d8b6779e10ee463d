/**
 * Hostile input at every /api/v1 route. The routes are read from the app
 * itself (createApp(core).routes), so a route added later is fuzzed too; each
 * gets random and malformed JSON, wrong types, huge and deeply nested
 * values, unicode edge cases and injection strings (fast-check, bounded runs),
 * with a valid token when the route needs one so the input reaches
 * validation. For every answer: never 500, always the SPEC §4 envelope with
 * a status the spec allows for its code, and a refused request stores nothing.
 * Then the limits one by one: 64 KiB before parsing (declared or chunked),
 * lengths before hashing, prototype pollution, the username and email rules.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { rows } from "../../src/core/db/migrate.ts";
import { users } from "../../src/core/db/schema.ts";
import { startSession } from "../../src/core/sessions/session-tokens.ts";
import type { UserRecord } from "../../src/core/users/user-record.ts";
import { adminUpdateUser } from "../../src/core/users/admin-update.ts";
import { createUser } from "../../src/core/users/users.ts";
import { createApp } from "../../src/server/app.ts";
import { failureOf } from "../support/admin.ts";
import { newUser, registerAndLogin, startTestServer, type ApiResponse, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers and databases, and a test that measures many hashes, on a shared machine.
setDefaultTimeout(60_000);

/** SPEC §4 error codes and their statuses (METHOD_NOT_ALLOWED is documented in docs/api.md). */
const SPEC_STATUS: Record<string, number> = {
  VALIDATION_ERROR: 422,
  WEAK_PASSWORD: 422,
  EMAIL_TAKEN: 409,
  USERNAME_TAKEN: 409,
  LAST_ADMIN: 409,
  INSUFFICIENT_BALANCE: 409,
  INVALID_CREDENTIALS: 401,
  UNAUTHENTICATED: 401,
  INVALID_TOKEN: 401,
  TOKEN_EXPIRED: 401,
  INVALID_TOKEN_TYPE: 401,
  REFRESH_TOKEN_REUSED: 401,
  SESSION_REVOKED: 401,
  WRONG_PASSWORD: 400,
  INVALID_OR_EXPIRED_TOKEN: 400,
  ACCOUNT_BLOCKED: 403,
  EMAIL_NOT_VERIFIED: 403,
  FORBIDDEN: 403,
  HOOK_REJECTED: 403,
  NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
};
const MAX_BODY = 64 * 1024;
/** Runs per property; a failure is reported as found (shrinking 60 KB bodies would take minutes). */
const PROPERTY = { numRuns: 50, endOnFailure: true } as const;

const INJECTIONS = [
  "' OR 1=1--",
  "' OR '1'='1",
  '"; DROP TABLE users;--',
  "'; DELETE FROM sessions; --",
  "1); SELECT pg_sleep(10);--",
  "admin'--",
  "%",
  "_",
  "\\",
  "$gt",
  "__proto__",
  "constructor",
  "prototype",
  "${7*7}",
  "{{7*7}}",
  "<script>alert(1)</script>",
  "../../../../etc/passwd",
  "null",
  "undefined",
  "NaN",
  "-1",
  "1e309",
  "0x10",
  "true",
];
const UNICODE_EDGES = [
  "\u0430dmin", // Cyrillic а
  "\u0430lice@ex\u0430mple.com",
  "\u202eadmin", // right-to-left override
  "admin\u200b", // zero-width space
  "ad\u0000min", // NUL
  "\ud800", // lone high surrogate
  "x\udfffy", // lone low surrogate
  "😀🏳️‍🌈",
  "ｆｕｌｌｗｉｄｔｈ",
  "e\u0301", // combining accent
  "\ufeffbom",
  "\u0085\u2028\u2029",
  "İıſK", // case-mapping oddities
];
/** JSON text an object literal cannot produce (JSON.stringify drops a __proto__ key). */
const RAW_JSON_VALUES = [
  '{"__proto__":{"polluted":"yes","roles":["admin"],"is_admin":true}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"$gt":""}',
  '{"$where":"1==1"}',
  '{"$ne":null}',
  '[{"__proto__":{"polluted":"yes"}}]',
];

let server: TestServer;
let adminRecord: UserRecord;
let plainRecord: UserRecord;
beforeAll(async () => {
  server = await startTestServer();
  // Made through the core: their passwords are never guessed by the fuzzer, nor needed.
  adminRecord = await createUser(server.core, newUser({ password: `admin ${crypto.randomUUID()}` }), {
    actor: CLI_ACTOR,
    roles: ["user", "admin"],
  });
  plainRecord = await createUser(server.core, newUser({ password: `plain ${crypto.randomUUID()}` }), { actor: CLI_ACTOR });
});
afterAll(() => server.stop());

interface RouteUnderTest {
  method: string;
  path: string;
  auth: "none" | "user" | "admin";
  bodyKeys: string[] | null;
  /** The route's TypeBox body schema, for type-correct hostile bodies that get past validation. */
  bodySchema: SchemaLike | null;
  queryKeys: string[];
}

function apiRoutes(srv: TestServer): RouteUnderTest[] {
  return createApp(srv.core, { docs: false })
    .routes.filter((route) => route.path.startsWith("/api/v1/"))
    .map((route) => {
      const hooks = route.hooks as { detail?: { security?: unknown }; body?: SchemaLike; query?: SchemaLike };
      const auth = !hooks.detail?.security ? "none" : route.path.startsWith("/api/v1/admin/") ? "admin" : "user";
      return {
        method: route.method,
        path: route.path,
        auth,
        bodyKeys: hooks.body ? Object.keys(hooks.body.properties ?? {}) : null,
        bodySchema: hooks.body ?? null,
        queryKeys: Object.keys(hooks.query?.properties ?? {}),
      };
    });
}

interface HostileRequest {
  body: string | undefined;
  query: string;
  id: string;
  contentType: string;
}

interface SchemaLike {
  type?: string;
  properties?: Record<string, SchemaLike>;
  items?: SchemaLike;
  anyOf?: SchemaLike[];
}

/** A fresh session for each request: a hostile request that logs out must not spoil the next one. */
async function tokenFor(auth: RouteUnderTest["auth"]): Promise<string | undefined> {
  if (auth === "none") return undefined;
  const user = auth === "admin" ? adminRecord : plainRecord;
  return (await startSession(server.core, user, { ip: "127.0.0.1", userAgent: "hostile-input" })).access_token;
}

/** Everything a refused request must leave untouched, in one query. */
async function fingerprint(): Promise<Record<string, unknown>> {
  const [row] = rows<Record<string, unknown>>(
    await server.core.db.execute(sql`
      select (select count(*) from users)::int as users,
             (select max(updated_at) from users)::text as users_updated,
             (select count(*) from sessions)::int as sessions,
             (select count(*) from sessions where revoked_at is not null)::int as revoked_sessions,
             (select count(*) from audit_log)::int as audit,
             (select count(*) from balance_transactions)::int as ledger`),
  );
  return row!;
}

/** The SPEC §4 envelope, with a status that matches its code; no stack, SQL or hash in the message. */
function expectEnvelope(res: { status: number; contentType: string | null; text: string }, label: string): void {
  const context = `${label} → ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, context).toBeLessThan(500);
  expect(res.contentType ?? "", context).toStartWith("application/json");
  const body = JSON.parse(res.text);
  if (res.status < 400) {
    expect([200, 201, 202], context).toContain(res.status);
    expect(Object.keys(body).sort(), context).toEqual(["data", "error", "success"]);
    expect([body.success, body.error], context).toEqual([true, null]);
    return;
  }
  const code: string = body.error?.code;
  expect(SPEC_STATUS[code], context).toBe(res.status);
  expect(body, context).toEqual(failureOf(code));
  // Field names the caller sent are echoed back; what must never appear is the server's own SQL, stack or hashes.
  expect(body.error.message, context).not.toMatch(/\n\s+at |Failed query|insert into "|update "|from "|\$argon2id\$|DrizzleQueryError/i);
}

async function send(
  method: string,
  path: string,
  options: { body?: string; token?: string; contentType?: string } = {},
): Promise<{ status: number; contentType: string | null; text: string }> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = options.contentType ?? "application/json";
  const response = await fetch(server.url + path, { method, headers, body: options.body });
  return { status: response.status, contentType: response.headers.get("content-type"), text: await response.text() };
}

// ---- arbitraries --------------------------------------------------------------------------

const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...INJECTIONS),
  fc.constantFrom(...UNICODE_EDGES),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: fc.constantFrom("\u0000", "\ud800", "\udc00", "\u202e", "\u200b", "а", "😀", "'", '"', "\\", "%"), maxLength: 12 }),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }),
  fc
    .tuple(fc.integer({ min: 300, max: 60_000 }), fc.constantFrom("a", "é", "😀", "\u0000", " "))
    .map(([n, unit]) => unit.repeat(Math.floor(n / unit.length))),
);

/** A JSON text for a value: a hostile string, a wrong type, or a raw fragment with __proto__ and friends. */
const hostileValueJson: fc.Arbitrary<string> = fc.oneof(
  hostileString.map((s) => JSON.stringify(s)),
  fc.anything({ maxDepth: 3, maxKeys: 4 }).map((v) => JSON.stringify(v) ?? "null"),
  fc.constantFrom(...RAW_JSON_VALUES),
  fc.constantFrom("0", "-1", "1e308", "-0", "9007199254740993", "true", "null", "[]", "{}", '""'),
);

/** An object shaped like the route's body: some of its fields and maybe unknown ones, each hostile. */
function shapedBody(keys: string[]): fc.Arbitrary<string> {
  const key = fc.oneof(
    { weight: 4, arbitrary: keys.length > 0 ? fc.constantFrom(...keys) : fc.constant("x") },
    { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "roles", "is_admin", "status", "balance", "id") },
    { weight: 1, arbitrary: hostileString },
  );
  return fc
    .array(fc.tuple(key, hostileValueJson), { maxLength: Math.max(3, keys.length + 1) })
    .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`);
}

/** A value of the type the schema asks for, with hostile content: it passes validation and reaches the core. */
function typedValue(schema: SchemaLike): fc.Arbitrary<unknown> {
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map(typedValue));
  switch (schema.type) {
    case "string":
      return hostileString;
    case "boolean":
      return fc.boolean();
    case "number":
    case "integer":
      return fc.oneof(fc.integer(), fc.constantFrom(0, -1, 2 ** 31, 2 ** 53 - 1, -(2 ** 53) + 1, 1e15));
    case "null":
      return fc.constant(null);
    case "array":
      return fc.array(schema.items ? typedValue(schema.items) : hostileString, { maxLength: 4 });
    case "object":
      if (schema.properties && Object.keys(schema.properties).length > 0) return typedObject(schema);
      return fc.dictionary(shortHostileString, fc.oneof(hostileString, fc.jsonValue({ maxDepth: 2 })), { maxKeys: 4 });
    default:
      return fc.oneof(hostileString, fc.jsonValue({ maxDepth: 2 }));
  }
}

function typedObject(schema: SchemaLike): fc.Arbitrary<Record<string, unknown>> {
  const properties = Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, value]) => [key, typedValue(value)]));
  return fc.record(properties, { requiredKeys: [] });
}

function hostileBody(keys: string[], schema: SchemaLike | null): fc.Arbitrary<string> {
  return fc.oneof(
    ...(schema ? [typedObject(schema), typedObject(schema), typedObject(schema)].map((a) => a.map((v) => JSON.stringify(v))) : []),
    shapedBody(keys),
    shapedBody(keys),
    fc.json({ maxDepth: 4 }),
    fc.anything({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? "null"),
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.json({ maxDepth: 3 }).map((text) => text.slice(0, Math.max(0, text.length - 1)) || "{"),
    fc.constantFrom("{'a':1}", '{"a":1,}', "NaN", "[1,2", '{"a"}', "\u0000", "{}garbage", '"\\ud800"', "\ufeff{}"),
    fc.constantFrom(...RAW_JSON_VALUES),
    fc
      .tuple(fc.integer({ min: 65, max: 30_000 }), fc.boolean())
      .map(([depth, arrays]) => (arrays ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth)))
      .filter((text) => text.length <= MAX_BODY),
  );
}

function encode(value: string): string {
  return value.isWellFormed() ? encodeURIComponent(value) : encodeURIComponent(value.toWellFormed()) + "%ED%A0%80";
}

/** Short enough for the HTTP server's own URL limit (past it Bun answers 431 before the app runs). */
const shortHostileString = hostileString.filter((s) => s.length <= 300);

function hostileQuery(keys: string[]): fc.Arbitrary<string> {
  const key = fc.oneof(
    keys.length > 0 ? fc.constantFrom(...keys) : fc.constant("q"),
    fc.constantFrom("__proto__[polluted]", "constructor[prototype][polluted]", "q[]", "limit[$gt]"),
    shortHostileString,
  );
  return fc
    .array(fc.tuple(key, fc.oneof(shortHostileString, fc.constantFrom("%00", "%ZZ", "0", "-1", "201", "1e400"))), { maxLength: 4 })
    .map((pairs) => {
      const text = pairs.map(([k, v]) => `${encode(k).replaceAll("%5B", "[").replaceAll("%5D", "]")}=${v.startsWith("%") ? v : encode(v)}`);
      return text.length > 0 ? `?${text.join("&")}` : "";
    });
}

const hostileId: fc.Arbitrary<string> = fc.oneof(
  fc.uuid(), // well-formed, but nobody's
  fc.constantFrom("00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"),
  shortHostileString.filter((s) => s.length > 0).map(encode),
);

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant("application/json") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "application/merge-patch+json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/xml",
      "",
    ),
  },
);

// ---- the battery --------------------------------------------------------------------------

describe("hostile input at every /api/v1 route", () => {
  const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();

  // Named here because test.each needs them before the server exists; the next test holds this
  // list to the app's own route table, so a route added to the app without being fuzzed fails it.
  const ROUTE_NAMES = [
    "POST /api/v1/users",
    "POST /api/v1/auth/register",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/refresh",
    "POST /api/v1/auth/logout",
    "POST /api/v1/auth/logout-all",
    "POST /api/v1/auth/mfa/verify",
    "POST /api/v1/auth/verify-email",
    "POST /api/v1/auth/verify-email/resend",
    "POST /api/v1/auth/forgot-password",
    "POST /api/v1/auth/reset-password",
    "POST /api/v1/auth/change-password",
    "GET /api/v1/users/me",
    "PATCH /api/v1/users/me",
    "PUT /api/v1/users/me",
    "DELETE /api/v1/users/me",
    "GET /api/v1/users/me/sessions",
    "GET /api/v1/users/me/applications",
    "DELETE /api/v1/users/me/applications/:id",
    "GET /api/v1/auth/forward",
    "DELETE /api/v1/users/me/sessions/:id",
    "GET /api/v1/users/me/mfa",
    "POST /api/v1/users/me/mfa/enroll",
    "POST /api/v1/users/me/mfa/confirm",
    "POST /api/v1/users/me/mfa/recovery-codes",
    "DELETE /api/v1/users/me/mfa",
    "POST /api/v1/users/me/email",
    "GET /api/v1/users/me/passkeys",
    "POST /api/v1/users/me/passkeys/registration/options",
    "POST /api/v1/users/me/passkeys",
    "PATCH /api/v1/users/me/passkeys/:id",
    "DELETE /api/v1/users/me/passkeys/:id",
    "POST /api/v1/auth/passkeys/options",
    "POST /api/v1/auth/passkeys/verify",
    "GET /api/v1/users/me/balance",
    "GET /api/v1/users/me/balance/transactions",
    "GET /api/v1/admin/check",
    "GET /api/v1/admin/users",
    "GET /api/v1/admin/users/:id",
    "PATCH /api/v1/admin/users/:id",
    "DELETE /api/v1/admin/users/:id",
    "POST /api/v1/admin/users/:id/restore",
    "POST /api/v1/admin/users/:id/block",
    "POST /api/v1/admin/users/:id/unblock",
    "POST /api/v1/admin/users/:id/logout",
    "POST /api/v1/admin/users/:id/balance",
    "POST /api/v1/admin/users/:id/mfa/reset",
    "GET /api/v1/admin/audit",
    "GET /api/v1/admin/users/:id/applications",
    "POST /api/v1/admin/users/:id/applications/revoke",
    "GET /api/v1/admin/clients",
    "POST /api/v1/admin/clients",
    "GET /api/v1/admin/clients/:id",
    "PATCH /api/v1/admin/clients/:id",
    "DELETE /api/v1/admin/clients/:id",
    "POST /api/v1/admin/clients/:id/rotate-secret",
    "GET /api/v1/admin/providers",
    "POST /api/v1/admin/providers",
    "GET /api/v1/admin/providers/:name",
    "DELETE /api/v1/admin/providers/:name",
    "GET /api/v1/admin/users/:id/identities",
    "DELETE /api/v1/admin/users/:id/identities/:provider",
    "GET /api/v1/users/me/identities",
    "DELETE /api/v1/users/me/identities/:provider",
  ];

  test("every route of the app is in this battery (a new route must be added here)", () => {
    expect(apiRoutes(server).map((r) => `${r.method} ${r.path}`).sort()).toEqual([...ROUTE_NAMES].sort());
  });

  /** One property over one route: never 500, the envelope always, and a refusal stores nothing. */
  async function fuzzRoute(route: RouteUnderTest, request: fc.Arbitrary<HostileRequest>): Promise<void> {
    await fc.assert(
      fc.asyncProperty(request, async ({ body, query, id, contentType }) => {
        const token = await tokenFor(route.auth);
        const before = await fingerprint();
        const path = route.path.replace(/:[a-z_]+/g, id) + query;
        const res = await send(route.method, path, { body, token, contentType });
        expectEnvelope(res, `${route.method} ${path.slice(0, 200)} body=${JSON.stringify(body?.slice(0, 200))}`);
        if (res.status >= 400) expect(await fingerprint(), `${route.method} ${path} ${res.text}`).toEqual(before);
      }),
      PROPERTY,
    );
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }

  function routeNamed(name: string): RouteUnderTest {
    return apiRoutes(server).find((r) => `${r.method} ${r.path}` === name)!;
  }

  test.each(ROUTE_NAMES)("%s: random, malformed and mistyped input never gives a 500, and a refusal stores nothing", async (name) => {
    const route = routeNamed(name);
    await fuzzRoute(
      route,
      fc.record({
        body:
          route.method === "GET"
            ? fc.constant(undefined)
            : fc.option(hostileBody(route.bodyKeys ?? [], route.bodySchema), { freq: 8, nil: undefined }),
        query: hostileQuery(route.queryKeys),
        id: hostileId,
        contentType,
      }),
    );
  });

  test.each(ROUTE_NAMES.filter((name) => !name.startsWith("GET ")))(
    "%s: well-typed bodies with hostile strings pass validation and still never give a 500",
    async (name) => {
      const route = routeNamed(name);
      const body = route.bodySchema ? typedObject(route.bodySchema).map((v) => JSON.stringify(v)) : hostileBody([], null);
      await fuzzRoute(route, fc.record({ body, query: fc.constant(""), id: fc.uuid(), contentType: fc.constant("application/json") }));
    },
  );

  test("the same input without a token is refused with 401 before it is looked at, on every protected route", async () => {
    const routes = apiRoutes(server).filter((r) => r.auth !== "none");
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), hostileId, async (route, id) => {
        const body = route.method === "GET" ? undefined : '{"roles":["admin"],"__proto__":{"is_admin":true}}';
        const res = await send(route.method, route.path.replace(/:[a-z_]+/g, id), { body });
        expectEnvelope(res, `${route.method} ${route.path}`);
        // A hostile id may route elsewhere (404/405) or be refused as a URL (422); never a success.
        expect([401, 404, 405, 422]).toContain(res.status);
      }),
      { ...PROPERTY, numRuns: 60 },
    );
  });
});

describe("deep nesting", () => {
  test.each([
    ["10 000 levels of arrays", "[".repeat(10_000) + "]".repeat(10_000)],
    ["30 000 levels of arrays", "[".repeat(30_000) + "]".repeat(30_000)],
    ["10 000 levels of arrays in a field", `{"password":${"[".repeat(10_000)}${"]".repeat(10_000)}}`],
    ["5 000 levels of objects in metadata", `{"metadata":${'{"a":'.repeat(5_000)}1${"}".repeat(5_000)}}`],
  ])("%s (under 64 KiB) answers 422 on every route with a body, never 500", async (_, body) => {
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_BODY);
    for (const route of apiRoutes(server).filter((r) => r.method !== "GET")) {
      const res = await send(route.method, route.path.replace(":id", crypto.randomUUID()), { body, token: await tokenFor(route.auth) });
      expect({ route: `${route.method} ${route.path}`, status: res.status, code: JSON.parse(res.text).error?.code }).toEqual({
        route: `${route.method} ${route.path}`,
        status: 422,
        code: "VALIDATION_ERROR",
      });
    }
  });

  test("64 levels are accepted as input (the limit is on depth, not on structure)", async () => {
    const { tokens } = await registerAndLogin(server.api);
    // 63 levels inside metadata plus the body itself: exactly 64.
    const metadata = JSON.parse('{"a":'.repeat(63) + "1" + "}".repeat(63));
    const res = await server.api("PATCH", "/api/v1/users/me", { token: tokens.access_token, body: { metadata } });
    expect(res.status).toBe(200);
  });
});

describe("body size: 64 KiB, refused before parsing", () => {
  const bodyRoutes = () => apiRoutes(server).filter((r) => r.method !== "GET");

  test("one byte over 64 KiB with Content-Length answers 413 PAYLOAD_TOO_LARGE on every route with a body", async () => {
    const oversized = JSON.stringify({ password: "x".repeat(MAX_BODY) }).slice(0, MAX_BODY + 1);
    expect(Buffer.byteLength(oversized)).toBe(MAX_BODY + 1);
    for (const route of bodyRoutes()) {
      const token = await tokenFor(route.auth);
      const res = await send(route.method, route.path.replace(":id", crypto.randomUUID()), { body: oversized, token });
      expect({ route: route.path, status: res.status, body: JSON.parse(res.text) }).toEqual({
        route: route.path,
        status: 413,
        body: failureOf("PAYLOAD_TOO_LARGE"),
      });
    }
  });

  test("exactly 64 KiB is read (and refused for its content, not its size)", async () => {
    const padding = "x".repeat(MAX_BODY - JSON.stringify({ email: "", username: "", password: "" }).length);
    const body = JSON.stringify({ email: padding, username: "", password: "" });
    expect(Buffer.byteLength(body)).toBe(MAX_BODY);
    const res = await send("POST", "/api/v1/users", { body });
    expect([res.status, JSON.parse(res.text).error.code]).toEqual([422, "VALIDATION_ERROR"]);
  });

  test("a login name of 60 KB of random text answers 401 like any unknown account, not 500", async () => {
    // Random, so the database cannot compress it into an index entry.
    const varied = Buffer.from(crypto.getRandomValues(new Uint8Array(45_000))).toString("base64");
    for (const body of [{ email: `${varied}@example.com`, password: "whatever pass" }, { username: varied, password: "whatever pass" }]) {
      const res = await server.api("POST", "/api/v1/auth/login", { body });
      expect([res.status, res.body.error?.code]).toEqual([401, "INVALID_CREDENTIALS"]);
    }
  });

  test("a declared Content-Length of 100 MB is answered 413 at once, without waiting for the body", async () => {
    const head =
      "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
      "Content-Length: 104857600\r\nConnection: close\r\n\r\n{";
    const answer = await rawExchange(server.url, head, 10_000);
    expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 413 Payload Too Large");
    expect(answer).toContain('"PAYLOAD_TOO_LARGE"');
  });

  test("a chunked body without Content-Length over 64 KiB answers 413 while it is read", async () => {
    const chunk = new TextEncoder().encode("x".repeat(8 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"email":"'));
        for (let i = 0; i < 9; i++) {
          controller.enqueue(chunk);
          sent += chunk.byteLength;
        }
        controller.close();
      },
    });
    const res = await fetch(`${server.url}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(sent).toBeGreaterThan(MAX_BODY);
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 413, body: failureOf("PAYLOAD_TOO_LARGE") });
  });

  test("an endless chunked body is cut off after 64 KiB with 413", async () => {
    const chunk = new TextEncoder().encode("[".repeat(4096));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Endless unless the server stops reading; a hard stop keeps a broken server from hanging the test.
        if (sent > 64 * 1024 * 1024) return controller.close();
        controller.enqueue(chunk);
        sent += chunk.byteLength;
      },
    });
    const res = await fetch(`${server.url}/api/v1/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 413, body: failureOf("PAYLOAD_TOO_LARGE") });
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });
});

describe("lengths are checked before any password is hashed", () => {
  /** Counts calls into the password hasher while `work` runs. */
  async function hashingDuring<T>(work: () => Promise<T>): Promise<{ result: T; calls: number }> {
    const hasher = server.core.passwords;
    const original = { hash: hasher.hash, verify: hasher.verify, burnVerification: hasher.burnVerification };
    let calls = 0;
    hasher.hash = (password) => ((calls += 1), original.hash(password));
    hasher.verify = (password, hash) => ((calls += 1), original.verify(password, hash));
    hasher.burnVerification = (password) => ((calls += 1), original.burnVerification(password));
    try {
      return { result: await work(), calls };
    } finally {
      Object.assign(hasher, original);
    }
  }

  function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  }

  test("a 1 MB password answers 413 without hashing, faster than one argon2id hash measured in this run", async () => {
    const hashTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await server.core.passwords.hash(`reference password ${i}`);
      hashTimes.push(performance.now() - started);
    }
    const megabyte = "p".repeat(1024 * 1024);
    const { user, tokens } = await registerAndLogin(server.api);
    const attempts: [string, string, unknown, string?][] = [
      ["POST", "/api/v1/users", { ...newUser(), password: megabyte }],
      ["POST", "/api/v1/auth/login", { email: user.email, password: megabyte }],
      ["POST", "/api/v1/auth/change-password", { current_password: megabyte, new_password: megabyte }, tokens.access_token],
      ["POST", "/api/v1/auth/reset-password", { token: "x", new_password: megabyte }],
      ["DELETE", "/api/v1/users/me", { password: megabyte }, tokens.access_token],
    ];
    const before = await fingerprint();
    const refusalTimes: number[] = [];
    const { calls } = await hashingDuring(async () => {
      for (const [method, path, body, token] of attempts) {
        const started = performance.now();
        const res = await server.api(method, path, { body, token });
        refusalTimes.push(performance.now() - started);
        expect([path, res.status, res.body.error?.code]).toEqual([path, 413, "PAYLOAD_TOO_LARGE"]);
      }
    });
    expect(calls).toBe(0);
    expect(await fingerprint()).toEqual(before);
    // Generous: the refusal must not include a hash; on a loaded machine both sides slow down alike.
    expect(median(refusalTimes)).toBeLessThan(Math.max(median(hashTimes), 20));
  });

  test.each([
    ["register, password", "POST", "/api/v1/users", (p: string) => ({ ...newUser(), password: p })],
    ["change-password, new_password", "POST", "/api/v1/auth/change-password", (p: string) => ({ current_password: "whatever it is", new_password: p })],
    ["reset-password, new_password", "POST", "/api/v1/auth/reset-password", (p: string) => ({ token: "x", new_password: p })],
  ])("a 60 KB password within the body limit (%s) answers 422 without hashing", async (_, method, path, bodyFor) => {
    const { tokens } = await registerAndLogin(server.api);
    const { result, calls } = await hashingDuring(() =>
      server.api(method, path, { body: bodyFor("Zq9!".repeat(15_000)), token: tokens.access_token }),
    );
    expect(result.status).toBe(422);
    expect(result.body.error.code).toBe("VALIDATION_ERROR");
    expect(calls).toBe(0);
  });
});

describe("prototype pollution", () => {
  const bodies = [
    '{"__proto__":{"polluted":"yes","is_admin":true,"roles":["admin"]}}',
    '{"constructor":{"prototype":{"polluted":"yes"}}}',
    '{"metadata":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}}',
    '{"username":"proto_user","__proto__":{"polluted":"yes"}}',
  ];

  test("__proto__ and constructor.prototype in any body, at any route, never reach Object.prototype", async () => {
    const names = Object.getOwnPropertyNames(Object.prototype).sort();
    for (const route of apiRoutes(server).filter((r) => r.method !== "GET")) {
      for (const body of bodies) {
        const res = await send(route.method, route.path.replace(":id", crypto.randomUUID()), {
          body,
          token: await tokenFor(route.auth),
        });
        expectEnvelope(res, `${route.method} ${route.path} ${body}`);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).is_admin).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(names);
  });

  test("a top-level __proto__ key is an unknown field: 422, and the user keeps its roles", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const res = await send("PATCH", "/api/v1/users/me", { body: bodies[0], token: tokens.access_token });
    expect(res.status).toBe(422);
    expect(JSON.parse(res.text).error.details).toContainEqual({ field: "__proto__", message: expect.any(String) });
    const me = await server.api("GET", "/api/v1/users/me", { token: tokens.access_token });
    expect([me.body.data.roles, me.body.data.is_admin]).toEqual([["user"], false]);
  });

  test("__proto__ inside metadata is stored as plain data and grants nothing", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const res = await send("PATCH", "/api/v1/users/me", {
      body: '{"metadata":{"__proto__":{"is_admin":true,"roles":["admin"]}}}',
      token: tokens.access_token,
    });
    expect(res.status).toBe(200);
    const data = JSON.parse(res.text).data;
    expect([data.roles, data.is_admin]).toEqual([["user"], false]);
    expect((await server.api("GET", "/api/v1/admin/check", { token: tokens.access_token })).status).toBe(403);
    expect(({} as Record<string, unknown>).is_admin).toBeUndefined();
  });
});

describe("unicode edge cases", () => {
  test.each([
    ["a Cyrillic homoglyph", "\u0430dmin"],
    ["a right-to-left override", "\u202enimda"],
    ["a NUL", "ad\u0000min"],
    ["a zero-width space", "ad\u200bmin"],
    ["fullwidth letters", "ａｄｍｉｎ"],
    ["an emoji", "admin😀"],
    ["a combining accent", "adme\u0301n"],
  ])("a username with %s answers 422 naming username, at sign-up and in PATCH /users/me", async (_, username) => {
    const before = await fingerprint();
    const res = await server.api("POST", "/api/v1/users", { body: newUser({ username }) });
    expect([res.status, res.body.error.code]).toEqual([422, "VALIDATION_ERROR"]);
    expect(res.body.error.details).toContainEqual({ field: "username", message: expect.any(String) });
    expect(await fingerprint()).toEqual(before);

    const { tokens } = await registerAndLogin(server.api);
    const patch = await server.api("PATCH", "/api/v1/users/me", { body: { username }, token: tokens.access_token });
    expect([patch.status, patch.body.error.details]).toEqual([422, [{ field: "username", message: expect.any(String) }]]);
  });

  test.each([
    ["a NUL", "ad\u0000min@example.com"],
    ["a NUL in the domain", "admin@exam\u0000ple.com"],
    ["a control character", "ad\u0007min@example.com"],
    ["a right-to-left override", "evil\u202emoc.elpmaxe@example.com"],
    ["a zero-width space", "admin\u200b@example.com"],
    ["a lone surrogate", "ad\ud800min@example.com"],
    // Address-list syntax: a mailer would send these to another address than the one stored.
    ["a display name and angle brackets", '"ceo"<attacker@evil.example>'],
    ["a comma in the domain", "attacker@evil.example,corp.example"],
    ["a semicolon", "attacker@evil.example;corp.example"],
    ["a comment", "attacker@evil.example(corp.example)"],
    ["a colon (a group)", "corp:attacker@evil.example"],
  ])("an email with %s answers 422 naming email and stores nothing", async (_, email) => {
    const before = await fingerprint();
    const res = await server.api("POST", "/api/v1/users", { body: newUser({ email }) });
    expect([res.status, res.body.error.code]).toEqual([422, "VALIDATION_ERROR"]);
    expect(res.body.error.details).toContainEqual({ field: "email", message: expect.any(String) });
    expect(await fingerprint()).toEqual(before);
  });

  test("a Cyrillic look-alike email is another account: it neither collides with nor logs into the Latin one", async () => {
    const latin = newUser();
    const lookAlike = newUser({ email: latin.email.replace("user", "us\u0435r"), password: "another passphrase entirely" }); // Cyrillic е
    expect((await server.api("POST", "/api/v1/users", { body: latin })).status).toBe(201);
    expect((await server.api("POST", "/api/v1/users", { body: lookAlike })).status).toBe(201);
    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: lookAlike.email, password: latin.password } });
    expect([login.status, login.body.error.code]).toEqual([401, "INVALID_CREDENTIALS"]);
  });

  test.each([
    ["a NUL in a value", '{"metadata":{"note":"a\\u0000b"}}', "metadata.note"],
    ["a NUL in a key", '{"metadata":{"a\\u0000":1}}', "metadata.a\u0000"],
    ["a lone surrogate", '{"metadata":{"note":"\\ud800"}}', "metadata.note"],
    ["a nested lone surrogate", '{"metadata":{"list":[{"x":"\\udfff"}]}}', "metadata.list.0.x"],
  ])("metadata with %s answers 422 naming the field, not 500", async (_, body, field) => {
    const { tokens } = await registerAndLogin(server.api);
    const before = await fingerprint();
    const res = await send("PATCH", "/api/v1/users/me", { body, token: tokens.access_token });
    expect({ status: res.status, body: JSON.parse(res.text) }).toEqual({ status: 422, body: failureOf("VALIDATION_ERROR") });
    expect(JSON.parse(res.text).error.details).toEqual([{ field, message: expect.any(String) }]);
    expect(await fingerprint()).toEqual(before);
  });

  test("metadata that cannot be stored is refused by the core too (the CLI's and the console's door), not by the database", async () => {
    const { user } = await registerAndLogin(server.api);
    for (const metadata of [{ note: "a\u0000b" }, { note: "\ud800" }]) {
      const error = await adminUpdateUser(server.core, CLI_ACTOR, user.id, { metadata }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "VALIDATION_ERROR", details: [{ field: "metadata", message: expect.any(String) }] });
    }
  });

  test("emoji, RTL text and accents in metadata are stored and returned intact", async () => {
    const { tokens } = await registerAndLogin(server.api);
    const metadata = { note: "😀🏳️‍🌈 \u202eabc é e\u0301 ｆｕｌｌ", "ключ": "значение" };
    const res = await server.api("PATCH", "/api/v1/users/me", { body: { metadata }, token: tokens.access_token });
    expect(res.status).toBe(200);
    expect((await server.api("GET", "/api/v1/users/me", { token: tokens.access_token })).body.data.metadata).toEqual(metadata);
  });

  test("a NUL in a login email or username answers 422, not 500", async () => {
    for (const body of [{ email: "a\u0000@example.com", password: "whatever pass" }, { username: "a\u0000b", password: "whatever pass" }]) {
      const res = await server.api("POST", "/api/v1/auth/login", { body });
      expect([res.status, res.body.error.code]).toEqual([422, "VALIDATION_ERROR"]);
    }
  });

  test("a %00 in the path or query answers 422, not 500", async () => {
    const admin = await tokenFor("admin");
    for (const path of ["/api/v1/admin/users?q=%00", "/api/v1/admin/users?role=a%00", "/api/v1/admin/audit?event=%00", "/api/v1/admin/users/%00"]) {
      const res = await send("GET", path, { token: admin });
      expect([path, res.status, JSON.parse(res.text).error.code]).toEqual([path, 422, "VALIDATION_ERROR"]);
    }
  });
});

describe("injection strings are data", () => {
  test.each(["' OR 1=1--", "' OR '1'='1", '"; DROP TABLE users;--', "admin'--", '{"$gt":""}'])(
    "logging in with %p as email, username or password answers 401 INVALID_CREDENTIALS",
    async (attack) => {
      const { input } = await registerAndLogin(server.api);
      const bodies = [
        { email: attack, password: input.password },
        { username: attack, password: input.password },
        { email: input.email, password: attack },
      ];
      for (const body of bodies) {
        const res = await server.api("POST", "/api/v1/auth/login", { body });
        expect([res.status, res.body.error.code]).toEqual([401, "INVALID_CREDENTIALS"]);
      }
    },
  );

  test("an operator object in place of a string answers 422, never a login", async () => {
    const { input } = await registerAndLogin(server.api);
    for (const body of [`{"email":${JSON.stringify(input.email)},"password":{"$gt":""}}`, '{"email":{"$ne":null},"password":{"$ne":null}}']) {
      const res = await send("POST", "/api/v1/auth/login", { body });
      expect(res.status).toBe(422);
    }
  });

  test("the admin search treats quotes and LIKE wildcards as literal text", async () => {
    const admin = await tokenFor("admin");
    const search = async (q: string) =>
      JSON.parse((await send("GET", `/api/v1/admin/users?q=${encodeURIComponent(q)}`, { token: admin })).text).data.total;
    // Users whose names hold the wildcard characters literally, beside ordinary ones.
    const tag = Date.now().toString(36);
    for (const input of [
      newUser({ username: `under_score${tag}` }),
      newUser({ email: `per%cent${tag}@example.com` }),
      newUser(),
      newUser(),
    ]) {
      await createUser(server.core, input, { actor: CLI_ACTOR });
    }
    // The expected answer, computed apart from the database: a literal, case-insensitive substring match.
    const everyone = await server.core.db.select({ email: users.email, username: users.username }).from(users);
    const literalMatches = (q: string) =>
      everyone.filter((u) => u.email.includes(q.toLowerCase()) || u.username.toLowerCase().includes(q.toLowerCase())).length;
    expect(everyone.length).toBeGreaterThan(2);
    for (const q of ["' OR 1=1--", "%", "_", "\\", "%' OR '%'='", "user", plainRecord.username]) {
      expect([q, await search(q)]).toEqual([q, literalMatches(q)]);
    }
    expect([literalMatches("%"), literalMatches("_")].every((n) => n >= 1 && n < everyone.length)).toBe(true);
  });

  test("a username full of SQL is refused by the username rule; the users table is intact", async () => {
    const before = await fingerprint();
    const res = await server.api("POST", "/api/v1/users", { body: newUser({ username: "x'; DROP TABLE users;--" }) });
    expect(res.status).toBe(422);
    expect(await fingerprint()).toEqual(before);
  });
});

/** Writes `head` on a plain TCP connection and returns what the server answers (or "timeout"). */
async function rawExchange(baseUrl: string, head: string, timeoutMs: number): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  let received = "";
  let finish: (text: string) => void = () => {};
  const done = new Promise<string>((resolve) => (finish = resolve));
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data(_socket, data) {
        received += new TextDecoder().decode(data);
        if (received.includes("\r\n\r\n") && received.includes("}")) finish(received);
      },
      close() {
        finish(received);
      },
      error() {
        finish(received);
      },
    },
  });
  socket.write(head);
  const timer = setTimeout(() => finish(received || "timeout"), timeoutMs);
  const answer = await done;
  clearTimeout(timer);
  socket.end();
  return answer;
}
