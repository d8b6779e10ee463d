/**
 * usersvc clients add | list | show | update | rotate-secret | remove
 * (SPEC §9 "Clients"), in-process (tests/support/cli.ts) for what the
 * commands print, exit with and write; then through the compiled binary
 * beside a running `serve`, where the embedded database's commands go
 * through its control socket (SPEC §2) and a secret still prints once.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { auditLog, oauthClients, sessions } from "../../src/core/db/schema.ts";
import { sha256Hex } from "../../src/core/digest.ts";
import { clientSecretMatches, findClient } from "../../src/core/oidc/clients.ts";
import { insertSession } from "../../src/core/sessions/queries.ts";
import { insertUser } from "../../src/core/users/queries.ts";
import { createMigratedTestDatabase, run, startServe } from "../support/binary.ts";
import { cli, cliText } from "../support/cli.ts";
import type { TestDatabase } from "../support/database.ts";
import { ISO_TIME, linesOf, outcome, withDatabase } from "../support/operator.ts";

// Each command opens the database (~0.5 s on the embedded one) and a test here runs up to eight;
// the binary tests build dist/usersvc once (a minute on a busy machine) and start serve.
setDefaultTimeout(180_000);

const SECRET = /^[A-Za-z0-9_-]{43,}$/;
const CLIENT_ID = /^[0-9a-f]{32}$/;
const WARNING = "The client secret is shown only this once: store it now (usersvc keeps only its SHA-256).";

let database: TestDatabase;
beforeAll(async () => {
  database = await createMigratedTestDatabase();
});
afterAll(() => database.drop());

function usersvc(args: string[]) {
  return cli(args, { env: database.env });
}

/** `clients add … --json`, which must succeed: the client with its secret. */
async function addClient(args: string[]): Promise<any> {
  const result = await usersvc(["clients", "add", ...args, "--json"]);
  if (result.exitCode !== 0) throw new Error(`clients add failed: ${result.stderr.join("\n")}`);
  return JSON.parse(result.stdout[0]!);
}

function storedClient(id: string) {
  return withDatabase(database, (db) => findClient(db, id));
}

