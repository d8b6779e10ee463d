/**
 * The admin console (issue 15) from the compiled binary copied alone into an
 * empty directory: `usersvc init-db`, an admin made by `usersvc create-admin` through the real
 * CLI, `usersvc serve`, a cookie-jar sign-in, the screens and the console's
 * stylesheet served from inside the binary with the CSP, and one action (a
 * block from the user's page) honoured by the API at once.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { binaryAlone, callApi, removeBinaryAlone, run, startServe } from "../support/binary.ts";
import { Browserless, formOf } from "../support/browserless.ts";
import type { TestDatabase } from "../support/database.ts";

// The first test may build dist/usersvc (several seconds) before it spawns it.
setDefaultTimeout(120_000);

const ADMIN = { email: "ops@example.com", username: "ops", password: "correct horse battery staple" };
const USER = { email: "mallory@example.com", username: "mallory", password: "another long enough passphrase" };
let dir: string;
let binary: string;
let database: TestDatabase | null = null;
let env: Record<string, string>;

beforeAll(async () => {
  ({ dir, binary, database } = await binaryAlone("usersvc-admin-console-"));
  env = database ? { DATABASE_URL: database.env.DATABASE_URL! } : {};
});
afterAll(async () => {
  await removeBinaryAlone({ dir, database });
});

test("init-db, create-admin, serve, sign in: the console's screens and stylesheet with the CSP; a block from the console takes effect", async () => {
  const initialised = await run(["init-db"], { binary, cwd: dir, env });
  expect(initialised.exitCode).toBe(0);
  const created = await run(["create-admin", "--email", ADMIN.email, "--username", ADMIN.username, "--password-stdin"], {
    binary,
    cwd: dir,
    env,
    stdin: ADMIN.password,
  });
  expect({ exitCode: created.exitCode, stderr: created.stderr }).toEqual({ exitCode: 0, stderr: "" });

  await using serve = await startServe({ binary, cwd: dir, env: { USERSVC_SMTP_URL: "log", ...env } });
  const registered = await callApi(serve.url, "POST", "/api/v1/users", { body: USER });
  expect(registered.status).toBe(201);
  const userId = registered.body.data.id as string;

  const b = new Browserless(serve.url);
  const signedIn = await b.submit(await b.get("/login"), "/login", { identifier: ADMIN.email, password: ADMIN.password });
  expect(signedIn.status).toBe(303);

  for (const path of ["/admin", "/admin/users", `/admin/users/${userId}`]) {
    const page = await b.get(path);
    expect({ path, status: page.status }).toEqual({ path, status: 200 });
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(page.html).toContain("/assets/admin.css");
  }
  const style = await b.get("/assets/admin.css");
  expect(style.status).toBe(200);
  expect(style.headers.get("content-type")).toBe("text/css; charset=utf-8");
  expect(style.html.length).toBeGreaterThan(200);

  const login = await callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: USER.email, password: USER.password } });
  const token = login.body?.data?.access_token as string;
  expect((await callApi(serve.url, "GET", "/api/v1/users/me", { token })).status).toBe(200);

  const userPage = await b.get(`/admin/users/${userId}`);
  const form = formOf(userPage.html, `/admin/users/${userId}/block`);
  const blocked = await b.post(form.action, { ...form.fields, reason: "binary test", duration: "7d" });
  expect(blocked.status).toBe(303);
  expect((await callApi(serve.url, "GET", "/api/v1/users/me", { token })).status).toBe(401);
  expect((await callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: USER.email, password: USER.password } })).status).not.toBe(200);
  expect((await serve.stop()).exitCode).toBe(0);
});
