/**
 * The providers and identities in the API (SPEC §10): /api/v1/admin/providers
 * (role admin; the secret never answered; validation; audited with the
 * admin), a user's identities for admins, and /users/me/identities — unlink
 * never the last way in, for the user as for an admin.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startSession } from "../../src/core/sessions/session-tokens.ts";
import { PROVIDER_AMR } from "../../src/core/providers/provider-sign-in.ts";
import { Browserless } from "../support/browserless.ts";
import { createAdmin, createPlainUser, failureOf, type LoggedIn } from "../support/admin.ts";
import { auditEvents, identitiesOf, type ProviderKit, signInWith, startProviderKit, userByEmail } from "./support.ts";

setDefaultTimeout(30_000);

let kit: ProviderKit;
let admin: LoggedIn;
beforeAll(async () => {
  kit = await startProviderKit();
  admin = await createAdmin(kit.server);
});
afterAll(async () => {
  await kit.stop();
});

const api = (method: string, path: string, options: { token?: string; body?: unknown } = {}) => kit.server.api(method, path, options);
const SECRET = "client-secret-never-shown";

/** A user signed up through the upstream issuer (no password), with an access token minted for them. */
async function providerUser(email: string) {
  const login = `api-${email}`;
  kit.upstream.accounts.set(login, { email, email_verified: true });
  await signInWith(kit, new Browserless(kit.server.url), "corp", login);
  const user = (await userByEmail(kit.server, email))!;
  const tokens = await startSession(kit.server.core, user as never, { ip: null, userAgent: null }, PROVIDER_AMR);
  return { user, login, token: tokens.access_token };
}

