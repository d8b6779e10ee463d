/**
 * /admin/clients: OIDC clients added, edited, their secret rotated and
 * removed from the console, as `usersvc clients …` does (audited with the
 * admin as actor); the client signs a user in with openid-client using the
 * secret the console showed once.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { listAudit } from "../../src/core/audit/audit.ts";
import { consoleAdmin, screen, type ConsoleAdmin } from "../support/admin-console.ts";
import { createPlainUser } from "../support/admin.ts";
import { Browserless, decodeEntities, errorCodeOf, formOf, type PageResponse } from "../support/browserless.ts";
import { codeFlow, discover, oidc, REDIRECT_URI, startIssuer, walkAuthorization } from "../support/oidc.ts";
import type { TestServer } from "../support/server.ts";

setDefaultTimeout(60_000);

const NEW_REDIRECT_URI = "https://app.example.test/new-callback";

let server: TestServer;
let admin: ConsoleAdmin;
let person: { email: string; password: string };
let personId: string;
beforeAll(async () => {
  server = await startIssuer();
  admin = await consoleAdmin(server);
  const created = await createPlainUser(server);
  person = { email: created.input.email, password: created.input.password };
  personId = created.id;
});
afterAll(() => server.stop());

/** The hidden fields (csrf_token, back) of a form on `page`: a test types the rest, as a person would. */
function hiddenOf(page: PageResponse, action: string): Record<string, string> {
  const { csrf_token, back } = formOf(page.html, action).fields;
  return { csrf_token: csrf_token!, back: back! };
}

/** The add or edit form's fields: checked boxes only, as a browser sends them. */
function clientForm(settings: { name: string; type?: string; redirect_uris?: string; grants?: string[]; scopes?: string[] }): Record<string, string> {
  const fields: Record<string, string> = {
    name: settings.name,
    type: settings.type ?? "confidential",
    redirect_uris: settings.redirect_uris ?? REDIRECT_URI,
    post_logout_redirect_uris: "",
    cors_origins: "",
    audience: "",
    id_token_alg: "RS256",
  };
  for (const grant of settings.grants ?? ["authorization_code", "refresh_token"]) fields[`grant_${grant}`] = "on";
  fields.scopes = (settings.scopes ?? ["openid", "profile", "email", "offline_access", "roles"]).join(" ");
  return fields;
}

const secretOf = (html: string) => decodeEntities(/<code id="client-secret" data-client-secret>([^<]*)<\/code>/.exec(html)?.[1] ?? "");
const clientIdOf = (html: string) => /data-client-id="([0-9a-f]{32})"/.exec(html)?.[1] ?? "";

async function addClient(name: string, extra: Record<string, string> = {}): Promise<{ page: PageResponse; clientId: string; secret: string }> {
  const list = await screen(admin.b, "/admin/clients");
  const page = await admin.b.post(formOf(list.html, "/admin/clients").action, { ...hiddenOf(list, "/admin/clients"), ...clientForm({ name }), ...extra });
  expect(page.status).toBe(200);
  return { page, clientId: clientIdOf(page.html), secret: secretOf(page.html) };
}

/** A whole code flow for `config` by the person (a browser of its own), up to the token endpoint's answer. */
async function signIn(config: oidc.Configuration, redirectUri = REDIRECT_URI) {
  const flow = await codeFlow(config, { redirect_uri: redirectUri });
  const callback = await walkAuthorization(new Browserless(server.url), flow.url, person, { redirectUri });
  return oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
}

async function auditOf(event: string) {
  return (await listAudit(server.core.db, { event, actorId: admin.id, limit: 50, offset: 0 })).items;
}

