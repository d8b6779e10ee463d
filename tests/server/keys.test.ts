import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { decodeProtectedHeader } from "jose";
import { rotateSigningKeys } from "../../src/core/tokens/signing-keys.ts";
import { SERVER_URL } from "../support/database.ts";
import { registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const kidOf = (token: string): string | undefined => decodeProtectedHeader(token).kid;
/** The JWKS's key ids of one algorithm: EdDSA signs usersvc's tokens, RS256 the id_tokens, each rotating with the other. */
const kidsOf = (jwks: { keys: { kid: string; alg: string }[] }, alg = "EdDSA"): string[] => jwks.keys.filter((k) => k.alg === alg).map((k) => k.kid);

async function rotate(server: TestServer): Promise<string> {
  const kid = await rotateSigningKeys(server.core.db, server.core.now());
  await server.core.tokens.reload();
  return kid;
}

describe("signing key rotation", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ USERSVC_ACCESS_TTL: "900", USERSVC_REFRESH_TTL: "3600" });
  });
  afterAll(() => server.stop());

  test("after a rotation new tokens carry the new kid, the JWKS lists both keys, and tokens of either key work", async () => {
    const before = await registerAndLogin(server.api);
    const oldKid = kidOf(before.tokens.access_token)!;
    const newKid = await rotate(server);
    const after = await registerAndLogin(server.api);

    expect(kidOf(after.tokens.access_token)).toBe(newKid);
    expect(newKid).not.toBe(oldKid);
    const jwks = await server.api("GET", "/.well-known/jwks.json");
    expect(kidsOf(jwks.body).sort()).toEqual([oldKid, newKid].sort());
    expect(kidsOf(jwks.body, "RS256")).toHaveLength(2);

    for (const token of [before.tokens.access_token, after.tokens.access_token]) {
      expect((await server.api("GET", "/api/v1/users/me", { token })).status).toBe(200);
    }
    // A refresh token signed with the old key still refreshes, and the new pair is signed with the new key.
    const refreshed = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: before.tokens.refresh_token } });
    expect([refreshed.status, kidOf(refreshed.body.data.access_token)]).toEqual([200, newKid]);
  });

  test("--revoke-previous: the earlier keys leave the JWKS and their tokens are refused at once", async () => {
    const before = await registerAndLogin(server.api);
    const oldKid = kidOf(before.tokens.access_token)!;
    const newKid = await rotateSigningKeys(server.core.db, server.core.now(), { revokePrevious: true });
    await server.core.tokens.reload();
    expect((await server.api("GET", "/api/v1/users/me", { token: before.tokens.access_token })).status).toBe(401);
    const jwks = await server.api("GET", "/.well-known/jwks.json");
    expect(kidsOf(jwks.body)).toEqual([newKid]);
    expect(kidsOf(jwks.body, "RS256")).toHaveLength(1);
    expect(jwks.body.keys).toHaveLength(2);
    expect(newKid).not.toBe(oldKid);
    const after = await registerAndLogin(server.api);
    expect((await server.api("GET", "/api/v1/users/me", { token: after.tokens.access_token })).status).toBe(200);
  });

  test("a retired key leaves the JWKS once every token it could have signed has expired", async () => {
    const first = kidOf((await registerAndLogin(server.api)).tokens.access_token)!;
    await rotate(server);
    server.clock.advance(3600 + 1); // past the refresh TTL, the longest token lifetime
    await server.core.tokens.reload();
    const jwks = await server.api("GET", "/.well-known/jwks.json");
    expect(kidsOf(jwks.body)).not.toContain(first);
    expect(kidsOf(jwks.body)).toHaveLength(1);
    expect(kidsOf(jwks.body, "RS256")).toHaveLength(1);
  });
});

describe.skipIf(!SERVER_URL)("rotation with two instances on one PostgreSQL", () => {
  let a: TestServer;
  let b: TestServer;
  // Hooks only when the block runs: bun lists hooks of a skipped block as extra unnamed skips.
  if (SERVER_URL) beforeAll(async () => {
    a = await startTestServer();
    b = await startTestServer({}, { shareDatabaseWith: a });
  });
  if (SERVER_URL) afterAll(async () => {
    await b.stop();
    await a.stop();
  });

  test("a token signed with a key rotated on one instance is accepted by the other at once (its unknown kid makes it look the keys up)", async () => {
    const newKid = await rotate(a);
    const { tokens } = await registerAndLogin(a.api);
    expect(kidOf(tokens.access_token)).toBe(newKid);
    // b has not reloaded its keys: the unknown kid makes it look them up.
    expect((await b.api("GET", "/api/v1/users/me", { token: tokens.access_token })).status).toBe(200);
  });

  test("a rotation made elsewhere reaches the other instance's signing within 5 s", async () => {
    const oldKid = kidOf((await registerAndLogin(b.api)).tokens.access_token)!;
    // Written straight to the database, as `usersvc keys rotate` in another process does: nobody tells b.
    const started = Date.now();
    const newKid = await rotateSigningKeys(a.core.db, a.core.now());
    let kid = oldKid;
    while (kid !== newKid && Date.now() - started < 10_000) {
      await Bun.sleep(100);
      kid = kidOf((await registerAndLogin(b.api)).tokens.access_token)!;
    }
    const seconds = (Date.now() - started) / 1000;
    expect(kid).toBe(newKid);
    expect(seconds).toBeLessThanOrEqual(5);
  });

  test("--revoke-previous: tokens of the earlier keys stop working on the other instance within 5 s, and leave its JWKS", async () => {
    const before = await registerAndLogin(b.api);
    const oldKid = kidOf(before.tokens.access_token)!;
    expect((await b.api("GET", "/api/v1/users/me", { token: before.tokens.access_token })).status).toBe(200);
    const started = Date.now();
    await rotateSigningKeys(a.core.db, a.core.now(), { revokePrevious: true });
    let status = 200;
    while (status === 200 && Date.now() - started < 10_000) {
      await Bun.sleep(100);
      status = (await b.api("GET", "/api/v1/users/me", { token: before.tokens.access_token })).status;
    }
    expect(status).toBe(401);
    expect((Date.now() - started) / 1000).toBeLessThanOrEqual(5);
    const refreshed = await b.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: before.tokens.refresh_token } });
    expect([refreshed.status, refreshed.body.error.code]).toEqual([401, "INVALID_TOKEN"]);
    const jwks = await b.api("GET", "/.well-known/jwks.json");
    expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).not.toContain(oldKid);
    expect(kidsOf(jwks.body)).toHaveLength(1);
    expect(kidsOf(jwks.body, "RS256")).toHaveLength(1);
  });

});
