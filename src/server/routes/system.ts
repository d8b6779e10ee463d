/** Routes outside /api/v1: probes and the JWKS. */
import { sql } from "drizzle-orm";
import { Elysia } from "elysia";
import type { Core } from "../../core/core.ts";
import { pendingMigrations } from "../../core/db/migrate.ts";

export function systemRoutes(core: Core) {
  let migrated = false; // once current, the schema stays current for this process
  return new Elysia({ name: "routes/system" })
    .get("/healthz", () => ({ status: "ok" }), { detail: { tags: ["system"], summary: "The process is up" } })
    .get(
      "/readyz",
      async ({ status }) => {
        try {
          await core.db.execute(sql`select 1`);
          const pending = migrated ? [] : await pendingMigrations(core.db);
          if (pending.length > 0) return status(503, { status: "unavailable", reason: "migrations pending", pending });
          migrated = true;
          return { status: "ready" };
        } catch {
          return status(503, { status: "unavailable", reason: "database unreachable" });
        }
      },
      { detail: { tags: ["system"], summary: "The database is reachable and migrated" } },
    )
    .get("/.well-known/jwks.json", ({ set }) => {
      set.headers["cache-control"] = "public, max-age=300";
      return core.tokens.jwks();
    }, { detail: { tags: ["system"], summary: "Public signing keys (empty in HS256 mode)" } });
}
