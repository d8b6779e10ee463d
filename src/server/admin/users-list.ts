/** /admin/users: search, filters, sort, cursor pages (listUsers, as GET /api/v1/admin/users). */
import { DomainError } from "../../core/errors.ts";
import { listUsers, USER_SORTS, type UserListQuery, type UserPage } from "../../core/users/list.ts";
import { HTTP_STATUS } from "../errors.ts";
import { type AdminCall, type AdminRouter, noticeOf, renderAdmin } from "./admin-router.ts";

const SORT_LABELS: Record<(typeof USER_SORTS)[number], string> = {
  "-created_at": "Newest first",
  created_at: "Oldest first",
  email: "Email",
  username: "Username",
};
const STATUS_LABELS = { "": "Any", active: "Active", blocked: "Blocked", deleted: "Deleted" };

/** The filters as the URL carries them (empty = not set), so a view can be shared and reloaded. */
function filtersOf(admin: AdminCall): Record<string, string> {
  const { query } = admin.call;
  const status = query.status === "any" ? "" : (query.status ?? "");
  return { q: query.q ?? "", status, role: query.role ?? "", sort: query.sort ?? "", limit: query.limit ?? "" };
}

function listQuery(filters: Record<string, string>, cursor: string | undefined): UserListQuery {
  const query: UserListQuery = {};
  if (filters.q) query.q = filters.q;
  if (filters.status) query.status = filters.status;
  if (filters.role) query.role = filters.role;
  if (filters.sort) query.sort = filters.sort;
  if (filters.limit) query.limit = Number(filters.limit);
  if (cursor) query.cursor = cursor;
  return query;
}

/** The users path with these filters (and a cursor), leaving out what is not set. */
function usersHref(admin: AdminCall, filters: Record<string, string>, cursor?: string): string {
  const params = new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== ""));
  if (cursor) params.set("cursor", cursor);
  const search = params.toString();
  return `${admin.call.url("/admin/users")}${search ? `?${search}` : ""}`;
}

async function showUsers(admin: AdminCall): Promise<Response> {
  const filters = filtersOf(admin);
  const cursor = admin.call.query.cursor || undefined;
  let page: UserPage | null = null;
  let error: DomainError | null = null;
  try {
    page = await listUsers(admin.call.pages.core, listQuery(filters, cursor));
  } catch (e) {
    if (!(e instanceof DomainError)) throw e;
    error = e;
  }
  return renderAdmin(
    admin,
    "admin-users",
    "users",
    {
      filters,
      sorts: USER_SORTS.map((value) => ({ value, label: SORT_LABELS[value] })),
      statuses: Object.entries(STATUS_LABELS).map(([value, label]) => ({ value, label })),
      users: (page?.items ?? []).map((user) => ({ ...user, href: admin.call.url(`/admin/users/${user.id}`) })),
      total: page?.total ?? null,
      nextHref: page?.next_cursor ? usersHref(admin, filters, page.next_cursor) : null,
      firstHref: cursor ? usersHref(admin, filters) : null,
      error: error ? admin.call.errorOf(error) : null,
      notice: noticeOf(admin.call, { purged: "User purged: everything of theirs is erased." }),
    },
    error ? HTTP_STATUS[error.code] : 200,
  );
}

export function usersListRoutes(router: AdminRouter): void {
  router.page("/admin/users", showUsers);
}
