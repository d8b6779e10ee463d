/**
 * The admin user list: filters that use indexes (status + created_at,
 * roles GIN, trigram on email and username), offset pages or keyset
 * cursors. A cursor holds the last row's sort value and id, so paging stays
 * fast and stable however deep it goes.
 */
import { and, arrayContains, asc, count, desc, eq, gt, isNull, lte, or, type SQL, sql } from "drizzle-orm";
import type { Core } from "../core.ts";
import { users } from "../db/schema.ts";
import { DomainError, type FieldProblem } from "../errors.ts";
import { checkPage } from "../page.ts";
import { isUuid } from "../uuid.ts";
import { userColumns } from "./queries.ts";
import { toPublicUser, type PublicUser, type UserStatus } from "./user-record.ts";

export const USER_SORTS = ["created_at", "-created_at", "email", "username"] as const;
export type UserSort = (typeof USER_SORTS)[number];
const STATUSES: readonly UserStatus[] = ["active", "blocked", "deleted"];

export interface UserListQuery {
  limit?: number;
  offset?: number;
  cursor?: string;
  q?: string;
  status?: string;
  role?: string;
  sort?: string;
}

export interface UserPage {
  items: PublicUser[];
  total: number;
  limit: number;
  offset: number;
  next_cursor: string | null;
}

/** How PostgreSQL prints a timestamptz; anything else in a cursor would fail the cast with a 500. */
const TIMESTAMP_TEXT = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?[+-](\d{2})(?::(\d{2}))?$/;

interface Cursor {
  s: UserSort;
  v: string;
  id: string;
}

export async function listUsers(core: Core, query: UserListQuery): Promise<UserPage> {
  const problems: FieldProblem[] = [];
  const { limit, offset } = checkPage(query, problems);
  const sort = (query.sort ?? "-created_at") as UserSort;
  if (!USER_SORTS.includes(sort)) problems.push({ field: "sort", message: `must be one of ${USER_SORTS.join(", ")}` });
  if (query.status !== undefined && !STATUSES.includes(query.status as UserStatus)) {
    problems.push({ field: "status", message: `must be one of ${STATUSES.join(", ")}` });
  }
  if (query.q !== undefined && query.q.length > 200) problems.push({ field: "q", message: "must be at most 200 characters" });
  if (query.cursor !== undefined && query.offset) problems.push({ field: "cursor", message: "cannot be combined with offset" });
  const cursor = query.cursor === undefined ? null : decodeCursor(query.cursor, sort, problems);
  if (problems.length > 0) throw new DomainError("VALIDATION_ERROR", problemsMessage(problems), problems);

  const now = core.now();
  const filters = filterConditions(query, now);
  const page = cursor ? [...filters, afterCursor(cursor)] : filters;
  const [rows, [totals]] = await Promise.all([
    core.db
      .select({ ...userColumns, sortValue: sortValue(sort) })
      .from(users)
      .where(and(...page))
      .orderBy(...ordering(sort))
      .limit(limit + 1)
      .offset(cursor ? 0 : offset),
    core.db.select({ n: count() }).from(users).where(and(...filters)),
  ]);
  const more = rows.length > limit;
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map(({ sortValue: _, ...user }) => toPublicUser(user, now)),
    total: Number(totals?.n ?? 0),
    limit,
    offset: cursor ? 0 : offset,
    next_cursor: more && last ? encodeCursor({ s: sort, v: last.sortValue, id: last.id }) : null,
  };
}

function filterConditions(query: UserListQuery, now: Date): SQL[] {
  const conditions: SQL[] = [];
  if (query.q) {
    const pattern = `%${query.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    conditions.push(or(sql`${users.email} like ${pattern}`, sql`lower(${users.username}) like ${pattern}`)!);
  }
  if (query.role) conditions.push(arrayContains(users.roles, [query.role]));
  // A block past its `until` counts as active even before the sweep records it.
  if (query.status === "active") {
    conditions.push(or(eq(users.status, "active"), and(eq(users.status, "blocked"), lte(users.blockedUntil, now)))!);
  } else if (query.status === "blocked") {
    conditions.push(and(eq(users.status, "blocked"), or(isNull(users.blockedUntil), gt(users.blockedUntil, now)))!);
  } else if (query.status === "deleted") {
    conditions.push(eq(users.status, "deleted"));
  }
  return conditions;
}

/** The sort key as text, exactly as the database compares it (timestamps keep their microseconds). */
function sortValue(sort: UserSort): SQL<string> {
  switch (sort) {
    case "email":
      return sql<string>`${users.email}`;
    case "username":
      return sql<string>`lower(${users.username})`;
    default:
      return sql<string>`${users.createdAt}::text`;
  }
}

function ordering(sort: UserSort): SQL[] {
  switch (sort) {
    case "email":
      return [asc(users.email)];
    case "username":
      return [sql`lower(${users.username}) asc`];
    case "created_at":
      return [asc(users.createdAt), asc(users.id)];
    case "-created_at":
      return [desc(users.createdAt), desc(users.id)];
  }
}

function afterCursor(cursor: Cursor): SQL {
  switch (cursor.s) {
    case "email":
      return sql`${users.email} > ${cursor.v}`;
    case "username":
      return sql`lower(${users.username}) > ${cursor.v}`;
    case "created_at":
      return sql`(${users.createdAt}, ${users.id}) > (${cursor.v}::timestamptz, ${cursor.id}::uuid)`;
    case "-created_at":
      return sql`(${users.createdAt}, ${users.id}) < (${cursor.v}::timestamptz, ${cursor.id}::uuid)`;
  }
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

function decodeCursor(raw: string, sort: UserSort, problems: FieldProblem[]): Cursor | null {
  try {
    const cursor = JSON.parse(Buffer.from(raw, "base64url").toString()) as Cursor;
    const valid =
      typeof cursor.v === "string" &&
      typeof cursor.id === "string" &&
      isUuid(cursor.id) &&
      cursor.s === sort &&
      (sort.endsWith("created_at") ? isTimestampText(cursor.v) : cursor.v.length <= 320);
    if (valid) return cursor;
  } catch {}
  problems.push({ field: "cursor", message: "is not a cursor from this listing (with the same sort)" });
  return null;
}

/** The shape alone lets "2020-13-45 25:61:61+00" through, which the cast refuses: check the fields' ranges too. */
function isTimestampText(text: string): boolean {
  const match = TIMESTAMP_TEXT.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const offsetHours = Number(match[8]);
  const offsetMinutes = Number(match[9] ?? "0");
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second);
  return (
    year > 0 &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second &&
    offsetHours <= 15 &&
    offsetMinutes <= 59
  );
}

function problemsMessage(problems: FieldProblem[]): string {
  return problems.map((p) => `${p.field}: ${p.message}`).join("; ");
}
