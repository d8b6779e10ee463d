/**
 * docs/hooks.md "What a script runs with": a script hook gets an allow-listed
 * environment (PATH, HOME, LANG, TZ, LC_*, and the names in USERSVC_HOOK_ENV),
 * never usersvc's secrets; each call runs in a process group of its own,
 * which is killed when the script exits or runs past the time limit, so a
 * background child that holds stdout or stderr open neither hangs the call
 * nor outlives it. And examples/hooks/hooks.sh keeps the tokens it writes
 * readable by its own user only.
 *
 * The secrets case runs `usersvc hooks test` in a process of its own, so the
 * secrets are in usersvc's real environment, as they would be in production.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { hooksDir, pollFor, writeHookFile } from "../support/hooks.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const ROOT = join(import.meta.dir, "..", "..");
const EXAMPLES = join(ROOT, "examples", "hooks");
const HOOK_FAILED = { code: "HOOK_FAILED", message: "A usersvc hook failed; the action was not carried out" };

const JWT_SECRET = "sandbox-jwt-secret-0123456789abcdef0123456789";
const WEBHOOK_SECRET = `whsec_${Buffer.from("sandbox-webhook-secret-32-bytes!").toString("base64")}`;
const DATABASE_URL = "postgres://usersvc:sandbox-db-password@127.0.0.1:1/usersvc";

let dir: string;
beforeAll(() => {
  dir = hooksDir("usersvc-script-sandbox-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `usersvc <args>` from the source tree with exactly `env`. */
async function usersvc(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn([process.execPath, "--no-env-file", join(ROOT, "src", "main.ts"), ...args], {
    cwd: dir,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout, stderr };
}

/** NAME=value pairs as `env -0` wrote them. */
function readEnvDump(path: string): Record<string, string> {
  const entries = readFileSync(path, "utf8")
    .split("\0")
    .filter(Boolean)
    .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]);
  return Object.fromEntries(entries);
}

/** Variables a shell sets for itself, whatever it was given. */
const SHELL_OWN = new Set(["PWD", "OLDPWD", "SHLVL", "_"]);

/** False once `pid` is gone or a zombie (it no longer runs; its parent has yet to reap it). */
function isRunning(pid: number): boolean {
  if (!existsSync(`/proc/${pid}/stat`)) return false;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}

function readPids(path: string): number[] {
  return readFileSync(path, "utf8").trim().split(/\s+/).map(Number);
}

async function expectAllEnded(pids: number[]): Promise<void> {
  expect(pids.length).toBeGreaterThan(0);
  for (const pid of pids) expect(Number.isInteger(pid) && pid > 1).toBe(true);
  await pollFor(`processes ${pids.join(", ")} to end`, () => (pids.some(isRunning) ? undefined : true), { timeoutMs: 10_000, intervalMs: 20 });
  expect(pids.filter(isRunning)).toEqual([]);
}

describe("USERSVC_HOOK_ENV", () => {
  test("is a comma-separated list of variable names; unset, an empty list", () => {
    expect(loadConfig({}).hookEnv).toEqual([]);
    expect(loadConfig({ USERSVC_HOOK_ENV: " SMTP_HOST, SMTP_PORT ,,_private2" }).hookEnv).toEqual(["SMTP_HOST", "SMTP_PORT", "_private2"]);
  });

  test("a name that is not an environment variable name is reported on one line naming USERSVC_HOOK_ENV", () => {
    let problems: string[] = [];
    try {
      loadConfig({ USERSVC_HOOK_ENV: "SMTP_HOST,2FAST,smtp-port,A=B" });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems = error.problems;
    }
    expect(problems).toEqual(["USERSVC_HOOK_ENV must list environment variable names like SMTP_HOST,SMTP_PORT; not: 2FAST, smtp-port, A=B"]);
  });
});

