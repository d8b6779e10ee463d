/**
 * Prints the closing line CI reads, `N passed, N failed, N skipped`, summed
 * over the JUnit reports bun test wrote (its own console summary is not
 * recognised by CI). Exits 1 when a report is missing or unreadable.
 */
import { existsSync, readFileSync } from "node:fs";

let passed = 0;
let failed = 0;
let skipped = 0;
let missing = 0;
for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) {
    console.error(`ci-summary: no report at ${file}`);
    missing += 1;
    continue;
  }
  const root = readFileSync(file, "utf8").match(/<testsuites\b[^>]*>/)?.[0] ?? "";
  const count = (name: string): number => Number(root.match(new RegExp(`\\b${name}="(\\d+)"`))?.[1] ?? 0);
  const tests = count("tests");
  passed += tests - count("failures") - count("errors") - count("skipped");
  failed += count("failures") + count("errors");
  skipped += count("skipped");
}
// A report that never got written is a run that broke before its tests: count it as a failure.
console.log(`${passed} passed, ${failed + missing} failed, ${skipped} skipped`);
process.exit(missing > 0 ? 1 : 0);
