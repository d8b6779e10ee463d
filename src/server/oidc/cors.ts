/**
 * CORS for the provider's client endpoints (SPEC §9): an origin is allowed
 * when a client registered it — the authenticated client's own list where
 * the request names one, any client's for a preflight (which names none).
 * The authorization endpoint never answers CORS: it is a page.
 */
import { sql } from "drizzle-orm";
import type { Core } from "../../core/core.ts";
import type { OAuthClient } from "../../core/oidc/clients.ts";
import { oauthClients } from "../../core/db/schema.ts";

const METHODS = "GET, POST";
const HEADERS = "authorization, content-type";

export function clientCors(core: Core) {
  async function registered(origin: string): Promise<boolean> {
    if (origin.length > 300) return false;
    const rows = await core.db
      .select({ id: oauthClients.id })
      .from(oauthClients)
      .where(sql`${origin} = any(${oauthClients.corsOrigins})`)
      .limit(1);
    return rows.length > 0;
  }
  async function allowed(origin: string, client: OAuthClient | null): Promise<boolean> {
    return client ? client.corsOrigins.includes(origin) : registered(origin);
  }
  return {
    async headers(request: Request, client: OAuthClient | null): Promise<Record<string, string>> {
      const origin = request.headers.get("origin");
      if (!origin || !(await allowed(origin, client))) return origin ? { vary: "Origin" } : {};
      return { vary: "Origin", "access-control-allow-origin": origin, "access-control-expose-headers": "www-authenticate" };
    },
    async preflight(request: Request): Promise<Response> {
      const origin = request.headers.get("origin");
      if (!origin || !(await registered(origin))) return new Response(null, { status: 204, headers: { vary: "Origin" } });
      return new Response(null, {
        status: 204,
        headers: {
          vary: "Origin",
          "access-control-allow-origin": origin,
          "access-control-allow-methods": METHODS,
          "access-control-allow-headers": HEADERS,
          "access-control-max-age": "600",
        },
      });
    },
  };
}
