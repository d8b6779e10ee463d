/** The providers' test kit: a usersvc whose public URL is its own address, with the upstream issuer and GitHub stand-in added as providers. */
import { afterAll, beforeAll } from "bun:test";
import { and, eq } from "drizzle-orm";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { auditLog, sessions, userIdentities, users } from "../../src/core/db/schema.ts";
import { addProvider } from "../../src/core/providers/provider-admin.ts";
import type { Env } from "../../src/config.ts";
import { Browserless, type PageResponse } from "../support/browserless.ts";
import { type GithubStandIn, startGithubStandIn } from "../support/github-stand-in.ts";
import { freePort } from "../support/oidc.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { startUpstreamIssuer, type UpstreamIssuer, walkUpstream } from "../support/upstream-oidc.ts";

export interface ProviderKit {
  server: TestServer;
  upstream: UpstreamIssuer;
  github: GithubStandIn;
  stop(): Promise<void>;
}

/** usersvc, plus `corp` (the upstream issuer) and `github` (the stand-in, through the endpoint overrides). */
export async function startProviderKit(env: Env = {}): Promise<ProviderKit> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const upstream = await startUpstreamIssuer([`${publicUrl}/login/provider/corp/callback`, `${publicUrl}/login/provider/corp2/callback`]);
  const server = await startTestServer({ USERSVC_PUBLIC_URL: publicUrl, ...env }, { port });
  const github = startGithubStandIn();
  await addProvider(server.core, CLI_ACTOR, {
    name: "corp",
    type: "oidc",
    display_name: "Corp SSO",
    issuer: upstream.issuer,
    client_id: upstream.clientId,
    client_secret: upstream.clientSecret,
  });
  await addProvider(server.core, CLI_ACTOR, { name: "github", type: "github", client_id: github.clientId, client_secret: github.clientSecret, ...github.overrides });
  return {
    server,
    upstream,
    github,
    async stop() {
      await server.stop();
      await upstream.stop();
      await github.stop();
    },
  };
}

/**
 * One kit for a test file: started before its tests (handed to `use`), stopped
 * after them. Returns a maker of fresh browsers (cookie jars) at its usersvc.
 */
export function shareProviderKit(use: (kit: ProviderKit) => void, env: Env = {}): () => Browserless {
  let kit: ProviderKit | undefined;
  beforeAll(async () => {
    kit = await startProviderKit(env);
    use(kit);
  });
  afterAll(async () => {
    await kit?.stop();
  });
  return () => new Browserless(kit!.server.url);
}

/** GET /login/provider/<name>: usersvc's 303 to the provider (its state cookie now in the jar). */
export async function startAt(browser: Browserless, name: string, query = ""): Promise<string> {
  const started = await browser.get(`/login/provider/${name}${query}`);
  if (started.status !== 303 || !started.location) throw new Error(`no redirect to the provider: ${started.status} ${started.html.slice(0, 500)}`);
  return started.location;
}

/** The provider's answer for a sign-in begun at `authorizationUrl`: the callback URL, not yet followed. */
export async function providerAnswer(kit: ProviderKit, name: string, authorizationUrl: string, login: string): Promise<URL> {
  const callback = `${kit.server.url}/login/provider/${name}/callback`;
  if (name === "github" || authorizationUrl.startsWith(kit.github.url)) {
    const response = await fetch(authorizationUrl, { redirect: "manual" });
    return new URL(response.headers.get("location")!);
  }
  return walkUpstream(authorizationUrl, login, callback);
}

/** A whole sign-in with a provider in `browser`: the callback's answer. */
export async function signInWith(kit: ProviderKit, browser: Browserless, name: string, login: string, query = ""): Promise<PageResponse> {
  const answer = await providerAnswer(kit, name, await startAt(browser, name, query), login);
  return browser.get(answer.pathname + answer.search);
}

export async function userByEmail(server: TestServer, email: string) {
  const [row] = await server.core.db.select().from(users).where(eq(users.email, email));
  return row ?? null;
}

export async function identitiesOf(server: TestServer, userId: string) {
  return server.core.db.select().from(userIdentities).where(eq(userIdentities.userId, userId));
}

export async function sessionAmrs(server: TestServer, userId: string): Promise<string[][]> {
  const rows = await server.core.db.select({ amr: sessions.amr }).from(sessions).where(eq(sessions.userId, userId));
  return rows.map((r) => r.amr as string[]);
}

export async function auditEvents(server: TestServer, event: string, targetId: string | null = null) {
  const where = targetId === null ? eq(auditLog.event, event) : and(eq(auditLog.event, event), eq(auditLog.targetId, targetId));
  return server.core.db.select().from(auditLog).where(where);
}
