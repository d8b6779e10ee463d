/**
 * SPEC §5: on a terminal, create-admin asks (@clack/prompts) for what is
 * missing, with the password masked. Driven in a real pseudo-terminal by
 * tmux (a server on its own socket, so no other tmux session is touched).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binaryEnv, buildBinary, callApi, createMigratedTestDatabase, loginAndFetchMe, startServe } from "../support/binary.ts";
import { createTestDatabase, emptyDataDir, SERVER_URL, type TestDatabase } from "../support/database.ts";

// Each test spawns the binary (and most start serve): on the embedded database one can pass 5 s.
setDefaultTimeout(60_000);

const PASSWORD = "Tty-Secret-Pass-42";
const socketDir = mkdtempSync(join(tmpdir(), "usersvc-tmux-"));
const SOCKET = join(socketDir, "tmux.sock");

let database: TestDatabase;
let binary: string;
let sessions = 0;

function tmux(...args: string[]): { exitCode: number; output: string } {
  const proc = Bun.spawnSync(["/usr/bin/tmux", "-S", SOCKET, ...args], {
    env: { ...binaryEnv(database.env), TERM: "xterm-256color", SHELL: "/bin/sh" },
    stdin: "ignore",
  });
  return { exitCode: proc.exitCode, output: proc.stdout.toString() + proc.stderr.toString() };
}

function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** A terminal running `usersvc <args>`; the pane stays up after it exits so its screen can be read. */
function startTerminal(args: string[], env: Record<string, string> = {}) {
  sessions += 1;
  const name = `s${sessions}`;
  // The tmux server keeps the environment it started with: other settings go on the command line.
  const settings = Object.entries(env).map(([key, value]) => `${key}=${value}`);
  const prefix = settings.length > 0 ? ["env", ...settings] : [];
  const command = `${[...prefix, binary, ...args].map(quote).join(" ")}; echo EXIT=$?; sleep 30`;
  const started = tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", command);
  if (started.exitCode !== 0) throw new Error(`tmux new-session failed: ${started.output}`);

  const screen = (): string => tmux("capture-pane", "-p", "-t", name).output;
  return {
    screen,
    /** Polls the screen (an external terminal: short waits are the only way) until it shows `text`. */
    async waitFor(text: string | RegExp): Promise<string> {
      for (let attempt = 0; attempt < 200; attempt++) {
        const shown = screen();
        if (typeof text === "string" ? shown.includes(text) : text.test(shown)) return shown;
        await Bun.sleep(50);
      }
      throw new Error(`the terminal never showed ${text}; it shows:\n${screen()}`);
    },
    type(text: string): void {
      tmux("send-keys", "-t", name, "-l", text);
    },
    press(...keys: string[]): void {
      tmux("send-keys", "-t", name, ...keys);
    },
    /** Waits for `prompt`, types `text` and presses Enter. */
    async answer(prompt: string, text: string): Promise<void> {
      await this.waitFor(prompt);
      this.type(text);
      this.press("Enter");
    },
    /** The exit code the shell echoed. */
    async exitCode(): Promise<number> {
      const shown = await this.waitFor(/EXIT=\d+/);
      return Number(/EXIT=(\d+)/.exec(shown)![1]);
    },
  };
}

beforeAll(async () => {
  [database, binary] = await Promise.all([createMigratedTestDatabase(), buildBinary()]);
});

afterAll(async () => {
  tmux("kill-server");
  rmSync(socketDir, { recursive: true, force: true });
  await database.drop();
});

