/**
 * docs/hooks.md's commands, in-process (tests/support/cli.ts), on whichever
 * database the suite runs on: hooks check / test of a module and a script,
 * a hooks file that does not load, before-hooks for CLI actions
 * (create-admin, import), and events list / retry of dead-lettered events.
 * That serve refuses a bad hooks file, delivers retried events and keeps
 * them across a restart, and that the binary carries hooks types, is
 * tests/binary/hooks.test.ts's.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { deliverDueEvents, MAX_ATTEMPTS } from "../../src/core/events/outbox.ts";
import { createUser } from "../../src/core/users/users.ts";
import { createMigratedTestDatabase } from "../support/binary.ts";
import { cliText } from "../support/cli.ts";
import type { TestDatabase } from "../support/database.ts";
import { closedPort, copyExample, hooksDir, newWebhookSecret, outboxRows, withCore, writeHookFile } from "../support/hooks.ts";
import { linesOf, outcome } from "../support/operator.ts";
import { newUser } from "../support/server.ts";

// Each command opens the database (~0.5 s on the embedded one); the events setup fails deliveries
// until they are dead-lettered, and a script hook is a process per call.
setDefaultTimeout(30_000);

const PASSWORD = "a long operator passphrase 7";

let dir: string;
let cwd: string;
beforeAll(() => {
  dir = hooksDir("usersvc-cli-hooks-");
  // The binary tests ran these commands in `dir`: so do these, and a stray ./usersvc-data lands there.
  cwd = process.cwd();
  process.chdir(dir);
});
afterAll(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

/** `events list --json` (and its filters), parsed. */
async function eventsList(env: Record<string, string>, args: string[] = []): Promise<any[]> {
  const result = await cliText(["events", "list", "--json", "--limit", "1000", ...args], { env });
  if (result.exitCode !== 0) throw new Error(`events list exited ${result.exitCode}: ${result.stderr}`);
  return linesOf(result.stdout).map((line) => JSON.parse(line));
}

