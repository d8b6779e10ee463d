/**
 * docs/hooks.md "Script hooks": an executable named by USERSVC_HOOKS is run
 * as `<script> <name>` with the JSON payload on stdin. The shipped examples
 * (examples/hooks/hooks.sh and hooks.py, copied into a temporary directory)
 * reject a domain with stdout's first line, shape metadata, add a tenant
 * claim and handle user.verification_requested — hooks.py by mailing the
 * link to the SMTP sink of examples/hooks/smtp-sink.ts. A script of the
 * test's own shows the failure modes: an exit code other than 0 and 1,
 * non-JSON on stdout, and running past the time limit (the script is
 * killed) all fail closed with 503 HOOK_FAILED.
 *
 * Scripts get an allow-listed environment (script-sandbox.test.ts), so the
 * settings the examples read (VERIFY_OUTBOX, SMTP_PORT) are given through a
 * two-line wrapper that execs the example.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { count, eq } from "drizzle-orm";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { createCore } from "../../src/core/core.ts";
import { users } from "../../src/core/db/schema.ts";
import { closedPort, deliverUntilIdle, hooksDir, jwtClaims, outboxRows, pollFor, writeHookFile } from "../support/hooks.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const EXAMPLES = join(import.meta.dir, "..", "..", "examples", "hooks");
const ROOT = join(import.meta.dir, "..", "..");

let dir: string;
beforeAll(() => {
  dir = hooksDir("usersvc-script-hooks-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Copies a shipped example into the temporary directory, executable. */
function copyExample(name: string): string {
  const path = join(dir, name);
  copyFileSync(join(EXAMPLES, name), path);
  chmodSync(path, 0o755);
  return path;
}

/** A wrapper that sets `env` and execs `script`: what USERSVC_HOOKS names. */
function wrapperFor(script: string, env: Record<string, string>): string {
  const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v}'`).join("\n");
  return writeHookFile(dir, `${script.split("/").at(-1)}-wrapper`, `#!/bin/sh\n${exports}\nexec '${script}' "$@"\n`, { executable: true });
}

async function storedUserCount(server: TestServer, email: string): Promise<number> {
  const [row] = await server.core.db.select({ n: count() }).from(users).where(eq(users.email, email));
  return Number(row?.n ?? 0);
}

const HOOK_FAILED = { code: "HOOK_FAILED", message: "A usersvc hook failed; the action was not carried out" };

/** The behaviour both shipped examples promise, checked against a server running one of them. */
function describeShippedExample(name: "hooks.sh" | "hooks.py", setup: () => TestServer) {
  test(`${name}: a sign-up from @spam.example is refused with 403 HOOK_REJECTED and the message from stdout's first line`, async () => {
    const server = setup();
    const input = newUser({ email: `eve${Date.now()}@spam.example` });
    const res = await server.api("POST", "/api/v1/users", { body: input });
    expect({ status: res.status, body: res.body }).toEqual({
      status: 403,
      body: { success: false, data: null, error: { code: "HOOK_REJECTED", message: "Sign-ups from spam.example are closed" } },
    });
    expect(await storedUserCount(server, input.email)).toBe(0);
  });

  test(`${name}: a sign-up gets the app_metadata the script printed; the tenant claim follows it, not the metadata a user edits`, async () => {
    const server = setup();
    const input = newUser();
    const res = await server.api("POST", "/api/v1/users", { body: input });
    expect(res.status).toBe(201);
    expect([res.body.data.metadata, res.body.data.app_metadata]).toEqual([{}, { tenant: "default" }]);
    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect(login.status).toBe(200);
    expect(jwtClaims(login.body.data.access_token)).toEqual(
      expect.objectContaining({ sub: res.body.data.id, tenant: "default", roles: ["user"], type: "access" }),
    );
    // The attack the examples once allowed: a user writes another tenant into their own metadata, then refreshes.
    const bearer = { authorization: `Bearer ${login.body.data.access_token}` };
    const edited = await server.api("PATCH", "/api/v1/users/me", { headers: bearer, body: { metadata: { tenant: "victim-corp" } } });
    expect([edited.status, edited.body.data.metadata, edited.body.data.app_metadata]).toEqual([200, { tenant: "victim-corp" }, { tenant: "default" }]);
    const refreshed = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: login.body.data.refresh_token } });
    expect(jwtClaims(refreshed.body.data.access_token).tenant).toBe("default");
  });
}

