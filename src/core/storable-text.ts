/**
 * Text PostgreSQL cannot store: a NUL anywhere, or a lone surrogate in jsonb.
 * Checked before a write (the API's body parser, metadata from any door) so
 * such input is a field error, not a 500 from the database.
 */
export const UNSTORABLE_TEXT = "must not contain NUL characters or unpaired surrogates";

export function isStorableText(text: string): boolean {
  return !text.includes("\u0000") && text.isWellFormed();
}

/** The path of the first key or string that cannot be stored, or null. */
export function findUnstorableText(value: unknown, path: string): string | null {
  if (typeof value === "string") return isStorableText(value) ? null : path;
  if (typeof value !== "object" || value === null) return null;
  for (const [key, child] of Object.entries(value)) {
    const childPath = path ? `${path}.${key}` : key;
    if (!isStorableText(key)) return childPath;
    const found = findUnstorableText(child, childPath);
    if (found !== null) return found;
  }
  return null;
}
