/**
 * A web application that signs its users in with usersvc (OpenID Connect,
 * authorization code + PKCE) through openid-client, the certified relying
 * party library. Node 20+ or Bun, node:http only:
 *
 *   GET /          "signed in as <email>", or a link to sign in
 *   GET /login     to usersvc's authorization endpoint (state, nonce, PKCE verifier kept here)
 *   GET /callback  the code exchanged for tokens; state, nonce and the id_token checked
 *   GET /logout    the session dropped here, then usersvc's end_session_endpoint
 *
 * Sessions live in this process's memory, keyed by a random HttpOnly
 * cookie: restart the app and everyone signs in again. Use a store of your
 * own (Redis, your database) for more than one process.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import * as oidc from "openid-client";

const settings = readSettings(process.env);
const config = await discoverIssuer(settings);
const redirectUri = `${settings.appUrl}/callback`;
const postLogoutRedirectUri = `${settings.appUrl}/`;
const COOKIE = "app_session";
const SESSION_TTL_MS = 8 * 3600_000;
const LOGIN_TTL_MS = 10 * 60_000;

/**
 * @typedef {{ state: string, nonce: string, verifier: string, startedAt: number }} PendingLogin
 * @typedef {{ claims: oidc.IDToken, idToken: string }} SignedIn
 * @typedef {{ login: PendingLogin | null, user: SignedIn | null, expiresAt: number }} Session
 */
/** @type {Map<string, Session>} */
const sessions = new Map();

const server = createServer((request, response) => {
  handle(request, response).catch((error) => {
    console.error("unhandled error", error);
    if (!response.headersSent) send(response, 500, page("Something went wrong", "<p>Try again later.</p>"));
  });
});
server.listen(settings.port, settings.host, () => {
  console.log(`listening on ${settings.appUrl} (http://${settings.host}:${settings.port}), signing in with ${settings.issuerUrl}`);
});

/**
 * @param {import("node:http").IncomingMessage} request
 * @param {import("node:http").ServerResponse} response
 */
async function handle(request, response) {
  const url = new URL(request.url ?? "/", settings.appUrl);
  if (request.method !== "GET") return send(response, 405, page("Method not allowed", ""), { allow: "GET" });
  const found = sessionOf(request);
  switch (url.pathname) {
    case "/": {
      const user = found?.session.user;
      if (!user) return send(response, 200, page("Welcome", `<p>You are not signed in. <a href="/login">Sign in with usersvc</a></p>`));
      const who = user.claims.email ?? user.claims.preferred_username ?? user.claims.sub;
      return send(response, 200, page("Welcome", `<p>signed in as ${escapeHtml(String(who))}</p><p><a href="/logout">Sign out</a></p>`));
    }
    case "/login": {
      const { id, session } = found ?? newSession();
      const login = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), startedAt: Date.now() };
      session.login = login;
      const authorizationUrl = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: "openid profile email",
        state: login.state,
        nonce: login.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(login.verifier),
        code_challenge_method: "S256",
      });
      return redirect(response, authorizationUrl.href, sessionCookie(id));
    }
    case "/callback": {
      const login = found?.session.login;
      if (!found || !login || Date.now() - login.startedAt > LOGIN_TTL_MS) {
        return send(response, 400, page("Sign-in failed", `<p>This sign-in was not started here, or it took too long. <a href="/login">Sign in again</a></p>`));
      }
      // One attempt per /login: a replayed or forged callback finds nothing to complete.
      found.session.login = null;
      let tokens;
      try {
        tokens = await oidc.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: login.verifier,
          expectedState: login.state,
          expectedNonce: login.nonce,
          idTokenExpected: true,
        });
      } catch (error) {
        console.error("sign-in failed:", describeError(error));
        return send(response, 400, page("Sign-in failed", `<p>${escapeHtml(describeError(error))}</p><p><a href="/login">Sign in again</a></p>`));
      }
      const claims = tokens.claims();
      if (!claims || !tokens.id_token) return send(response, 400, page("Sign-in failed", "<p>usersvc sent no id_token.</p>"));
      // A new session id once signed in, so an id planted before sign-in (session fixation) is worth nothing.
      sessions.delete(found.id);
      const { id, session } = newSession();
      session.user = { claims, idToken: tokens.id_token };
      return redirect(response, `${settings.appUrl}/`, sessionCookie(id));
    }
    case "/logout": {
      if (!found?.session.user) return redirect(response, `${settings.appUrl}/`, clearedCookie());
      sessions.delete(found.id);
      // usersvc signs the browser out without asking, since the hint names its own session, and returns here.
      const endSession = oidc.buildEndSessionUrl(config, {
        id_token_hint: found.session.user.idToken,
        post_logout_redirect_uri: postLogoutRedirectUri,
      });
      return redirect(response, endSession.href, clearedCookie());
    }
    default:
      return send(response, 404, page("Not found", `<p><a href="/">Home</a></p>`));
  }
}

