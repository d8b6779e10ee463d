/** Routes outside /api/v1: probes and the JWKS. */
import { sql } from "drizzle-orm";
import { Elysia, t } from "elysia";
import type { Core } from "../../core/core.ts";
import { pendingMigrations } from "../../core/db/migrate.ts";
import { plainResponses } from "../responses.ts";

const strict = { additionalProperties: false } as const;
const Responses = {
  health: plainResponses({ 200: t.Object({ status: t.Literal("ok") }, { ...strict, description: "The process is up" }) }),
  ready: plainResponses({
    200: t.Object({ status: t.Literal("ready") }, { ...strict, description: "Ready to serve" }),
    503: t.Object(
      {
        status: t.Literal("unavailable"),
        reason: t.String({ description: "database unreachable | migrations pending" }),
        pending: t.Optional(t.Array(t.String(), { description: "Migrations not applied yet" })),
      },
      { ...strict, description: "Not ready: the database is unreachable or not migrated" },
    ),
  }),
  jwks: plainResponses({
    200: t.Object(
      { keys: t.Array(t.Record(t.String(), t.Unknown(), { description: "A public JWK (RFC 7517)" })) },
      { ...strict, description: "The JWK set: the current key and older ones whose tokens may still be live" },
    ),
  }),
};

export function systemRoutes(core: Core) {
  let migrated = false; // once current, the schema stays current for this process
  return new Elysia({ name: "routes/system" })
    .get("/healthz", () => ({ status: "ok" as const }), { response: Responses.health, detail: { tags: ["system"], summary: "The process is up" } })
    .get(
      "/readyz",
      async ({ status }) => {
        try {
          await core.db.execute(sql`select 1`);
          const pending = migrated ? [] : await pendingMigrations(core.db);
          if (pending.length > 0) return status(503, { status: "unavailable" as const, reason: "migrations pending", pending });
          migrated = true;
          return { status: "ready" as const };
        } catch {
          return status(503, { status: "unavailable" as const, reason: "database unreachable" });
        }
      },
      { response: Responses.ready, detail: { tags: ["system"], summary: "The database is reachable and migrated" } },
    )
    .get("/.well-known/jwks.json", ({ set }) => {
      set.headers["cache-control"] = "public, max-age=300";
      return core.tokens.jwks();
    }, { response: Responses.jwks, detail: { tags: ["system"], summary: "Public signing keys (empty in HS256 mode)" } });
}
