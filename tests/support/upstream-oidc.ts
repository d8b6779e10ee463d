/**
 * A real OpenID Connect issuer upstream of usersvc: the npm `oidc-provider`
 * (certified) on a loopback port, with its development interactions (a login
 * form that takes any login name, then a consent form). The login name is the
 * account: its claims come from `accounts`, so a test gives each person an
 * email and an `email_verified` of its choosing. `rotateKeys()` restarts the
 * issuer on the same port with a new signing key (oidc-provider fixes its
 * keystore at construction).
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import Provider from "oidc-provider";
import { freePort } from "./oidc.ts";

export interface UpstreamAccount {
  email?: string;
  email_verified?: boolean;
  preferred_username?: string;
}

export interface UpstreamIssuer {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Claims by login name (the `sub`). */
  accounts: Map<string, UpstreamAccount>;
  /** The kid the issuer signs with now. */
  kid(): string;
  rotateKeys(): Promise<void>;
  stop(): Promise<void>;
}

export async function startUpstreamIssuer(redirectUris: string[]): Promise<UpstreamIssuer> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = "usersvc-test";
  const clientSecret = randomBytes(24).toString("base64url");
  const accounts = new Map<string, UpstreamAccount>();
  let kid = "";
  let server: Server | null = null;

  const listen = async (): Promise<void> => {
    kid = `key-${randomBytes(4).toString("hex")}`;
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" };
    const provider = new Provider(issuer, {
      clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUris, grant_types: ["authorization_code"], response_types: ["code"] }],
      jwks: { keys: [jwk] },
      cookies: { keys: [randomBytes(16).toString("hex")] },
      claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["preferred_username"] },
      findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id, ...accounts.get(id) }) }),
      features: { devInteractions: { enabled: true } },
    } as any);
    server = createServer(provider.callback());
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
  };
  const close = async (): Promise<void> => {
    const current = server;
    server = null;
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()).closeAllConnections());
  };
  await listen();
  return {
    issuer,
    clientId,
    clientSecret,
    accounts,
    kid: () => kid,
    async rotateKeys() {
      await close();
      await listen();
    },
    stop: close,
  };
}

/**
 * Walks the issuer from its authorization URL as a browser would (a cookie
 * jar of its own), signing in as `login` and consenting, until the issuer
 * sends the browser to a URL starting with `stopAt`: that URL is answered.
 */
export async function walkUpstream(authorizationUrl: string, login: string, stopAt: string): Promise<URL> {
  const jar = new Map<string, string>();
  let next: { url: URL; method: "GET" | "POST"; body?: URLSearchParams } = { url: new URL(authorizationUrl), method: "GET" };
  for (let step = 0; step < 20; step++) {
    const response = await fetch(next.url, {
      method: next.method,
      body: next.body,
      redirect: "manual",
      headers: {
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; "),
        ...(next.body ? { "content-type": "application/x-www-form-urlencoded" } : {}),
      },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      const value = pair.slice(eq + 1);
      if (value === "" || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(pair.slice(0, eq));
      else jar.set(pair.slice(0, eq), value);
    }
    const location = response.headers.get("location");
    if (location) {
      const url = new URL(location, next.url);
      if (url.href.startsWith(stopAt)) return url;
      next = { url, method: "GET" };
      continue;
    }
    const html = await response.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`upstream issuer answered ${response.status} without a form:\n${html.slice(0, 1000)}`);
    const fields: Record<string, string> = html.includes('name="login"') ? { prompt: "login", login, password: "any" } : { prompt: "consent" };
    next = { url: new URL(action.replaceAll("&amp;", "&"), next.url), method: "POST", body: new URLSearchParams(fields) };
  }
  throw new Error("upstream issuer: too many steps");
}
