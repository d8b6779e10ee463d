/** Which part of usersvc a request path belongs to, read without building a URL object. */

/** The hosted pages (SPEC §7), the admin console (§11) and their assets: HTML, forms and cookies instead of JSON and tokens. */
const PAGE_ROOTS = [
  "/login",
  "/register",
  "/forgot-password",
  "/reset-password",
  "/verify-email",
  "/account",
  "/logout",
  "/assets",
  "/consent",
  "/oauth/authorize",
  "/oauth/logout",
  "/admin",
];

/** The provider's endpoints for clients, not browsers (SPEC §9): forms in, JSON out, CORS per client. */
const OAUTH_API_ROOTS = ["/oauth/token", "/oauth/userinfo", "/oauth/revoke", "/oauth/introspect"];

export function isOAuthApiPath(path: string): boolean {
  // With a trailing slash too: the router answers `/oauth/token/` as `/oauth/token`.
  return OAUTH_API_ROOTS.includes(path.endsWith("/") ? path.slice(0, -1) : path);
}

export function isPagePath(path: string): boolean {
  return PAGE_ROOTS.some((root) => path === root || (path.startsWith(root) && path[root.length] === "/"));
}

/** The path of a request URL. */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const end = url.indexOf("?", start);
  return start === -1 ? "/" : url.slice(start, end === -1 ? undefined : end);
}
