/**
 * docs/hooks.md through the compiled binary, on whichever database the suite
 * runs on, for what only a real process proves: the binary loads a hooks
 * module and carries the hooks contract (hooks types), serve refuses a hooks
 * file that does not load, serve delivers events retried from the CLI,
 * events survive a restart and a kill -9 of `serve` with the receiver down,
 * and — on PostgreSQL — two `serve` processes sharing one outbox deliver
 * every event once. hooks check / test, before-hooks for CLI actions and
 * events list / retry are driven in-process in tests/cli/hooks.test.ts. Hook files are written into temporary directories at test
 * time; webhooks go to a receiver in this process that checks signatures.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { deliverDueEvents, MAX_ATTEMPTS } from "../../src/core/events/outbox.ts";
import { createUser } from "../../src/core/users/users.ts";
import {
  binaryEnv,
  callApi,
  createMigratedTestDatabase,
  linesOf,
  run,
  type RunResult,
  type ServeProcess,
  startServe,
} from "../support/binary.ts";
import { SERVER_URL, type TestDatabase } from "../support/database.ts";
import { closedPort, copyExample, hooksDir, newWebhookSecret, outboxRows, pollFor, startWebhookReceiver, withCore, writeHookFile } from "../support/hooks.ts";
import { newUser } from "../support/server.ts";

// These tests start serve and wait for webhook deliveries (up to ~100 s on a loaded machine).
setDefaultTimeout(120_000);

const ROOT = join(import.meta.dir, "..", "..");
const TSC = join(ROOT, "node_modules", ".bin", "tsc");

/** The result with stderr split into lines, for one toEqual over all three. */
function outcome(result: RunResult): { exitCode: number | null; stdout: string; stderr: string[] } {
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: linesOf(result.stderr) };
}

let dir: string;
beforeAll(() => {
  dir = hooksDir("usersvc-binary-hooks-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `events list --json` (and its filters), parsed. */
async function eventsList(env: Record<string, string>, args: string[] = []): Promise<any[]> {
  const result = await run(["events", "list", "--json", "--limit", "1000", ...args], { env });
  if (result.exitCode !== 0) throw new Error(`events list exited ${result.exitCode}: ${result.stderr}`);
  return linesOf(result.stdout).map((line) => JSON.parse(line));
}

/** Registers through a running serve; every registration must answer 201. */
async function registerThrough(serve: ServeProcess, count: number): Promise<{ id: string; email: string }[]> {
  const users: { id: string; email: string }[] = [];
  for (let i = 0; i < count; i++) {
    const res = await callApi(serve.url, "POST", "/api/v1/users", { body: newUser() });
    expect(res.status).toBe(201);
    users.push(res.body.data);
  }
  return users;
}

describe("usersvc hooks check / types (the binary loads a module and carries the contract)", () => {
  let module: string;
  beforeAll(() => {
    module = copyExample("hooks.ts", dir);
  });

  test("hooks check lists a module's handlers; --json prints {kind, path, handlers}", async () => {
    const env = { USERSVC_HOOKS: module };
    expect(outcome(await run(["hooks", "check"], { env, cwd: dir }))).toEqual({
      exitCode: 0,
      stdout: `module ${module}\nhandlers: beforeRegister, accessTokenClaims, user.verification_requested, on\n`,
      stderr: [],
    });
    const json = await run(["hooks", "check", "--json"], { env, cwd: dir });
    expect(JSON.parse(json.stdout)).toEqual({
      kind: "module",
      path: module,
      handlers: ["beforeRegister", "accessTokenClaims", "user.verification_requested", "on"],
    });
  });

  test("hooks types prints the contract, which type-checks the example module and catches a wrong one", async () => {
    const result = await run(["hooks", "types"], { cwd: dir });
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(result.stdout).toBe(`${readFileSync(join(ROOT, "src", "hooks", "types.ts"), "utf8").trimEnd()}\n`);

    const tsconfig = JSON.stringify({
      compilerOptions: { target: "ES2022", module: "ESNext", moduleResolution: "Bundler", strict: true, noEmit: true, types: [] },
      include: ["*.ts"],
    });
    const tsc = async (project: string) => {
      await using proc = Bun.spawn([TSC, "--noEmit", "-p", project], { env: binaryEnv(), stdout: "pipe", stderr: "pipe" });
      const [stdout, exitCode] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      return { exitCode, stdout };
    };

    const good = join(dir, "typed-good");
    mkdirSync(good);
    writeFileSync(join(good, "usersvc-hooks.d.ts"), result.stdout);
    writeFileSync(join(good, "tsconfig.json"), tsconfig);
    copyExample("hooks.ts", good);
    expect(await tsc(good)).toEqual({ exitCode: 0, stdout: "" });

    const bad = join(dir, "typed-bad");
    mkdirSync(bad);
    writeFileSync(join(bad, "usersvc-hooks.d.ts"), result.stdout);
    writeFileSync(join(bad, "tsconfig.json"), tsconfig);
    writeFileSync(
      join(bad, "hooks.ts"),
      `import type { UsersvcHooks } from "./usersvc-hooks";\nexport default {\n  beforeRegister() {\n    return { reject: 42 };\n  },\n} satisfies UsersvcHooks;\n`,
    );
    writeFileSync(
      join(bad, "typo.ts"),
      `import type { UsersvcHooks } from "./usersvc-hooks";\nexport default {\n  afterRegister() {},\n} satisfies UsersvcHooks;\n`,
    );
    const checked = await tsc(bad);
    expect(checked.exitCode).not.toBe(0);
    expect(checked.stdout).toContain("hooks.ts(3,3): error TS2322");
    expect(checked.stdout).toContain("Type 'number' is not assignable to type 'string'");
    expect(checked.stdout).toMatch(/typo\.ts\(3,3\): error TS\d+: Object literal may only specify known properties, and 'afterRegister' does not exist in type 'UsersvcHooks'/);
  });
});

describe("a hooks file that does not load", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
  });
  afterAll(() => database.drop());

  test("a bad USERSVC_HOOKS path stops serve with exit 2, naming USERSVC_HOOKS", async () => {
    const missing = join(dir, "no-such-hooks.ts");
    const env = { ...database.env, USERSVC_HOOKS: missing };
    const expected = { exitCode: 2, stdout: "", stderr: [`usersvc: USERSVC_HOOKS: ${missing} is not a file`] };
    const serve = await run(["serve", "--port", "0"], { env });
    expect({ exitCode: serve.exitCode, stderr: linesOf(serve.stderr) }).toEqual({ exitCode: 2, stderr: expected.stderr });
    expect(serve.stdout).not.toContain("usersvc listening");
    // Nothing was created meanwhile.
    expect(JSON.parse((await run(["users", "list", "--json"], { env: database.env })).stdout).total).toBe(0);
  });

  test("a module with an unknown hook name stops serve with exit 2, naming USERSVC_HOOKS, the name and the file", async () => {
    const path = writeHookFile(dir, "typo.ts", `export default {\n  beforeRegistr() {},\n};\n`);
    const serve = await run(["serve", "--port", "0"], { env: { ...database.env, USERSVC_HOOKS: path } });
    expect({ exitCode: serve.exitCode, stderr: linesOf(serve.stderr) }).toEqual({
      exitCode: 2,
      stderr: [`usersvc: USERSVC_HOOKS: unknown hook "beforeRegistr" in ${path}`],
    });
    expect(serve.stdout).not.toContain("usersvc listening");
  });
});