describe("examples/hooks/hooks.sh", () => {
  let server: TestServer;
  let verifyOutbox: string;
  beforeAll(async () => {
    verifyOutbox = join(dir, "verify-outbox.txt");
    const script = wrapperFor(copyExample("hooks.sh"), { VERIFY_OUTBOX: verifyOutbox });
    server = await startTestServer({ USERSVC_HOOKS: script });
  });
  afterAll(() => server.stop());

  describeShippedExample("hooks.sh", () => server);

  test("hooks.sh: user.verification_requested writes the link, whose token verifies the email; every other event is acknowledged", async () => {
    const input = newUser();
    const res = await server.api("POST", "/api/v1/users", { body: input });
    expect(res.status).toBe(201);
    await deliverUntilIdle(server.core);
    const rows = await outboxRows(server.core.db);
    expect(rows.every((row) => row.target === "hooks" && row.status === "delivered")).toBe(true);
    expect(rows.filter((row) => row.userId === res.body.data.id).map((row) => row.type)).toEqual(["user.registered", "user.verification_requested"]);

    const line = readFileSync(verifyOutbox, "utf8").split("\n").find((l) => l.startsWith(`verify ${input.email}: `));
    const token = line?.match(/verify\?token=([A-Za-z0-9_-]+)$/)?.[1];
    expect(token).toHaveLength(43);
    const verified = await server.api("POST", "/api/v1/auth/verify-email", { body: { token } });
    expect(verified.status).toBe(200);
    expect(verified.body.data).toEqual(expect.objectContaining({ id: res.body.data.id, is_verified: true }));
  });
});

describe("examples/hooks/hooks.py", () => {
  let server: TestServer;
  let sink: ReturnType<typeof Bun.spawn>;
  let sinkOutput = "";
  beforeAll(async () => {
    const port = await closedPort();
    sink = Bun.spawn([process.execPath, join(EXAMPLES, "smtp-sink.ts")], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SMTP_PORT: String(port) },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
    });
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of sink.stdout as ReadableStream<Uint8Array>) sinkOutput += decoder.decode(chunk, { stream: true });
    })();
    await pollFor("the smtp sink to listen", () => (sinkOutput.includes("smtp sink on") ? true : undefined), { timeoutMs: 30_000, intervalMs: 20 });
    const script = wrapperFor(copyExample("hooks.py"), { SMTP_HOST: "127.0.0.1", SMTP_PORT: String(port) });
    server = await startTestServer({ USERSVC_HOOKS: script });
  });
  afterAll(async () => {
    await server.stop();
    sink.kill("SIGKILL");
    await sink.exited;
  });

  describeShippedExample("hooks.py", () => server);

  test("hooks.py: user.verification_requested mails the link to the SMTP server; its token verifies the email", async () => {
    const input = newUser();
    const res = await server.api("POST", "/api/v1/users", { body: input });
    expect(res.status).toBe(201);
    await deliverUntilIdle(server.core);
    const mine = (await outboxRows(server.core.db)).filter((row) => row.userId === res.body.data.id);
    expect(mine.map((row) => [row.type, row.status, row.lastError])).toEqual([
      ["user.registered", "delivered", null],
      ["user.verification_requested", "delivered", null],
    ]);

    // The sink printed the message before answering 250, so it is in its output already (or about to be read).
    const message = await pollFor("the verification email", () => {
      const messages = sinkOutput.split("----- message -----").slice(1);
      return messages.find((m) => m.includes(`To: ${input.email}`));
    }, { timeoutMs: 10_000, intervalMs: 20 });
    expect(message).toContain("Subject: Confirm your email address");
    const token = message.match(/https:\/\/app\.example\/verify\?token=([A-Za-z0-9_-]+)/)?.[1];
    expect(token).toHaveLength(43);
    const verified = await server.api("POST", "/api/v1/auth/verify-email", { body: { token } });
    expect(verified.status).toBe(200);
    expect(verified.body.data.is_verified).toBe(true);
  });
});