describe("the environment of a script hook", () => {
  test("holds PATH, HOME, LANG, TZ, LC_* and the names in USERSVC_HOOK_ENV; never the JWT secret, DATABASE_URL, the webhook secret or anything else", async () => {
    const dump = join(dir, "cli-env.txt");
    const script = writeHookFile(dir, "env-dump.sh", `#!/bin/sh\ncat >/dev/null\nenv -0 > '${dump}'\nexit 0\n`, { executable: true });
    const result = await usersvc(["hooks", "test", "beforeRegister"], {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      LANG: "C.UTF-8",
      LC_ALL: "C.UTF-8",
      TZ: "UTC",
      LOG_LEVEL: "silent",
      USERSVC_DATA_DIR: join(dir, "data"),
      USERSVC_HOOKS: script,
      USERSVC_HOOK_ENV: "MAILER_URL,NOT_SET_ANYWHERE",
      MAILER_URL: "smtp://127.0.0.1:2525",
      USERSVC_JWT_SECRET: JWT_SECRET,
      DATABASE_URL,
      USERSVC_WEBHOOK_URL: "http://127.0.0.1:9/usersvc",
      USERSVC_WEBHOOK_SECRET: WEBHOOK_SECRET,
      SOME_OTHER_SETTING: "not for hooks",
    });
    expect(result).toEqual({ exitCode: 0, stdout: "beforeRegister: {}\n", stderr: "" });

    const env = readEnvDump(dump);
    const given = Object.fromEntries(Object.entries(env).filter(([name]) => !SHELL_OWN.has(name)));
    expect(given).toEqual({
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      LANG: "C.UTF-8",
      LC_ALL: "C.UTF-8",
      TZ: "UTC",
      MAILER_URL: "smtp://127.0.0.1:2525",
    });
    const everything = readFileSync(dump, "utf8");
    for (const secret of [JWT_SECRET, WEBHOOK_SECRET, "sandbox-db-password"]) expect(everything).not.toContain(secret);
  });

  describe("of a serving usersvc", () => {
    let server: TestServer;
    const dump = () => join(dir, "server-env.txt");
    beforeAll(async () => {
      process.env.USERSVC_SANDBOX_NAMED = "named by the operator";
      process.env.USERSVC_SANDBOX_UNNAMED = "not named";
      const script = writeHookFile(
        dir,
        "server-env-dump.sh",
        `#!/bin/sh\ncat >/dev/null\n[ "$1" = beforeRegister ] && env -0 > '${dump()}'\nexit 0\n`,
        { executable: true },
      );
      server = await startTestServer({ USERSVC_HOOKS: script, USERSVC_HOOK_ENV: "USERSVC_SANDBOX_NAMED" });
    });
    afterAll(async () => {
      delete process.env.USERSVC_SANDBOX_NAMED;
      delete process.env.USERSVC_SANDBOX_UNNAMED;
      await server.stop();
    });

    test("is the allow-list too: the named variable gets through, DATABASE_URL and unnamed ones do not", async () => {
      const res = await server.api("POST", "/api/v1/users", { body: newUser() });
      expect(res.status).toBe(201);
      const env = readEnvDump(dump());
      expect(env.USERSVC_SANDBOX_NAMED).toBe("named by the operator");
      expect(Object.keys(env).filter((name) => !SHELL_OWN.has(name) && !/^(PATH|HOME|LANG|TZ|LC_\w+|USERSVC_SANDBOX_NAMED)$/.test(name))).toEqual([]);
    });
  });
});

