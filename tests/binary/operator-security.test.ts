/**
 * The operator's security switches through the compiled binary beside a
 * running `serve` (through its control socket on the embedded database, as
 * another process on PostgreSQL): `mfa reset <user>` for a user who lost
 * their authenticator, and `keys rotate --revoke-previous` for a leaked key.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { Secret, TOTP } from "otpauth";
import { callApi, createMigratedTestDatabase, run, type ServeProcess, startServe } from "../support/binary.ts";
import type { TestDatabase } from "../support/database.ts";

setDefaultTimeout(120_000);

let database: TestDatabase;
let serve: ServeProcess;
beforeAll(async () => {
  database = await createMigratedTestDatabase();
  serve = await startServe({ env: database.env });
});
afterAll(async () => {
  await serve?.stop();
  await database?.drop();
});

test("mfa reset removes the factor: login answers tokens again, and the audit log holds user.mfa_reset", async () => {
  const password = "correct horse battery staple";
  const created = await run(["create-admin", "--email", "lost@example.com", "--username", "lost", "--password-stdin"], {
    env: database.env,
    stdin: `${password}\n`,
  });
  expect(created.exitCode).toBe(0);
  const token = (await callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: "lost@example.com", password } })).body.data.access_token;
  const secret = (await callApi(serve.url, "POST", "/api/v1/users/me/mfa/enroll", { token })).body.data.secret;
  const code = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" }).generate();
  expect((await callApi(serve.url, "POST", "/api/v1/users/me/mfa/confirm", { token, body: { code } })).status).toBe(200);
  const challenged = await callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: "lost@example.com", password } });
  expect(challenged.body.data.mfa_required).toBe(true);

  const reset = await run(["mfa", "reset", "LOST@example.com", "--json"], { env: database.env });
  expect({ exitCode: reset.exitCode, stderr: reset.stderr }).toEqual({ exitCode: 0, stderr: "" });
  expect(JSON.parse(reset.stdout)).toEqual({ id: expect.any(String), mfa_enabled: false, removed: true });
  const again = await run(["mfa", "reset", "lost"], { env: database.env });
  expect([again.exitCode, again.stdout.trim()]).toEqual([0, "lost@example.com had no second factor"]);

  const login = await callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: "lost@example.com", password } });
  expect(login.body.data.access_token).toBeString();
  const audit = await callApi(serve.url, "GET", "/api/v1/admin/audit?event=user.mfa_reset", { token: login.body.data.access_token });
  expect(audit.body.data.items).toEqual([expect.objectContaining({ event: "user.mfa_reset", actor: expect.objectContaining({ type: "cli" }) })]);
});

test("mfa reset of an unknown user exits 1 with USER_NOT_FOUND", async () => {
  const result = await run(["mfa", "reset", "nobody@example.com"], { env: database.env });
  expect([result.exitCode, result.stderr.trim()]).toEqual([1, 'usersvc: USER_NOT_FOUND: No user matches "nobody@example.com"']);
});

test("keys rotate --revoke-previous without a terminal needs --yes: exit 2, nothing changed", async () => {
  const jwksBefore = (await callApi(serve.url, "GET", "/.well-known/jwks.json")).body.keys;
  const result = await run(["keys", "rotate", "--revoke-previous"], { env: database.env });
  expect([result.exitCode, result.stderr.trim()]).toEqual([2, "usersvc: keys rotate --revoke-previous needs --yes when there is no terminal to ask on"]);
  expect((await callApi(serve.url, "GET", "/.well-known/jwks.json")).body.keys).toEqual(jwksBefore);
});

test("keys rotate --revoke-previous --yes: every token signed before is refused by the running server within 5 s", async () => {
  const password = "correct horse battery staple";
  const created = await run(["create-admin", "--email", "keys@example.com", "--username", "keys", "--password-stdin"], {
    env: database.env,
    stdin: `${password}\n`,
  });
  expect(created.exitCode).toBe(0);
  const before = (await callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: "keys@example.com", password } })).body.data;
  expect((await callApi(serve.url, "GET", "/api/v1/users/me", { token: before.access_token })).status).toBe(200);

  const rotated = await run(["keys", "rotate", "--revoke-previous", "--yes", "--json"], { env: database.env });
  expect({ exitCode: rotated.exitCode, stderr: rotated.stderr }).toEqual({ exitCode: 0, stderr: "" });
  const { kid } = JSON.parse(rotated.stdout);
  const started = Date.now();
  let status = 200;
  while (status === 200 && Date.now() - started < 10_000) {
    status = (await callApi(serve.url, "GET", "/api/v1/users/me", { token: before.access_token })).status;
    if (status === 200) await Bun.sleep(100);
  }
  expect(status).toBe(401);
  expect(Date.now() - started).toBeLessThanOrEqual(5_000);
  expect((await callApi(serve.url, "POST", "/api/v1/auth/refresh", { body: { refresh_token: before.refresh_token } })).status).toBe(401);
  // One new key per algorithm: the EdDSA one the command names, and the RS256 one of id_tokens.
  const keys = (await callApi(serve.url, "GET", "/.well-known/jwks.json")).body.keys as { kid: string; alg: string }[];
  expect(keys.filter((k) => k.alg === "EdDSA").map((k) => k.kid)).toEqual([kid]);
  expect(keys.filter((k) => k.alg === "RS256")).toHaveLength(1);
  const after = (await callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: "keys@example.com", password } })).body.data;
  expect((await callApi(serve.url, "GET", "/api/v1/users/me", { token: after.access_token })).status).toBe(200);
  const audit = await callApi(serve.url, "GET", "/api/v1/admin/audit?event=keys.rotated", { token: after.access_token });
  expect(audit.body.data.items).toEqual([expect.objectContaining({ event: "keys.rotated", data: { kid, revoke_previous: true } })]);
});

test("keys rotate says for how long earlier keys keep verifying in days, not seconds", async () => {
  const result = await run(["keys", "rotate"], { env: database.env });
  expect(result.exitCode).toBe(0);
  expect(result.stdout.trim()).toMatch(/^New signing key [0-9a-f-]{36}; earlier keys keep verifying for 30 days$/);
});
