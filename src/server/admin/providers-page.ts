/** /admin/providers: sign-in providers (add, remove) */
import type { AdminRouter } from "./admin-router.ts";

export function providersRoutes(router: AdminRouter): void {
  void router;
}