describe("clients add", () => {
  test("prints the client and its secret once, with a warning on stderr; only the secret's SHA-256 is stored", async () => {
    const result = await usersvc([
      "clients", "add", "--name", "Wiki",
      "--redirect-uri", "https://wiki.example.com/oidc/callback",
      "--redirect-uri", "http://127.0.0.1/cb",
      "--redirect-uri", "https://wiki.example.com/oidc/callback",
      "--post-logout-redirect-uri", "https://wiki.example.com/",
      "--cors-origin", "https://wiki.example.com",
    ]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: [WARNING] });
    const secretLines = result.stdout.filter((line) => line.startsWith("client secret:"));
    expect(secretLines.length).toBe(1);
    const secret = secretLines[0]!.split(/\s+/).at(-1)!;
    expect(secret).toMatch(SECRET);
    const id = result.stdout[0]!.split(/\s+/).at(-1)!;
    expect(result.stdout).toEqual([
      `client id:      ${id}`,
      "name:           Wiki",
      "type:           confidential",
      "redirect URIs:  https://wiki.example.com/oidc/callback http://127.0.0.1/cb",
      "logout URIs:    https://wiki.example.com/",
      "grants:         authorization_code refresh_token",
      "scopes:         openid profile email offline_access roles",
      `audience:       ${id}`,
      "CORS origins:   https://wiki.example.com",
      "skip consent:   false",
      "id token alg:   RS256",
      expect.stringMatching(/^created: {8}\d{4}-/),
      expect.stringMatching(/^updated: {8}\d{4}-/),
      "secret rotated: -",
      `client secret:  ${secret}`,
    ]);
    expect(id).toMatch(CLIENT_ID);
    const row = await withDatabase(database, async (db) => (await db.select().from(oauthClients).where(eq(oauthClients.id, id)))[0]!);
    expect(row.secretHash).toBe(sha256Hex(secret));
    expect(JSON.stringify(row)).not.toContain(secret);
  });

  test("--json prints the whole client with client_secret; every option lands where it should", async () => {
    const result = await usersvc([
      "clients", "add", "--name", "Reports", "--json",
      "--redirect-uri", "https://reports.example.com/cb",
      "--grant", "authorization_code", "--grant", "client_credentials",
      "--scope", "openid", "--scope", "email", "--scope", "openid",
      "--audience", "https://api.reports.example.com",
      "--skip-consent", "--id-token-alg", "EdDSA",
    ]);
    expect({ exitCode: result.exitCode, stderr: result.stderr, lines: result.stdout.length }).toEqual({ exitCode: 0, stderr: [WARNING], lines: 1 });
    const client = JSON.parse(result.stdout[0]!);
    expect(client).toEqual({
      client_id: expect.stringMatching(CLIENT_ID),
      name: "Reports",
      public: false,
      redirect_uris: ["https://reports.example.com/cb"],
      post_logout_redirect_uris: [],
      grant_types: ["authorization_code", "client_credentials"],
      scopes: ["openid", "email"],
      audience: "https://api.reports.example.com",
      cors_origins: [],
      skip_consent: true,
      id_token_alg: "EdDSA",
      created_at: expect.stringMatching(ISO_TIME),
      updated_at: client.created_at,
      secret_rotated_at: null,
      client_secret: expect.stringMatching(SECRET),
    });
    expect((await storedClient(client.client_id))!.secretHash).toBe(sha256Hex(client.client_secret));
  });

  test("--public: no secret printed, none stored, no warning", async () => {
    const result = await usersvc(["clients", "add", "--name", "Phone", "--public", "--redirect-uri", "com.example.phone:/cb", "--json"]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: [] });
    const client = JSON.parse(result.stdout[0]!);
    expect({ public: client.public, client_secret: client.client_secret }).toEqual({ public: true, client_secret: null });
    expect((await storedClient(client.client_id))!.secretHash).toBeNull();
    const human = await usersvc(["clients", "add", "--name", "Phone 2", "--public", "--redirect-uri", "com.example.phone:/cb"]);
    expect(human.stdout.filter((line) => line.includes("secret:"))).toEqual([]);
  });

  test("values against the rules: exit 2 with one VALIDATION_ERROR line naming each bad field; nothing is written", async () => {
    const before = (await usersvc(["clients", "list", "--json"])).stdout[0]!;
    const result = await cliText([
      "clients", "add", "--name", "Bad",
      "--redirect-uri", "http://bad.example.com/cb",
      "--grant", "password", "--audience", "usersvc",
    ], { env: database.env });
    expect(outcome(result)).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: [
        "usersvc: VALIDATION_ERROR: redirect_uris.0: \"http://bad.example.com/cb\" must use https: plain http is allowed only on 127.0.0.1, [::1] and localhost; " +
          "grant_types: \"password\": not one of authorization_code, refresh_token, client_credentials; " +
          "audience: must not be usersvc's own audience \"usersvc\" (USERSVC_AUDIENCE): usersvc's API would take the client's access tokens for its own",
      ],
    });
    const noRedirect = await cliText(["clients", "add", "--name", "Bare"], { env: database.env });
    expect(outcome(noRedirect)).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: ["usersvc: VALIDATION_ERROR: redirect_uris: must have at least one redirect URI for the authorization_code grant"],
    });
    const noName = await cliText(["clients", "add", "--redirect-uri", "https://a.example.com/cb"], { env: database.env });
    expect(outcome(noName)).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: ["usersvc: required option '--name <name>' not specified (see usersvc clients add --help)"],
    });
    expect((await usersvc(["clients", "list", "--json"])).stdout[0]).toBe(before);
  });
});