describe("a script that fails", () => {
  const TIMEOUT_MS = 1500;
  let server: TestServer;
  let callsLog: string;
  let pidFile: string;
  beforeAll(async () => {
    callsLog = join(dir, "calls.log");
    pidFile = join(dir, "sleepy.pid");
    const script = writeHookFile(
      dir,
      "failing-hooks.sh",
      `#!/bin/sh
payload=$(cat)
printf '%s %s\\n' "$1" "$payload" >> '${callsLog}'
if [ "$1" = beforeRegister ]; then
  case "$payload" in
    *'"username":"exitthree'*) echo "three"; echo "exit three, on purpose" >&2; exit 3 ;;
    *'"username":"nonjson'*) echo "this is not json"; exit 0 ;;
    *'"username":"arrayanswer'*) echo '["vip"]'; exit 0 ;;
    *'"username":"multiline'*) printf 'Closed for the weekend\\nsecond line\\n'; exit 1 ;;
    *'"username":"silentreject'*) exit 1 ;;
    *'"username":"sleepy'*) echo $$ > '${pidFile}'; exec sleep 60 ;;
  esac
fi
exit 0
`,
      { executable: true },
    );
    server = await startTestServer({ USERSVC_HOOKS: script, USERSVC_HOOK_TIMEOUT_MS: String(TIMEOUT_MS) });
  });
  afterAll(() => server.stop());

  function registerAs(prefix: string) {
    const input = newUser({ username: `${prefix}${Date.now()}` });
    return server.api("POST", "/api/v1/users", { body: input }).then((res) => ({ input, res }));
  }

  test("is called as `<script> beforeRegister` with {email, username, metadata, ip} as JSON on stdin", async () => {
    const { input, res } = await registerAs("plain");
    expect(res.status).toBe(201);
    const line = readFileSync(callsLog, "utf8").split("\n").find((l) => l.startsWith("beforeRegister ") && l.includes(input.email));
    expect(JSON.parse(line!.slice("beforeRegister ".length))).toEqual({ email: input.email, username: input.username, metadata: {}, ip: "127.0.0.1" });
  });

  test("exiting 3 answers 503 HOOK_FAILED, stores nothing, and logs the exit code and stderr", async () => {
    const { input, res } = await registerAs("exitthree");
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 503, error: HOOK_FAILED });
    expect(await storedUserCount(server, input.email)).toBe(0);
    const logged = server.logs.map((l) => JSON.parse(l)).filter((e) => e.hook === "beforeRegister" && e.msg === "hook failed: refusing the action");
    expect(logged.some((e) => e.err?.message === "hook script beforeRegister exited 3: exit three, on purpose")).toBe(true);
  });

  test("printing something that is not JSON with exit 0 answers 503 HOOK_FAILED and stores nothing", async () => {
    const { input, res } = await registerAs("nonjson");
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 503, error: HOOK_FAILED });
    expect(await storedUserCount(server, input.email)).toBe(0);
  });

  test("printing JSON that is not an object answers 503 HOOK_FAILED and stores nothing", async () => {
    const { input, res } = await registerAs("arrayanswer");
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 503, error: HOOK_FAILED });
    expect(await storedUserCount(server, input.email)).toBe(0);
  });

  test("exiting 1 rejects with the first line of stdout only; with empty stdout, with a message of usersvc's", async () => {
    const multiline = await registerAs("multiline");
    expect({ status: multiline.res.status, error: multiline.res.body.error }).toEqual({
      status: 403,
      error: { code: "HOOK_REJECTED", message: "Closed for the weekend" },
    });
    const silent = await registerAs("silentreject");
    expect({ status: silent.res.status, error: silent.res.body.error }).toEqual({
      status: 403,
      error: { code: "HOOK_REJECTED", message: "rejected by hook script" },
    });
    expect(await storedUserCount(server, multiline.input.email)).toBe(0);
    expect(await storedUserCount(server, silent.input.email)).toBe(0);
  });

  test(`running past USERSVC_HOOK_TIMEOUT_MS (${TIMEOUT_MS} ms) answers 503 HOOK_FAILED, stores nothing, and the script is killed`, async () => {
    rmSync(pidFile, { force: true });
    const started = performance.now();
    const { input, res } = await registerAs("sleepy");
    const elapsed = performance.now() - started;
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 503, error: HOOK_FAILED });
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(30_000); // the script would sleep 60 s
    expect(await storedUserCount(server, input.email)).toBe(0);

    const pid = Number(readFileSync(pidFile, "utf8").trim());
    // Gone (or a zombie about to be reaped): the killed process no longer runs.
    const state = await pollFor(`script process ${pid} to end`, () => {
      if (!existsSync(`/proc/${pid}/stat`)) return "gone";
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const s = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      return s === "Z" || s === "X" ? "zombie" : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20 });
    expect(["gone", "zombie"]).toContain(state);
  });

  test("events reach the script as `<script> <event name>` with the event envelope on stdin", async () => {
    const { input, res } = await registerAs("events");
    expect(res.status).toBe(201);
    await deliverUntilIdle(server.core);
    const lines = readFileSync(callsLog, "utf8").split("\n").filter((l) => l.startsWith("user.") && l.includes(res.body.data.id));
    const events = lines.map((l) => ({ name: l.slice(0, l.indexOf(" ")), event: JSON.parse(l.slice(l.indexOf(" ") + 1)) }));
    expect(events.map((e) => e.name)).toEqual(["user.registered", "user.verification_requested"]);
    expect(events[0]!.event).toEqual({
      id: expect.any(String),
      type: "user.registered",
      occurred_at: expect.any(String),
      actor: { type: "user", id: res.body.data.id },
      data: { user: res.body.data, roles: ["user"] },
    });
    expect(events[1]!.event.data).toEqual({ user: res.body.data, token: expect.any(String), code: expect.stringMatching(/^\d{6}$/), expires_at: expect.any(String) });
    expect(input.email).toBe(res.body.data.email);
  });

  test("a hooks file that is neither a module nor executable stops the core from starting with a ConfigError naming USERSVC_HOOKS", async () => {
    const path = writeHookFile(dir, "not-executable.sh", "#!/bin/sh\nexit 0\n");
    const config = loadConfig({ USERSVC_HOOKS: path });
    const error = await createCore({ config, db: server.core.db, dbKind: server.core.dbKind, logger: server.core.logger }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([`USERSVC_HOOKS: ${path} is neither a .ts/.js module nor an executable file`]);
  });
});
