/**
 * /admin/providers: sign-in providers added and removed from the console, as
 * `usersvc providers …` does (audited with the admin as actor), against a
 * real upstream issuer (oidc-provider): the provider added is a button on
 * /login that signs a person in; its client secret is never shown back.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { listAudit } from "../../src/core/audit/audit.ts";
import { consoleAdmin, screen, type ConsoleAdmin } from "../support/admin-console.ts";
import { Browserless, errorCodeOf, formOf, type PageResponse } from "../support/browserless.ts";
import { freePort } from "../support/oidc.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { startUpstreamIssuer, type UpstreamIssuer, walkUpstream } from "../support/upstream-oidc.ts";

setDefaultTimeout(60_000);

let server: TestServer;
let upstream: UpstreamIssuer;
let admin: ConsoleAdmin;
beforeAll(async () => {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  upstream = await startUpstreamIssuer([`${publicUrl}/login/provider/corp/callback`]);
  server = await startTestServer({ USERSVC_PUBLIC_URL: publicUrl }, { port });
  admin = await consoleAdmin(server);
});
afterAll(async () => {
  await server.stop();
  await upstream.stop();
});

function hiddenOf(page: PageResponse, action: string): Record<string, string> {
  const { csrf_token, back } = formOf(page.html, action).fields;
  return { csrf_token: csrf_token!, back: back! };
}

async function postAdd(fields: Record<string, string>): Promise<PageResponse> {
  const page = await screen(admin.b, "/admin/providers");
  return admin.b.post(formOf(page.html, "/admin/providers").action, { ...hiddenOf(page, "/admin/providers"), scopes: "", authorization_url: "", token_url: "", userinfo_url: "", ...fields });
}

const corp = () => ({ type: "oidc", name: "corp", display_name: "Corp SSO", client_id: upstream.clientId, client_secret: upstream.clientSecret, issuer: upstream.issuer });

async function removeFromConsole(name: string): Promise<PageResponse> {
  const page = await screen(admin.b, "/admin/providers");
  const action = `/admin/providers/${name}/remove`;
  const ask = await admin.b.post(formOf(page.html, action).action, hiddenOf(page, action));
  expect(ask.status).toBe(200);
  expect(ask.html).toContain("link to it is removed with it");
  const confirm = formOf(ask.html, action);
  expect(confirm.fields.confirmed).toBe("yes");
  return admin.b.post(confirm.action, confirm.fields);
}

async function auditOf(event: string) {
  return (await listAudit(server.core.db, { event, actorId: admin.id, limit: 50, offset: 0 })).items;
}

describe("providers", () => {
  test("a refused add is the form again (422) with what was typed, never the secret; nothing is added", async () => {
    const refused = await postAdd({ ...corp(), name: "Not A Slug", issuer: "ftp://issuer.example", client_secret: "typed-secret-1234" });
    expect(refused.status).toBe(422);
    expect(errorCodeOf(refused.html)).toBe("VALIDATION_ERROR");
    expect(refused.html).toContain('value="Not A Slug"');
    expect(refused.html).toContain('value="ftp://issuer.example"');
    expect(refused.html).toContain('id="provider-name-error"');
    expect(refused.html).toContain('id="provider-issuer-error"');
    expect(refused.html).not.toContain("typed-secret-1234");
    expect(refused.html).toMatch(/<input id="provider-client_secret" name="client_secret" type="password"(?![^>]*value=)[^>]*>/);
    expect((await screen(admin.b, "/admin/providers")).html).not.toContain("data-provider=");
  });

  test("added: listed with its callback URL (never its secret), a button on /login that signs a person in; audited", async () => {
    const done = await postAdd(corp());
    expect(done.status).toBe(303);
    const list = await screen(admin.b, done.location!);
    expect(list.html).toContain("Provider added");
    expect(list.html).toContain('data-provider="corp"');
    expect(list.html).toContain(`${server.url}/login/provider/corp/callback`);
    expect(list.html).toContain(upstream.issuer);
    expect(list.html).not.toContain(upstream.clientSecret);

    const b = new Browserless(server.url);
    const login = await b.get("/login");
    expect(login.html).toContain("Continue with Corp SSO");
    expect(login.html).toContain('href="/login/provider/corp"');
    upstream.accounts.set("console-person", { email: "console.person@example.com", email_verified: true });
    const started = await b.get("/login/provider/corp");
    expect(started.status).toBe(303);
    const answer = await walkUpstream(started.location!, "console-person", `${server.url}/login/provider/corp/callback`);
    const signedIn = await b.get(answer.pathname + answer.search);
    expect([signedIn.status, signedIn.location]).toEqual([303, "/account"]);

    const audit = await auditOf("provider.added");
    expect(audit.find((e) => (e.data as { provider: string }).provider === "corp")?.actor).toEqual({ type: "admin", id: admin.id });
    expect(JSON.stringify(audit)).not.toContain(upstream.clientSecret);
  });

  test("a second provider of the same name is refused beside the name", async () => {
    const refused = await postAdd(corp());
    expect(refused.status).toBe(422);
    expect(refused.html).toMatch(/id="provider-name-error">a provider with this name already exists/);
  });

  test("a GitHub provider with Enterprise endpoints shows them; a display name with markup is text", async () => {
    const done = await postAdd({
      type: "github",
      name: "ghe",
      display_name: `<script>alert("x")</script>`,
      client_id: "Iv1.0123456789abcdef",
      client_secret: "ghe-secret-5678",
      issuer: "",
      authorization_url: "https://ghe.example.com/login/oauth/authorize",
      token_url: "https://ghe.example.com/login/oauth/access_token",
      userinfo_url: "https://ghe.example.com/api/v3/user",
    });
    expect(done.status).toBe(303);
    const list = await screen(admin.b, "/admin/providers");
    expect(list.html).toContain("userinfo: https://ghe.example.com/api/v3/user");
    expect(list.html).toContain("read:user user:email");
    expect(list.html).not.toContain("ghe-secret-5678");
    const login = await new Browserless(server.url).get("/login");
    for (const html of [list.html, login.html]) {
      expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
      expect(html).not.toContain("<script>alert");
    }
    const removed = await removeFromConsole("ghe");
    expect(removed.status).toBe(303);
  });

  test("remove asks first; then the provider is gone from the list and /login, with its users' links; audited", async () => {
    const removed = await removeFromConsole("corp");
    expect(removed.status).toBe(303);
    const list = await screen(admin.b, removed.location!);
    expect(list.html).toContain("Provider removed");
    expect(list.html).not.toContain('data-provider="corp"');
    expect((await new Browserless(server.url).get("/login")).html).not.toContain("Corp SSO");
    const audit = await auditOf("provider.removed");
    const entry = audit.find((e) => (e.data as { provider: string }).provider === "corp");
    expect(entry?.actor).toEqual({ type: "admin", id: admin.id });
    expect((entry?.data as { identities_removed: number }).identities_removed).toBe(1);
  });

  test("removing a provider that is not there is a 404 page", async () => {
    const page = await screen(admin.b, "/admin/providers");
    const missing = await admin.b.post("/admin/providers/nobody/remove", hiddenOf(page, "/admin/providers"));
    expect(missing.status).toBe(404);
  });
});
