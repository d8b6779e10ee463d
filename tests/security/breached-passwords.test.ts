/**
 * Issue 10 §10: with USERSVC_BREACHED_PASSWORDS naming a Have I Been Pwned
 * "ordered by hash" SHA-1 file, a new password found in it is refused (422
 * WEAK_PASSWORD, saying it appeared in a data breach) on every way a password
 * is set; a file that cannot be used stops usersvc at start-up.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { createUser } from "../../src/core/users/users.ts";
import { type BreachedFixture, writeBreachedFile } from "../support/breached-file.ts";
import { issueResetToken, newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "usersvc-breached-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const VARIANTS = [
  { name: "LF line endings, no newline after the last line", lineEnding: "\n", trailingNewline: false },
  { name: "CRLF line endings, as downloaded", lineEnding: "\r\n", trailingNewline: true },
] as const;

describe.each(VARIANTS)("a breached-password file with $name", (variant) => {
  let fixture: BreachedFixture;
  let server: TestServer;
  beforeAll(async () => {
    fixture = writeBreachedFile(scratch, `pwned-${variant.lineEnding === "\n" ? "lf" : "crlf"}.txt`, { ...variant, randomLines: 4000 });
    server = await startTestServer({ USERSVC_BREACHED_PASSWORDS: fixture.path });
  });
  afterAll(() => server.stop());

  const breachedRefusal = {
    status: 422,
    code: "WEAK_PASSWORD",
    message: expect.stringContaining("appeared in a data breach"),
  };
  const answer = (res: { status: number; body: any }) => ({ status: res.status, code: res.body?.error?.code, message: res.body?.error?.message });

  test("registration refuses the passwords on the first line, the middle and the last line with 422 WEAK_PASSWORD", async () => {
    const results = [];
    for (const entry of [fixture.first, fixture.middle, fixture.last]) {
      results.push(answer(await server.api("POST", "/api/v1/users", { body: newUser({ password: entry.password }) })));
    }
    expect(results).toEqual([breachedRefusal, breachedRefusal, breachedRefusal]);
  });

  test("registration accepts passwords not in the file: before the first line, after the last, between lines", async () => {
    const statuses = [];
    for (const password of [fixture.beforeFirst, fixture.afterLast, ...fixture.between]) {
      statuses.push((await server.api("POST", "/api/v1/users", { body: newUser({ password }) })).status);
    }
    expect(statuses).toEqual([201, 201, 201, 201, 201]);
  });

  test("change-password refuses a breached new password, keeps the old one, and accepts one that is not in the file", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const change = (new_password: string) =>
      server.api("POST", "/api/v1/auth/change-password", {
        token: tokens.access_token,
        body: { current_password: input.password, new_password },
      });
    expect([answer(await change(fixture.last.password)), answer(await change(fixture.first.password))]).toEqual([
      breachedRefusal,
      breachedRefusal,
    ]);
    const oldLogin = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect(oldLogin.status).toBe(200);
    expect((await change(fixture.afterLast)).status).toBe(200);
  });

  test("reset-password refuses a breached new password, leaves the token unspent, and takes one that is not in the file", async () => {
    const { input, user } = await registerAndLogin(server.api);
    const token = await issueResetToken(server, user.id);
    const reset = (new_password: string) => server.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password } });
    expect(answer(await reset(fixture.middle.password))).toEqual(breachedRefusal);
    const oldLogin = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect(oldLogin.status).toBe(200);
    expect((await reset(fixture.beforeFirst)).status).toBe(200);
  });

  test("an admin created through the core (usersvc create-admin, users create) is refused a breached password too", async () => {
    const created = createUser(server.core, newUser({ password: fixture.middle.password }), { actor: CLI_ACTOR, roles: ["user", "admin"] });
    await expect(created).rejects.toMatchObject({ code: "WEAK_PASSWORD", message: expect.stringContaining("appeared in a data breach") });
  });
});

describe("without USERSVC_BREACHED_PASSWORDS", () => {
  test("the same password is accepted: only the configured file refuses it", async () => {
    const fixture = writeBreachedFile(scratch, "unused.txt", { lineEnding: "\n", trailingNewline: true, randomLines: 10 });
    const server = await startTestServer();
    try {
      expect((await server.api("POST", "/api/v1/users", { body: newUser({ password: fixture.first.password }) })).status).toBe(201);
    } finally {
      await server.stop();
    }
  });
});

describe("USERSVC_BREACHED_PASSWORDS at start-up", () => {
  const problemsOf = (path: string): string[] => {
    try {
      loadConfig({ USERSVC_BREACHED_PASSWORDS: path });
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  test("a readable file in the SHA-1 format is taken as it is", () => {
    const fixture = writeBreachedFile(scratch, "ok.txt", { lineEnding: "\r\n", trailingNewline: true, randomLines: 10 });
    expect(loadConfig({ USERSVC_BREACHED_PASSWORDS: fixture.path }).breachedPasswordsPath).toBe(fixture.path);
  });

  test("a missing file, a directory, an empty file and a file in another format are each a ConfigError naming the variable", () => {
    const directory = join(scratch, "a-directory");
    mkdirSync(directory, { recursive: true });
    const empty = join(scratch, "empty.txt");
    writeFileSync(empty, "");
    // The NTLM edition of the same download: 32 hex digits per hash.
    const ntlm = join(scratch, "ntlm.txt");
    writeFileSync(ntlm, "00000000DD7F2A1C68A35673713783CA:3\r\n0000001E7D8D8C6B6A7B4F2C6E5A6F4E:1\r\n");
    const problems = [join(scratch, "missing.txt"), directory, empty, ntlm].map(problemsOf);
    expect(problems.map((p) => p.length)).toEqual([1, 1, 1, 1]);
    expect(problems.flat().every((p) => p.startsWith("USERSVC_BREACHED_PASSWORDS"))).toBe(true);
  });
});
