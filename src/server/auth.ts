/** The bearer-token macro: `{ auth: true }` on a route resolves `principal`. */
import { Elysia } from "elysia";
import type { TrustProxy } from "../config.ts";
import type { Core } from "../core/core.ts";
import { DomainError } from "../core/errors.ts";
import { adminActor, userActor } from "../core/audit/actor.ts";
import { authenticate } from "../core/sessions/authenticate.ts";
import type { ClientInfo, Principal } from "../core/sessions/session-tokens.ts";
import { clientIpResolver } from "./client-ip.ts";

export const BEARER = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/i;

/**
 * `{ auth: true }` resolves `principal` (and `actor`, for the audit log);
 * `{ admin: true }` does the same and then requires the admin role as stored
 * now, not as the token remembers it, so a demotion applies at once.
 *
 * The check runs in `transform`, before the request's params and body are
 * validated: a caller without the right token learns nothing about a route's
 * input rules (401/403 come before 422). `resolve` then hands the result on.
 */
export function authMacro(core: Core) {
  const trustProxy = core.config.trustProxy;
  const principals = new WeakMap<Request, Principal>();
  async function principalOf(authorization: string | undefined): Promise<Principal> {
    const match = BEARER.exec(authorization ?? "");
    if (!match) throw new DomainError("UNAUTHENTICATED");
    return authenticate(core, match[1]!);
  }
  function checked(request: Request): Principal {
    const principal = principals.get(request);
    if (!principal) throw new Error("auth macro: resolve ran without transform");
    return principal;
  }
  return new Elysia({ name: "auth-macro" }).macro({
    auth: {
      async transform({ headers, request }) {
        principals.set(request, await principalOf(headers.authorization));
      },
      resolve({ request, server }) {
        const principal = checked(request);
        const client = clientInfo(request, server, trustProxy);
        return { principal, client, actor: userActor(principal.user.id, client.ip) };
      },
    },
    admin: {
      async transform({ headers, request }) {
        const principal = await principalOf(headers.authorization);
        if (!principal.user.roles.includes("admin")) throw new DomainError("FORBIDDEN");
        principals.set(request, principal);
      },
      resolve({ request, server }) {
        const principal = checked(request);
        const client = clientInfo(request, server, trustProxy);
        return { principal, client, actor: adminActor(principal.user.id, client.ip) };
      },
    },
  });
}

/** Swagger: routes that need the bearer token show the lock and send it. */
export const BEARER_SECURITY = [{ bearerAuth: [] as string[] }];

interface ServerLike {
  requestIP(request: Request): { address: string } | null;
}

/** The client's IP (see client-ip.ts for whose X-Forwarded-For is believed) and user agent. */
export function clientInfo(request: Request, server: ServerLike | null, trustProxy: TrustProxy): ClientInfo {
  const peer = server?.requestIP(request)?.address ?? null;
  const ip = clientIpResolver(trustProxy)(request.headers.get("x-forwarded-for"), peer);
  return { ip: ip?.slice(0, 64) ?? null, userAgent: request.headers.get("user-agent") };
}
