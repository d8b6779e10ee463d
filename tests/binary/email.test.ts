/**
 * SPEC §8 through the compiled binary: nodemailer, the layouts and the
 * message catalogue are inside it. `email test` reaches a real SMTP server,
 * and `serve`'s outbox worker sends the verification email of a sign-up.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { buildBinary, callApi, createMigratedTestDatabase, run, startServe } from "../support/binary.ts";
import type { TestDatabase } from "../support/database.ts";
import { type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// The first test may build dist/usersvc (several seconds) before it spawns it.
setDefaultTimeout(120_000);

let database: TestDatabase;
let smtp: SmtpReceiver;
beforeAll(async () => {
  await buildBinary();
  database = await createMigratedTestDatabase();
  smtp = await startSmtpReceiver();
});
afterAll(async () => {
  await smtp.stop();
  await database.drop();
});

test("usersvc email test sends through USERSVC_SMTP_URL and exits 0 with the server's answer", async () => {
  const result = await run(["email", "test", "ops@example.com"], { env: { USERSVC_PUBLIC_URL: "https://id.example.test", USERSVC_SMTP_URL: smtp.url } });
  expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
  expect(result.stdout).toMatch(/^sent to ops@example\.com; the server answered: 250 /);
  expect((await smtp.waitFor("ops@example.com")).subject).toBe("usersvc test email");
});

test("serve sends the verification email of a sign-up, with a link under USERSVC_PUBLIC_URL", async () => {
  await using serve = await startServe({
    env: { ...database.env, USERSVC_SMTP_URL: smtp.url, USERSVC_PUBLIC_URL: "https://id.example.test" },
  });
  const email = `binary-${Date.now()}@example.com`;
  const registered = await callApi(serve.url, "POST", "/api/v1/users", { body: { email, username: `binary${Date.now()}`, password: "correct horse battery staple" } });
  expect(registered.status).toBe(201);
  const mail = await smtp.waitFor(email, /Confirm your email/, 20_000);
  expect(mail.link).toStartWith("https://id.example.test/verify-email?token=");
  expect(mail.html).toContain("<!doctype html>");
  expect((await serve.stop()).exitCode).toBe(0);
});