describe("usersvc hooks check / test / types", () => {
  let module: string;
  let script: string;
  beforeAll(() => {
    module = copyExample("hooks.ts", dir);
    script = copyExample("hooks.sh", dir);
  });

  test("hooks check lists a module's handlers; --json prints {kind, path, handlers}", async () => {
    const env = { USERSVC_HOOKS: module };
    expect(outcome(await cliText(["hooks", "check"], { env }))).toEqual({
      exitCode: 0,
      stdout: `module ${module}\nhandlers: beforeRegister, accessTokenClaims, user.verification_requested, on\n`,
      stderr: [],
    });
    const json = await cliText(["hooks", "check", "--json"], { env });
    expect(JSON.parse(json.stdout)).toEqual({
      kind: "module",
      path: module,
      handlers: ["beforeRegister", "accessTokenClaims", "user.verification_requested", "on"],
    });
  });

  test("hooks check says a script handles every hook and event", async () => {
    expect(outcome(await cliText(["hooks", "check"], { env: { USERSVC_HOOKS: script } }))).toEqual({
      exitCode: 0,
      stdout: `script ${script}\nhandlers: every hook and event (the script is called with its name)\n`,
      stderr: [],
    });
  });

  test("hooks test calls beforeRegister, accessTokenClaims and user.registered of a module and of a script with sample payloads", async () => {
    for (const hooks of [module, script]) {
      const env = { USERSVC_HOOKS: hooks };
      const answers = await Promise.all(
        ["beforeRegister", "beforeLogin", "accessTokenClaims", "user.registered"].map(async (name) => outcome(await cliText(["hooks", "test", name], { env }))),
      );
      expect({ hooks, answers }).toEqual({
        hooks,
        answers: [
          { exitCode: 0, stdout: `beforeRegister: {"app_metadata":{"tenant":"default"}}\n`, stderr: [] },
          { exitCode: 0, stdout: "beforeLogin: allowed\n", stderr: [] },
          { exitCode: 0, stdout: `accessTokenClaims: {"tenant":"default"}\n`, stderr: [] },
          { exitCode: 0, stdout: "user.registered: delivered\n", stderr: [] },
        ],
      });
    }
  });

  test("hooks test gives the email events the fields real ones carry (token, code, new_email, previous_email)", async () => {
    const seen = join(dir, "seen.jsonl");
    const recorder = writeHookFile(
      dir,
      "recorder.ts",
      `import { appendFileSync } from "node:fs";\nexport default {\n  on(event) {\n    appendFileSync(${JSON.stringify(seen)}, JSON.stringify({ type: event.type, data: { ...event.data, user: undefined } }) + "\\n");\n  },\n};\n`,
    );
    const names = ["user.verification_requested", "user.password_reset_requested", "user.email_change_requested", "user.email_changed"];
    for (const name of names) expect((await cliText(["hooks", "test", name], { env: { USERSVC_HOOKS: recorder } })).exitCode).toBe(0);
    const events = readFileSync(seen, "utf8").trim().split("\n").map((line) => JSON.parse(line));
    expect(events).toEqual([
      { type: names[0], data: { token: "sample-token", code: "123456", expires_at: expect.any(String) } },
      { type: names[1], data: { token: "sample-token", expires_at: expect.any(String) } },
      { type: names[2], data: { token: "sample-token", new_email: "new-sample@example.com", expires_at: expect.any(String) } },
      { type: names[3], data: { previous_email: "old-sample@example.com" } },
    ]);
  });

  test("hooks test reports a rejection, a missing handler and an unknown name", async () => {
    const only = writeHookFile(dir, "only-before.ts", `export default {\n  beforeRegister() {\n    return { reject: "No sign-ups today" };\n  },\n};\n`);
    const env = { USERSVC_HOOKS: only };
    expect(outcome(await cliText(["hooks", "test", "beforeRegister"], { env }))).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: ["usersvc: HOOK_REJECTED: No sign-ups today"],
    });
    expect(outcome(await cliText(["hooks", "test", "user.registered"], { env }))).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: ['usersvc: no handler for user.registered (and no "on")'],
    });
    expect(outcome(await cliText(["hooks", "test", "user.signed_up"], { env }))).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: ['usersvc: unknown hook or event "user.signed_up"'],
    });
  });
});

describe("a hooks file that does not load", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
  });
  afterAll(() => database.drop());

  test("a bad USERSVC_HOOKS path stops the CLI commands with exit 2, naming USERSVC_HOOKS", async () => {
    const missing = join(dir, "no-such-hooks.ts");
    const env = { ...database.env, USERSVC_HOOKS: missing };
    const expected = { exitCode: 2, stdout: "", stderr: [`usersvc: USERSVC_HOOKS: ${missing} is not a file`] };
    expect(outcome(await cliText(["hooks", "check"], { env }))).toEqual(expected);
    expect(outcome(await cliText(["users", "list"], { env }))).toEqual(expected);
    expect(outcome(await cliText(["events", "list"], { env }))).toEqual(expected);
    expect(outcome(await cliText(["create-admin", "--email", "ops@example.com", "--username", "ops", "--password-stdin"], { env, stdin: PASSWORD }))).toEqual(expected);
    // Nothing was created meanwhile.
    expect(JSON.parse((await cliText(["users", "list", "--json"], { env: database.env })).stdout).total).toBe(0);
  });
});