describe("events retried from the CLI, delivered by serve", () => {
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

  test("events retry --all-failed queues every dead event again, and serve then delivers them, signed", async () => {
    expect((await eventsList(env, ["--failed"])).length).toBe(4);
    expect(outcome(await run(["events", "retry", "--all-failed"], { env }))).toEqual({
      exitCode: 0,
      stdout: "Queued 4 event(s) for delivery again.\n",
      stderr: [],
    });
    expect(await eventsList(env, ["--failed"])).toEqual([]);

    const receiver = startWebhookReceiver(secret);
    try {
      await using serve = await startServe({ env: { ...env, USERSVC_WEBHOOK_URL: receiver.url } });
      const all = await pollFor("the queued events to be delivered", async () => {
        const listed = await eventsList(env);
        return listed.every((e) => e.status === "delivered") ? listed : undefined;
      }, { timeoutMs: 90_000, intervalMs: 250 });
      expect(new Set(receiver.delivered().map((r) => r.id))).toEqual(new Set(all.map((e) => e.event_id)));
      expect(new Set(all.map((e) => e.user_id))).toEqual(new Set(users.map((u) => u.id)));
      expect(receiver.requests.every((r) => r.signatureValid)).toBe(true);
      expect((await serve.stop()).exitCode).toBe(0);
    } finally {
      await receiver.stop();
    }
  });
});

