/** /admin: the overview (charts of sign-ups and sign-ins, sessions, users, outbox, audit chain, key ages). */
import { type AdminRouter, renderAdmin } from "./admin-router.ts";

export function overviewRoutes(router: AdminRouter): void {
  router.page("/admin", (admin) => renderAdmin(admin, "admin-overview", "overview"));
}
