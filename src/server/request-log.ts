/**
 * One JSON log line per request: id, method, route, status, duration — and
 * the same figures into the request metrics. No header or body is ever
 * logged, so no password or token can leak here.
 */
import { Elysia } from "elysia";
import type { Metrics } from "../core/metrics.ts";
import type { Logger } from "../logger.ts";

const REQUEST_ID = /^[\w.:-]{1,128}$/;

export function requestLog(logger: Logger, metrics: Metrics) {
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
      const seconds = start ? (performance.now() - start.at) / 1000 : 0;
      // Unmatched paths share one label: clients must not be able to create label values.
      metrics.httpRequest(request.method, route || "(unmatched)", status, seconds);
      if (!logger.isLevelEnabled("info")) return;
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
