/**
 * An API that accepts usersvc access tokens (RFC 9068 JWTs), verified with
 * jose against usersvc's JWKS. Bun, no framework:
 *
 *   GET /hello  any valid access token: its sub, client_id and scope
 *   GET /admin  a user token with "admin" in its `roles` claim (the client asked for the `roles` scope)
 *
 * A token is taken only if it is signed by a key of usersvc's JWKS with
 * EdDSA or RS256, has typ "at+jwt", usersvc's issuer, this API's audience,
 * and has not expired. That refuses usersvc's refresh tokens (typ "JWT", aud
 * "<audience>:refresh") and id_tokens (typ "JWT", aud the client id), and
 * access tokens meant for another API. Anything else is 401 with
 * WWW-Authenticate: Bearer (RFC 6750).
 */
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from "jose";

interface Settings {
  issuer: string;
  audience: string;
  host: string;
  port: number;
}

const REALM = "jose-api";
const settings = readSettings(process.env);
const jwksUri = await discoverJwksUri(settings.issuer);
// Fetched on first use, cached, and fetched again when a token names a key id it has not seen (a rotated key).
const jwks = createRemoteJWKSet(new URL(jwksUri));

const server = Bun.serve({
  hostname: settings.host,
  port: settings.port,
  async fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname !== "/hello" && pathname !== "/admin") return json(404, { error: "not_found" });
    if (request.method !== "GET") return json(405, { error: "method_not_allowed" }, { allow: "GET" });
    const verified = await authenticate(request);
    if (verified instanceof Response) return verified;
    if (pathname === "/hello") return json(200, { sub: verified.sub, client_id: verified.client_id, scope: verified.scope });
    const roles = Array.isArray(verified.roles) ? verified.roles : [];
    if (!roles.includes("admin")) {
      return json(403, { error: "insufficient_scope", error_description: "needs a user with the admin role, and the roles scope" }, {
        "www-authenticate": `Bearer realm="${REALM}", error="insufficient_scope", error_description="needs the admin role", scope="roles"`,
      });
    }
    return json(200, { sub: verified.sub, roles });
  },
});
console.log(`listening on http://${server.hostname}:${server.port}, accepting usersvc access tokens for ${settings.audience} from ${settings.issuer}`);

interface AccessToken extends JWTPayload {
  sub: string;
  client_id: string;
  scope?: string;
  roles?: unknown;
}

/** The verified claims of the request's bearer token, or the 401 to answer. */
async function authenticate(request: Request): Promise<AccessToken | Response> {
  const match = /^Bearer +(\S+)$/i.exec(request.headers.get("authorization") ?? "");
  // RFC 6750 §3.1: a request without a bearer token gets the challenge alone, no error code.
  if (!match) return json(401, { error: "unauthorized" }, { "www-authenticate": `Bearer realm="${REALM}"` });
  try {
    const { payload } = await jwtVerify<AccessToken>(match[1]!, jwks, {
      issuer: settings.issuer,
      audience: settings.audience,
      // RFC 9068 §4: only an access token, never an id_token or a refresh token that happens to verify.
      typ: "at+jwt",
      algorithms: ["EdDSA", "RS256"],
      requiredClaims: ["sub", "client_id", "jti", "iat", "exp"],
    });
    return payload;
  } catch (error) {
    if (error instanceof errors.JOSEError) return invalidToken(error.message);
    throw error;
  }
}

function invalidToken(description: string): Response {
  // A quoted-string may not hold " or \ unescaped; jose's messages quote header names.
  const quoted = description.replace(/["\\]/g, "'");
  return json(401, { error: "invalid_token", error_description: description }, {
    "www-authenticate": `Bearer realm="${REALM}", error="invalid_token", error_description="${quoted}"`,
  });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store", ...headers } });
}

function readSettings(env: Record<string, string | undefined>): Settings {
  const problems: string[] = [];
  const issuer = env.USERSVC_ISSUER_URL ?? "";
  const audience = env.API_AUDIENCE ?? "";
  const port = Number(env.PORT ?? "4000");
  if (!issuer) problems.push("USERSVC_ISSUER_URL is required: usersvc's USERSVC_PUBLIC_URL, exactly as usersvc has it");
  if (!audience) problems.push("API_AUDIENCE is required: the --audience of the clients that call this API");
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push("PORT must be a port number");
  if (problems.length > 0) {
    for (const problem of problems) console.error(problem);
    process.exit(1);
  }
  return { issuer, audience, port, host: env.HOST ?? "127.0.0.1" };
}

/** The JWKS address from usersvc's discovery document, whose issuer must be the configured one exactly. */
async function discoverJwksUri(issuer: string): Promise<string> {
  const address = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  try {
    const response = await fetch(address);
    if (!response.ok) throw new Error(`it answered ${response.status}`);
    const metadata = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (metadata.issuer !== issuer) throw new Error(`its issuer is ${JSON.stringify(metadata.issuer)}, not USERSVC_ISSUER_URL ${JSON.stringify(issuer)}`);
    if (typeof metadata.jwks_uri !== "string") throw new Error("it names no jwks_uri");
    return metadata.jwks_uri;
  } catch (error) {
    console.error(`cannot use ${address}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
