/**
 * SPEC §2, embedded database only: `serve` holds the data directory; other
 * commands are carried out by it through the control socket with the same
 * output and exit code; nothing opens a locked directory a second time; a
 * kill -9 leaves nothing stale behind.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { callApi, loginAndFetchMe, run, type RunResult, type ServeProcess, startServe } from "../support/binary.ts";
import { createTestDatabase, SERVER_URL, type TestDatabase } from "../support/database.ts";

// Each test spawns the binary (and most start serve): on the embedded database one can pass 5 s.
setDefaultTimeout(60_000);

const PASSWORD = "a long operator passphrase 7";
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

function createAdmin(env: Record<string, string>, who: { email: string; username: string }, extra: string[] = []): Promise<RunResult> {
  return run(["create-admin", "--email", who.email, "--username", who.username, "--password-stdin", ...extra], { env, stdin: PASSWORD });
}

/** The output with this user's own values replaced, to compare two runs for two users. */
function generic(result: RunResult, who: { email: string; username: string }): RunResult {
  const replace = (text: string): string =>
    text.replaceAll(who.email, "<email>").replaceAll(who.username, "<username>").replace(UUID, "<id>");
  return { ...result, stdout: replace(result.stdout), stderr: replace(result.stderr) };
}

function controlCommands(serve: ServeProcess): unknown[] {
  return serve.logs().filter((l) => l.msg === "control socket command").map((l) => l.command);
}

/** These blocks are skipped on PostgreSQL; their hooks are left out too, so no unnamed skips are reported. */
const EMBEDDED = !SERVER_URL;