describe("adding a client", () => {
  test("the answer shows the secret once (no-store, not in a URL); openid-client signs a user in with it", async () => {
    const { page, clientId, secret } = await addClient("Console app");
    expect(clientId).toMatch(/^[0-9a-f]{32}$/);
    expect(secret.length).toBeGreaterThanOrEqual(40);
    expect(page.html).toContain("Shown only this once");
    expect(page.headers.get("cache-control")).toBe("no-store");
    expect(page.location).toBeNull();
    // Never again: not on the client's page, not in the list.
    const shown = await screen(admin.b, `/admin/clients/${clientId}`);
    expect(shown.html).not.toContain(secret);
    expect(shown.html).not.toContain("data-client-secret");
    const list = await screen(admin.b, "/admin/clients");
    expect(list.html).toContain(`data-client-id="${clientId}"`);
    expect(list.html).not.toContain(secret);

    const tokens = await signIn(await discover(server, clientId, secret));
    expect(tokens.claims()!.sub).toBe(personId);
    expect(tokens.claims()!.aud).toBe(clientId);

    const audit = await auditOf("oauth.client_created");
    const entry = audit.find((e) => (e.data as { client_id: string }).client_id === clientId);
    expect(entry?.actor).toEqual({ type: "admin", id: admin.id });
    expect(JSON.stringify(audit)).not.toContain(secret);
  });

  test("a public client gets no secret and no rotate button", async () => {
    const { page, clientId, secret } = await addClient("Browser app", { type: "public", grant_refresh_token: "" });
    expect(clientId).not.toBe("");
    expect(secret).toBe("");
    expect(page.html).toContain("public (no secret, PKCE)");
    expect(page.html).not.toContain("/rotate-secret");
  });

  test("a refused add is the form again (422) with each field's problem and what was typed", async () => {
    const list = await screen(admin.b, "/admin/clients");
    const refused = await admin.b.post(formOf(list.html, "/admin/clients").action, {
      ...hiddenOf(list, "/admin/clients"),
      ...clientForm({ name: "Typed name", redirect_uris: "http://evil.example/cb\njavascript:alert(1)", grants: ["refresh_token"], scopes: ["openid", "bogus"] }),
      cors_origins: "https://ok.example.com/path",
    });
    expect(refused.status).toBe(422);
    expect(errorCodeOf(refused.html)).toBe("VALIDATION_ERROR");
    expect(refused.html).toContain('value="Typed name"');
    expect(refused.html).toMatch(/<textarea id="add-redirect_uris"[^>]*aria-invalid="true"[^>]*>http:\/\/evil.example\/cb\njavascript:alert\(1\)<\/textarea>/);
    expect(refused.html).toContain('id="add-redirect_uris-error"');
    expect(refused.html).toContain('id="add-grant_types-error"');
    expect(refused.html).toContain('id="add-cors_origins-error"');
    expect(refused.html).toContain('id="add-scopes-error">&quot;bogus&quot;: not one of');
    expect(refused.html).toContain('value="openid bogus"');
    // What was checked stays checked, and nothing else.
    expect(refused.html).toMatch(/name="grant_refresh_token" value="on" checked/);
    expect(refused.html).not.toMatch(/name="grant_authorization_code" value="on" checked/);
    expect(refused.html).not.toContain("data-client-secret");
    expect((await screen(admin.b, "/admin/clients")).html).not.toContain("Typed name");
  });

  test("/admin/clients/new is the list with the add form", async () => {
    const page = await screen(admin.b, "/admin/clients/new");
    expect(formOf(page.html, "/admin/clients").fields.back).toBe("/admin/clients");
  });

  test("without the CSRF token nothing is added", async () => {
    const list = await screen(admin.b, "/admin/clients");
    const refused = await admin.b.post(formOf(list.html, "/admin/clients").action, { ...hiddenOf(list, "/admin/clients"), csrf_token: "wrong", ...clientForm({ name: "Forged app" }) });
    expect(refused.status).toBe(403);
    expect((await screen(admin.b, "/admin/clients")).html).not.toContain("Forged app");
  });
});

