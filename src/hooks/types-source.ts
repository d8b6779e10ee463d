/**
 * Runs at bundle time (imported `with { type: "macro" }`): the text of
 * types.ts, for `usersvc hooks types`, carried inside the binary.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export function hookTypesSource(): string {
  return readFileSync(join(import.meta.dir, "types.ts"), "utf8");
}
