/**
 * The compiled binary alone (SPEC §10): a provider added with its CLI (the
 * secret piped in, through the running serve's control socket on the
 * embedded database), then a person signs up through a real OpenID Connect
 * issuer (oidc-provider on a loopback port) on the binary's /login, and
 * signs in again after the issuer rotated its keys.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { binaryAlone, removeBinaryAlone, run, startServe } from "../support/binary.ts";
import { Browserless } from "../support/browserless.ts";
import type { TestDatabase } from "../support/database.ts";
import { freePort } from "../support/oidc.ts";
import { startUpstreamIssuer, walkUpstream } from "../support/upstream-oidc.ts";

setDefaultTimeout(120_000);

let dir: string;
let binary: string;
let database: TestDatabase | null = null;

beforeAll(async () => {
  ({ dir, binary, database } = await binaryAlone("usersvc-providers-"));
});
afterAll(async () => {
  await removeBinaryAlone({ dir, database });
});

test("a provider added with the binary's CLI signs a new user up on its /login, before and after the issuer's key rotation", async () => {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const callback = `${publicUrl}/login/provider/corp/callback`;
  const upstream = await startUpstreamIssuer([callback]);
  try {
    const env = { USERSVC_PUBLIC_URL: publicUrl, ...(database ? { DATABASE_URL: database.env.DATABASE_URL } : {}) };
    await using serve = await startServe({ binary, cwd: dir, env, args: ["--port", String(port)] });
    const added = await run(
      ["providers", "add", "--type", "oidc", "--name", "corp", "--display-name", "Corp SSO", "--issuer", upstream.issuer, "--client-id", upstream.clientId, "--client-secret-stdin"],
      { binary, cwd: dir, env, stdin: upstream.clientSecret },
    );
    expect(added.exitCode).toBe(0);
    expect(added.stderr).toContain(`Register this redirect URI at the provider: ${callback}\n`);
    expect(added.stdout + added.stderr).not.toContain(upstream.clientSecret);

    upstream.accounts.set("binary-person", { email: "binary.person@example.com", email_verified: true });
    const signIn = async () => {
      const b = new Browserless(publicUrl);
      const login = await b.get("/login");
      expect(login.html).toContain("Continue with Corp SSO");
      const started = await b.get("/login/provider/corp");
      const answer = await walkUpstream(started.location!, "binary-person", callback);
      const done = await b.get(answer.pathname + answer.search);
      expect(done.location).toBe("/account");
      const account = await b.get("/account");
      expect(account.html).toContain("binary.person@example.com");
      expect(account.html).toContain("Corp SSO");
    };
    await signIn();
    await upstream.rotateKeys();
    await signIn();
    const result = await serve.stop();
    expect(result.stdout).not.toContain(upstream.clientSecret);
  } finally {
    await upstream.stop();
  }
});
