/**
 * OpenID Connect test kit: a usersvc whose public URL is its own address
 * (the issuer must be exact), clients registered through the core, and a
 * cookie-jar browser walking the authorization flow — sign-in page, consent
 * page — until the provider redirects to the client.
 */
import * as oidc from "openid-client";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { createClient, type NewClient } from "../../src/core/oidc/client-admin.ts";
import { Browserless } from "./browserless.ts";
import { startTestServer, type TestServer } from "./server.ts";
import type { Env } from "../../src/config.ts";

export const REDIRECT_URI = "https://app.example.test/callback";
export const POST_LOGOUT_URI = "https://app.example.test/signed-out";

/** A free loopback port, for a server that must know its URL before it listens. */
export async function freePort(): Promise<number> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = probe;
  probe.stop(true);
  return port;
}

export async function startIssuer(env: Env = {}, options: { shareDatabaseWith?: TestServer } = {}): Promise<TestServer> {
  const port = await freePort();
  return startTestServer({ USERSVC_PUBLIC_URL: `http://127.0.0.1:${port}`, ...env }, { ...options, port });
}

export async function registerClient(server: TestServer, input: Partial<NewClient> = {}) {
  const created = await createClient(server.core, CLI_ACTOR, {
    name: "Test app",
    redirect_uris: [REDIRECT_URI],
    post_logout_redirect_uris: [POST_LOGOUT_URI],
    grant_types: ["authorization_code", "refresh_token"],
    ...input,
  });
  return { clientId: created.client_id, clientSecret: created.client_secret };
}

/** openid-client's configuration from our discovery document (plain http is allowed: the test issuer is on loopback). */
export async function discover(server: TestServer, clientId: string, clientSecret: string | null, auth?: oidc.ClientAuth) {
  const method = auth ?? (clientSecret ? oidc.ClientSecretBasic(clientSecret) : oidc.None());
  return oidc.discovery(new URL(server.url), clientId, clientSecret ? { client_secret: clientSecret } : {}, method, {
    execute: [oidc.allowInsecureRequests],
  });
}

export interface Person {
  email: string;
  password: string;
  /** The current TOTP code, for a person with two-step verification. */
  totp?: () => string;
}

/**
 * Follows the provider from `url` as a browser would, signing in as `person`
 * and consenting when asked, and answers the URL the provider finally sent
 * the browser to at `redirectUri` (with the code or an error).
 */
export async function walkAuthorization(browser: Browserless, url: string, person: Person | null, options: { consent?: "allow" | "deny"; redirectUri?: string } = {}): Promise<URL> {
  const redirectUri = options.redirectUri ?? REDIRECT_URI;
  let response = await browser.get(url);
  for (let step = 0; step < 10; step++) {
    const location = response.location;
    if (location?.startsWith(redirectUri.split("?")[0]!)) return new URL(location);
    if (location) {
      response = await browser.get(location);
      continue;
    }
    if (response.status !== 200 && response.status !== 401) throw new Error(`the provider answered ${response.status}: ${response.html.slice(0, 500)}`);
    if (response.html.includes('action="/login"')) {
      if (!person) throw new Error("asked to sign in with nobody to sign in as");
      response = await browser.submit(response, "/login", { identifier: person.email, password: person.password });
    } else if (response.html.includes('action="/login/mfa"')) {
      if (!person?.totp) throw new Error("asked for a TOTP code by a person without one");
      response = await browser.submit(response, "/login/mfa", { code: person.totp() });
    } else if (response.html.includes('action="/consent"')) {
      response = await browser.submit(response, "/consent", { decision: options.consent ?? "allow" });
    } else {
      throw new Error(`no way on from this page: ${response.html.slice(0, 800)}`);
    }
  }
  throw new Error("the authorization did not end at the redirect URI");
}

export interface CodeFlow {
  url: string;
  verifier: string;
  state: string;
  nonce: string;
}

export async function codeFlow(config: oidc.Configuration, parameters: Record<string, string> = {}): Promise<CodeFlow> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid profile email offline_access",
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
    ...parameters,
  });
  return { url: url.href, verifier, state, nonce };
}

export { Browserless, oidc };
