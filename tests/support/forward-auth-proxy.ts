/**
 * What the real-proxy forward-auth tests (tests/proxy/) share: the example
 * configuration with its placeholders filled in, the application behind the
 * proxy (it answers every request with what it received), waiting for the
 * proxy to route to usersvc, and a browser or API client going through it.
 */
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import type { LoggedIn } from "./admin.ts";
import { Browserless, type PageResponse } from "./browserless.ts";

export const BROWSER = { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };
export const API = { accept: "application/json" };

/** What the application received: it answers every request with this. */
export interface Seen {
  method: string;
  path: string;
  body: string;
  /** Every X-Usersvc-* header, lower-cased names. */
  usersvc: Record<string, string>;
}

/** An example configuration and how its placeholders are written: `${NAME}` (nginx, envsubst) or `{$NAME}` (Caddy's own). */
export interface Template {
  path: string;
  names: string[];
  style: "${NAME}" | "{$NAME}";
}

function placeholder(template: Template, name: string): string {
  return template.style === "${NAME}" ? `\${${name}}` : `{$${name}}`;
}

function placeholderPattern(template: Template): RegExp {
  return template.style === "${NAME}" ? /\$\{\w+\}/g : /\{\$\w+\}/g;
}

/** Every placeholder in the example, as written, sorted. */
export function placeholdersIn(template: Template): { found: string[]; expected: string[] } {
  const found = [...new Set(readFileSync(template.path, "utf8").match(placeholderPattern(template)))].sort();
  return { found, expected: template.names.map((name) => placeholder(template, name)).sort() };
}

/** The example with its placeholders filled in; throws if it has one the test does not know. */
export function fillTemplate(template: Template, values: Record<string, string>): string {
  let text = readFileSync(template.path, "utf8");
  for (const name of template.names) text = text.replaceAll(placeholder(template, name), values[name]!);
  const left = text.match(placeholderPattern(template));
  if (left) throw new Error(`placeholders of the example this test does not fill: ${left.join(", ")}`);
  return text;
}

/** An application on a free loopback port that answers every request with what it received (a Seen), and records it. */
export function startEchoApp(): { server: ReturnType<typeof Bun.serve>; received: Seen[] } {
  const received: Seen[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const usersvcHeaders: Record<string, string> = {};
      for (const [name, value] of request.headers) if (name.startsWith("x-usersvc-")) usersvcHeaders[name] = value;
      const seen: Seen = { method: request.method, path: url.pathname + url.search, body: await request.text(), usersvc: usersvcHeaders };
      received.push(seen);
      return Response.json(seen);
    },
  });
  return { server, received };
}

/**
 * Waits until the proxy at `base` passes its /auth/ location on to usersvc's
 * probe (it is up and routes to usersvc); throws with `why()` if the process
 * exits or it never answers, killing it in that case.
 */
export async function waitForProxy(name: string, proc: ReturnType<typeof Bun.spawn>, base: string, why: () => Promise<string>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}: ${await why()}`);
    try {
      if ((await fetch(`${base}/auth/healthz`)).status === 200) return;
    } catch {}
    if (attempt > 200) {
      proc.kill();
      throw new Error(`${name} did not answer on ${base}: ${await why()}`);
    }
    await Bun.sleep(25);
  }
}

/** Requests through the proxy whose base URL `base()` gives (read at each call: the proxy starts in beforeAll). */
export function forwardAuthClient(base: () => string) {
  /** A GET through the proxy, redirects not followed. */
  async function get(path: string, headers: Record<string, string>): Promise<{ status: number; location: string | null; text: string }> {
    const res = await fetch(base() + path, { headers, redirect: "manual" });
    return { status: res.status, location: res.headers.get("location"), text: await res.text() };
  }

  /** A browser signed in on /auth/login through the proxy, as the person whose credentials are given. */
  async function signIn(who: LoggedIn, path = "/auth/login"): Promise<{ browser: Browserless; res: PageResponse }> {
    const browser = new Browserless(base());
    const page = await browser.get(path, BROWSER);
    expect(page.status).toBe(200);
    const res = await browser.submit(page, "/login", { identifier: who.input.email, password: who.input.password });
    expect(res.status).toBe(303);
    return { browser, res };
  }

  /** What the application answered a page with: what it received. */
  function seenIn(page: PageResponse): Seen {
    expect(page.status).toBe(200);
    return JSON.parse(page.html) as Seen;
  }

  return { get, signIn, seenIn };
}