describe("/api/v1/admin/providers", () => {
  test("admins add, list, show and remove providers; the secret is never in an answer; each change is audited", async () => {
    const body = { name: "okta", type: "oidc", issuer: "https://example.okta.com", client_id: "0oa1", client_secret: SECRET, display_name: "Okta" };
    const created = await api("POST", "/api/v1/admin/providers", { token: admin.token, body });
    expect(created.status).toBe(201);
    expect(created.body.data).toEqual({
      name: "okta",
      type: "oidc",
      display_name: "Okta",
      client_id: "0oa1",
      issuer: "https://example.okta.com",
      authorization_url: null,
      token_url: null,
      userinfo_url: null,
      scopes: ["openid", "email", "profile"],
      callback_url: `${kit.server.url}/login/provider/okta/callback`,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const listed = await api("GET", "/api/v1/admin/providers", { token: admin.token });
    expect(listed.body.data.map((p: { name: string }) => p.name)).toEqual(["corp", "github", "okta"]);
    const shown = await api("GET", "/api/v1/admin/providers/okta", { token: admin.token });
    expect(shown.body.data.name).toBe("okta");
    for (const answer of [created, listed, shown]) expect(JSON.stringify(answer.body)).not.toContain(SECRET);
    const removed = await api("DELETE", "/api/v1/admin/providers/okta", { token: admin.token });
    expect(removed.body.data).toEqual({ name: "okta", removed: true, identities_removed: 0 });
    expect((await api("GET", "/api/v1/admin/providers/okta", { token: admin.token })).body).toEqual(failureOf("NOT_FOUND"));
    const audits = [...(await auditEvents(kit.server, "provider.added")), ...(await auditEvents(kit.server, "provider.removed"))].filter((a) => (a.data as { provider: string }).provider === "okta");
    expect(audits.map((a) => ({ event: a.event, actor: a.actorType, id: a.actorId }))).toEqual([
      { event: "provider.added", actor: "admin", id: admin.id },
      { event: "provider.removed", actor: "admin", id: admin.id },
    ]);
    expect(JSON.stringify(audits)).not.toContain(SECRET);
  });

  test("bad settings: VALIDATION_ERROR naming every field, nothing stored", async () => {
    const bad = await api("POST", "/api/v1/admin/providers", {
      token: admin.token,
      body: { name: "-x", type: "saml", client_id: "", client_secret: "", authorization_url: "javascript:alert(1)", userinfo_url: "https://u:p@example.com/" },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(["authorization_url", "client_id", "client_secret", "name", "type", "userinfo_url"]);
    const github = await api("POST", "/api/v1/admin/providers", { token: admin.token, body: { name: "gh2", type: "github", issuer: "https://github.com", client_id: "a", client_secret: "b" } });
    expect(github.body.error.details).toEqual([expect.objectContaining({ field: "issuer" })]);
    const taken = await api("POST", "/api/v1/admin/providers", { token: admin.token, body: { name: "corp", type: "google", client_id: "a", client_secret: "b" } });
    expect(taken.body.error.details).toEqual([{ field: "name", message: "a provider with this name already exists" }]);
    expect((await api("GET", "/api/v1/admin/providers", { token: admin.token })).body.data.length).toBe(2);
  });

  test("only admins: a plain user gets FORBIDDEN, no token UNAUTHENTICATED", async () => {
    const plain = await createPlainUser(kit.server);
    expect((await api("GET", "/api/v1/admin/providers", { token: plain.token })).body).toEqual(failureOf("FORBIDDEN"));
    expect((await api("POST", "/api/v1/admin/providers", { token: plain.token, body: { name: "x", type: "google", client_id: "a", client_secret: "b" } })).status).toBe(403);
    expect((await api("GET", "/api/v1/admin/providers")).status).toBe(401);
  });
});

describe("identities", () => {
  test("the user lists their own; unlinking the only way in is LAST_SIGN_IN_METHOD, for the user and for an admin", async () => {
    const { user, token } = await providerUser("only.way@example.com");
    const own = await api("GET", "/api/v1/users/me/identities", { token });
    expect(own.body.data).toEqual([
      { provider: "corp", provider_type: "oidc", display_name: "Corp SSO", email: "only.way@example.com", email_verified: true, linked_at: expect.any(String), last_used_at: expect.any(String) },
    ]);
    const refused = await api("DELETE", "/api/v1/users/me/identities/corp", { token });
    expect({ status: refused.status, code: refused.body.error.code, field: refused.body.error.details[0].field }).toEqual({ status: 409, code: "LAST_SIGN_IN_METHOD", field: "identity" });
    const byAdmin = await api("DELETE", `/api/v1/admin/users/${user.id}/identities/corp`, { token: admin.token });
    expect({ status: byAdmin.status, code: byAdmin.body.error.code }).toEqual({ status: 409, code: "LAST_SIGN_IN_METHOD" });
    expect((await identitiesOf(kit.server, user.id)).length).toBe(1);
  });

  test("with another way in (a second provider), the user unlinks one; an admin lists and unlinks; events recorded", async () => {
    const { user, token } = await providerUser("two.ways@example.com");
    kit.github.next = { id: 5150, login: "twoways", emails: [{ email: "two.ways@example.com", primary: true, verified: true }] };
    await signInWith(kit, new Browserless(kit.server.url), "github", "");
    expect((await identitiesOf(kit.server, user.id)).map((i) => i.providerId).sort()).toEqual(["corp", "github"]);
    const unlinked = await api("DELETE", "/api/v1/users/me/identities/github", { token });
    expect(unlinked.body.data).toEqual({ provider: "github", unlinked: true });
    expect((await api("DELETE", "/api/v1/users/me/identities/github", { token })).body).toEqual(failureOf("NOT_FOUND"));
    const listed = await api("GET", `/api/v1/admin/users/${user.id}/identities`, { token: admin.token });
    expect(listed.body.data.map((i: { provider: string }) => i.provider)).toEqual(["corp"]);
    const events = await auditEvents(kit.server, "user.identity_unlinked", user.id);
    expect(events.map((e) => ({ actor: e.actorType, data: e.data }))).toEqual([{ actor: "user", data: { provider: "github", subject: "5150" } }]);
  });

  test("an admin unlinks a user's identity when the user has a password; unknown users and providers are 404", async () => {
    const plain = await createPlainUser(kit.server, { email: "has.password@example.com" });
    kit.upstream.accounts.set("has-password", { email: "other.address@example.com", email_verified: true });
    // Linked through the core's own rule: a verified match would link on sign-in; here the admin view is what is tested.
    const { insertIdentity } = await import("../../src/core/providers/identities.ts");
    const record = (await userByEmail(kit.server, "has.password@example.com"))!;
    await kit.server.core.db.transaction((tx) =>
      insertIdentity(kit.server.core, tx, record as never, "corp", { subject: "has-password", email: null, emailVerified: false, username: null }, { type: "system", id: null, ip: null }),
    );
    const removed = await api("DELETE", `/api/v1/admin/users/${plain.id}/identities/corp`, { token: admin.token });
    expect(removed.body.data).toEqual({ provider: "corp", unlinked: true });
    const events = await auditEvents(kit.server, "user.identity_unlinked", plain.id);
    expect(events.map((e) => ({ actor: e.actorType, id: e.actorId }))).toEqual([{ actor: "admin", id: admin.id }]);
    const nobody = "00000000-0000-4000-8000-000000000000";
    expect((await api("GET", `/api/v1/admin/users/${nobody}/identities`, { token: admin.token })).body).toEqual(failureOf("USER_NOT_FOUND"));
    expect((await api("DELETE", `/api/v1/admin/users/${plain.id}/identities/nope`, { token: admin.token })).body).toEqual(failureOf("NOT_FOUND"));
  });

  test("removing a provider removes its identities and says how many", async () => {
    await api("POST", "/api/v1/admin/providers", {
      token: admin.token,
      body: { name: "corp2", type: "oidc", issuer: kit.upstream.issuer, client_id: kit.upstream.clientId, client_secret: kit.upstream.clientSecret },
    });
    kit.upstream.accounts.set("via-corp2", { email: "via.corp2@example.com", email_verified: true });
    await signInWith(kit, new Browserless(kit.server.url), "corp2", "via-corp2");
    const user = (await userByEmail(kit.server, "via.corp2@example.com"))!;
    expect((await identitiesOf(kit.server, user.id)).length).toBe(1);
    const removed = await api("DELETE", "/api/v1/admin/providers/corp2", { token: admin.token });
    expect(removed.body.data).toEqual({ name: "corp2", removed: true, identities_removed: 1 });
    expect(await identitiesOf(kit.server, user.id)).toEqual([]);
  });
});
