/**
 * The binary search of src/core/passwords/breached.ts over a sorted SHA-1 file:
 * found at the first line, the last line and in the middle, absent before the
 * first line, after the last and between lines, in LF and CRLF files.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BreachedPasswordList, getBreachedPasswordList, openBreachedPasswordList } from "../../src/core/passwords/breached.ts";
import { type BreachedFixture, sha1Hex, writeBreachedFile } from "../support/breached-file.ts";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "usersvc-breached-unit-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const VARIANTS = [
  { name: "LF, no newline at the end", lineEnding: "\n", trailingNewline: false },
  { name: "LF, newline at the end", lineEnding: "\n", trailingNewline: true },
  { name: "CRLF, CRLF at the end", lineEnding: "\r\n", trailingNewline: true },
  { name: "CRLF, no CRLF at the end", lineEnding: "\r\n", trailingNewline: false },
] as const;

describe.each(VARIANTS)("findBreachCount over a file with $name", (variant) => {
  let fixture: BreachedFixture;
  let list: BreachedPasswordList;
  beforeAll(async () => {
    fixture = writeBreachedFile(scratch, `${crypto.randomUUID()}.txt`, { ...variant, randomLines: 5000 });
    list = await openBreachedPasswordList(fixture.path);
  });
  afterAll(() => list.close());

  test("finds the first line, the middle one and the last line with their counts", async () => {
    expect(fixture.entries[0]!.hash).toBe(fixture.first.hash);
    expect(fixture.entries.at(-1)!.hash).toBe(fixture.last.hash);
    expect(await Promise.all([fixture.first, fixture.middle, fixture.last].map((e) => list.findBreachCount(e.password)))).toEqual([
      fixture.first.count,
      fixture.middle.count,
      fixture.last.count,
    ]);
  });

  test("answers null before the first line, after the last line and between lines", async () => {
    const absent = [fixture.beforeFirst, fixture.afterLast, ...fixture.between];
    expect(await Promise.all(absent.map((p) => list.findBreachCount(p)))).toEqual(absent.map(() => null));
  });

  test("finds every line of the file by its hash, many lookups at once", async () => {
    const counts = await Promise.all(fixture.entries.map((e) => list.findHashCount(e.hash)));
    expect(counts).toEqual(fixture.entries.map((e) => e.count));
  });

  test("a hash is looked up in uppercase whatever case it is given in", async () => {
    expect(await list.findHashCount(fixture.middle.hash.toLowerCase())).toBe(fixture.middle.count);
  });
});

describe("small files", () => {
  test("a file of one line finds that line and nothing else", async () => {
    const path = join(scratch, "one.txt");
    writeFileSync(path, `${sha1Hex("only password here")}:7\r\n`);
    const list = await openBreachedPasswordList(path);
    try {
      expect([await list.findBreachCount("only password here"), await list.findBreachCount("another password")]).toEqual([7, null]);
    } finally {
      await list.close();
    }
  });

  test("a file of two lines finds both", async () => {
    const [a, b] = ["first of two", "second of two"].map((p) => ({ p, h: sha1Hex(p) })).sort((x, y) => (x.h < y.h ? -1 : 1));
    const path = join(scratch, "two.txt");
    writeFileSync(path, `${a!.h}:1\n${b!.h}:2\n`);
    const list = await openBreachedPasswordList(path);
    try {
      expect([await list.findBreachCount(a!.p), await list.findBreachCount(b!.p)]).toEqual([1, 2]);
    } finally {
      await list.close();
    }
  });
});

describe("getBreachedPasswordList", () => {
  test("opens a file once and keeps that handle for every later lookup", async () => {
    const fixture = writeBreachedFile(scratch, "shared.txt", { lineEnding: "\n", trailingNewline: true, randomLines: 100 });
    const [one, two] = await Promise.all([getBreachedPasswordList(fixture.path), getBreachedPasswordList(fixture.path)]);
    expect(one).toBe(two);
    expect(await one.findBreachCount(fixture.last.password)).toBe(fixture.last.count);
  });
});
