/** /admin/keys: signing keys, rotate, revoke previous */
import type { AdminRouter } from "./admin-router.ts";

export function keysRoutes(router: AdminRouter): void {
  void router;
}
