/**
 * Issue 10 §7: a database error's message and parameters can hold what was
 * being written (a password hash, a TOTP secret, a plain reset token).
 * Failures are forced inside registration, MFA enrolment and event
 * enqueueing (a CHECK constraint that refuses every new row), and the whole
 * log is searched for the secrets, the hash and the token.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "drizzle-orm";
import { updateUser } from "../../src/core/users/queries.ts";
import { newWebhookSecret, pollFor, startWebhookReceiver, type WebhookReceiver } from "../support/hooks.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

let server: TestServer;
let receiver: WebhookReceiver;
beforeAll(async () => {
  const secret = newWebhookSecret();
  receiver = startWebhookReceiver(secret);
  // A webhook target, so that a reset request enqueues an event holding the plain token.
  server = await startTestServer({ USERSVC_WEBHOOK_URL: receiver.url, USERSVC_WEBHOOK_SECRET: secret });
});
afterAll(async () => {
  await server.stop();
  receiver.stop();
});

/** Makes every new row of `table` fail (NOT VALID: existing rows are not checked). */
async function refuseInserts(table: string): Promise<() => Promise<void>> {
  const name = `refuse_${table}`;
  await server.core.db.execute(sql.raw(`alter table ${table} add constraint ${name} check (false) not valid`));
  return async () => {
    await server.core.db.execute(sql.raw(`alter table ${table} drop constraint ${name}`));
  };
}

const ARGON2_HASH = /\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+/;
const BASE32_SECRET = /\b[A-Z2-7]{32}\b/;
const RESET_TOKEN = /\b[A-Za-z0-9_-]{43}\b/;

/** Every log line written after `from`, with the error entries among them. */
function logsSince(from: number): { all: string; errors: Record<string, any>[] } {
  const lines = server.logs.slice(from);
  const errors = lines.map((line) => JSON.parse(line)).filter((entry) => entry.err);
  return { all: lines.join("\n"), errors };
}

describe("database errors in the log", () => {
  test("registration failing at the insert logs the SQL state and constraint, never the password hash or the email", async () => {
    const from = server.logs.length;
    const restore = await refuseInserts("users");
    const input = newUser();
    try {
      const res = await server.api("POST", "/api/v1/users", { body: input });
      expect(res.status).toBe(500);
    } finally {
      await restore();
    }
    const { all, errors } = logsSince(from);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.err).toEqual(expect.objectContaining({ code: "23514", constraint: "refuse_users" }));
    expect(all).not.toMatch(ARGON2_HASH);
    expect(all).not.toContain(input.email);
    expect(all).not.toContain(input.username);
    expect(all).not.toContain(input.password);
    expect(all).not.toMatch(/Failed query|params:/);
  });

  test("MFA enrolment failing at the insert never logs the TOTP secret", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    await updateUser(server.core.db, user.id, { isVerified: true }, server.clock.now());
    const from = server.logs.length;
    const restore = await refuseInserts("mfa_factors");
    try {
      const res = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token: tokens.access_token });
      expect(res.status).toBe(500);
    } finally {
      await restore();
    }
    const { all, errors } = logsSince(from);
    expect(errors[0]!.err).toEqual(expect.objectContaining({ code: "23514", constraint: "refuse_mfa_factors" }));
    expect(all).not.toMatch(BASE32_SECRET);
    expect(all).not.toMatch(/Failed query|params:/);
  });

  test("an event failing at enqueueing (a reset request) never logs the plain reset token", async () => {
    const { input } = await registerAndLogin(server.api);
    const from = server.logs.length;
    const restore = await refuseInserts("outbox_events");
    try {
      expect((await server.api("POST", "/api/v1/auth/forgot-password", { body: { email: input.email } })).status).toBe(202);
      // The reset is issued after the answer: wait for its failure to be logged.
      await pollFor("the reset request's failure in the log", () => (logsSince(from).errors.length > 0 ? true : undefined));
    } finally {
      await restore();
    }
    const { all, errors } = logsSince(from);
    expect(errors[0]!.err).toEqual(expect.objectContaining({ code: "23514", constraint: "refuse_outbox_events" }));
    expect(all).not.toMatch(RESET_TOKEN);
    expect(all).not.toContain(input.email);
    expect(all).not.toMatch(/Failed query|params:/);
  });
});

describe("the logger's redaction", () => {
  test("secret fields are withheld at the top and one level down; an error's code is kept", async () => {
    const { createLogger } = await import("../../src/logger.ts");
    const lines: string[] = [];
    const logger = createLogger("info", { write: (line: string) => void lines.push(line) });
    const secrets = { mfa_token: "S1", secret: "S2", otpauth_uri: "S3", recovery_codes: ["S4"], refresh_token: "S5", password: "S6" };
    logger.info({ ...secrets, body: secrets, err: Object.assign(new Error("boom"), { code: "23505" }) }, "x");
    const entry = JSON.parse(lines[0]!);
    for (const field of Object.keys(secrets)) {
      expect(entry[field]).toBe("[redacted]");
      expect(entry.body[field]).toBe("[redacted]");
    }
    expect(lines[0]).not.toMatch(/S[1-6]/);
    expect(entry.err.code).toBe("23505");
  });
});
