/** The one page rule of every listing: limit 1-200 (default 50), offset 0 or more (default 0). */
import type { FieldProblem } from "./errors.ts";

export const PAGE_LIMIT_MAX = 200;
export const PAGE_LIMIT_DEFAULT = 50;

export interface Page {
  limit: number;
  offset: number;
}

/** The page asked for, defaults applied; a value out of bounds adds a problem naming it. */
export function checkPage(query: { limit?: number; offset?: number }, problems: FieldProblem[]): Page {
  const limit = query.limit ?? PAGE_LIMIT_DEFAULT;
  const offset = query.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > PAGE_LIMIT_MAX) {
    problems.push({ field: "limit", message: `must be an integer 1-${PAGE_LIMIT_MAX}` });
  }
  // Safe integers only: 1e20 is an integer too, but not a bigint, and the query would fail with a 500.
  if (!Number.isSafeInteger(offset) || offset < 0) problems.push({ field: "offset", message: "must be an integer of 0 or more" });
  return { limit, offset };
}
