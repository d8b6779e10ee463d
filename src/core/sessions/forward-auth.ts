/**
 * Forward auth (SPEC §12): before each request to an application it
 * protects, a reverse proxy (nginx auth_request, Traefik ForwardAuth, Caddy
 * forward_auth) asks who the caller is. The answer is the user behind a live
 * browser session cookie or a valid bearer access token, as header values
 * the proxy copies onto the request; or nobody, and then, for a browser,
 * where to sign in so that it comes back to the URL it was going to.
 *
 * This sits in front of every request of every protected application: it
 * reads through the same per-instance auth cache as every protected route
 * and writes nothing of its own (browserPrincipal touches a session at most
 * once a minute).
 */
import type { Core } from "../core.ts";
import { DomainError } from "../errors.ts";
import type { UserRecord } from "../users/user-record.ts";
import { authenticate } from "./authenticate.ts";
import { browserPrincipal } from "./browser-sessions.ts";

export interface ForwardAuthCredentials {
  /** The token of an `Authorization: Bearer …` header; null without one. */
  accessToken: string | null;
  /** The browser session cookie's value; undefined without one. */
  sessionCookie: string | undefined;
}

/** Who is signed in, as the response's data: the same values as the identity headers, unencoded. */
export interface ForwardIdentity {
  id: string;
  email: string;
  username: string;
  roles: string[];
}

export type ForwardAuthDecision =
  /** Signed in (and holding the role asked for): `headers` go on the answer, for the proxy to copy. */
  | { outcome: "allow"; identity: ForwardIdentity; headers: Record<string, string> }
  /** Signed in, without the role asked for: FORBIDDEN. */
  | { outcome: "deny"; error: DomainError }
  /** Nobody is signed in (or the credential is dead): a 401 code saying why. */
  | { outcome: "sign-in"; error: DomainError };

/**
 * The decision for one proxied request. A bearer token is tried first (it
 * was sent on purpose), then the cookie: either one, valid, is enough. A
 * refused bearer token's own code is kept (TOKEN_EXPIRED tells a client to
 * refresh); a dead or malformed cookie is UNAUTHENTICATED like no cookie.
 * `requiredRole` null asks for no role; any other value, the empty string
 * included, must be one of the user's roles as stored now.
 */
export async function decideForwardAuth(
  core: Core,
  credentials: ForwardAuthCredentials,
  requiredRole: string | null,
): Promise<ForwardAuthDecision> {
  let refusal: DomainError | null = null;
  let user: UserRecord | null = null;
  if (credentials.accessToken !== null) {
    try {
      user = (await authenticate(core, credentials.accessToken)).user;
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      // A block revokes every session, so this is a session that no longer works: 401, as SPEC §12 asks, not 403.
      refusal = error.code === "ACCOUNT_BLOCKED" ? new DomainError("SESSION_REVOKED") : error;
    }
  }
  if (user === null && credentials.sessionCookie !== undefined) {
    user = (await browserPrincipal(core, credentials.sessionCookie))?.user ?? null;
  }
  if (user === null) {
    return { outcome: "sign-in", error: refusal ?? new DomainError("UNAUTHENTICATED", "Sign in: no live browser session or bearer access token") };
  }
  if (requiredRole !== null && !user.roles.includes(requiredRole)) {
    return { outcome: "deny", error: new DomainError("FORBIDDEN", "The signed-in user does not have the role this application requires") };
  }
  const identity = { id: user.id, email: user.email, username: user.username, roles: user.roles };
  return { outcome: "allow", identity, headers: identityHeaders(identity) };
}

/**
 * The four headers the proxy copies onto the request to the application.
 * Values are printable ASCII: any other character, and `%`, `,` and space,
 * are percent-encoded as UTF-8 (so `decodeURIComponent` gives the stored
 * value back, and an address with non-ASCII letters can neither break the
 * header nor fail the answer). Roles are joined by `,`; a comma inside a
 * role could only come encoded. CR, LF and NUL therefore never reach a header.
 */
export function identityHeaders(identity: ForwardIdentity): Record<string, string> {
  return {
    "x-usersvc-user-id": headerValue(identity.id),
    "x-usersvc-email": headerValue(identity.email),
    "x-usersvc-username": headerValue(identity.username),
    "x-usersvc-roles": identity.roles.map(headerValue).join(","),
  };
}