describe("clients list and clients show", () => {
  test("never print a secret or its hash, in text or --json", async () => {
    const client = await addClient(["--name", "Listed", "--redirect-uri", "https://listed.example.com/cb"]);
    const hash = sha256Hex(client.client_secret);
    const outputs = [
      await usersvc(["clients", "list"]),
      await usersvc(["clients", "list", "--json"]),
      await usersvc(["clients", "show", client.client_id]),
      await usersvc(["clients", "show", client.client_id, "--json"]),
    ];
    expect(outputs.map((o) => o.exitCode)).toEqual([0, 0, 0, 0]);
    const text = outputs.flatMap((o) => [...o.stdout, ...o.stderr]).join("\n");
    expect([client.client_secret, hash].filter((s) => text.includes(s))).toEqual([]);
    expect(text).not.toContain("secret_hash");

    const page = JSON.parse(outputs[1]!.stdout[0]!);
    const { client_secret: _, ...view } = client;
    expect(page).toEqual({ items: expect.any(Array), total: page.items.length, limit: 50, offset: 0 });
    expect(page.items[0]).toEqual(view);
    expect(JSON.parse(outputs[3]!.stdout[0]!)).toEqual(view);
    expect(outputs[0]!.stdout[0]).toMatch(/^CLIENT ID +NAME +TYPE +GRANTS +CREATED$/);
    expect(outputs[0]!.stdout[1]).toMatch(new RegExp(`^${client.client_id} +Listed +confidential +authorization_code,refresh_token +\\d{4}-`));
    expect(outputs[0]!.stderr).toEqual([`${page.total} of ${page.total} client(s)`]);
  });

  test("show of an unknown id: exit 1, NOT_FOUND", async () => {
    const result = await cliText(["clients", "show", "0".repeat(32)], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 1, stdout: "", stderr: ["usersvc: NOT_FOUND: No OAuth client with this id"] });
  });

  test("list --limit and --offset page; a bad --limit is a usage error", async () => {
    const all = JSON.parse((await usersvc(["clients", "list", "--json"])).stdout[0]!);
    const second = JSON.parse((await usersvc(["clients", "list", "--json", "--limit", "1", "--offset", "1"])).stdout[0]!);
    expect(second).toEqual({ items: [all.items[1]], total: all.total, limit: 1, offset: 1 });
    expect((await usersvc(["clients", "list", "--limit", "many"])).exitCode).toBe(2);
    expect((await usersvc(["clients", "list", "--limit", "0"])).exitCode).toBe(2);
  });
});

describe("clients update", () => {
  test("replaces the lists given, clears with --no-…, leaves the rest; audits the names of the fields changed", async () => {
    const client = await addClient([
      "--name", "Updated",
      "--redirect-uri", "https://u.example.com/a",
      "--cors-origin", "https://u.example.com",
      "--audience", "https://api.u.example.com",
    ]);
    const result = await usersvc([
      "clients", "update", client.client_id, "--json",
      "--redirect-uri", "https://u.example.com/b", "--redirect-uri", "https://u.example.com/c",
      "--no-cors-origin", "--no-audience", "--skip-consent", "--name", "Updated twice",
    ]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: [] });
    const { client_secret: _, ...before } = client;
    const updated = JSON.parse(result.stdout[0]!);
    expect(updated).toEqual({
      ...before,
      name: "Updated twice",
      redirect_uris: ["https://u.example.com/b", "https://u.example.com/c"],
      cors_origins: [],
      audience: client.client_id,
      skip_consent: true,
      updated_at: expect.stringMatching(ISO_TIME),
    });
    const updates = await withDatabase(database, (db) => db.select().from(auditLog).where(eq(auditLog.event, "oauth.client_updated")));
    const entries = updates.filter((e) => e.data.client_id === client.client_id);
    expect(entries.map((e) => ({ actor: [e.actorType, e.actorId, e.ip], target: e.targetId, data: e.data }))).toEqual([
      {
        actor: ["cli", null, null],
        target: null,
        data: { client_id: client.client_id, name: "Updated twice", changed: ["name", "redirect_uris", "audience", "cors_origins", "skip_consent"] },
      },
    ]);
    // The secret still works: an update never touches it.
    expect(clientSecretMatches((await storedClient(client.client_id))!, client.client_secret)).toBe(true);
  });

  test("without a change it is a usage error; a public flag is not an option; an unknown id exits 1", async () => {
    const client = await addClient(["--name", "Untouched", "--redirect-uri", "https://t.example.com/cb"]);
    expect(outcome(await cliText(["clients", "update", client.client_id], { env: database.env }))).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: ["usersvc: clients update needs at least one change (see usersvc clients update --help)"],
    });
    expect((await usersvc(["clients", "update", client.client_id, "--public"])).exitCode).toBe(2);
    expect(outcome(await cliText(["clients", "update", "0".repeat(32), "--name", "Ghost"], { env: database.env }))).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: ["usersvc: NOT_FOUND: No OAuth client with this id"],
    });
    const refused = await cliText(["clients", "update", client.client_id, "--no-redirect-uri"], { env: database.env });
    expect(outcome(refused)).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: ["usersvc: VALIDATION_ERROR: redirect_uris: must have at least one redirect URI for the authorization_code grant"],
    });
  });
});

