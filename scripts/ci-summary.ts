/**
 * Prints the closing line CI reads, `N passed, N failed` (the skipped count on the line above), summed
 * over the JUnit reports bun test wrote (its own console summary is not
 * recognised by CI). Each failing test is named above that line, with the
 * first lines of its message, so a CI log that keeps only its tail still says
 * what broke. Exits 1 when a report is missing or unreadable.
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
  const report = readFileSync(file, "utf8");
  const root = report.match(/<testsuites\b[^>]*>/)?.[0] ?? "";
  const count = (name: string): number => Number(root.match(new RegExp(`\\b${name}="(\\d+)"`))?.[1] ?? 0);
  const tests = count("tests");
  passed += tests - count("failures") - count("errors") - count("skipped");
  failed += count("failures") + count("errors");
  skipped += count("skipped");
  for (const failure of failures(report)) console.log(`FAILED (${file}) ${failure}`);
}
function failures(report: string): string[] {
  const found: string[] = [];
  const testcase = /<testcase\b([^>]*)>\s*<(failure|error)\b[^>]*?message="([^"]*)"/g;
  for (const [, attributes = "", , message = ""] of report.matchAll(testcase)) {
    const attribute = (name: string) => unescape(attributes.match(new RegExp(`\\b${name}="([^"]*)"`))?.[1] ?? "");
    const detail = unescape(message).split("\n").filter(Boolean).slice(0, 4).join(" | ");
    found.push(`${attribute("file")}:${attribute("line")} ${attribute("classname")} > ${attribute("name")}: ${detail}`);
  }
  return found;
}

function unescape(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, code) => String.fromCharCode(Number(code)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

// Skipped: the tests that run on the other database only (the multi-instance ones need PostgreSQL,
// the embedded lock's need PGlite); said above the closing line, which must be exactly "N passed, N failed".
console.log(`${skipped} skipped (each runs on the other database)`);
// A report that never got written is a run that broke before its tests: count it as a failure.
console.log(`${passed} passed, ${failed + missing} failed`);
process.exit(missing > 0 ? 1 : 0);