/** Printable ASCII except space, `%` and `,`: sent as it is. */
const PLAIN = /^[\x21-\x24\x26-\x2b\x2d-\x7e]*$/;
const PLAIN_CHAR = /^[\x21-\x24\x26-\x2b\x2d-\x7e]$/;
const utf8 = new TextEncoder();

export function headerValue(value: string): string {
  if (PLAIN.test(value)) return value;
  let encoded = "";
  for (const char of value) {
    if (PLAIN_CHAR.test(char)) encoded += char;
    // TextEncoder turns a lone surrogate into U+FFFD instead of throwing, as encodeURIComponent would.
    else for (const byte of utf8.encode(char)) encoded += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return encoded;
}

/**
 * Whether an anonymous caller is answered with a redirect to the sign-in
 * page rather than a 401: `redirect` "1" always, "0" never (nginx's
 * auth_request takes only 2xx, 401 and 403), else when the caller is a
 * browser asking for a page (`Accept` names text/html with a q above 0).
 */
export function wantsSignInPage(redirect: string | undefined, accept: string | null): boolean {
  if (redirect === "1") return true;
  if (redirect === "0" || accept === null || !accept.toLowerCase().includes("text/html")) return false;
  return accept.split(",").some((range) => {
    const [type = "", ...parameters] = range.split(";");
    return type.trim().toLowerCase() === "text/html" && !parameters.some((p) => /^\s*q\s*=\s*0(?:\.0{0,3})?\s*$/i.test(p));
  });
}

/** The request headers that say which URL the browser asked the proxy for. */
export interface ForwardedRequest {
  /** X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Uri: what Traefik and Caddy send. */
  proto: string | null;
  host: string | null;
  uri: string | null;
  /** X-Original-URL: the nginx convention (the configuration sets it). */
  originalUrl: string | null;
}

const MAX_URL = 2048;
/** A host name or bracketed IPv6 address, with an optional port: no userinfo, path, backslash or anything else. */
const HOST = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;
/** Printable ASCII without space or backslash: a request target as it travels on the wire (a URL parser reads `\` as `/`). */
const WIRE_TEXT = /^[\x21-\x5b\x5d-\x7e]+$/;

/**
 * The absolute URL the browser asked for, or null when the headers do not
 * give one that is well-formed. X-Forwarded-Proto/Host/Uri, when all three
 * are present, win over X-Original-URL: Traefik and Caddy write those
 * themselves, and pass on an X-Original-URL a client sent. Whether the
 * browser may be sent back there is not decided here (returnToChecker, §7):
 * this only refuses what cannot be a plain http(s) URL of a named host.
 */
export function originalUrlOf(forwarded: ForwardedRequest): string | null {
  const { proto, host, uri, originalUrl } = forwarded;
  if (proto !== null && host !== null && uri !== null) {
    const scheme = proto.trim().toLowerCase();
    if ((scheme !== "http" && scheme !== "https") || host.length > 260 || !HOST.test(host)) return null;
    if (uri.length > MAX_URL || !uri.startsWith("/") || !WIRE_TEXT.test(uri)) return null;
    return absoluteUrl(`${scheme}://${host}${uri}`);
  }
  if (originalUrl !== null) {
    if (originalUrl.length > MAX_URL || !WIRE_TEXT.test(originalUrl)) return null;
    return absoluteUrl(originalUrl);
  }
  return null;
}

function absoluteUrl(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password || url.hostname === "") return null;
  return url.href.length > MAX_URL ? null : url.href;
}

/**
 * The sign-in page under the public URL, with `return_to` only when
 * `checkReturnTo` (the pages' §7 rule) allows the original URL: otherwise
 * plain /login, whose sign-in then lands on /account.
 */
export function signInUrl(publicUrl: string, originalUrl: string | null, checkReturnTo: (raw: string | null) => string | null): string {
  const returnTo = checkReturnTo(originalUrl);
  return returnTo === null ? `${publicUrl}/login` : `${publicUrl}/login?return_to=${encodeURIComponent(returnTo)}`;
}
