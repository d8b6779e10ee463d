/** /admin/outbox: pending, delivered and dead events; a dead event (or all of them) delivered again (the same as `usersvc events retry`). */
import { DomainError } from "../../core/errors.ts";
import { retryDeadEvents } from "../../core/events/outbox.ts";
import { listOutbox, type OutboxRow } from "../../core/events/outbox-queries.ts";
import { HTTP_STATUS } from "../errors.ts";
import { type AdminCall, type AdminRouter, askFirst, noticeOf, redirectDone, renderAdmin } from "./admin-router.ts";

const LIMIT = 100;
const STATUSES = ["pending", "delivered", "dead"] as const satisfies readonly OutboxRow["status"][];
type Status = (typeof STATUSES)[number];

const NOTICES: Record<string, string> = {
  retried: "The event is queued for delivery again.",
  "retried-all": "Every dead event is queued for delivery again.",
  "none-dead": "There were no dead events to retry.",
};

function statusOf(value: string | undefined): Status | undefined {
  return STATUSES.find((status) => status === value);
}

async function showOutbox(admin: AdminCall, error: DomainError | null = null): Promise<Response> {
  const { call } = admin;
  const status = statusOf(call.query.status);
  const events = await listOutbox(call.pages.core.db, { status, limit: LIMIT });
  const tabs = [undefined, ...STATUSES].map((tab) => ({
    label: tab ?? "all",
    href: tab ? `${call.url("/admin/outbox")}?status=${tab}` : call.url("/admin/outbox"),
    current: tab === status,
  }));
  return renderAdmin(
    admin,
    "admin-outbox",
    "outbox",
    { events, tabs, status: status ?? "all", limit: LIMIT, notice: noticeOf(call, NOTICES), error: error ? call.errorOf(error) : null },
    error ? HTTP_STATUS[error.code] : 200,
  );
}

export function outboxRoutes(router: AdminRouter): void {
  router.page("/admin/outbox", (admin) => showOutbox(admin));
  router.action(
    "/admin/outbox/retry",
    async (admin) => {
      const seq = Number(admin.call.field("seq"));
      if (!Number.isSafeInteger(seq) || seq <= 0) throw new DomainError("NOT_FOUND", "No dead event with that seq.");
      const retried = await retryDeadEvents(admin.call.pages.core, admin.actor, { seq });
      if (retried === 0) throw new DomainError("NOT_FOUND", `Event ${seq} is not dead-lettered (already retried or delivered), so there is nothing to retry.`);
      return redirectDone(admin.call, `${admin.call.url("/admin/outbox")}?status=dead`, "retried");
    },
    (admin, error) => showOutbox(admin, error),
  );
  router.action(
    "/admin/outbox/retry-all",
    async (admin) => {
      const ask = askFirst(
        admin,
        { title: "Retry every dead event?", paragraphs: ["Each dead-lettered event goes back to pending and is delivered again, its attempts starting over."], confirmLabel: "Retry all dead events" },
        "outbox",
      );
      if (ask) return ask;
      const retried = await retryDeadEvents(admin.call.pages.core, admin.actor, "all");
      return redirectDone(admin.call, `${admin.call.url("/admin/outbox")}?status=dead`, retried > 0 ? "retried-all" : "none-dead");
    },
    (admin, error) => showOutbox(admin, error),
  );
}