describe("events pending across a restart of serve", () => {
  const secret = newWebhookSecret();

  /** Starts serve with the receiver down, registers users, stops serve with `signal`, then delivers on restart. */
  async function pendingAcrossRestart(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const database = await createMigratedTestDatabase();
    const receiver = startWebhookReceiver(secret);
    try {
      const down = { ...database.env, USERSVC_WEBHOOK_URL: `http://127.0.0.1:${await closedPort()}/usersvc`, USERSVC_WEBHOOK_SECRET: secret };
      let users: { id: string; email: string }[];
      let pending: any[];
      {
        await using first = await startServe({ env: down });
        users = await registerThrough(first, 4);
        // The worker polls every 500 ms: wait for its first failed attempt, so the stop interrupts a retrying outbox.
        pending = await pollFor("a failed delivery attempt", async () => {
          const listed = await eventsList(down);
          return listed.length === 2 * users.length && listed.some((e) => e.attempts > 0) ? listed : undefined;
        }, { timeoutMs: 30_000, intervalMs: 100 });
        expect(pending.every((e) => e.status === "pending")).toBe(true);
        const stopped = await first.stop(signal);
        expect(signal === "SIGKILL" ? stopped.signalCode : stopped.exitCode).toBe(signal === "SIGKILL" ? "SIGKILL" : 0);
      }
      // Nothing was lost with the process, and nothing was delivered.
      const afterStop = await eventsList(down);
      expect(afterStop.map((e) => e.event_id).sort()).toEqual(pending.map((e) => e.event_id).sort());
      expect(afterStop.every((e) => e.status === "pending")).toBe(true);
      expect(afterStop.some((e) => e.attempts > 0 && e.last_error?.startsWith("webhook request failed"))).toBe(true);
      expect(receiver.requests).toEqual([]);

      await using second = await startServe({ env: { ...down, USERSVC_WEBHOOK_URL: receiver.url } });
      const delivered = await pollFor("every pending event to arrive", () => {
        const ids = new Set(receiver.delivered().map((r) => r.id));
        return pending.every((e) => ids.has(e.event_id)) ? receiver.delivered() : undefined;
      }, { timeoutMs: 100_000, intervalMs: 200 });
      expect(receiver.requests.every((r) => r.signatureValid)).toBe(true);
      expect(new Set(delivered.map((r) => r.id))).toEqual(new Set(pending.map((e) => e.event_id)));
      for (const user of users) {
        const types = delivered.filter((r) => r.event.data.user?.id === user.id).map((r) => r.event.type);
        expect({ user: user.id, types }).toEqual({ user: user.id, types: ["user.registered", "user.verification_requested"] });
      }
      const final = await pollFor("the outbox to record the deliveries", async () => {
        const listed = await eventsList(down);
        return listed.every((e) => e.status === "delivered") ? listed : undefined;
      }, { timeoutMs: 30_000, intervalMs: 200 });
      expect(final).toHaveLength(pending.length);
      expect((await second.stop()).exitCode).toBe(0);
    } finally {
      await receiver.stop();
      await database.drop();
    }
  }

  test("stopped with SIGTERM: every pending event arrives after the restart, signed, none lost", async () => {
    await pendingAcrossRestart("SIGTERM");
  });

  test("killed with kill -9: every pending event arrives after the restart, signed, none lost", async () => {
    await pendingAcrossRestart("SIGKILL");
  });
});

describe.skipIf(!SERVER_URL)("two serve processes on one PostgreSQL database (DATABASE_URL)", () => {
  test("deliver each of 40 events exactly once, each user's in order", async () => {
    const secret = newWebhookSecret();
    const database = await createMigratedTestDatabase();
    const receiver = startWebhookReceiver(secret);
    try {
      const env = { ...database.env, USERSVC_WEBHOOK_URL: receiver.url, USERSVC_WEBHOOK_SECRET: secret };
      await using one = await startServe({ env });
      await using two = await startServe({ env });
      const users = [...(await Promise.all([registerThrough(one, 10), registerThrough(two, 10)])).flat()];
      expect(users).toHaveLength(20);

      await pollFor("all 40 events to be delivered", async () => {
        const listed = await eventsList(env);
        return listed.length === 40 && listed.every((e) => e.status === "delivered") ? true : undefined;
      }, { timeoutMs: 90_000, intervalMs: 250 });

      const perId = new Map<string, number>();
      for (const request of receiver.requests) perId.set(request.id, (perId.get(request.id) ?? 0) + 1);
      expect(perId.size).toBe(40);
      expect([...perId.entries()].filter(([, n]) => n !== 1)).toEqual([]);
      expect(receiver.requests.every((r) => r.signatureValid && r.status === 204)).toBe(true);
      for (const user of users) {
        const types = receiver.requests.filter((r) => r.event.data.user?.id === user.id).map((r) => r.event.type);
        expect({ user: user.id, types }).toEqual({ user: user.id, types: ["user.registered", "user.verification_requested"] });
      }
      expect((await one.stop()).exitCode).toBe(0);
      expect((await two.stop()).exitCode).toBe(0);
    } finally {
      await receiver.stop();
      await database.drop();
    }
  });
});
