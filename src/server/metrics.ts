/**
 * GET /metrics in the Prometheus text format, on the API port or a port of
 * its own; with USERSVC_METRICS_TOKEN, on either one only for a scraper that
 * sends `Authorization: Bearer <token>`.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import type { Metrics } from "../core/metrics.ts";

export function metricsRoute(metrics: Metrics, token: string | null) {
  const authorized = bearerCheck(token);
  return new Elysia({ name: "metrics" }).get(
    "/metrics",
    ({ request }) => (authorized(request) ? metricsResponse(metrics) : unauthorized()),
    { detail: { hide: true } },
  );
}

export async function metricsResponse(metrics: Metrics): Promise<Response> {
  return new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } });
}

/** USERSVC_METRICS=<port>: a separate listener that serves only /metrics. */
export function serveMetricsOnPort(
  metrics: Metrics,
  hostname: string,
  port: number,
  token: string | null,
): { stop(): void; port: number } {
  const authorized = bearerCheck(token);
  const server = Bun.serve({
    hostname,
    port,
    fetch(request) {
      if (new URL(request.url).pathname !== "/metrics") return new Response("not found", { status: 404 });
      return authorized(request) ? metricsResponse(metrics) : unauthorized();
    },
  });
  return { stop: () => void server.stop(true), port: server.port ?? port };
}

/** Everyone is authorized when no token is set. */
function bearerCheck(token: string | null): (request: Request) => boolean {
  if (token === null) return () => true;
  const expected = sha256(token);
  return (request) => {
    const presented = /^Bearer +(\S+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    // Constant-time, over digests: neither which bytes matched nor the token's length shows in the timing.
    return presented !== undefined && timingSafeEqual(sha256(presented), expected);
  };
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function unauthorized(): Response {
  return new Response("unauthorized\n", {
    status: 401,
    headers: { "content-type": "text/plain; charset=utf-8", "www-authenticate": 'Bearer realm="metrics"' },
  });
}
