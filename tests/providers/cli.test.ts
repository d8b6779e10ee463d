/**
 * usersvc providers add | list | show | remove (SPEC §10): in-process for
 * what the commands print and refuse, the secret read from stdin and never
 * printed; then through the compiled binary beside a running serve (its
 * control socket), where the new provider's button is on /login at once.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { auditLog, identityProviders } from "../../src/core/db/schema.ts";
import { createMigratedTestDatabase, run, startServe } from "../support/binary.ts";
import { cli } from "../support/cli.ts";
import type { TestDatabase } from "../support/database.ts";
import { linesOf, outcome, withDatabase } from "../support/operator.ts";

setDefaultTimeout(180_000);

const SECRET = "s3cr3t-from-the-provider";
let database: TestDatabase;
beforeAll(async () => {
  database = await createMigratedTestDatabase();
});
afterAll(() => database.drop());

const usersvc = (args: string[], stdin?: string) => cli(args, { env: database.env, stdin });

describe("providers add", () => {
  test("reads the secret from stdin, stores it, never prints it; prints the callback URL to register; audited", async () => {
    const result = await usersvc(["providers", "add", "--type", "github", "--name", "github", "--client-id", "Iv1.abc", "--client-secret-stdin"], `${SECRET}\n`);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.join("\n")).not.toContain(SECRET);
    expect(result.stdout).toContain("type:           github");
    expect(result.stdout).toContain("authorize URL:  https://github.com/login/oauth/authorize");
    expect(result.stdout).toContain("scopes:         read:user user:email");
    expect(result.stderr).toEqual([expect.stringMatching(/^Register this redirect URI at the provider: http:\/\/.+\/login\/provider\/github\/callback$/)]);
    const stored = await withDatabase(database, (db) => db.select().from(identityProviders).where(eq(identityProviders.id, "github")));
    expect(stored[0]!.clientSecret).toBe(SECRET);
    const audit = await withDatabase(database, (db) => db.select().from(auditLog).where(eq(auditLog.event, "provider.added")));
    expect(audit.map((a) => ({ actor: a.actorType, data: a.data }))).toEqual([{ actor: "cli", data: { provider: "github", type: "github" } }]);
    expect(JSON.stringify(audit)).not.toContain(SECRET);
  });

  test("refuses without --client-secret-stdin, with an empty stdin, and with bad settings (every problem named)", async () => {
    const noFlag = await usersvc(["providers", "add", "--type", "google", "--name", "google", "--client-id", "x"]);
    expect({ exitCode: noFlag.exitCode, stderr: noFlag.stderr }).toEqual({ exitCode: 2, stderr: ["usersvc: providers add needs --client-secret-stdin, with the secret piped in"] });
    const empty = await usersvc(["providers", "add", "--type", "google", "--name", "google", "--client-id", "x", "--client-secret-stdin"], "");
    expect(empty.exitCode).toBe(2);
    const bad = await usersvc(
      ["providers", "add", "--type", "oidc", "--name", "Bad_Name", "--client-id", "x", "--client-secret-stdin", "--token-url", "http://evil.example/token", "--scope", "email"],
      SECRET,
    );
    expect(bad.exitCode).toBe(2);
    const message = bad.stderr.join("\n");
    for (const field of ["name:", "issuer:", "token_url:", "scopes:"]) expect(message).toContain(field);
    const duplicate = await usersvc(["providers", "add", "--type", "github", "--name", "github", "--client-id", "y", "--client-secret-stdin"], SECRET);
    expect(duplicate.stderr.join("\n")).toContain("a provider with this name already exists");
  });
});

describe("providers list, show, remove", () => {
  test("list and show never carry the secret; remove needs --yes without a terminal and says what went with it", async () => {
    const added = await usersvc(
      ["providers", "add", "--type", "oidc", "--name", "corp", "--display-name", "Corp SSO", "--issuer", "https://login.example.com/realms/corp", "--client-id", "usersvc", "--client-secret-stdin", "--json"],
      SECRET,
    );
    expect(added.exitCode).toBe(0);
    expect(JSON.parse(added.stdout[0]!)).toMatchObject({ name: "corp", type: "oidc", issuer: "https://login.example.com/realms/corp", scopes: ["openid", "email", "profile"] });
    const listed = await usersvc(["providers", "list", "--json"]);
    expect(JSON.parse(listed.stdout[0]!).map((p: { name: string }) => p.name)).toEqual(["corp", "github"]);
    expect(listed.stdout.join("")).not.toContain(SECRET);
    const table = await usersvc(["providers", "list"]);
    expect(table.stdout[0]).toMatch(/^NAME\s+TYPE\s+DISPLAY NAME/);
    const shown = await usersvc(["providers", "show", "corp"]);
    expect(shown.stdout).toContain("display name:   Corp SSO");
    expect(shown.stdout.join("")).not.toContain(SECRET);
    const refused = await usersvc(["providers", "remove", "corp"]);
    expect({ exitCode: refused.exitCode, stderr: refused.stderr }).toEqual({ exitCode: 2, stderr: ["usersvc: providers remove needs --yes when there is no terminal to ask on"] });
    const removed = await usersvc(["providers", "remove", "corp", "--yes"]);
    expect({ exitCode: removed.exitCode, stdout: removed.stdout }).toEqual({ exitCode: 0, stdout: ["Removed provider corp; 0 linked identities removed with it"] });
    const missing = await usersvc(["providers", "show", "corp"]);
    expect({ exitCode: missing.exitCode, stderr: missing.stderr }).toEqual({ exitCode: 1, stderr: ["usersvc: NOT_FOUND: No sign-in provider with this name"] });
  });
});

describe("through the binary", () => {
  test("beside a running serve: add through the control socket, the button is on /login, remove takes it away", async () => {
    const own = await createMigratedTestDatabase();
    try {
      await using serve = await startServe({ env: own.env });
      const added = await run(["providers", "add", "--type", "google", "--name", "google", "--client-id", "123.apps.googleusercontent.com", "--client-secret-stdin"], {
        env: own.env,
        stdin: SECRET,
      });
      expect(added.exitCode).toBe(0);
      expect(added.stdout).toContain("issuer:         https://accounts.google.com");
      expect(added.stdout + added.stderr).not.toContain(SECRET);
      const login = await (await fetch(`${serve.url}/login`)).text();
      expect(login).toContain("Continue with Google");
      expect(login).toContain('href="/login/provider/google"');
      const removed = await run(["providers", "remove", "google", "--yes"], { env: own.env });
      expect(outcome(removed)).toEqual({ exitCode: 0, stdout: "Removed provider google; 0 linked identities removed with it\n", stderr: [] });
      expect(await (await fetch(`${serve.url}/login`)).text()).not.toContain("Continue with Google");
      const result = await serve.stop();
      expect(result.stdout).not.toContain(SECRET);
      expect(linesOf(result.stderr)).toEqual([]);
    } finally {
      await own.drop();
    }
  });
});
