/**
 * The accessTokenClaims hook shapes the provider's access tokens too (SPEC
 * §9): it is told the client, its claims come from app_metadata, and it
 * cannot override what the provider sets (client_id, scope, roles, sub…).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { createPlainUser } from "../support/admin.ts";
import { hooksDir, jwtClaims, writeHookFile } from "../support/hooks.ts";
import { Browserless, codeFlow, discover, oidc, registerClient, startIssuer, walkAuthorization } from "../support/oidc.ts";
import type { TestServer } from "../support/server.ts";
import { updateUser } from "../../src/core/users/queries.ts";

// More than bun's 5 s default: a real server on a real database, with the hooks module loaded.
setDefaultTimeout(30_000);

const HOOKS = `
export default {
  accessTokenClaims({ user, client }: { user: { app_metadata: Record<string, unknown> }; client?: { id: string; scopes: string[] } }) {
    return { tenant: user.app_metadata.tenant ?? "none", for_client: client?.id ?? null, client_id: "forged", scope: "admin", roles: ["admin"], sub: "someone-else" };
  },
};
`;

let dir: string;
let server: TestServer;
beforeAll(async () => {
  dir = hooksDir("usersvc-oidc-hooks-");
  server = await startIssuer({ USERSVC_HOOKS: writeHookFile(dir, "hooks.ts", HOOKS) });
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("an OpenID Connect access token carries the hook's claims, never in place of the provider's own", async () => {
  const created = await createPlainUser(server);
  await updateUser(server.core.db, created.id, { appMetadata: { tenant: "acme" } }, server.clock.now());
  const client = await registerClient(server, { skip_consent: true });
  const config = await discover(server, client.clientId, client.clientSecret);
  const flow = await codeFlow(config, { scope: "openid email" });
  const callback = await walkAuthorization(new Browserless(server.url), flow.url, { email: created.input.email, password: created.input.password });
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
  const claims = jwtClaims(tokens.access_token);
  expect(claims).toMatchObject({ tenant: "acme", for_client: client.clientId, client_id: client.clientId, scope: "openid email", sub: created.id });
  expect(claims.roles).toBeUndefined();
  // usersvc's own tokens are told no client.
  expect(jwtClaims(created.token)).toMatchObject({ tenant: "none", for_client: null });
});
