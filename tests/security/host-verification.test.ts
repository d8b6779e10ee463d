/**
 * SPEC §4: a host application that checks only the signature (against the
 * JWKS or the shared secret), iss, aud and exp — jose's jwtVerify and PyJWT,
 * called the way docs/api.md tells host applications to — accepts usersvc's
 * access tokens and refuses its refresh tokens.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

const SECRET = "a host-verification secret, well over thirty-two bytes";
const PYTHON = "/usr/bin/python3";

/** PyJWT's decode with the JWKS (or the secret), issuer, audience; prints "ok <sub>" or the exception's name. */
const PYJWT_SCRIPT = `
import json, sys, jwt
token, jwks_url, secret, issuer, audience = sys.argv[1:6]
try:
    if secret:
        key, algorithms = secret, ["HS256"]
    else:
        key, algorithms = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token).key, ["EdDSA"]
    claims = jwt.decode(token, key, algorithms=algorithms, issuer=issuer, audience=audience, options={"require": ["exp", "iss", "aud", "sub"]})
    print("ok", claims["sub"])
except Exception as error:
    print(type(error).__name__)
`;

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

async function pyjwt(token: string, server: TestServer, secret = ""): Promise<string> {
  const proc = Bun.spawn([PYTHON, "-c", PYJWT_SCRIPT, token, `${server.url}/.well-known/jwks.json`, secret, "usersvc", "usersvc"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  if (proc.exitCode !== 0) throw new Error(`python failed: ${err}`);
  return out.trim();
}

describe.each([
  ["EdDSA keys from the database (JWKS)", {}],
  ["HS256 with USERSVC_JWT_SECRET", { USERSVC_JWT_SECRET: SECRET }],
])("%s", (_name, env: Record<string, string>) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(env);
  });
  afterAll(() => server.stop());

  const hostKey = () =>
    env.USERSVC_JWT_SECRET ? new TextEncoder().encode(SECRET) : createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
  // What a host application writes: signature, iss, aud (exp is always checked).
  const hostVerify = (token: string) => jwtVerify(token, hostKey() as Parameters<typeof jwtVerify>[1], { issuer: "usersvc", audience: "usersvc" });

  test("access tokens carry typ at+jwt (RFC 9068) and the access audience; refresh tokens neither", async () => {
    const { tokens } = await registerAndLogin(server.api);
    expect(decodeProtectedHeader(tokens.access_token).typ).toBe("at+jwt");
    expect(decodeProtectedHeader(tokens.refresh_token).typ).not.toBe("at+jwt");
    const refreshAud = (await import("jose")).decodeJwt(tokens.refresh_token).aud;
    expect(refreshAud).toBe("usersvc:refresh");
  });

  test("jose's jwtVerify, as a host calls it, accepts the access token and refuses the refresh token", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    expect((await hostVerify(tokens.access_token)).payload.sub).toBe(user.id);
    await expect(hostVerify(tokens.refresh_token)).rejects.toThrow(/aud/);
    // RFC 9068 resource servers also check the header type.
    const strict = (token: string) =>
      jwtVerify(token, hostKey() as Parameters<typeof jwtVerify>[1], { issuer: "usersvc", audience: "usersvc", typ: "at+jwt" });
    expect((await strict(tokens.access_token)).payload.sub).toBe(user.id);
  });

  test("PyJWT, as a host calls it, accepts the access token and refuses the refresh token", async () => {
    const { user, tokens } = await registerAndLogin(server.api);
    const secret = env.USERSVC_JWT_SECRET ?? "";
    expect(await pyjwt(tokens.access_token, server, secret)).toBe(`ok ${user.id}`);
    expect(await pyjwt(tokens.refresh_token, server, secret)).toBe("InvalidAudienceError");
  });

  test("usersvc itself still refreshes with the refresh token and refuses the access token there", async () => {
    const { tokens } = await registerAndLogin(server.api);
    expect((await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } })).status).toBe(200);
    const wrongType = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: tokens.access_token } });
    expect([wrongType.status, wrongType.body.error.code]).toEqual([401, "INVALID_TOKEN_TYPE"]);
    const asAccess = await server.api("GET", "/api/v1/users/me", { token: tokens.refresh_token });
    expect([asAccess.status, asAccess.body.error.code]).toEqual([401, "INVALID_TOKEN_TYPE"]);
  });
});
