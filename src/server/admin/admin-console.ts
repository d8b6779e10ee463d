/** The admin console (SPEC §11) as one Elysia plugin: each screen's file registers its routes. */
import { AdminRouter } from "./admin-router.ts";
import { auditRoutes } from "./audit-page.ts";
import { clientsRoutes } from "./clients-page.ts";
import { confirmRoutes } from "./confirm.ts";
import { keysRoutes } from "./keys-page.ts";
import { outboxRoutes } from "./outbox-page.ts";
import { overviewRoutes } from "./overview.ts";
import { providersRoutes } from "./providers-page.ts";
import { userActionRoutes } from "./user-actions.ts";
import { userDangerRoutes } from "./user-danger.ts";
import { userPageRoutes } from "./user-page.ts";
import { usersListRoutes } from "./users-list.ts";
import type { Pages } from "../pages/page-call.ts";

export function adminConsole(pages: Pages) {
  const router = new AdminRouter(pages);
  for (const register of [confirmRoutes, overviewRoutes, usersListRoutes, userPageRoutes, userActionRoutes, userDangerRoutes, auditRoutes, outboxRoutes, keysRoutes, clientsRoutes, providersRoutes]) {
    register(router);
  }
  return router.app;
}