describe.skipIf(!EMBEDDED)("while serve holds the embedded data directory", () => {
  const alice = { email: "alice@example.com", username: "alice" };
  const bob = { email: "bob@example.com", username: "bob" };
  let database: TestDatabase;
  let serve: ServeProcess;
  const direct: Record<"init" | "create" | "conflict", RunResult> = {} as never;

  if (EMBEDDED) beforeAll(async () => {
    database = await createTestDatabase();
    // The same commands run directly first (no server), to compare with.
    direct.init = await run(["init-db"], { env: database.env });
    direct.create = await createAdmin(database.env, alice);
    direct.conflict = await createAdmin(database.env, { ...alice, username: "alice2" });
    serve = await startServe({ env: database.env });
  });
  if (EMBEDDED) afterAll(async () => {
    await serve?.[Symbol.asyncDispose]();
    await database?.drop();
  });

  test("init-db is carried out by the server, with the same output and exit code as when run directly", async () => {
    expect(direct.init).toEqual({ exitCode: 0, signalCode: null, stdout: "", stderr: "Schema is up to date; nothing to apply.\n" });
    const viaServer = await run(["init-db"], { env: database.env });
    expect(viaServer).toEqual(direct.init);
    expect(controlCommands(serve)).toEqual(["init-db"]);
  });

  test("create-admin is carried out by the server, with the same output as when run directly, and the admin can log in", async () => {
    expect(generic(direct.create, alice)).toEqual({
      exitCode: 0,
      signalCode: null,
      stdout: "Created admin <username> <<email>> <id>\n",
      stderr: "",
    });
    const viaServer = await createAdmin(database.env, bob);
    expect(generic(viaServer, bob)).toEqual(generic(direct.create, alice));
    expect(controlCommands(serve)).toEqual(["init-db", "create-admin"]);

    const { me } = await loginAndFetchMe(serve.url, { email: bob.email, password: PASSWORD });
    expect({ status: me.status, email: me.body.data.email, is_admin: me.body.data.is_admin }).toEqual({
      status: 200,
      email: bob.email,
      is_admin: true,
    });
  });

  test("a conflicting create-admin through the server exits 1 with the same EMAIL_TAKEN message as when run directly", async () => {
    expect({ exitCode: direct.conflict.exitCode, stdout: direct.conflict.stdout }).toEqual({ exitCode: 1, stdout: "" });
    expect(direct.conflict.stderr).toStartWith("usersvc: EMAIL_TAKEN");
    const viaServer = await createAdmin(database.env, { ...alice, username: "alice2" });
    expect(viaServer).toEqual(direct.conflict);
    expect(controlCommands(serve)).toEqual(["init-db", "create-admin", "create-admin"]);
  });

  test("create-admin --json through the server prints the user object on stdout", async () => {
    const carol = { email: "carol@example.com", username: "carol" };
    const result = await createAdmin(database.env, carol, ["--json"]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(JSON.parse(result.stdout)).toEqual(expect.objectContaining({ ...carol, is_admin: true, status: "active" }));
  });

  test("settings of the caller that differ from the server's are named in one warning line, with the server's pid", async () => {
    const env = { ...database.env, USERSVC_HOOK_TIMEOUT_MS: "1234", USERSVC_REFRESH_TTL: "60" };
    const result = await run(["block", "carol", "--reason", "settings"], { env });
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({
      exitCode: 0,
      stderr:
        `usersvc: warning: carried out by the running server (pid ${serve.pid}) with its own settings; ` +
        "yours differ and were not used: USERSVC_REFRESH_TTL, USERSVC_HOOK_TIMEOUT_MS\n",
    });
    const same = await run(["unblock", "carol"], { env: database.env });
    expect({ exitCode: same.exitCode, stderr: same.stderr }).toEqual({ exitCode: 0, stderr: "" });
  });

  test("the control socket in the data directory is a socket only its owner can use (mode 0600)", () => {
    const stat = statSync(join(database.env.USERSVC_DATA_DIR, "usersvc.sock"));
    expect({ socket: stat.isSocket(), mode: (stat.mode & 0o777).toString(8) }).toEqual({ socket: true, mode: "600" });
  });

  test("a second serve on the same data directory exits 1 naming USERSVC_DATA_DIR and the pid of the first", async () => {
    const second = await run(["serve", "--port", "0"], { env: database.env });
    expect({ ...second, stderr: second.stderr.split("\n").length }).toEqual({ exitCode: 1, signalCode: null, stdout: "", stderr: 2 });
    expect(second.stderr).toStartWith("usersvc: USERSVC_DATA_DIR");
    expect(second.stderr).toContain(database.env.USERSVC_DATA_DIR);
    expect(second.stderr).toMatch(new RegExp(`\\b${serve.pid}\\b`));
  });

  test("drop-db --yes exits 1 naming the running server's pid and leaves the data intact", async () => {
    const result = await run(["drop-db", "--yes"], { env: database.env });
    expect({ exitCode: result.exitCode, stdout: result.stdout, lines: result.stderr.split("\n").length }).toEqual({
      exitCode: 1,
      stdout: "",
      lines: 2,
    });
    expect(result.stderr).toMatch(new RegExp(`^usersvc: .*\\b${serve.pid}\\b`));
    expect(await callApi(serve.url, "GET", "/readyz")).toEqual({ status: 200, body: { status: "ready" } });
    const { me } = await loginAndFetchMe(serve.url, { email: alice.email, password: PASSWORD });
    expect(me.status).toBe(200);
    expect(controlCommands(serve)).not.toContain("drop-db");
  });

  test("SIGTERM stops the server, removes the socket, and commands run directly again", async () => {
    const stopped = await serve.stop("SIGTERM");
    expect({ exitCode: stopped.exitCode, stderr: stopped.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(existsSync(join(database.env.USERSVC_DATA_DIR, "usersvc.sock"))).toBe(false);
    const init = await run(["init-db"], { env: database.env });
    expect(init).toEqual(direct.init);
  });
});

describe.skipIf(!EMBEDDED)("after serve is killed with SIGKILL", () => {
  let database: TestDatabase;
  const dave = { email: "dave@example.com", username: "dave" };
  const erin = { email: "erin@example.com", username: "erin" };

  if (EMBEDDED) beforeAll(async () => {
    database = await createTestDatabase();
    const created = await createAdmin(database.env, dave);
    if (created.exitCode !== 0) throw new Error(`create-admin failed: ${created.stderr}`);
  });
  if (EMBEDDED) afterAll(() => database?.drop());

  async function killHard(serve: ServeProcess): Promise<void> {
    const result = await serve.stop("SIGKILL");
    expect(result.signalCode).toBe("SIGKILL");
  }

  test("a new serve on the same directory starts and the users created before are still there", async () => {
    const first = await startServe({ env: database.env });
    expect((await loginAndFetchMe(first.url, { email: dave.email, password: PASSWORD })).me.status).toBe(200);
    await killHard(first);

    await using second = await startServe({ env: database.env });
    expect(second.pid).not.toBe(first.pid);
    const { me } = await loginAndFetchMe(second.url, { email: dave.email, password: PASSWORD });
    expect({ status: me.status, email: me.body.data?.email }).toEqual({ status: 200, email: dave.email });
  });

  test("a user created through the CLI after the restart survives another kill -9", async () => {
    const serve = await startServe({ env: database.env });
    const created = await createAdmin(database.env, erin);
    expect(created.exitCode).toBe(0);
    expect(controlCommands(serve)).toEqual(["create-admin"]);
    await killHard(serve);

    await using again = await startServe({ env: database.env });
    const logins = await Promise.all([dave, erin].map((u) => loginAndFetchMe(again.url, { email: u.email, password: PASSWORD })));
    expect(logins.map((l) => [l.login.status, l.me.body.data?.email])).toEqual([
      [200, dave.email],
      [200, erin.email],
    ]);
    const stopped = await again.stop();
    expect(stopped.exitCode).toBe(0);
  });
});
