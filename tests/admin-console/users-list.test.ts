/**
 * /admin/users: the filter form (GET, reflected in the URL), the table, and
 * cursor pages through listUsers, as GET /api/v1/admin/users pages.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { blockUser } from "../../src/core/users/lifecycle.ts";
import { updateUser } from "../../src/core/users/queries.ts";
import { createUser } from "../../src/core/users/users.ts";
import { type ConsoleAdmin, consoleAdmin, screen, signInBrowser } from "../support/admin-console.ts";
import type { Browserless, PageResponse } from "../support/browserless.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

setDefaultTimeout(60_000);

const COUNT = 30;
const tag = `ul${Date.now().toString(36)}`;
const pad = (i: number) => String(i).padStart(2, "0");
const emailOf = (i: number) => `${tag}.mail${pad(i)}@example.com`;
const ids: string[] = [];

let server: TestServer;
let admin: ConsoleAdmin;
beforeAll(async () => {
  server = await startTestServer();
  admin = await consoleAdmin(server);
  // Created in reverse so that email order differs from creation order.
  for (let i = COUNT - 1; i >= 0; i--) {
    const roles = i % 3 === 0 ? ["user", "support"] : ["user"];
    const record = await createUser(
      server.core,
      { email: emailOf(i), username: `${tag}_name${pad(i)}`, password: "correct horse battery staple" },
      { actor: CLI_ACTOR, roles, isVerified: i % 2 === 0 },
    );
    ids[i] = record.id;
    if (i % 5 === 0) await blockUser(server.core, CLI_ACTOR, record.id, { reason: "spam" });
  }
});
afterAll(() => server.stop());

function unescape(text: string): string {
  return text.replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'");
}

/** The table's rows: the email each links to /admin/users/{id}, and the row's status badge. */
function rowsOf(page: PageResponse): { id: string; email: string; status: string }[] {
  const rows = [...page.html.matchAll(/<tr data-user-id="([^"]+)">\s*<td class="wrap"><a href="\/admin\/users\/([^"]+)">([^<]*)<\/a>[\s\S]*?<span class="badge[^"]*">([^<]*)<\/span>/g)];
  return rows.map((m) => {
    expect(m[2]).toBe(m[1]!);
    return { id: m[1]!, email: unescape(m[3]!), status: m[4]! };
  });
}

function nextHref(page: PageResponse): string | null {
  const m = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(page.html);
  return m ? unescape(m[1]!) : null;
}

async function walk(b: Browserless, path: string): Promise<{ emails: string[]; pages: PageResponse[] }> {
  const emails: string[] = [];
  const pages: PageResponse[] = [];
  let href: string | null = path;
  while (href && pages.length < 20) {
    const page = await screen(b, href);
    pages.push(page);
    emails.push(...rowsOf(page).map((r) => r.email));
    href = nextHref(page);
  }
  return { emails, pages };
}

describe("the users list", () => {
  test("q finds a substring of the email, and of the username", async () => {
    const byEmail = rowsOf(await screen(admin.b, `/admin/users?q=${tag}.mail07`));
    expect(byEmail.map((r) => r.email)).toEqual([emailOf(7)]);
    expect(byEmail[0]!.id).toBe(ids[7]!);
    const byUsername = await screen(admin.b, `/admin/users?q=${tag}_name1`);
    expect(rowsOf(byUsername).map((r) => r.email).sort()).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19].map(emailOf));
    expect(byUsername.html).toContain("10 users match");
  });

  test("status and role filters", async () => {
    const blocked = rowsOf(await screen(admin.b, `/admin/users?q=${tag}&status=blocked`));
    expect(blocked.map((r) => r.email).sort()).toEqual([0, 5, 10, 15, 20, 25].map(emailOf));
    expect(blocked.every((r) => r.status === "blocked")).toBe(true);
    const active = rowsOf(await screen(admin.b, `/admin/users?q=${tag}&status=active&limit=200`));
    expect(active).toHaveLength(24);
    expect(active.every((r) => r.status === "active")).toBe(true);
    const any = rowsOf(await screen(admin.b, `/admin/users?q=${tag}&status=any&limit=200`));
    expect(any).toHaveLength(COUNT);
    const support = rowsOf(await screen(admin.b, `/admin/users?q=${tag}&role=support`));
    expect(support.map((r) => r.email).sort()).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27].map(emailOf));
  });

  test("blocked rows say so in text, with the reason", async () => {
    const page = await screen(admin.b, `/admin/users?q=${tag}.mail05`);
    expect(page.html).toMatch(/<span class="badge warn">blocked<\/span><br><small>no end: spam<\/small>/);
  });

  test("sort=email orders by email", async () => {
    const rows = rowsOf(await screen(admin.b, `/admin/users?q=${tag}&sort=email&limit=200`));
    const emails = rows.map((r) => r.email);
    expect(emails).toEqual(Array.from({ length: COUNT }, (_, i) => emailOf(i)));
    // Created from 29 down to 0: newest first is email order too, oldest first its reverse.
    const newest = rowsOf(await screen(admin.b, `/admin/users?q=${tag}&limit=200`)).map((r) => r.email);
    expect(newest).toEqual(Array.from({ length: COUNT }, (_, i) => emailOf(i)));
    const oldest = rowsOf(await screen(admin.b, `/admin/users?q=${tag}&sort=created_at&limit=200`)).map((r) => r.email);
    expect(oldest).toEqual([...newest].reverse());
  });

  test("cursor pages carry the filters and neither repeat nor skip a row", async () => {
    const { emails, pages } = await walk(admin.b, `/admin/users?q=${tag}&sort=email&limit=7`);
    expect(pages).toHaveLength(5);
    expect(emails).toEqual(Array.from({ length: COUNT }, (_, i) => emailOf(i)));
    for (const page of pages.slice(0, -1)) {
      const next = new URL(nextHref(page)!, server.url);
      expect(next.pathname).toBe("/admin/users");
      expect(next.searchParams.get("q")).toBe(tag);
      expect(next.searchParams.get("sort")).toBe("email");
      expect(next.searchParams.get("limit")).toBe("7");
      expect(next.searchParams.get("cursor")).toBeTruthy();
    }
    expect(pages[0]!.html).not.toContain("First page");
    expect(pages[1]!.html).toContain(`<a href="/admin/users?q=${tag}&amp;sort=email&amp;limit=7">First page</a>`);

    const active = await walk(admin.b, `/admin/users?q=${tag}&status=active&limit=5`);
    expect(active.pages).toHaveLength(5);
    expect(new Set(active.emails).size).toBe(24);
    expect(active.emails).toHaveLength(24);
    expect(new URL(nextHref(active.pages[0]!)!, server.url).searchParams.get("status")).toBe("active");
  });

  test("the form is a GET to /admin/users, pre-filled from the URL", async () => {
    const page = await screen(admin.b, `/admin/users?q=${tag}&status=blocked&role=support&sort=username`);
    expect(page.html).toContain('<form class="filters" method="get" action="/admin/users"');
    expect(page.html).toContain(`name="q" type="search" value="${tag}"`);
    expect(page.html).toContain('name="role" type="text" value="support"');
    expect(page.html).toContain('<option value="blocked" selected>');
    expect(page.html).toContain('<option value="username" selected>');
    expect(page.html).not.toContain('<option value="active" selected>');
    expect(rowsOf(page).map((r) => r.email).sort()).toEqual([0, 15].map(emailOf));
  });

  test("nothing matching: a friendly row", async () => {
    const page = await screen(admin.b, "/admin/users?q=nobody-has-this-zz9");
    expect(page.html).toContain("No users match.");
    expect(rowsOf(page)).toHaveLength(0);
  });

  test("a bad sort or cursor is a field error with 422, not a 500", async () => {
    const sort = await admin.b.get("/admin/users?sort=password");
    expect(sort.status).toBe(422);
    expect(sort.html).toContain('data-error-code="VALIDATION_ERROR"');
    expect(sort.html).toContain('id="users-sort-error"');
    const cursor = await admin.b.get("/admin/users?cursor=not-a-cursor");
    expect(cursor.status).toBe(422);
    expect(cursor.html).toContain('id="users-cursor-error"');
    const limit = await admin.b.get("/admin/users?limit=abc");
    expect(limit.status).toBe(422);
    expect(limit.html).toContain('id="users-limit-error"');
  });

  test("a plain user is refused with 403", async () => {
    const input = newUser();
    await createUser(server.core, input, { actor: CLI_ACTOR, isVerified: true });
    const b = await signInBrowser(server, input.email, input.password);
    const page = await b.get(`/admin/users?q=${tag}`);
    expect(page.status).toBe(403);
    expect(page.html).not.toContain(emailOf(1));
  });

  test("a username a person typed is escaped in the table", async () => {
    const evil = "<img src=x onerror=alert(1)>";
    await updateUser(server.core.db, ids[3]!, { username: evil }, new Date());
    const page = await screen(admin.b, `/admin/users?q=${tag}.mail03`);
    expect(rowsOf(page)).toHaveLength(1);
    expect(page.html).not.toContain(evil);
    expect(page.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });
});
