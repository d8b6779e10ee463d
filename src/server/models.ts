import { t } from "elysia";
import { type FieldProblem, validationError } from "../core/errors.ts";
import { checkPage, type Page as PageQuery } from "../core/page.ts";

/**
 * limit/offset query parameters. Their bounds are checked by pageOf, not by
 * the schema: Elysia reports a failed bound of a numeric query parameter
 * without the parameter's name ("property" instead of "limit").
 */
export const Page = t.Object(
  {
    limit: t.Optional(t.Numeric({ description: "1-200, default 50" })),
    offset: t.Optional(t.Numeric({ description: "0 or more, default 0" })),
  },
  { additionalProperties: false },
);

/** The page a query asks for, defaults applied; a value out of bounds → VALIDATION_ERROR naming it. */
export function pageOf(query: { limit?: number; offset?: number }): PageQuery {
  const problems: FieldProblem[] = [];
  const page = checkPage(query, problems);
  if (problems.length > 0) throw validationError(problems);
  return page;
}
