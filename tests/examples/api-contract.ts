/**
 * What an example API (examples/apps/jose-api, examples/apps/python-pyjwt-api)
 * must do with the tokens usersvc issues, one set of tests for every
 * implementation: each API runs as a child process for the audience
 * https://api.example.test, and a second instance for the audience of a
 * client that has none (its client id), where only the `typ` header tells
 * its EdDSA id_token from its access token.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeProtectedHeader, generateKeyPair, SignJWT } from "jose";
import { createAdmin, createPlainUser, type LoggedIn } from "../support/admin.ts";
import { Browserless, codeFlow, discover, freePort, oidc, registerClient, startIssuer, walkAuthorization } from "../support/oidc.ts";
import type { TestServer } from "../support/server.ts";
import type { ExampleProcess } from "./child-process.ts";

export const API_AUDIENCE = "https://api.example.test";
const OTHER_AUDIENCE = "https://other-api.example.test";
const USER_SCOPES = "openid profile email offline_access roles";

export interface ApiUnderTest {
  name: string;
  /** Why it cannot run on this machine, or null. */
  skip: string | null;
  start(env: { USERSVC_ISSUER_URL: string; API_AUDIENCE: string }, port: number): Promise<ExampleProcess>;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  /** WWW-Authenticate. */
  challenge: string | null;
}

interface UserGrant {
  access: string;
  refresh: string;
  idToken: string;
}