/**
 * @param {import("node:http").IncomingMessage} request
 * @returns {{ id: string, session: Session } | null}
 */
function sessionOf(request) {
  const id = cookieValue(request.headers.cookie ?? "", COOKIE);
  const session = id ? sessions.get(id) : undefined;
  if (!id || !session) return null;
  if (session.expiresAt < Date.now()) {
    sessions.delete(id);
    return null;
  }
  return { id, session };
}

/** @returns {{ id: string, session: Session }} */
function newSession() {
  const now = Date.now();
  for (const [id, session] of sessions) if (session.expiresAt < now) sessions.delete(id);
  const id = randomBytes(32).toString("base64url");
  const session = { login: null, user: null, expiresAt: now + SESSION_TTL_MS };
  sessions.set(id, session);
  return { id, session };
}

/**
 * SameSite=Lax, not Strict: the browser must send the cookie on the
 * top-level redirect from usersvc back to /callback.
 * @param {string} id
 */
function sessionCookie(id) {
  return `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${SESSION_TTL_MS / 1000}${settings.secureCookie ? "; Secure" : ""}`;
}

function clearedCookie() {
  return `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${settings.secureCookie ? "; Secure" : ""}`;
}

/**
 * @param {string} header
 * @param {string} name
 */
function cookieValue(header, name) {
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/**
 * @param {import("node:http").ServerResponse} response
 * @param {string} location
 * @param {string} cookie
 */
function redirect(response, location, cookie) {
  response.writeHead(302, { location, "set-cookie": cookie, "cache-control": "no-store" });
  response.end();
}

/**
 * @param {import("node:http").ServerResponse} response
 * @param {number} status
 * @param {string} html
 * @param {Record<string, string>} [headers]
 */
function send(response, status, html, headers = {}) {
  response.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...headers });
  response.end(html);
}

/**
 * @param {string} title
 * @param {string} body
 */
function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

/** @param {string} text */
function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** @param {unknown} error */
function describeError(error) {
  if (error instanceof oidc.AuthorizationResponseError) return `usersvc answered ${error.error}${error.error_description ? `: ${error.error_description}` : ""}`;
  if (error instanceof oidc.ResponseBodyError) return `the token endpoint answered ${error.error}${error.error_description ? `: ${error.error_description}` : ""}`;
  if (!(error instanceof Error)) return String(error);
  // openid-client's own message is general ("invalid response encountered"); its cause says what was wrong.
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}

/**
 * @param {Record<string, string | undefined>} env
 */
function readSettings(env) {
  const problems = [];
  const issuerUrl = env.USERSVC_ISSUER_URL ?? "";
  const clientId = env.CLIENT_ID ?? "";
  if (!issuerUrl) problems.push("USERSVC_ISSUER_URL is required: usersvc's USERSVC_PUBLIC_URL, e.g. https://auth.example.com");
  if (!clientId) problems.push("CLIENT_ID is required: the client id `usersvc clients add` printed");
  const port = Number(env.PORT ?? "3000");
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push("PORT must be a port number");
  const appUrl = (env.APP_URL ?? `http://127.0.0.1:${port}`).replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+$/.test(appUrl)) problems.push("APP_URL must be this app's origin, e.g. http://127.0.0.1:3000 (no path)");
  if (problems.length > 0) {
    for (const problem of problems) console.error(problem);
    process.exit(1);
  }
  return {
    issuerUrl,
    clientId,
    // Empty: a public client (registered with --public), PKCE alone.
    clientSecret: env.CLIENT_SECRET || null,
    appUrl,
    port,
    host: env.HOST ?? "127.0.0.1",
    secureCookie: appUrl.startsWith("https:"),
  };
}

/**
 * openid-client refuses plain http; allowed here only for an issuer on this
 * machine (development), never for one across a network.
 * @param {ReturnType<typeof readSettings>} s
 */
async function discoverIssuer(s) {
  const issuer = new URL(s.issuerUrl);
  const loopback = ["127.0.0.1", "[::1]", "localhost"].includes(issuer.hostname);
  const auth = s.clientSecret ? oidc.ClientSecretBasic(s.clientSecret) : oidc.None();
  try {
    return await oidc.discovery(issuer, s.clientId, s.clientSecret ? { client_secret: s.clientSecret } : {}, auth, {
      execute: issuer.protocol === "http:" && loopback ? [oidc.allowInsecureRequests] : [],
    });
  } catch (error) {
    console.error(`cannot read ${issuer.href.replace(/\/$/, "")}/.well-known/openid-configuration: ${describeError(error)}`);
    process.exit(1);
  }
}