describe("before-hooks for CLI actions", () => {
  let database: TestDatabase;
  let calls: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    calls = join(dir, "cli-calls.jsonl");
    const module = writeHookFile(
      dir,
      "cli-hooks.ts",
      `import { appendFileSync } from "node:fs";
export default {
  beforeRegister(input: { email: string; metadata: Record<string, unknown> }) {
    appendFileSync(${JSON.stringify(calls)}, JSON.stringify(input) + "\\n");
    if (input.email.endsWith("@spam.example")) return { reject: "Sign-ups from spam.example are closed" };
    return { metadata: { tenant: "default", ...input.metadata } };
  },
};
`,
    );
    env = { ...database.env, USERSVC_HOOKS: module };
  });
  afterAll(() => database.drop());

  function hookInputs(): any[] {
    return linesOf(readFileSync(calls, "utf8")).map((line) => JSON.parse(line));
  }

  test("create-admin refused by beforeRegister exits 1 with HOOK_REJECTED and creates nobody", async () => {
    const result = await cliText(["create-admin", "--email", "root@spam.example", "--username", "root", "--password-stdin"], { env, stdin: PASSWORD });
    expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: ["usersvc: HOOK_REJECTED: Sign-ups from spam.example are closed"] });
    expect(JSON.parse((await cliText(["users", "list", "--json"], { env })).stdout).total).toBe(0);
    expect(hookInputs().at(-1)).toEqual({ email: "root@spam.example", username: "root", metadata: {}, ip: null });
  });

  test("create-admin allowed by beforeRegister gets the hook's metadata", async () => {
    const result = await cliText(["create-admin", "--email", "ops@example.com", "--username", "ops", "--password-stdin", "--json"], { env, stdin: PASSWORD });
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(
      expect.objectContaining({ email: "ops@example.com", roles: ["user", "admin"], is_verified: true, metadata: { tenant: "default" } }),
    );
    expect(hookInputs().at(-1)).toEqual({ email: "ops@example.com", username: "ops", metadata: {}, ip: null });
  });

  test("import reports a line refused by beforeRegister as skipped and shapes the metadata of the others", async () => {
    const hash = await Bun.password.hash("an imported passphrase 1", { algorithm: "argon2id", memoryCost: 19456, timeCost: 2 });
    const file = join(dir, "import.jsonl");
    writeFileSync(
      file,
      [
        { email: "ana@example.com", username: "ana", password_hash: hash, metadata: { plan: "pro" } },
        { email: "eve@spam.example", username: "eve", password_hash: hash },
        { email: "ben@example.com", username: "ben", password_hash: hash },
      ]
        .map((r) => JSON.stringify(r))
        .join("\n"),
    );
    const dry = await cliText(["import", file, "--dry-run"], { env });
    expect(outcome(dry)).toEqual({
      exitCode: 0,
      stdout: "line 1: would create ana@example.com\nline 2: skipped: HOOK_REJECTED: Sign-ups from spam.example are closed\nline 3: would create ben@example.com\n",
      stderr: ["Dry run: 2 would be created, 1 skipped, 0 invalid."],
    });
    const result = await cliText(["import", file], { env });
    expect(outcome({ ...result, stdout: result.stdout.replace(/ [0-9a-f-]{36}$/gm, " <id>") })).toEqual({
      exitCode: 0,
      stdout: "line 1: created ana@example.com <id>\nline 2: skipped: HOOK_REJECTED: Sign-ups from spam.example are closed\nline 3: created ben@example.com <id>\n",
      stderr: ["2 created, 1 skipped, 0 invalid."],
    });
    const listed = JSON.parse((await cliText(["users", "list", "--json"], { env })).stdout).items;
    expect(Object.fromEntries(listed.map((u: any) => [u.email, u.metadata]))).toEqual({
      "ops@example.com": { tenant: "default" },
      "ana@example.com": { tenant: "default", plan: "pro" },
      "ben@example.com": { tenant: "default" },
    });
    expect(hookInputs().filter((input) => input.email === "ana@example.com").at(-1)).toEqual({
      email: "ana@example.com",
      username: "ana",
      metadata: { plan: "pro" },
      ip: null,
    });
  });
});

