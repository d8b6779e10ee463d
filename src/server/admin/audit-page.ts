/** /admin/audit: the audit log with filters and pages, and the hash chain's verification (the same as `usersvc audit verify`). */
import { type AuditQuery, listAudit, verifyAuditChain, type ChainReport } from "../../core/audit/audit.ts";
import { DomainError, type FieldProblem, validationError } from "../../core/errors.ts";
import { HTTP_STATUS } from "../errors.ts";
import type { PageCall } from "../pages/page-call.ts";
import { type AdminCall, type AdminRouter, renderAdmin } from "./admin-router.ts";

const PAGE_SIZE = 50;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A datetime-local field's value (no zone: read as UTC, as the page says) or an ISO time. */
const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

const FILTERS = ["user_id", "event", "actor_id", "since", "until"] as const;
type Filters = Record<(typeof FILTERS)[number], string>;
const NO_FILTERS: Filters = { user_id: "", event: "", actor_id: "", since: "", until: "" };

function filtersOf(call: PageCall): Filters {
  return Object.fromEntries(FILTERS.map((name) => [name, (call.query[name] ?? "").trim()])) as Filters;
}

function timeOf(value: string): Date | null {
  const text = LOCAL_TIME.test(value) ? `${value}Z` : ISO_TIME.test(value) ? value : null;
  const time = text === null ? Number.NaN : Date.parse(text);
  return Number.isNaN(time) ? null : new Date(time);
}

function queryOf(filters: Filters, offset: number): Omit<AuditQuery, "limit"> {
  const problems: FieldProblem[] = [];
  for (const name of ["user_id", "actor_id"] as const) {
    if (filters[name] && !UUID.test(filters[name])) problems.push({ field: name, message: "Give a user id (a UUID)." });
  }
  const since = filters.since ? timeOf(filters.since) : undefined;
  const until = filters.until ? timeOf(filters.until) : undefined;
  if (since === null) problems.push({ field: "since", message: "Give a date and time (YYYY-MM-DDTHH:MM, UTC)." });
  if (until === null) problems.push({ field: "until", message: "Give a date and time (YYYY-MM-DDTHH:MM, UTC)." });
  if (problems.length) throw validationError(problems);
  return {
    userId: filters.user_id || undefined,
    event: filters.event || undefined,
    actorId: filters.actor_id || undefined,
    since: since ?? undefined,
    until: until ?? undefined,
    offset,
  };
}

/** `?offset=`: a whole number the database takes (1e30 would fail there as a 500), else the first page. */
function offsetOf(raw: string | undefined): number {
  const offset = Number.parseInt(raw ?? "0", 10);
  return Number.isSafeInteger(offset) && offset > 0 ? offset : 0;
}

function linkWith(call: PageCall, filters: Filters, offset: number): string {
  const params: Record<string, string> = {};
  for (const name of FILTERS) if (filters[name]) params[name] = filters[name];
  if (offset > 0) params.offset = String(offset);
  const search = new URLSearchParams(params).toString();
  return `${call.url("/admin/audit")}${search ? `?${search}` : ""}`;
}

async function showAudit(admin: AdminCall, chain: ChainReport | null = null): Promise<Response> {
  const { call } = admin;
  // The verification's result comes with the newest entries, unfiltered.
  const filters = chain ? NO_FILTERS : filtersOf(call);
  const offset = chain ? 0 : offsetOf(call.query.offset);
  let error: ReturnType<PageCall["errorOf"]> | null = null;
  let status = 200;
  let page: Awaited<ReturnType<typeof listAudit>> = { items: [], total: 0 };
  try {
    page = await listAudit(call.pages.core.db, { ...queryOf(filters, offset), limit: PAGE_SIZE });
  } catch (e) {
    if (!(e instanceof DomainError)) throw e;
    error = call.errorOf(e);
    status = HTTP_STATUS[e.code];
  }
  const userLink = (id: string | null) => (id ? call.url(`/admin/users/${id}`) : null);
  const entries = page.items.map((entry) => ({
    ...entry,
    actorHref: entry.actor.type === "user" || entry.actor.type === "admin" ? userLink(entry.actor.id) : null,
    targetHref: entry.target_id && UUID.test(entry.target_id) ? userLink(entry.target_id) : null,
    json: JSON.stringify(entry.data),
  }));
  const first = page.total === 0 ? 0 : offset + 1;
  return renderAdmin(
    admin,
    "admin-audit",
    "audit",
    {
      filters,
      entries,
      total: page.total,
      range: { first, last: offset + entries.length },
      previousHref: offset > 0 ? linkWith(call, filters, Math.max(0, offset - PAGE_SIZE)) : null,
      nextHref: offset + PAGE_SIZE < page.total ? linkWith(call, filters, offset + PAGE_SIZE) : null,
      chain,
      error,
    },
    status,
  );
}

export function auditRoutes(router: AdminRouter): void {
  router.page("/admin/audit", (admin) => showAudit(admin));
  // Verifying changes nothing, so it is not itself audited.
  router.action("/admin/audit/verify", async (admin) => {
    const core = admin.call.pages.core;
    return showAudit(admin, await verifyAuditChain(core.db, { full: admin.call.field("full") === "yes", now: core.now() }));
  });
}
