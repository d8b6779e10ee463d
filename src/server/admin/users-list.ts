/** /admin/users: search, filters, sort, cursor pages */
import type { AdminRouter } from "./admin-router.ts";

export function usersListRoutes(router: AdminRouter): void {
  void router;
}
