/** /admin/audit: the audit log with filters and the chain's verification */
import type { AdminRouter } from "./admin-router.ts";

export function auditRoutes(router: AdminRouter): void {
  void router;
}
