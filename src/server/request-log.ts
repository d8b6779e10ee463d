/**
 * One JSON log line per request: id, method, route, status, duration. No
 * header or body is ever logged, so no password or token can leak here.
 */
import { Elysia } from "elysia";
import type { Logger } from "../logger.ts";

const REQUEST_ID = /^[\w.:-]{1,128}$/;

export function requestLog(logger: Logger) {
  const started = new WeakMap<Request, { id: string; at: number }>();
  return new Elysia({ name: "request-log" })
    .onRequest(({ request, set }) => {
      const incoming = request.headers.get("x-request-id");
      const id = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
      started.set(request, { id, at: performance.now() });
      set.headers["x-request-id"] = id;
    })
    .onAfterResponse({ as: "global" }, ({ request, route, path, set, response }) => {
      const start = started.get(request);
      const status = response instanceof Response ? response.status : Number(set.status ?? 200);
      logger.info(
        {
          req_id: start?.id,
          method: request.method,
          route: route || path,
          status,
          duration_ms: start ? Math.round((performance.now() - start.at) * 100) / 100 : undefined,
        },
        "request",
      );
    });
}
