/**
 * The provider's endpoints for clients (SPEC §9): discovery, token,
 * userinfo, revocation and introspection. They speak OAuth's own formats
 * (form posts in, `{error, error_description}` out), not usersvc's envelope,
 * and answer CORS for the origins registered by clients; the browser-facing
 * endpoints (authorize, consent, logout) are pages (pages/oidc.ts).
 */
import { Elysia } from "elysia";
import type { Core } from "../../core/core.ts";
import type { OAuthClient } from "../../core/oidc/clients.ts";
import { discoveryDocument, OIDC_PATHS } from "../../core/oidc/discovery.ts";
import { userClaims, userinfoPrincipal } from "../../core/oidc/grant-tokens.ts";
import { OAuthError } from "../../core/oidc/oauth-error.ts";
import { authenticateClient, type ClientCredentials, introspect, revokeClientToken, tokenGrant } from "../../core/oidc/token-endpoint.ts";
import { clientInfo } from "../auth.ts";
import { clientCors } from "./cors.ts";

const HIDDEN = { detail: { hide: true } };
const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

interface Context {
  request: Request;
  body?: unknown;
  server: { requestIP(request: Request): { address: string } | null } | null;
}

export function oidcRoutes(core: Core) {
  const cors = clientCors(core);
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...NO_STORE, ...headers } });
  const failure = async (request: Request, error: unknown, client: OAuthClient | null) => {
    if (!(error instanceof OAuthError)) throw error;
    const headers = await cors.headers(request, client);
    if (error.error === "invalid_client" && request.headers.get("authorization")?.startsWith("Basic ")) {
      headers["www-authenticate"] = 'Basic realm="usersvc"';
    }
    if (error.error === "invalid_token" || error.error === "insufficient_scope") {
      headers["www-authenticate"] = `Bearer error="${error.error}", error_description="${error.description}"`;
    }
    return json(error.status, error.toJSON(), headers);
  };
  /** A client-authenticated endpoint: the client first, then `run`. */
  const withClient =
    (run: (client: OAuthClient, form: Record<string, string | undefined>, context: Context) => Promise<Response>) =>
    async (context: Context) => {
      const form = formOf(context.body);
      let client: OAuthClient | null = null;
      try {
        client = await authenticateClient(core, credentialsOf(context.request, form));
        const response = await run(client, form, context);
        for (const [name, value] of Object.entries(await cors.headers(context.request, client))) response.headers.set(name, value);
        return response;
      } catch (error) {
        return failure(context.request, error, client);
      }
    };
  const discovery = () => json(200, discoveryDocument(core.config, core.theme.locales), { "cache-control": "public, max-age=300", "access-control-allow-origin": "*" });

  const app = new Elysia({ name: "oidc" })
    .get("/.well-known/openid-configuration", discovery, HIDDEN)
    .get("/.well-known/oauth-authorization-server", discovery, HIDDEN)
    .post(
      OIDC_PATHS.token,
      withClient(async (client, form, { request, server }) => json(200, await tokenGrant(core, client, form, clientInfo(request, server, core.config.trustProxy)))),
      HIDDEN,
    )
    .post(
      OIDC_PATHS.revocation,
      withClient(async (client, form) => {
        if (!form.token) throw new OAuthError("invalid_request", "token is missing");
        await revokeClientToken(core, client, form.token);
        return json(200, {});
      }),
      HIDDEN,
    )
    .post(
      OIDC_PATHS.introspection,
      withClient(async (client, form) => {
        if (!form.token) throw new OAuthError("invalid_request", "token is missing");
        return json(200, await introspect(core, client, form.token));
      }),
      HIDDEN,
    );

  const userinfo = async ({ request, body }: Context) => {
    try {
      const token = bearerOf(request, formOf(body));
      const { user, scopes, client } = await userinfoPrincipal(core, token);
      // The token names its client: only that client's origins may read the claims.
      return json(200, { sub: user.id, ...userClaims(user, scopes) }, await cors.headers(request, client));
    } catch (error) {
      return failure(request, error, null);
    }
  };
  app.get(OIDC_PATHS.userinfo, userinfo, HIDDEN).post(OIDC_PATHS.userinfo, userinfo, HIDDEN);
  for (const path of [OIDC_PATHS.token, OIDC_PATHS.userinfo, OIDC_PATHS.revocation, OIDC_PATHS.introspection]) {
    app.options(path, ({ request }: { request: Request }) => cors.preflight(request), HIDDEN);
  }
  return app;
}

/**
 * The request's parameters, strings only: a form's fields are, but a path
 * the body parser does not take for the provider's (`/oauth/token/`) may
 * bring JSON, whose arrays and objects no parameter is.
 */
function formOf(body: unknown): Record<string, string | undefined> {
  if (!body || typeof body !== "object") return {};
  return Object.fromEntries(Object.entries(body).filter(([, value]) => typeof value === "string"));
}

/** client_secret_basic: `id:secret`, each form-urlencoded first (RFC 6749 §2.3.1). */
function credentialsOf(request: Request, form: Record<string, string | undefined>): ClientCredentials {
  const header = request.headers.get("authorization");
  let basic: ClientCredentials["basic"] = null;
  if (header?.startsWith("Basic ")) {
    const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new OAuthError("invalid_client", "client authentication failed");
    try {
      basic = { id: decodeForm(decoded.slice(0, colon)), secret: decodeForm(decoded.slice(colon + 1)) };
    } catch {
      throw new OAuthError("invalid_client", "client authentication failed");
    }
  }
  return { basic, clientId: form.client_id, clientSecret: form.client_secret };
}

const decodeForm = (text: string) => decodeURIComponent(text.replace(/\+/g, " "));

/** RFC 6750: the Authorization header, or (POST) the form's access_token; never both. */
function bearerOf(request: Request, form: Record<string, string | undefined>): string {
  const header = request.headers.get("authorization");
  const fromHeader = header?.startsWith("Bearer ") ? header.slice(7).trim() : null;
  if (fromHeader && form.access_token) throw new OAuthError("invalid_request", "give the access token once");
  const token = fromHeader ?? form.access_token;
  if (!token) throw new OAuthError("invalid_token", "an access token is required");
  return token;
}