describe("one client", () => {
  test("rotate-secret asks first; the new secret is shown once; the old one is refused at the token endpoint, the new one works", async () => {
    const { clientId, secret: old } = await addClient("Rotating app");
    const page = await screen(admin.b, `/admin/clients/${clientId}`);
    const ask = await admin.b.post(formOf(page.html, "/rotate-secret").action, hiddenOf(page, "/rotate-secret"));
    expect(ask.status).toBe(200);
    expect(ask.html).toContain("The current secret stops working at once");
    expect(ask.html).not.toContain("data-client-secret");
    const confirm = formOf(ask.html, "/rotate-secret");
    expect(confirm.fields.confirmed).toBe("yes");
    const done = await admin.b.post(confirm.action, confirm.fields);
    expect(done.status).toBe(200);
    expect(done.headers.get("cache-control")).toBe("no-store");
    const fresh = secretOf(done.html);
    expect(fresh).not.toBe("");
    expect(fresh).not.toBe(old);
    // The page's forms come back to the client's page, not to the rotation.
    expect(formOf(done.html, `/admin/clients/${clientId}`).fields.back).toBe(`/admin/clients/${clientId}`);
    expect((await screen(admin.b, `/admin/clients/${clientId}`)).html).not.toContain(fresh);

    const refused = await signIn(await discover(server, clientId, old)).catch((error) => error);
    expect(refused).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    expect((await refused.response.json()).error).toBe("invalid_client");
    expect((await signIn(await discover(server, clientId, fresh))).claims()!.sub).toBe(personId);

    const audit = await auditOf("oauth.client_updated");
    const entry = audit.find((e) => (e.data as { client_id: string }).client_id === clientId);
    expect(entry?.actor.type).toBe("admin");
    expect((entry?.data as { changed: string[] }).changed).toEqual(["client_secret"]);
  });

  test("editing the redirect URIs: the old one is refused at the authorization endpoint, the new one signs in", async () => {
    const { clientId, secret } = await addClient("Moving app");
    const page = await screen(admin.b, `/admin/clients/${clientId}`);
    expect(page.html).toContain(`>${REDIRECT_URI}</textarea>`);
    const saved = await admin.b.post(formOf(page.html, `/admin/clients/${clientId}`).action, {
      ...hiddenOf(page, `/admin/clients/${clientId}`),
      ...clientForm({ name: "Moved app", redirect_uris: `${NEW_REDIRECT_URI}\r\n` }),
    });
    expect(saved.status).toBe(303);
    const after = await screen(admin.b, saved.location!);
    expect(after.html).toContain("Client saved.");
    expect(after.html).toContain(`>${NEW_REDIRECT_URI}</textarea>`);
    expect(after.html).toContain("<h1>Moved app</h1>");

    const config = await discover(server, clientId, secret);
    const old = await new Browserless(server.url).get((await codeFlow(config)).url);
    expect([old.status, old.location]).toEqual([400, null]);
    expect((await signIn(config, NEW_REDIRECT_URI)).claims()!.sub).toBe(personId);

    const audit = await auditOf("oauth.client_updated");
    const entry = audit.find((e) => (e.data as { client_id: string }).client_id === clientId);
    expect(entry?.actor).toEqual({ type: "admin", id: admin.id });
    expect((entry?.data as { changed: string[] }).changed.sort()).toEqual(["name", "redirect_uris"]);
  });

  test("a refused save is the edit form again with what was typed; nothing changes", async () => {
    const { clientId } = await addClient("Steady app");
    const page = await screen(admin.b, `/admin/clients/${clientId}`);
    const refused = await admin.b.post(formOf(page.html, `/admin/clients/${clientId}`).action, {
      ...hiddenOf(page, `/admin/clients/${clientId}`),
      ...clientForm({ name: "Steady app renamed", redirect_uris: "" }),
    });
    expect(refused.status).toBe(422);
    expect(refused.html).toContain('value="Steady app renamed"');
    expect(refused.html).toContain('id="edit-redirect_uris-error"');
    expect((await screen(admin.b, `/admin/clients/${clientId}`)).html).toContain(`>${REDIRECT_URI}</textarea>`);
  });

  test("remove asks first; then the client is gone: not listed, no page, refused at the token endpoint", async () => {
    const { clientId, secret } = await addClient("Doomed app");
    const config = await discover(server, clientId, secret);
    const page = await screen(admin.b, `/admin/clients/${clientId}`);
    const ask = await admin.b.post(formOf(page.html, "/remove").action, hiddenOf(page, "/remove"));
    expect(ask.status).toBe(200);
    expect(ask.html).toContain("Every token issued to it stops working");
    expect((await screen(admin.b, "/admin/clients")).html).toContain(`data-client-id="${clientId}"`);
    const confirm = formOf(ask.html, "/remove");
    const done = await admin.b.post(confirm.action, confirm.fields);
    expect(done.status).toBe(303);
    const list = await screen(admin.b, done.location!);
    expect(list.html).toContain("Client removed.");
    expect(list.html).not.toContain(`data-client-id="${clientId}"`);
    expect((await admin.b.get(`/admin/clients/${clientId}`)).status).toBe(404);
    const refused = await oidc.clientCredentialsGrant(config).catch((error) => error);
    expect(refused).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    expect((await refused.response.json()).error).toBe("invalid_client");

    const audit = await auditOf("oauth.client_removed");
    expect(audit.find((e) => (e.data as { client_id: string }).client_id === clientId)?.actor).toEqual({ type: "admin", id: admin.id });
  });

  test("a client named with markup is shown as text on the list, its page and the question", async () => {
    const { clientId, page } = await addClient(`<script>alert("x")</script><img src=x onerror=alert(1)>`);
    const list = await screen(admin.b, "/admin/clients");
    const shown = await screen(admin.b, `/admin/clients/${clientId}`);
    const ask = await admin.b.post(formOf(shown.html, "/remove").action, hiddenOf(shown, "/remove"));
    for (const html of [page.html, list.html, shown.html, ask.html]) {
      expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;");
      expect(html).not.toContain("<script>alert");
      expect(html).not.toContain("<img src=x");
    }
  });

  test("an unknown client id is a 404 page of the console", async () => {
    const missing = await admin.b.get("/admin/clients/00000000000000000000000000000000");
    expect(missing.status).toBe(404);
    expect(missing.html).toContain('aria-current="page">OIDC clients');
  });
});