describe("clients rotate-secret", () => {
  test("prints a new secret once; the old one stops matching, the new one matches", async () => {
    const client = await addClient(["--name", "Rotated", "--redirect-uri", "https://r.example.com/cb"]);
    const result = await usersvc(["clients", "rotate-secret", client.client_id]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: [WARNING] });
    const secret = result.stdout.find((line) => line.startsWith("client secret:"))!.split(/\s+/).at(-1)!;
    expect(secret).toMatch(SECRET);
    expect(secret).not.toBe(client.client_secret);
    expect(result.stdout.find((line) => line.startsWith("secret rotated:"))).toMatch(/^secret rotated: \d{4}-/);
    const stored = (await storedClient(client.client_id))!;
    expect([clientSecretMatches(stored, client.client_secret), clientSecretMatches(stored, secret)]).toEqual([false, true]);

    const json = await usersvc(["clients", "rotate-secret", client.client_id, "--json"]);
    const again = JSON.parse(json.stdout[0]!);
    expect(again.client_secret).toMatch(SECRET);
    const latest = (await storedClient(client.client_id))!;
    expect([secret, again.client_secret].map((s) => clientSecretMatches(latest, s))).toEqual([false, true]);
    expect(latest.secretHash).toBe(sha256Hex(again.client_secret));
  });

  test("a public client has none: exit 2, VALIDATION_ERROR", async () => {
    const client = await addClient(["--name", "Public", "--public", "--redirect-uri", "https://pub.example.com/cb"]);
    expect(outcome(await cliText(["clients", "rotate-secret", client.client_id], { env: database.env }))).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: ["usersvc: VALIDATION_ERROR: client_id: is a public client: it has no secret to rotate"],
    });
  });
});

describe("clients remove", () => {
  test("without a terminal it needs --yes (exit 2, nothing removed); with it the grants are revoked and the client is gone", async () => {
    const client = await addClient(["--name", "Removed", "--redirect-uri", "https://rm.example.com/cb"]);
    const grantId = await withDatabase(database, async (db) => {
      const user = await insertUser(db, {
        email: "grant.holder@example.com",
        username: "grant_holder",
        passwordHash: "not used",
        createdAt: new Date(),
        updatedAt: new Date(),
      });
      const grant = await insertSession(db, {
        userId: user.id,
        refreshJti: crypto.randomUUID(),
        expiresAt: new Date(Date.now() + 3_600_000),
        clientId: client.client_id,
        scope: "openid",
      });
      return grant.id;
    });

    expect(outcome(await cliText(["clients", "remove", client.client_id], { env: database.env }))).toEqual({
      exitCode: 2,
      stdout: "",
      stderr: ["usersvc: clients remove needs --yes when there is no terminal to ask on"],
    });
    expect(await storedClient(client.client_id)).not.toBeNull();

    const result = await cliText(["clients", "remove", client.client_id, "--yes"], { env: database.env });
    expect(outcome(result)).toEqual({ exitCode: 0, stdout: `Removed client ${client.client_id}; 1 grant(s) revoked\n`, stderr: [] });
    expect(await storedClient(client.client_id)).toBeNull();
    // The grant's row goes with the client (on delete cascade), revoked first so every auth cache dropped it.
    expect(await withDatabase(database, (db) => db.select().from(sessions).where(eq(sessions.id, grantId)))).toEqual([]);

    const entry = await withDatabase(database, async (db) => (await db.select().from(auditLog).where(eq(auditLog.event, "oauth.client_removed")))[0]!);
    expect({ actor: entry.actorType, target: entry.targetId, data: entry.data }).toEqual({
      actor: "cli",
      target: null,
      data: { client_id: client.client_id, name: "Removed", sessions_revoked: 1 },
    });
    expect(outcome(await cliText(["clients", "remove", client.client_id, "--yes"], { env: database.env }))).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: ["usersvc: NOT_FOUND: No OAuth client with this id"],
    });
  });

  test("--json prints {client_id, removed, sessions_revoked}", async () => {
    const client = await addClient(["--name", "Removed quietly", "--redirect-uri", "https://rq.example.com/cb"]);
    const result = await usersvc(["clients", "remove", client.client_id, "--yes", "--json"]);
    expect({ exitCode: result.exitCode, stdout: result.stdout.map((l) => JSON.parse(l)) }).toEqual({
      exitCode: 0,
      stdout: [{ client_id: client.client_id, removed: true, sessions_revoked: 0 }],
    });
  });
});

