/**
 * Cross-site request forgery (SPEC §7): every page form carries a token and
 * every POST must bring it back, from a page of this origin.
 *
 * The token is an HMAC of what the form is bound to (the browser session's id,
 * or "anonymous" before sign-in) keyed by the `usersvc_csrf` cookie: a random
 * value the browser keeps, HttpOnly, that another site can neither read nor
 * (with `__Host-` on https) set. The `Origin` header must be the public URL's
 * origin or the request's own; a browser sends one on every form post, and a
 * client that sends none (a script) still needs the cookie and the token.
 */
import { createHmac, randomBytes } from "node:crypto";
import { sameSecret } from "../../core/digest.ts";

export function newCsrfSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function csrfToken(secret: string, binding: string): string {
  return createHmac("sha256", secret).update(`usersvc csrf ${binding}`).digest("base64url");
}

export function isValidCsrfToken(secret: string | undefined, binding: string, token: string | undefined): boolean {
  if (!secret || !token) return false;
  return sameSecret(csrfToken(secret, binding), token);
}

/** The Origin (or, without one, the Referer) of a form post is usersvc itself. */
export function isSameOrigin(request: Request, publicUrl: string): boolean {
  const allowed = [new URL(publicUrl).origin, new URL(request.url).origin];
  const origin = request.headers.get("origin");
  if (origin !== null) return allowed.includes(origin);
  const referer = request.headers.get("referer");
  if (referer === null) return true;
  try {
    return allowed.includes(new URL(referer).origin);
  } catch {
    return false;
  }
}
