/** The bearer-token macro: `{ auth: true }` on a route resolves `principal`. */
import { Elysia } from "elysia";
import type { Core } from "../core/core.ts";
import { DomainError } from "../core/errors.ts";
import { authenticate, type ClientInfo } from "../core/sessions/sessions.ts";

const BEARER = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/i;

export function authMacro(core: Core) {
  return new Elysia({ name: "auth-macro" }).macro({
    auth: {
      async resolve({ headers }) {
        const match = BEARER.exec(headers.authorization ?? "");
        if (!match) throw new DomainError("UNAUTHENTICATED");
        return { principal: await authenticate(core, match[1]!) };
      },
    },
  });
}

/** Swagger: routes that need the bearer token show the lock and send it. */
export const BEARER_SECURITY = [{ bearerAuth: [] as string[] }];

interface ServerLike {
  requestIP(request: Request): { address: string } | null;
}

export function clientInfo(request: Request, server: ServerLike | null, trustProxy: boolean): ClientInfo {
  const forwarded = trustProxy ? request.headers.get("x-forwarded-for")?.split(",")[0]?.trim() : undefined;
  const ip = forwarded || server?.requestIP(request)?.address || null;
  return { ip: ip?.slice(0, 64) ?? null, userAgent: request.headers.get("user-agent") };
}
