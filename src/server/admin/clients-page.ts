/** /admin/clients: OIDC clients (add, edit, rotate secret, remove) */
import type { AdminRouter } from "./admin-router.ts";

export function clientsRoutes(router: AdminRouter): void {
  void router;
}
