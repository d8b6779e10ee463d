/**
 * Small files in the Have I Been Pwned "ordered by hash" format (uppercase
 * SHA-1, `HASH:COUNT`, sorted) for the breached-password tests: a few
 * thousand random lines around known passwords placed on the first line, the
 * last line and near the middle, plus passwords known to be absent: one that
 * sorts before the first line, one after the last, a few in between.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface BreachedEntry {
  password: string;
  hash: string;
  count: number;
}

export interface BreachedFixture {
  path: string;
  /** Every line of the file, in order. */
  entries: { hash: string; count: number }[];
  first: BreachedEntry;
  middle: BreachedEntry;
  last: BreachedEntry;
  /** Absent: sorts before the first line. */
  beforeFirst: string;
  /** Absent: sorts after the last line. */
  afterLast: string;
  /** Absent: sort between lines. */
  between: string[];
}

export interface BreachedFileOptions {
  lineEnding: "\n" | "\r\n";
  /** Whether the last line ends with the line ending too. */
  trailingNewline: boolean;
  randomLines: number;
}

export function sha1Hex(password: string): string {
  return createHash("sha1").update(password).digest("hex").toUpperCase();
}

/** The first password `${label} N` whose SHA-1 satisfies `accept` (a few hundred tries at most). */
function passwordWhoseHash(label: string, accept: (hash: string) => boolean): string {
  for (let i = 0; ; i++) {
    const password = `${label} ${i}`;
    if (accept(sha1Hex(password))) return password;
  }
}

export function writeBreachedFile(dir: string, name: string, options: BreachedFileOptions): BreachedFixture {
  const entry = (password: string, count: number): BreachedEntry => ({ password, hash: sha1Hex(password), count });
  const first = entry(passwordWhoseHash("breached first", (h) => h.startsWith("01")), 3861493);
  const middle = entry(passwordWhoseHash("breached middle", (h) => h.startsWith("80")), 12);
  const last = entry(passwordWhoseHash("breached last", (h) => h.startsWith("FE")), 1);
  const beforeFirst = passwordWhoseHash("absent before first", (h) => h.startsWith("00"));
  const afterLast = passwordWhoseHash("absent after last", (h) => h.startsWith("FF"));
  const between = ["3", "7", "C"].map((prefix) => passwordWhoseHash(`absent between ${prefix}`, (h) => h.startsWith(prefix)));

  const random = new Map<string, number>();
  while (random.size < options.randomLines) {
    const hash = createHash("sha1").update(crypto.getRandomValues(new Uint8Array(16))).digest("hex").toUpperCase();
    if (hash > first.hash && hash < last.hash && hash !== middle.hash) random.set(hash, 1 + Math.floor(Math.random() * 100_000));
  }
  const entries = [...random].map(([hash, count]) => ({ hash, count }));
  entries.push(first, middle, last);
  entries.sort((a, b) => (a.hash < b.hash ? -1 : 1));

  const path = join(dir, name);
  const body = entries.map((e) => `${e.hash}:${e.count}`).join(options.lineEnding);
  writeFileSync(path, options.trailingNewline ? body + options.lineEnding : body);
  return {
    path,
    entries: entries.map(({ hash, count }) => ({ hash, count })),
    first,
    middle,
    last,
    beforeFirst,
    afterLast,
    between,
  };
}
