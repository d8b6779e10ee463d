/**
 * SPEC §2: dist/usersvc copied alone into an empty directory runs every
 * command, migrations included, on the database this suite runs against
 * (the default ./usersvc-data, or the PostgreSQL in DATABASE_URL).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EMBEDDED_MIGRATIONS } from "../../src/core/db/migrate.ts";
import { buildBinary, callApi, loginAndFetchMe, run, type RunOptions, type ServeProcess, startServe } from "../support/binary.ts";
import { createTestDatabase, SERVER_URL, type TestDatabase } from "../support/database.ts";

// Each test spawns the binary (and most start serve): on the embedded database one can pass 5 s.
setDefaultTimeout(60_000);

const ADMIN = { email: "Ops@Example.COM", username: "ops", password: "a long operator passphrase 7" };
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

describe("a copy of the binary alone in an empty directory", () => {
  let dir: string;
  let binary: string;
  let database: TestDatabase | null = null;
  let options: RunOptions;
  let serve: ServeProcess | null = null;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "usersvc-first-run-"));
    binary = join(dir, "usersvc");
    copyFileSync(await buildBinary(), binary);
    // PGlite: no USERSVC_DATA_DIR, so the default ./usersvc-data of the cwd is used.
    if (SERVER_URL) database = await createTestDatabase();
    options = { cwd: dir, binary, env: database ? { DATABASE_URL: database.env.DATABASE_URL } : {} };
  });

  afterAll(async () => {
    await serve?.[Symbol.asyncDispose]();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("init-db applies every embedded migration and names each one on stderr", async () => {
    const result = await run(["init-db"], options);
    expect(result).toEqual({
      exitCode: 0,
      signalCode: null,
      stdout: "",
      stderr: EMBEDDED_MIGRATIONS.map((m) => `Applied migration ${m.tag}\n`).join(""),
    });
    expect(EMBEDDED_MIGRATIONS.length).toBeGreaterThan(0);
  });

  test("a second init-db applies nothing and says the schema is up to date", async () => {
    const result = await run(["init-db"], options);
    expect(result).toEqual({ exitCode: 0, signalCode: null, stdout: "", stderr: "Schema is up to date; nothing to apply.\n" });
  });

  test("create-admin with --password-stdin creates the admin and prints it on stdout", async () => {
    const result = await run(["create-admin", "--email", ADMIN.email, "--username", ADMIN.username, "--password-stdin"], {
      ...options,
      stdin: `${ADMIN.password}\n`,
    });
    expect({ ...result, stdout: result.stdout.replace(new RegExp(UUID), "<id>") }).toEqual({
      exitCode: 0,
      signalCode: null,
      stdout: "Created admin ops <ops@example.com> <id>\n",
      stderr: "",
    });
  });

  test("serve starts on the same database and the admin logs in over HTTP", async () => {
    serve = await startServe(options);
    const { login, me } = await loginAndFetchMe(serve.url, { email: ADMIN.email, password: ADMIN.password });
    expect(login.status).toBe(200);
    expect(login.body).toEqual({
      success: true,
      data: {
        access_token: expect.any(String),
        refresh_token: expect.any(String),
        token_type: "bearer",
        expires_in: 900,
        refresh_expires_in: 2592000,
      },
      error: null,
    });
    expect(me.status).toBe(200);
    expect(me.body.data).toEqual(
      expect.objectContaining({ email: "ops@example.com", username: "ops", is_admin: true, is_verified: true, status: "active" }),
    );
    expect([...me.body.data.roles].sort()).toEqual(["admin", "user"]);
    expect(me.body.data).not.toHaveProperty("password_hash");
  });

  test("/readyz answers 200 once the database is migrated", async () => {
    const ready = await callApi(serve!.url, "GET", "/readyz");
    expect(ready).toEqual({ status: 200, body: { status: "ready" } });
  });

  test("/docs serves Swagger UI whose assets all come from the binary itself", async () => {
    const page = await fetch(`${serve!.url}/docs`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toStartWith("text/html");
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    expect(assets.filter((a) => !a.startsWith("/"))).toEqual([]); // no CDN
    const statuses = await Promise.all(assets.map(async (a) => [a, (await fetch(serve!.url + a)).status] as const));
    expect(statuses).toEqual(assets.map((a) => [a, 200] as const));
  });

  test("/docs/json is an OpenAPI document listing the API paths", async () => {
    const docs = await callApi(serve!.url, "GET", "/docs/json");
    expect(docs.status).toBe(200);
    expect(docs.body.openapi).toStartWith("3.");
    expect(Object.keys(docs.body.paths)).toEqual(expect.arrayContaining(["/api/v1/auth/login", "/api/v1/users/me"]));
  });

  test("SIGTERM stops serve with exit code 0 and a final stopped log line", async () => {
    const result = await serve!.stop("SIGTERM");
    expect({ exitCode: result.exitCode, signalCode: result.signalCode, stderr: result.stderr }).toEqual({
      exitCode: 0,
      signalCode: null,
      stderr: "",
    });
    expect(result.logs.at(-1)).toEqual(expect.objectContaining({ msg: "stopped" }));
    expect(result.logs.filter((l) => !("level" in l))).toEqual([]); // every stdout line is a JSON log line
  });

  test("nothing but the binary and the embedded database directory was written next to it", () => {
    const expected = database ? ["usersvc"] : ["usersvc", "usersvc-data"];
    expect(readdirSync(dir).sort()).toEqual(expected);
    if (!database) expect(existsSync(join(dir, "usersvc-data", "usersvc.sock"))).toBe(false);
  });
});
