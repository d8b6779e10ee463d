/**
 * Issue 10 §3: a foreign hash is taken only within bounds (argon2 m ≤ 256 MiB,
 * t ≤ 10, p ≤ 8; bcrypt cost 4-15). `usersvc import` refuses the others line
 * by line, and a stored one outside them (written to the database directly)
 * is a wrong password at login, answered at once, instead of pinning a
 * hashing thread for minutes.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { importCommand } from "../../src/cli/commands/transfer.ts";
import { users } from "../../src/core/db/schema.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const FIXTURE_SCRIPT = join(import.meta.dir, "..", "fixtures", "make-foreign-hashes.cjs");

interface ForeignUser {
  scheme: string;
  password: string;
  record: { email: string; username: string; password_hash: string; [field: string]: unknown };
}

/** Hashes written by bcryptjs and node-argon2 (tests/fixtures/make-foreign-hashes.cjs, under node). */
async function foreignUsers(): Promise<ForeignUser[]> {
  await using proc = Bun.spawn(["node", FIXTURE_SCRIPT], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (exitCode !== 0) throw new Error(`node ${FIXTURE_SCRIPT} failed (exit ${exitCode}); run npm install first:\n${stderr}`);
  return stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ForeignUser);
}

/** Runs `usersvc import` on `lines` against the server's core; returns what it printed and its exit code. */
async function runImport(server: TestServer, lines: string[], dryRun: boolean) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const ctx = {
    db: server.core.db,
    core: async () => server.core,
    out: { stdout: (line: string) => void stdout.push(line), stderr: (line: string) => void stderr.push(line) },
    viaServer: false,
  };
  const exitCode = await importCommand.run(ctx, { lines, dryRun, json: false });
  return { exitCode, stdout: stdout.map((line) => line.replace(/ [0-9a-f-]{36}$/, " <id>")), stderr };
}

let server: TestServer;
let foreign: ForeignUser[];
beforeAll(async () => {
  [server, foreign] = await Promise.all([startTestServer(), foreignUsers()]);
});
afterAll(() => server.stop());

describe("import of foreign hashes outside the accepted cost", () => {
  const scheme = (name: string): ForeignUser => foreign.find((u) => u.scheme === name)!;
  const line = (email: string, password_hash: string): string =>
    JSON.stringify({ email, username: email.split("@")[0], password_hash });
  let lines: string[];
  beforeAll(() => {
    const argon = scheme("argon2id-default").record.password_hash; // $argon2id$v=19$m=65536,p=4,t=3$…
    const bcrypt = scheme("bcryptjs-2b-10").record.password_hash; // $2b$10$…
    lines = [
      /* 1 */ line("huge.memory@example.com", argon.replace("m=65536", "m=4194304")),
      /* 2 */ line("huge.time@example.com", argon.replace("t=3", "t=1000")),
      /* 3 */ line("huge.lanes@example.com", argon.replace("p=4", "p=64")),
      /* 4 */ line("huge.bcrypt@example.com", bcrypt.replace("$2b$10$", "$2b$31$")),
      ...foreign.map((u) => JSON.stringify(u.record)),
    ];
  });

  const REFUSED = [
    "line 1: invalid: password_hash: argon2 memory m=4194304 KiB is over the limit of 262144 KiB",
    "line 2: invalid: password_hash: argon2 time cost t=1000 is over the limit of 10",
    "line 3: invalid: password_hash: argon2 parallelism p=64 is over the limit of 8",
    "line 4: invalid: password_hash: bcrypt cost 31 is outside 4-15",
  ];

  test("--dry-run reports each refused line with its reason and would create the others", async () => {
    expect(await runImport(server, lines, true)).toEqual({
      exitCode: 1,
      stdout: [...REFUSED, ...foreign.map((u, i) => `line ${i + 5}: would create ${u.record.email.toLowerCase()}`)],
      stderr: ["Dry run: 6 would be created, 0 skipped, 4 invalid."],
    });
  });

  test("the import refuses those lines with their reasons, creates the others, and the created users log in", async () => {
    expect(await runImport(server, lines, false)).toEqual({
      exitCode: 1,
      stdout: [...REFUSED, ...foreign.map((u, i) => `line ${i + 5}: created ${u.record.email.toLowerCase()} <id>`)],
      stderr: ["6 created, 0 skipped, 4 invalid."],
    });
    const stored = await server.core.db.select({ email: users.email }).from(users);
    expect(stored.map((u) => u.email).filter((email) => email.startsWith("huge."))).toEqual([]);

    const logins = [];
    for (const user of [scheme("bcryptjs-2a-10"), scheme("argon2id-default"), scheme("argon2id-m19456-t2-p1")]) {
      const res = await server.api("POST", "/api/v1/auth/login", { body: { email: user.record.email, password: user.password } });
      logins.push([user.scheme, res.status]);
    }
    expect(logins).toEqual([
      ["bcryptjs-2a-10", 200],
      ["argon2id-default", 200],
      ["argon2id-m19456-t2-p1", 200],
    ]);
  });
});

describe("a stored hash outside the policy, written to the database directly", () => {
  async function userWithStoredHash(makeHash: (ownHash: string) => string) {
    const input = newUser();
    expect((await server.api("POST", "/api/v1/users", { body: input })).status).toBe(201);
    const [row] = await server.core.db.select({ hash: users.passwordHash }).from(users).where(eq(users.email, input.email));
    const hash = makeHash(row!.hash!);
    await server.core.db.update(users).set({ passwordHash: hash }).where(eq(users.email, input.email));
    return { input, hash };
  }

  test("argon2id with m=4194304, t=50: the right password gets 401 INVALID_CREDENTIALS at once, and a warning without the hash is logged", async () => {
    // usersvc's own hash of the right password, its parameters raised to 4 GiB and 50 passes.
    const { input, hash } = await userWithStoredHash((own) => own.replace(/\$m=\d+,t=\d+,p=\d+\$/, "$m=4194304,t=50,p=1$"));
    const before = server.logs.length;
    const res = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 401, code: "INVALID_CREDENTIALS" });

    const logged = server.logs.slice(before).map((line) => JSON.parse(line));
    const [salt, tag] = hash.split("$").slice(4);
    expect(logged.filter((line) => line.level === 40 && String(line.msg).includes("m=4194304"))).toHaveLength(1);
    for (const line of server.logs.slice(before)) {
      expect(line).not.toContain(salt!);
      expect(line).not.toContain(tag!);
    }
  });

  test("bcrypt of cost 31: the right password gets 401 INVALID_CREDENTIALS at once", async () => {
    const { input } = await userWithStoredHash(() => `$2b$31$${"N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"}`);
    const res = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 401, code: "INVALID_CREDENTIALS" });
  });
});