describe("a script's process group", () => {
  const TIMEOUT_MS = 1500;
  const SLOW_TIMEOUT_MS = 20_000;
  let server: TestServer;
  let slowServer: TestServer;
  let pidFile: string;
  beforeAll(async () => {
    pidFile = join(dir, "group.pids");
    const script = writeHookFile(
      dir,
      "group-hooks.sh",
      `#!/bin/sh
payload=$(cat)
if [ "$1" = beforeRegister ]; then
  case "$payload" in
    *'"username":"background'*)
      sleep 30 &
      echo "$!" > '${pidFile}'
      echo '{"metadata":{"answered":"before the child ended"}}'
      exit 0 ;;
    *'"username":"stderrheld'*)
      sleep 30 >/dev/null &
      echo "$!" > '${pidFile}'
      echo "broken on purpose" >&2
      exit 3 ;;
    *'"username":"hanging'*)
      sleep 60 &
      echo "$$ $!" > '${pidFile}'
      sleep 60
      exit 0 ;;
  esac
fi
exit 0
`,
      { executable: true },
    );
    server = await startTestServer({ USERSVC_HOOKS: script, USERSVC_HOOK_TIMEOUT_MS: String(TIMEOUT_MS) });
    slowServer = await startTestServer({ USERSVC_HOOKS: script, USERSVC_HOOK_TIMEOUT_MS: String(SLOW_TIMEOUT_MS) });
  });
  afterAll(async () => {
    await server.stop();
    await slowServer.stop();
  });

  function registerAs(on: TestServer, prefix: string) {
    const input = newUser({ username: `${prefix}${Date.now()}` });
    const started = performance.now();
    return on.api("POST", "/api/v1/users", { body: input }).then((res) => ({ input, res, elapsed: performance.now() - started }));
  }

  test("a background child that keeps stdout open does not hold the call once the script exited 0: its answer counts, and the child is killed", async () => {
    rmSync(pidFile, { force: true });
    const { res, elapsed } = await registerAs(slowServer, "background");
    expect(res.status).toBe(201);
    expect(res.body.data.metadata).toEqual({ answered: "before the child ended" });
    expect(elapsed).toBeLessThan(5_000); // far below the 20 s limit and the child's 30 s
    await expectAllEnded(readPids(pidFile));
  });

  test("a background child that keeps stderr open does not hold a failed call: 503 HOOK_FAILED at once, with stderr's first line logged", async () => {
    rmSync(pidFile, { force: true });
    const { res, elapsed } = await registerAs(slowServer, "stderrheld");
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 503, error: HOOK_FAILED });
    expect(elapsed).toBeLessThan(5_000);
    const logged = slowServer.logs.map((l) => JSON.parse(l)).filter((e) => e.hook === "beforeRegister" && e.msg === "hook failed: refusing the action");
    expect(logged.map((e) => e.err?.message)).toContain("hook script beforeRegister exited 3: broken on purpose");
    await expectAllEnded(readPids(pidFile));
  });

  test(`past USERSVC_HOOK_TIMEOUT_MS (${TIMEOUT_MS} ms) the whole group is killed: 503 HOOK_FAILED, and neither the script nor its child runs on`, async () => {
    rmSync(pidFile, { force: true });
    const { res, elapsed } = await registerAs(server, "hanging");
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 503, error: HOOK_FAILED });
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(30_000);
    const pids = readPids(pidFile);
    expect(pids).toHaveLength(2);
    await expectAllEnded(pids);
  });
});

describe("examples/hooks/hooks.sh", () => {
  let script: string;
  beforeAll(() => {
    script = join(dir, "hooks.sh");
    copyFileSync(join(EXAMPLES, "hooks.sh"), script);
    chmodSync(script, 0o755);
  });

  const baseEnv = () => ({
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir,
    LOG_LEVEL: "silent",
    USERSVC_DATA_DIR: join(dir, "data"),
    USERSVC_HOOKS: script,
  });

  test("writes verification links to a file in a directory of its own that only its user can read", async () => {
    const tmp = join(dir, "tmp");
    mkdirSync(tmp, { mode: 0o777 });
    chmodSync(tmp, 0o777);
    const result = await usersvc(["hooks", "test", "user.verification_requested"], { ...baseEnv(), USERSVC_HOOK_ENV: "TMPDIR", TMPDIR: tmp });
    expect(result).toEqual({ exitCode: 0, stdout: "user.verification_requested: delivered\n", stderr: "" });
    const uid = process.getuid?.() ?? 0;
    const outbox = join(tmp, `usersvc-hooks-${uid}`, "verify.txt");
    expect(readFileSync(outbox, "utf8")).toContain("verify?token=sample-token");
    expect(statSync(join(tmp, `usersvc-hooks-${uid}`)).mode & 0o777).toBe(0o700);
    expect(statSync(outbox).mode & 0o777).toBe(0o600);
  });

  test("makes a VERIFY_OUTBOX that others could read private before writing a token to it", async () => {
    const outbox = join(dir, "operator-outbox.txt");
    writeFileSync(outbox, "");
    chmodSync(outbox, 0o644);
    const result = await usersvc(["hooks", "test", "user.verification_requested"], { ...baseEnv(), USERSVC_HOOK_ENV: "VERIFY_OUTBOX", VERIFY_OUTBOX: outbox });
    expect(result).toEqual({ exitCode: 0, stdout: "user.verification_requested: delivered\n", stderr: "" });
    expect(readFileSync(outbox, "utf8")).toContain("verify?token=sample-token");
    expect(statSync(outbox).mode & 0o777).toBe(0o600);
  });
});
