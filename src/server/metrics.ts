/** GET /metrics in the Prometheus text format, on the API port or a port of its own. */
import { Elysia } from "elysia";
import type { Metrics } from "../core/metrics.ts";

export function metricsRoute(metrics: Metrics) {
  return new Elysia({ name: "metrics" }).get("/metrics", () => metricsResponse(metrics), { detail: { hide: true } });
}

export async function metricsResponse(metrics: Metrics): Promise<Response> {
  return new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } });
}

/** USERSVC_METRICS=<port>: a separate listener that serves only /metrics. */
export function serveMetricsOnPort(metrics: Metrics, hostname: string, port: number): { stop(): void; port: number } {
  const server = Bun.serve({
    hostname,
    port,
    fetch: (request) =>
      new URL(request.url).pathname === "/metrics" ? metricsResponse(metrics) : new Response("not found", { status: 404 }),
  });
  return { stop: () => void server.stop(true), port: server.port ?? port };
}