describe("create-admin on a terminal", () => {
  test("asks for email, username and the password twice, masks the password, and creates the admin", async () => {
    const terminal = startTerminal(["create-admin"]);
    await terminal.answer("Admin email", "tty@example.com");
    await terminal.answer("Admin username", "ttyadmin");
    await terminal.answer("Admin password", PASSWORD);
    await terminal.answer("Repeat the password", PASSWORD);

    expect(await terminal.exitCode()).toBe(0);
    const screen = terminal.screen();
    expect(screen).toMatch(/Created admin ttyadmin <tty@example\.com> [0-9a-f-]{36}/);
    expect(screen).not.toContain(PASSWORD);
    // Both password prompts show one mask character per typed character.
    expect(screen.split("▪".repeat(PASSWORD.length)).length - 1).toBe(2);
  });

  test("a repeated password that does not match exits 2 and creates nobody", async () => {
    const terminal = startTerminal(["create-admin", "--email", "mismatch@example.com", "--username", "mismatch"]);
    await terminal.answer("Admin password", PASSWORD);
    await terminal.answer("Repeat the password", `${PASSWORD}-typo`);

    expect(await terminal.exitCode()).toBe(2);
    const screen = terminal.screen();
    expect(screen).toContain("usersvc: the passwords do not match");
    expect(screen).not.toContain("Created admin");
    expect(screen).not.toContain(PASSWORD);
  });

  test("Ctrl-C at a prompt cancels with exit code 130", async () => {
    const terminal = startTerminal(["create-admin"]);
    await terminal.waitFor("Admin email");
    terminal.type("cancel@example.com");
    terminal.press("C-c");

    expect(await terminal.exitCode()).toBe(130);
    const screen = terminal.screen();
    expect(screen).toContain("usersvc: cancelled");
    expect(screen).not.toContain("Created admin");
  });

  test("a database whose schema is not current is reported before the first question", async () => {
    // An empty PostgreSQL database, or a data directory not even initdb'd: neither is migrated.
    const unmigrated = SERVER_URL ? await createTestDatabase() : null;
    const dataDir = emptyDataDir();
    try {
      const env: Record<string, string> = unmigrated?.env.DATABASE_URL ? { DATABASE_URL: unmigrated.env.DATABASE_URL } : { USERSVC_DATA_DIR: dataDir };
      const terminal = startTerminal(["create-admin"], env);
      // Embedded: the first open runs initdb, which takes seconds.
      let code: number | null = null;
      for (let attempt = 0; attempt < 10 && code === null; attempt++) code = await terminal.exitCode().catch(() => null);
      expect(code).toBe(1);
      const screen = terminal.screen();
      expect(screen).toContain("usersvc: the database schema is not current: run `usersvc init-db` (or `usersvc serve`) first");
      expect(screen).not.toContain("Admin email");
    } finally {
      await unmigrated?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("each answer is checked as it is typed with core's rules, and only that answer is asked again", async () => {
    const terminal = startTerminal(["create-admin"]);
    await terminal.answer("Admin email", "not-an-email");
    await terminal.waitFor("email must be a valid email address");
    terminal.press("C-u");
    terminal.type("retry@example.com");
    terminal.press("Enter");

    await terminal.answer("Admin username", "ab");
    // The refused answer stays in the field: one more letter makes it valid.
    await terminal.answer("username must be 3-32 characters of letters, digits, '_', '.' or '-'", "c");

    await terminal.answer("Admin password", "short");
    await terminal.waitFor("password must be 8-256 characters");
    for (let i = 0; i < 5; i++) terminal.press("BSpace");
    terminal.type("password");
    terminal.press("Enter");
    await terminal.waitFor("This password is too common or too weak");
    for (let i = 0; i < 8; i++) terminal.press("BSpace");
    terminal.type(PASSWORD);
    terminal.press("Enter");
    await terminal.answer("Repeat the password", PASSWORD);

    expect(await terminal.exitCode()).toBe(0);
    const screen = terminal.screen();
    expect(screen).toMatch(/Created admin abc <retry@example\.com> [0-9a-f-]{36}/);
    expect(screen).not.toContain("VALIDATION_ERROR");
    expect(screen).not.toContain(PASSWORD);
    // Each question was asked once: the refused answers were corrected in place.
    expect(screen.split("Admin email").length - 1).toBe(1);
    expect(screen.split("Repeat the password").length - 1).toBe(1);
  });

  test("the admin created on the terminal logs in, and the cancelled and mismatched ones do not exist", async () => {
    await using serve = await startServe({ env: database.env });
    const login = (email: string) => loginAndFetchMe(serve.url, { email, password: PASSWORD });
    const [created, mismatched, cancelled] = await Promise.all([
      login("tty@example.com"),
      login("mismatch@example.com"),
      login("cancel@example.com"),
    ]);
    expect(created.me.status).toBe(200);
    expect({ email: created.me.body.data.email, username: created.me.body.data.username, is_admin: created.me.body.data.is_admin }).toEqual({
      email: "tty@example.com",
      username: "ttyadmin",
      is_admin: true,
    });
    expect([mismatched.login.status, mismatched.login.body.error?.code]).toEqual([401, "INVALID_CREDENTIALS"]);
    expect([cancelled.login.status, cancelled.login.body.error?.code]).toEqual([401, "INVALID_CREDENTIALS"]);
  });
});

describe("keys rotate --revoke-previous on a terminal", () => {
  const jwksKids = async (url: string): Promise<string[]> =>
    ((await callApi(url, "GET", "/.well-known/jwks.json")).body.keys as { kid: string }[]).map((k) => k.kid).sort();

  /** The keys a fresh serve publishes, and an access token it signed. */
  async function keysAndToken(): Promise<{ kids: string[]; token: string; url: string; serve: Awaited<ReturnType<typeof startServe>> }> {
    const serve = await startServe({ env: database.env });
    const { login } = await loginAndFetchMe(serve.url, { email: "tty@example.com", password: PASSWORD });
    expect(login.status).toBe(200);
    return { kids: await jwksKids(serve.url), token: login.body.data.access_token, url: serve.url, serve };
  }

  test("says what it does and asks; the default answer (no) changes nothing and exits 1", async () => {
    const before = await keysAndToken();
    await before.serve[Symbol.asyncDispose]();

    const terminal = startTerminal(["keys", "rotate", "--revoke-previous"]);
    await terminal.waitFor("Revoke every earlier signing key?");
    expect(terminal.screen()).toContain("stops working: all users must sign in");
    terminal.press("Enter");
    expect(await terminal.exitCode()).toBe(1);
    expect(terminal.screen()).toContain("Nothing changed.");

    await using serve = await startServe({ env: database.env });
    expect(await jwksKids(serve.url)).toEqual(before.kids);
    expect((await callApi(serve.url, "GET", "/api/v1/users/me", { token: before.token })).status).toBe(200);
  });

  test("answered yes: one new key per algorithm (EdDSA, RS256) is left in the JWKS and tokens signed before are refused", async () => {
    const before = await keysAndToken();
    await before.serve[Symbol.asyncDispose]();

    const terminal = startTerminal(["keys", "rotate", "--revoke-previous"]);
    await terminal.waitFor("Revoke every earlier signing key?");
    terminal.press("Left"); // clack's confirm: No is selected; Left moves to Yes
    terminal.press("Enter");
    expect(await terminal.exitCode()).toBe(0);
    expect(terminal.screen()).toMatch(/New signing key [0-9a-f-]{36}; every earlier key is revoked/);

    await using serve = await startServe({ env: database.env });
    const after = await jwksKids(serve.url);
    expect(after).toHaveLength(2);
    expect(after.filter((kid) => before.kids.includes(kid))).toEqual([]);
    const refused = await callApi(serve.url, "GET", "/api/v1/users/me", { token: before.token });
    expect([refused.status, refused.body.error?.code]).toEqual([401, "INVALID_TOKEN"]);
  });
});

describe("serve on a terminal", () => {
  test("writes its log for people (time, level, message, fields on one line), not JSON, and a request shows up the same way", async () => {
    const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const port = String(probe.port);
    probe.stop(true);
    const terminal = startTerminal(["serve", "--port", port], database.env);
    const shown = await terminal.waitFor(/INFO: usersvc listening/);
    expect(shown).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: usersvc listening .*"url":"http:\/\/127\.0\.0\.1:\d+"/m);
    expect(shown).not.toContain('{"level":');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await terminal.waitFor(/INFO: .*\/healthz/);
    // SIGTERM as a supervisor sends it (Ctrl-C would also end the pane's shell).
    Bun.spawnSync(["pkill", "-TERM", "-f", `usersvc serve --port ${port}$`]);
    expect(await terminal.exitCode()).toBe(0);
  });
});
