/**
 * drizzle wraps driver errors (postgres.js and PGlite report them slightly
 * differently); these helpers read the SQLSTATE and constraint through the
 * cause chain.
 */
interface PgErrorFields {
  code?: string;
  constraint_name?: string;
  constraint?: string;
  cause?: unknown;
}

function* causes(error: unknown): Generator<PgErrorFields> {
  let current = error;
  for (let depth = 0; current && typeof current === "object" && depth < 5; depth++) {
    yield current as PgErrorFields;
    current = (current as PgErrorFields).cause;
  }
}

/** The violated unique constraint's name, or null for any other error. */
export function uniqueViolation(error: unknown): string | null {
  for (const e of causes(error)) {
    if (e.code === "23505") return e.constraint_name ?? e.constraint ?? "";
  }
  return null;
}