describe("the audit log", () => {
  test("every add, update, rotation and removal is audited with actor cli and no target, and audit verify still passes", async () => {
    const entries = await withDatabase(database, (db) => db.select().from(auditLog).orderBy(auditLog.id));
    const client = entries.filter((e) => e.event.startsWith("oauth.client_"));
    expect(new Set(client.map((e) => e.event))).toEqual(new Set(["oauth.client_created", "oauth.client_updated", "oauth.client_removed"]));
    expect(client.every((e) => e.actorType === "cli" && e.actorId === null && e.targetId === null && typeof e.data.client_id === "string")).toBe(true);
    const verify = await cliText(["audit", "verify"], { env: database.env });
    expect(outcome(verify)).toEqual({ exitCode: 0, stdout: `Audit chain intact: ${entries.length} entries\n`, stderr: [] });
  });
});

describe("--help", () => {
  test("lists the six subcommands, and each describes its options", async () => {
    const help = await usersvc(["clients", "--help"]);
    expect(help.exitCode).toBe(0);
    const text = help.stdout.join("\n");
    for (const name of ["add", "list", "show", "update", "rotate-secret", "remove"]) expect(text).toMatch(new RegExp(`^  ${name}\\b`, "m"));
    const add = (await usersvc(["clients", "add", "--help"])).stdout.join("\n");
    for (const flag of ["--name", "--redirect-uri", "--post-logout-redirect-uri", "--public", "--grant", "--scope", "--audience", "--cors-origin", "--skip-consent", "--id-token-alg", "--json"]) {
      expect(add).toContain(flag);
    }
    const remove = (await usersvc(["clients", "remove", "--help"])).stdout.join("\n");
    expect(remove).toContain("--yes");
  });
});

describe("through the binary", () => {
  test("beside a running serve (its control socket on the embedded database): add prints the secret once, remove needs --yes", async () => {
    const own = await createMigratedTestDatabase();
    try {
      await using serve = await startServe({ env: own.env });
      const added = await run(["clients", "add", "--name", "Binary", "--redirect-uri", "https://bin.example.com/cb", "--json"], { env: own.env });
      expect({ exitCode: added.exitCode, stderr: linesOf(added.stderr) }).toEqual({ exitCode: 0, stderr: [WARNING] });
      const client = JSON.parse(added.stdout);
      expect(client.client_secret).toMatch(SECRET);

      const listed = await run(["clients", "list", "--json"], { env: own.env });
      expect(listed.exitCode).toBe(0);
      expect(JSON.parse(listed.stdout).items.map((c: { client_id: string }) => c.client_id)).toEqual([client.client_id]);
      expect(listed.stdout).not.toContain(client.client_secret);

      const refused = await run(["clients", "remove", client.client_id], { env: own.env });
      expect(outcome(refused)).toEqual({ exitCode: 2, stdout: "", stderr: ["usersvc: clients remove needs --yes when there is no terminal to ask on"] });
      const removed = await run(["clients", "remove", client.client_id, "--yes"], { env: own.env });
      expect(outcome(removed)).toEqual({ exitCode: 0, stdout: `Removed client ${client.client_id}; 0 grant(s) revoked\n`, stderr: [] });
      const missing = await run(["clients", "show", client.client_id], { env: own.env });
      expect(outcome(missing)).toEqual({ exitCode: 1, stdout: "", stderr: ["usersvc: NOT_FOUND: No OAuth client with this id"] });
      await serve.stop();
    } finally {
      await own.drop();
    }
  });
});
