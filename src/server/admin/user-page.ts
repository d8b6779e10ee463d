/** /admin/users/:id: one user and every action on them */
import type { AdminRouter } from "./admin-router.ts";

export function userPageRoutes(router: AdminRouter): void {
  void router;
}
