/**
 * API docs: the OpenAPI 3.1 document at /docs/json (openapi.ts, built from
 * the route table), and a Swagger UI page whose assets are embedded in the
 * binary, so /docs works offline and makes no outside request.
 */
import { Elysia } from "elysia";
import swaggerBundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import swaggerIcon from "swagger-ui-dist/favicon-32x32.png" with { type: "file" };
import { openApiDocument, type RouteLike } from "./openapi.ts";

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>usersvc API</title>
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" />
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css" />
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/init.js"></script>
</body>
</html>`;

// A file rather than an inline script, so the page's CSP can forbid inline scripts.
const INIT_SCRIPT =
  'window.ui = SwaggerUIBundle({ url: "/docs/json", dom_id: "#swagger-ui", persistAuthorization: true, deepLinking: true });\n';

// A Map, not an object literal: a lookup by the URL's name must not reach Object.prototype ("constructor", "__proto__").
const ASSETS = new Map<string, { path: string; type: string }>([
  ["swagger-ui-bundle.js", { path: swaggerBundle, type: "text/javascript; charset=utf-8" }],
  ["swagger-ui.css", { path: swaggerCss, type: "text/css; charset=utf-8" }],
  // Without an icon link the browser asks for /favicon.ico, a 404 in the console of every docs visit.
  ["favicon-32x32.png", { path: swaggerIcon, type: "image/png" }],
]);

export function apiDocs(version: string, routes: () => readonly RouteLike[]) {
  // Built once, at the first request: every route is registered by then and none is added later.
  let document: string | null = null;
  return new Elysia({ name: "docs" })
    .get("/docs", () => new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } }), {
      detail: { hide: true },
    })
    .get(
      "/docs/json",
      () => {
        document ??= JSON.stringify(openApiDocument(routes(), { version, exclude: /^\/docs/ }));
        return new Response(document, { headers: { "content-type": "application/json" } });
      },
      { detail: { hide: true } },
    )
    .get(
      "/docs/assets/init.js",
      () => new Response(INIT_SCRIPT, { headers: { "content-type": "text/javascript; charset=utf-8" } }),
      { detail: { hide: true } },
    )
    .get(
      "/docs/assets/:name",
      ({ params, status }) => {
        const asset = ASSETS.get(params.name);
        if (!asset) return status(404, "not found");
        return new Response(Bun.file(asset.path), {
          headers: { "content-type": asset.type, "cache-control": "public, max-age=86400" },
        });
      },
      { detail: { hide: true } },
    );
}
