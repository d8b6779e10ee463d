/** createApp(core): the whole HTTP API as one Elysia instance, no port bound. */
import { Elysia } from "elysia";
import type { Core } from "../core/core.ts";
import { VERSION } from "../version.ts";
import { jsonBodies } from "./body.ts";
import { apiDocs } from "./docs.ts";
import { type DeclaredErrors, errorHandler } from "./errors.ts";
import { metricsRoute } from "./metrics.ts";
import { requestLog } from "./request-log.ts";
import { declaredCodes } from "./responses.ts";
import { securityHeaders } from "./security.ts";
import { oidcRoutes } from "./oidc/routes.ts";
import { pageRoutes } from "./pages/pages.ts";
import { adminRoutes } from "./routes/admin.ts";
import { adminClientRoutes } from "./routes/admin-clients.ts";
import { providerRoutes } from "./routes/admin-providers.ts";
import { authRoutes } from "./routes/auth.ts";
import { forwardAuthRoutes } from "./routes/forward-auth.ts";
import { meRoutes } from "./routes/me.ts";
import { passkeyRoutes } from "./routes/passkeys.ts";
import { systemRoutes } from "./routes/system.ts";

export interface AppOptions {
  docs?: boolean;
  /** An error code a route does not declare becomes a 500 (errors.ts); the test suites turn it on. */
  strictErrors?: boolean;
}

export function createApp(core: Core, options: AppOptions = {}) {
  const routeMethods = new Map<string, string[]>();
  const allowedMethods = (path: string): string[] => matchRoute(routeMethods, path);
  const routeResponses = new Map<string, Record<number, unknown>>();
  const declaredErrors: DeclaredErrors = (method, route, status) => {
    const declared = routeResponses.get(`${method} ${route}`);
    return declared ? (declaredCodes(declared[status]) ?? []) : null;
  };

  const app = new Elysia({ normalize: false })
    .use(requestLog(core.logger, core.metrics))
    .use(securityHeaders(core.config.corsOrigins))
    .use(errorHandler(core.logger, { allowedMethods, declaredErrors, strictErrors: options.strictErrors === true }))
    .use(jsonBodies())
    .use(systemRoutes(core))
    .use(pageRoutes(core))
    // The provider signs id_tokens with a published key: none in HS256 mode (USERSVC_JWT_SECRET), so no provider either.
    .use(core.tokens.asymmetric ? oidcRoutes(core) : new Elysia())
    .use(new Elysia({ prefix: "/api/v1" }).use(authRoutes(core)).use(forwardAuthRoutes(core)).use(meRoutes(core)).use(passkeyRoutes(core)).use(adminRoutes(core)).use(adminClientRoutes(core)).use(providerRoutes(core)));
  if (options.docs !== false) app.use(apiDocs(VERSION, () => app.routes));
  if (core.config.metrics === "on") app.use(metricsRoute(core.metrics, core.config.metricsToken));

  for (const route of app.routes) {
    const methods = routeMethods.get(route.path) ?? [];
    methods.push(route.method);
    routeMethods.set(route.path, methods);
    const response = (route.hooks as { response?: unknown }).response;
    if (response && typeof response === "object") routeResponses.set(`${route.method} ${route.path}`, response as Record<number, unknown>);
  }
  return app;
}

export type App = ReturnType<typeof createApp>;

/** Methods registered for a concrete path, matching `:param` segments. */
function matchRoute(routes: Map<string, string[]>, path: string): string[] {
  const exact = routes.get(path);
  if (exact) return exact;
  const segments = path.split("/");
  for (const [pattern, methods] of routes) {
    const parts = pattern.split("/");
    if (parts.length === segments.length && parts.every((p, i) => p.startsWith(":") || p === segments[i])) {
      return methods;
    }
  }
  return [];
}