export function describeTokenApi(api: ApiUnderTest): void {
  describe.skipIf(api.skip !== null)(api.name, () => {
    let issuer: TestServer;
    let main: ExampleProcess | undefined;
    let own: ExampleProcess | undefined;
    let machine: { clientId: string; config: oidc.Configuration };
    let web: { clientId: string; config: oidc.Configuration };
    let other: oidc.Configuration;
    let ownClient: { clientId: string; config: oidc.Configuration };
    let plain: LoggedIn;
    let admin: LoggedIn;

    beforeAll(async () => {
      issuer = await startIssuer();
      const machineClient = await registerClient(issuer, { name: "Batch job", grant_types: ["client_credentials"], redirect_uris: [], audience: API_AUDIENCE });
      machine = { clientId: machineClient.clientId, config: await discover(issuer, machineClient.clientId, machineClient.clientSecret) };
      const webClient = await registerClient(issuer, { name: "Web app", audience: API_AUDIENCE });
      web = { clientId: webClient.clientId, config: await discover(issuer, webClient.clientId, webClient.clientSecret) };
      const otherClient = await registerClient(issuer, { name: "Another API's job", grant_types: ["client_credentials"], redirect_uris: [], audience: OTHER_AUDIENCE });
      other = await discover(issuer, otherClient.clientId, otherClient.clientSecret);
      // No audience: its access tokens' aud is its client id, as is its id_tokens', signed with the same EdDSA key.
      const sameAudience = await registerClient(issuer, { name: "No audience", id_token_alg: "EdDSA" });
      ownClient = { clientId: sameAudience.clientId, config: await discover(issuer, sameAudience.clientId, sameAudience.clientSecret) };
      plain = await createPlainUser(issuer);
      admin = await createAdmin(issuer);
      main = await api.start({ USERSVC_ISSUER_URL: issuer.url, API_AUDIENCE }, await freePort());
      own = await api.start({ USERSVC_ISSUER_URL: issuer.url, API_AUDIENCE: ownClient.clientId }, await freePort());
    });
    afterAll(async () => {
      await main?.stop();
      await own?.stop();
      await issuer?.stop();
    });

    async function call(target: ExampleProcess, path: string, authorization?: string): Promise<Answer> {
      const response = await fetch(`${target.url}${path}`, { headers: authorization ? { authorization } : {} });
      const text = await response.text();
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text);
      } catch {
        throw new Error(`${api.name} answered ${response.status} with no JSON: ${text}\n--- its output ---\n${target.output()}`);
      }
      return { status: response.status, body, challenge: response.headers.get("www-authenticate") };
    }

    const bearer = (token: string) => `Bearer ${token}`;

    /** 401 invalid_token with its RFC 6750 challenge. */
    function expectRefused(answer: Answer, target: ExampleProcess | undefined = main): void {
      expect(answer, target?.output()).toEqual({
        status: 401,
        body: { error: "invalid_token", error_description: expect.any(String) },
        challenge: expect.stringMatching(/^Bearer realm="[\w-]+", error="invalid_token", error_description="[^"]*"$/),
      });
    }

    async function machineToken(config = machine.config): Promise<string> {
      return (await oidc.clientCredentialsGrant(config)).access_token;
    }

    async function userGrant(person: LoggedIn, client = web): Promise<UserGrant> {
      const flow = await codeFlow(client.config, { scope: USER_SCOPES });
      const callback = await walkAuthorization(new Browserless(issuer.url), flow.url, { email: person.input.email, password: person.input.password });
      const tokens = await oidc.authorizationCodeGrant(client.config, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
      return { access: tokens.access_token, refresh: tokens.refresh_token!, idToken: tokens.id_token! };
    }

    test("no bearer token: 401 with a Bearer challenge and no error code", async () => {
      for (const authorization of [undefined, "Basic dXNlcjpwYXNz", "Bearer"]) {
        const answer = await call(main!, "/hello", authorization);
        expect(answer).toEqual({ status: 401, body: { error: "unauthorized" }, challenge: expect.stringMatching(/^Bearer realm="[\w-]+"$/) });
      }
    });

    test("a client_credentials token for the API's audience: /hello answers sub (the client id), client_id and scope", async () => {
      const answer = await call(main!, "/hello", bearer(await machineToken()));
      expect(answer).toEqual({ status: 200, body: { sub: machine.clientId, client_id: machine.clientId, scope: "" }, challenge: null });
    });

    test("a user's access token from the code flow: /hello answers the user's id, the client id and the scopes granted", async () => {
      const grant = await userGrant(plain);
      const answer = await call(main!, "/hello", bearer(grant.access));
      expect(answer.status, main!.output()).toBe(200);
      expect(answer.body).toEqual({ sub: plain.id, client_id: web.clientId, scope: expect.any(String) });
      expect(String(answer.body.scope).split(" ").sort()).toEqual(USER_SCOPES.split(" ").sort());
    });

    test("/admin: 200 for an admin's token with the roles scope, 403 insufficient_scope for a plain user's and a machine's", async () => {
      const allowed = await call(main!, "/admin", bearer((await userGrant(admin)).access));
      expect(allowed).toEqual({ status: 200, body: { sub: admin.id, roles: ["user", "admin"] }, challenge: null });
      for (const token of [(await userGrant(plain)).access, await machineToken()]) {
        const refused = await call(main!, "/admin", bearer(token));
        expect(refused).toEqual({
          status: 403,
          body: { error: "insufficient_scope", error_description: expect.any(String) },
          challenge: expect.stringMatching(/^Bearer realm="[\w-]+", error="insufficient_scope", .*scope="roles"$/),
        });
      }
    });

    test("a usersvc refresh token (typ JWT, aud <audience>:refresh) is refused", async () => {
      const { refresh } = await userGrant(plain);
      expect(decodeProtectedHeader(refresh).typ).toBe("JWT");
      expectRefused(await call(main!, "/hello", bearer(refresh)));
      expectRefused(await call(main!, "/admin", bearer(refresh)));
    });

    test("an id_token (aud the client id, typ JWT) is refused", async () => {
      const { idToken } = await userGrant(plain);
      expectRefused(await call(main!, "/hello", bearer(idToken)));
    });

    test("where the API's audience is the client id, that client's access token is taken and its EdDSA id_token refused by typ alone", async () => {
      const grant = await userGrant(plain, ownClient);
      expect(decodeProtectedHeader(grant.idToken)).toMatchObject({ alg: "EdDSA", typ: "JWT" });
      const taken = await call(own!, "/hello", bearer(grant.access));
      expect(taken.status, own!.output()).toBe(200);
      expect(taken.body.sub).toBe(plain.id);
      const refused = await call(own!, "/hello", bearer(grant.idToken));
      expectRefused(refused, own);
      expect(String(refused.body.error_description)).toContain("typ");
      // And its refresh token, whose aud is "<client id>:refresh".
      expectRefused(await call(own!, "/hello", bearer(grant.refresh)), own);
    });

    test("an access token for another API's audience is refused", async () => {
      expectRefused(await call(main!, "/hello", bearer(await machineToken(other))));
    });

    test("usersvc's own first-party access token (from /api/v1/auth/login) is refused", async () => {
      expectRefused(await call(main!, "/hello", bearer(plain.token)));
    });

    test("a tampered token (a claim changed, the signature kept), an unsigned one and garbage are refused", async () => {
      const [header, payload, signature] = (await machineToken()).split(".");
      const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
      const changed = Buffer.from(JSON.stringify({ ...claims, sub: admin.id })).toString("base64url");
      expectRefused(await call(main!, "/hello", bearer(`${header}.${changed}.${signature}`)));
      const none = Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url");
      expectRefused(await call(main!, "/hello", bearer(`${none}.${payload}.`)));
      expectRefused(await call(main!, "/hello", bearer("not.a.jwt")));
    });

    test("a token signed with a key usersvc does not have, under usersvc's key id, is refused", async () => {
      const genuine = await machineToken();
      const claims = JSON.parse(Buffer.from(genuine.split(".")[1]!, "base64url").toString());
      const { privateKey } = await generateKeyPair("EdDSA");
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid: decodeProtectedHeader(genuine).kid! }).sign(privateKey);
      expectRefused(await call(main!, "/hello", bearer(forged)));
    });

    test("an expired access token is refused", async () => {
      const back = issuer.core.config.accessTtl + 120;
      issuer.clock.advance(-back);
      let expired: string;
      try {
        expired = await machineToken();
      } finally {
        issuer.clock.advance(back);
      }
      expectRefused(await call(main!, "/hello", bearer(expired)));
    });

    test("a revoked access token is still taken until it expires: the API verifies locally and never asks usersvc (see the README)", async () => {
      const token = await machineToken();
      await oidc.tokenRevocation(machine.config, token);
      expect((await oidc.tokenIntrospection(machine.config, token)).active).toBe(false);
      expect((await call(main!, "/hello", bearer(token))).status).toBe(200);
    });
  });
}