describe("usersvc events list / retry", () => {
  const secret = newWebhookSecret();
  let database: TestDatabase;
  let deadUrl: string;
  let env: Record<string, string>;
  let users: { id: string; email: string }[];
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    deadUrl = `http://127.0.0.1:${await closedPort()}/usersvc`;
    env = { ...database.env, USERSVC_WEBHOOK_URL: deadUrl, USERSVC_WEBHOOK_SECRET: secret };
    // A usersvc of this process writes two users' events and fails every delivery of
    // them, moving its clock past each backoff, until they are dead-lettered.
    users = await withCore(database, { USERSVC_WEBHOOK_URL: deadUrl, USERSVC_WEBHOOK_SECRET: secret }, async (core, advance) => {
      const created = [
        await createUser(core, newUser(), { actor: CLI_ACTOR }),
        await createUser(core, newUser(), { actor: CLI_ACTOR }),
      ];
      for (let pass = 0; pass < 4 * MAX_ATTEMPTS && (await outboxRows(core.db)).some((r) => r.status === "pending"); pass++) {
        await deliverDueEvents(core);
        advance(5000); // past any backoff (at most an hour, +20 %)
      }
      return created.map((u) => ({ id: u.id, email: u.email }));
    });
  });
  afterAll(() => database.drop());

  test("events list --failed --json prints the dead-lettered events with their attempts and last error, newest first", async () => {
    const dead = await eventsList(env, ["--failed"]);
    expect(dead).toHaveLength(4);
    expect(dead.map((e) => e.seq)).toEqual([...dead.map((e) => e.seq)].sort((a, b) => b - a));
    for (const event of dead) {
      expect(event).toEqual({
        seq: expect.any(Number),
        event_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        type: expect.stringMatching(/^user\.(registered|verification_requested)$/),
        target: "webhook",
        user_id: expect.any(String),
        status: "dead",
        attempts: MAX_ATTEMPTS,
        next_attempt_at: expect.any(String),
        last_error: expect.stringMatching(/^webhook request failed: /),
        created_at: expect.any(String),
        delivered_at: null,
      });
    }
    expect(new Set(dead.map((e) => e.user_id))).toEqual(new Set(users.map((u) => u.id)));
    expect(await eventsList(env, ["--status", "pending"])).toEqual([]);

    const table = await cliText(["events", "list", "--failed"], { env });
    expect(table.exitCode).toBe(0);
    expect(linesOf(table.stdout)[0]).toMatch(/^SEQ\s+EVENT\s+TARGET\s+STATUS\s+ATTEMPTS\s+NEXT\/DELIVERED\s+LAST ERROR$/);
    expect(linesOf(table.stdout)).toHaveLength(5);
  });

  test("events retry <seq> queues one dead event again; --all-failed the rest", async () => {
    const [newest, ...rest] = await eventsList(env, ["--failed"]);
    expect(outcome(await cliText(["events", "retry", String(newest.seq)], { env }))).toEqual({
      exitCode: 0,
      stdout: "Queued 1 event(s) for delivery again.\n",
      stderr: [],
    });
    expect(outcome(await cliText(["events", "retry", String(newest.seq)], { env }))).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: [`usersvc: no dead-lettered event with seq ${newest.seq}`],
    });
    const pending = await eventsList(env, ["--status", "pending"]);
    expect(pending.map((e) => [e.seq, e.attempts])).toEqual([[newest.seq, 0]]);
    expect((await eventsList(env, ["--failed"])).map((e) => e.seq)).toEqual(rest.map((e) => e.seq));

    expect(outcome(await cliText(["events", "retry", "--all-failed"], { env }))).toEqual({
      exitCode: 0,
      stdout: "Queued 3 event(s) for delivery again.\n",
      stderr: [],
    });
    expect(await eventsList(env, ["--failed"])).toEqual([]);
    expect(outcome(await cliText(["events", "retry"], { env }))).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: ["usersvc: give either a SEQ or --all-failed"],
    });
    expect((await cliText(["events", "retry", "seven"], { env })).exitCode).toBe(2);
  });
});
