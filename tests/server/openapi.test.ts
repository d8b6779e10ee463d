/**
 * /docs/json is an OpenAPI document a client generator can trust: valid
 * (swagger-parser), clean under Redocly's recommended rules, every response
 * with a body, and a client generated from it (openapi-typescript +
 * openapi-fetch, examples/typed-client) type-checks and works.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import { Elysia } from "elysia";
import openapiTS, { astToString } from "openapi-typescript";
import { DomainError } from "../../src/core/errors.ts";
import type { PublicUser } from "../../src/core/users/user-record.ts";
import { createLogger } from "../../src/logger.ts";
import { errorHandler } from "../../src/server/errors.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const ROOT = resolve(import.meta.dir, "../..");
const EXAMPLE = join(ROOT, "examples/typed-client");

interface Operation {
  operationId?: string;
  responses: Record<string, { description?: string; content?: Record<string, { schema: unknown }> }>;
}

describe("GET /docs/json", () => {
  let server: TestServer;
  let document: { paths: Record<string, Record<string, Operation>> } & Record<string, unknown>;
  let dir: string;
  beforeAll(async () => {
    server = await startTestServer();
    document = (await (await fetch(`${server.url}/docs/json`)).json()) as typeof document;
    dir = await mkdtemp(join(tmpdir(), "usersvc-openapi-"));
  });
  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const operations = (): [string, Operation][] =>
    Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]),
    );

  test("is valid OpenAPI 3 (swagger-parser)", async () => {
    // validate() dereferences in place: give it a copy.
    await SwaggerParser.validate(structuredClone(document) as never);
    expect(document.openapi).toBe("3.1.0");
  });

  test("has no error under Redocly's recommended rules (redocly.yaml)", async () => {
    const file = join(dir, "openapi.json");
    await writeFile(file, JSON.stringify(document));
    const proc = Bun.spawn({
      cmd: [join(ROOT, "node_modules/.bin/redocly"), "lint", file, "--config", join(ROOT, "redocly.yaml"), "--format", "json"],
      cwd: ROOT,
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    const report = JSON.parse(stdout.slice(stdout.indexOf("{"))) as { totals: { errors: number; warnings: number } };
    expect({ errors: report.totals.errors, warnings: report.totals.warnings, exitCode }, stderr).toEqual({ errors: 0, warnings: 0, exitCode: 0 });
  });

  test("every operation documents its responses: a body, a description, the envelope's error codes", () => {
    const problems: string[] = [];
    for (const [name, op] of operations()) {
      const statuses = Object.keys(op.responses);
      if (!statuses.some((s) => s.startsWith("2"))) problems.push(`${name}: no success response`);
      if (!statuses.some((s) => s.startsWith("4"))) problems.push(`${name}: no 4xx response`);
      for (const [status, response] of Object.entries(op.responses)) {
        if (!response.description) problems.push(`${name} ${status}: no description`);
        if (!response.content?.["application/json"]?.schema) problems.push(`${name} ${status}: no JSON body`);
      }
    }
    expect(problems).toEqual([]);
    const login = document.paths["/api/v1/auth/login"]!.post!;
    const unauthorized = login.responses["401"]!.content!["application/json"]!.schema as {
      properties: { error: { properties: { code: { enum: string[] } } } };
    };
    expect(unauthorized.properties.error.properties.code.enum).toEqual(["INVALID_CREDENTIALS"]);
    expect(Object.keys(document.paths["/api/v1/users/me"]!.get!.responses).sort()).toEqual(["200", "401", "403", "422", "500"]);
  });

  test("a client generated with openapi-typescript + openapi-fetch registers, logs in and reads /users/me, typed", async () => {
    const types = astToString(await openapiTS(structuredClone(document) as never));
    expect(types).not.toContain("content?: never");
    // The example, next to the types generated from this server, type-checked as a client project would be.
    const project = join(dir, "typed-client");
    await mkdir(project);
    await cp(join(EXAMPLE, "client.ts"), join(project, "client.ts"));
    await writeFile(join(project, "schema.d.ts"), types);
    await symlink(join(ROOT, "node_modules"), join(project, "node_modules"));
    await writeFile(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions: TSC_OPTIONS, files: ["client.ts"] }));
    const tsc = Bun.spawn({ cmd: [join(ROOT, "node_modules/.bin/tsc"), "-p", project], stdout: "pipe", stderr: "pipe" });
    const [tscOut, tscExit] = await Promise.all([new Response(tsc.stdout).text(), tsc.exited]);
    expect({ tscOut, tscExit }).toEqual({ tscOut: "", tscExit: 0 });

    const { signUpAndReadMe } = (await import(join(project, "client.ts"))) as { signUpAndReadMe: SignUpAndReadMe };
    const input = newUser();
    const { registered, tokens, me } = await signUpAndReadMe(server.url, input);
    expect({ registered: registered.email, me: me.email, username: me.username, id: me.id === registered.id }).toEqual({
      registered: input.email,
      me: input.email,
      username: input.username,
      id: true,
    });
    expect([tokens.token_type, typeof tokens.access_token, me.app_metadata]).toEqual(["bearer", "string", {}]);
  });
});

/** examples/typed-client/client.ts's function, as this file sees it (it cannot import its generated types). */
type SignUpAndReadMe = (
  baseUrl: string,
  input: { email: string; username: string; password: string },
) => Promise<{ registered: PublicUser; tokens: { token_type: string; access_token: string }; me: PublicUser }>;

const TSC_OPTIONS = {
  target: "ESNext",
  module: "Preserve",
  moduleResolution: "bundler",
  lib: ["ESNext", "DOM"],
  types: ["bun-types"],
  strict: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: true,
  noEmit: true,
  allowImportingTsExtensions: true,
  verbatimModuleSyntax: true,
};

describe("error codes a route does not declare", () => {
  function appWith(strictErrors: boolean, lines: string[]) {
    const logger = createLogger("info", { write: (line: string) => void lines.push(line) });
    const declaredErrors = (): readonly string[] => ["INVALID_CREDENTIALS"];
    return new Elysia()
      .use(errorHandler(logger, { allowedMethods: () => [], declaredErrors, strictErrors }))
      .get("/refuse", () => {
        throw new DomainError("FORBIDDEN");
      });
  }

  test("are answered as 500 when strict (the test suites) and logged either way", async () => {
    const strictLog: string[] = [];
    const laxLog: string[] = [];
    const strict = await appWith(true, strictLog).handle(new Request("http://localhost/refuse"));
    const lax = await appWith(false, laxLog).handle(new Request("http://localhost/refuse"));
    expect([strict.status, ((await strict.json()) as { error: { code: string } }).error.code]).toEqual([500, "INTERNAL_ERROR"]);
    expect([lax.status, ((await lax.json()) as { error: { code: string } }).error.code]).toEqual([403, "FORBIDDEN"]);
    for (const lines of [strictLog, laxLog]) expect(lines.join("\n")).toContain("error code not declared for this route");
  });
});
