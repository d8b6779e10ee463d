/**
 * The OpenID Connect provider from the compiled binary alone in an empty
 * directory: `usersvc clients add --json` registers a client (through the
 * running serve's control socket on the embedded database), and
 * openid-client signs a user in through the binary's pages, reads userinfo,
 * refreshes, and gets a client_credentials token.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { binaryAlone, removeBinaryAlone, callApi, run, startServe } from "../support/binary.ts";
import type { TestDatabase } from "../support/database.ts";
import { Browserless, codeFlow, freePort, oidc, REDIRECT_URI, walkAuthorization } from "../support/oidc.ts";

// The first test may build dist/usersvc (several seconds) before it spawns it.
setDefaultTimeout(120_000);

let dir: string;
let binary: string;
let database: TestDatabase | null = null;

beforeAll(async () => {
  ({ dir, binary, database } = await binaryAlone("usersvc-oidc-"));
});
afterAll(async () => {
  await removeBinaryAlone({ dir, database });
});

test("a client added with the CLI signs a user in through the binary's provider", async () => {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const env = { USERSVC_PUBLIC_URL: issuer, ...(database ? { DATABASE_URL: database.env.DATABASE_URL } : {}) };
  await using serve = await startServe({ binary, cwd: dir, env, args: ["--port", String(port)] });
  expect(serve.url).toBe(issuer);

  const added = await run(["clients", "add", "--name", "Binary app", "--redirect-uri", REDIRECT_URI, "--skip-consent", "--json"], { binary, cwd: dir, env });
  expect(added.exitCode).toBe(0);
  const client = JSON.parse(added.stdout) as { client_id: string; client_secret: string };
  expect(client.client_secret).toMatch(/^[A-Za-z0-9_-]{43,}$/);
  const machine = JSON.parse(
    (await run(["clients", "add", "--name", "Job", "--grant", "client_credentials", "--audience", "https://api.example.test", "--json"], { binary, cwd: dir, env })).stdout,
  ) as { client_id: string; client_secret: string };

  const person = { email: "oidc@example.com", password: "correct horse battery staple" };
  expect((await callApi(serve.url, "POST", "/api/v1/users", { body: { ...person, username: "oidcuser" } })).status).toBe(201);

  const config = await oidc.discovery(new URL(issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
  const flow = await codeFlow(config);
  const callback = await walkAuthorization(new Browserless(issuer), flow.url, person);
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
  const sub = tokens.claims()!.sub;
  expect((await oidc.fetchUserInfo(config, tokens.access_token, sub)).email).toBe(person.email);
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);

  const machineConfig = await oidc.discovery(new URL(issuer), machine.client_id, machine.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
  const granted = await oidc.clientCredentialsGrant(machineConfig);
  expect((await oidc.tokenIntrospection(machineConfig, granted.access_token)).active).toBe(true);
});
