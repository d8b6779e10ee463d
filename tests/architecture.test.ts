/**
 * The layout's rules that the compiler does not check: no import circles in
 * src/ (type-only imports count: a circle of types is still two files that
 * cannot be understood apart), and core/ never reaching the HTTP or CLI floors.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../src");

/** Every .ts file of src/ with the .ts files it imports or re-exports from, by relative path. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = readdirSync(SRC, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
  const specifier = /^\s*(?:import|export)\b[^;]*?\bfrom\s+["'](\.{1,2}\/[^"']+\.ts)["']/gms;
  for (const file of files) {
    const text = readFileSync(join(SRC, file), "utf8");
    const targets = [...text.matchAll(specifier)].map((m) => relative(SRC, resolve(SRC, dirname(file), m[1]!)));
    graph.set(file, targets);
  }
  return graph;
}

/** The strongly connected components with more than one file (Tarjan), each sorted. */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, next);
    low.set(file, next);
    next += 1;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!graph.has(target)) continue;
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1) found.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

test("the import graph of src/ was read (the check below looks at real files)", () => {
  const graph = importGraph();
  expect(graph.size).toBeGreaterThan(50);
  expect(graph.get("core/core.ts")).toContain("config.ts");
});

test("src/ has no import circle", () => {
  expect(circles(importGraph())).toEqual([]);
});

test("the circle check finds one: a → b → c → a", () => {
  const graph = new Map([
    ["a.ts", ["b.ts"]],
    ["b.ts", ["c.ts"]],
    ["c.ts", ["a.ts", "d.ts"]],
    ["d.ts", []],
  ]);
  expect(circles(graph)).toEqual([["a.ts", "b.ts", "c.ts"]]);
});

test("core/ imports neither the server nor the CLI", () => {
  const reaching = [...importGraph()]
    .filter(([file]) => file.startsWith("core/"))
    .flatMap(([file, targets]) => targets.filter((t) => t.startsWith("server/") || t.startsWith("cli/")).map((t) => `${file} → ${t}`));
  expect(reaching).toEqual([]);
});

test("every write to users and sessions is in their query files, which announce it to the auth cache", () => {
  const write = /\.(insert|update|delete)\(\s*(users|sessions)\s*\)/g;
  const owners: Record<string, string> = { users: "core/users/queries.ts", sessions: "core/sessions/queries.ts" };
  const stray = [...importGraph().keys()].flatMap((file) =>
    [...readFileSync(join(SRC, file), "utf8").matchAll(write)].filter((m) => owners[m[2]!] !== file).map((m) => `${file}: ${m[0]}`),
  );
  expect(stray).toEqual([]);
});

test("each write in the query files is followed by its announcement", () => {
  for (const [file, table] of [["core/users/queries.ts", "users"], ["core/sessions/queries.ts", "sessions"]] as const) {
    const text = readFileSync(join(SRC, file), "utf8");
    const functions = text.split(/\nexport async function /).slice(1);
    const writing = functions.filter((body) => new RegExp(`\\.(update|delete)\\(${table}\\)`).test(body));
    expect(writing.length, file).toBeGreaterThan(0);
    expect(writing.filter((body) => !body.includes("changed(")).map((body) => body.split("(")[0]), file).toEqual([]);
  }
});
