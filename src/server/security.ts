/**
 * Security headers on every response, and CORS for the origins in
 * USERSVC_CORS_ORIGINS only (none by default). The API answers JSON and is
 * never framed or sniffed; /docs gets the one policy its page needs; the
 * hosted pages set their own Content-Security-Policy (pages/respond.ts).
 */
import { Elysia } from "elysia";
import { isPagePath, pathOf } from "./paths.ts";

const COMMON: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  // Ignored by browsers over plain HTTP; in force once a TLS proxy serves usersvc.
  "strict-transport-security": "max-age=31536000; includeSubDomains",
};
const API_CSP = "default-src 'none'; frame-ancestors 'none'";
// Swagger UI styles elements inline; its scripts and the spec come from this server only.
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";
// Whole sets, copied in one step per request.
const API_HEADERS = { ...COMMON, "content-security-policy": API_CSP, "cache-control": "no-store" };
const DOCS_HEADERS = { ...COMMON, "content-security-policy": DOCS_CSP };
const OTHER_HEADERS = { ...COMMON, "content-security-policy": API_CSP };
// The pages post forms to themselves: under no-referrer Chromium would send `Origin: null`, which the CSRF check refuses.
// The pages' own responses replace this policy with theirs; it stays on what a page path answers otherwise (413, 415, 404).
const PAGE_HEADERS = { ...COMMON, "content-security-policy": API_CSP, "referrer-policy": "same-origin", "cache-control": "no-store" };
const CORS_METHODS = "GET, POST, PUT, PATCH, DELETE";
const CORS_HEADERS = "authorization, content-type, x-request-id";

export function securityHeaders(corsOrigins: readonly string[]) {
  const anyOrigin = corsOrigins.includes("*");
  const allowed = (origin: string): boolean => anyOrigin || corsOrigins.includes(origin);

  return new Elysia({ name: "security-headers" }).onRequest(({ request, set }) => {
    const path = pathOf(request.url);
    Object.assign(
      set.headers,
      path.startsWith("/api/") ? API_HEADERS : path.startsWith("/docs") ? DOCS_HEADERS : isPagePath(path) ? PAGE_HEADERS : OTHER_HEADERS,
    );

    const origin = request.headers.get("origin");
    // The provider's endpoints answer CORS per client (oidc/cors.ts); the pages (the authorization endpoint
    // among them, whatever the spelling of their path: `/consent/`) never do.
    if (!origin || corsOrigins.length === 0 || path.startsWith("/oauth/") || isPagePath(path)) return;
    set.headers.vary = "Origin";
    if (!allowed(origin)) return;
    set.headers["access-control-allow-origin"] = anyOrigin ? "*" : origin;
    set.headers["access-control-expose-headers"] = "x-request-id, retry-after";
    if (request.method === "OPTIONS" && request.headers.has("access-control-request-method")) {
      return new Response(null, {
        status: 204,
        headers: {
          ...(set.headers as Record<string, string>),
          "access-control-allow-methods": CORS_METHODS,
          "access-control-allow-headers": CORS_HEADERS,
          "access-control-max-age": "600",
        },
      });
    }
  });
}
