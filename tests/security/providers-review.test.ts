/**
 * What the attacker review of sign-in with other providers (SPEC §10) found,
 * each pinned, plus properties that held and were not pinned elsewhere:
 *
 * - Pre-account takeover through a provider that does not verify emails: a
 *   sign-up with someone else's unverified address, or a link into an account
 *   whose email nobody has proven, left the attacker's identity in an account
 *   the address's owner later recovers with a password reset.
 * - A provider's verified address with a Unicode letter that lower-cases to
 *   ASCII (KELVIN SIGN → k) taken for a different local address.
 * - Held: a link finished in another user's session, the string "true" as
 *   email_verified, a provider display name with markup, extra fields in the
 *   admin API's body.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { identityProviders, users } from "../../src/core/db/schema.ts";
import { createAdmin } from "../support/admin.ts";
import { Browserless, errorCodeOf, formOf, type PageResponse } from "../support/browserless.ts";
import { issueResetToken, registerAndLogin } from "../support/server.ts";
import { PROVIDER_AMR } from "../../src/core/providers/provider-sign-in.ts";
import { startSession } from "../../src/core/sessions/session-tokens.ts";
import { walkUpstream } from "../support/upstream-oidc.ts";
import { identitiesOf, type ProviderKit, signInWith, shareProviderKit, userByEmail } from "../providers/support.ts";

setDefaultTimeout(30_000);

let kit: ProviderKit;
const browser = shareProviderKit((started) => (kit = started));
let n = 0;
/** An account at the upstream issuer whose claims the test chooses (as an attacker can at a provider that does not verify). */
const upstreamAccount = (claims: Record<string, unknown>) => {
  const login = `review${++n}`;
  kit.upstream.accounts.set(login, claims as never);
  return login;
};
const callbackOf = () => `${kit.server.url}/login/provider/corp/callback`;

async function signedInBrowser(email?: string, verified = false) {
  const registered = await registerAndLogin(kit.server.api, email ? { email } : {});
  if (verified) await kit.server.core.db.update(users).set({ isVerified: true }).where(eq(users.id, registered.user.id));
  const b = browser();
  const done = await b.submit(await b.get("/login"), "/login", { identifier: registered.input.email, password: registered.input.password });
  expect(done.status).toBe(303);
  return { b, ...registered };
}

/** POST /account's link form for `provider`: the page sending the browser on, and the provider's URL in it. */
async function startLink(b: Browserless, provider: string): Promise<{ page: PageResponse; url: string }> {
  const form = formOf((await b.get("/account")).html, "/account/identities/link");
  const page = await b.post(form.action, { ...form.fields, provider });
  const url = /http-equiv="refresh" content="0; url=([^"]+)"/.exec(page.html)?.[1]?.replaceAll("&amp;", "&") ?? "";
  return { page, url };
}

describe("pre-account takeover through a provider that does not verify emails", () => {
  test("a provider's unverified email signs nobody up (else the address's owner recovers an account the attacker still signs in to)", async () => {
    const victim = "pre.hijack.victim@example.com";
    const attacker = upstreamAccount({ email: victim, email_verified: false });
    const b = browser();
    const done = await signInWith(kit, b, "corp", attacker);
    expect({ status: done.status, code: errorCodeOf(done.html) }).toEqual({ status: 403, code: "EMAIL_NOT_VERIFIED" });
    expect(b.cookie("usersvc_session")).toBeUndefined();
    expect(await userByEmail(kit.server, victim)).toBeNull();
    // The owner of the address registers it as usual.
    expect((await kit.server.api("POST", "/api/v1/users", { body: { email: victim, username: "prehijackvictim", password: "correct horse battery staple" } })).status).toBe(201);
  });

  test("no email_verified claim at all, or the string \"true\": not verified either, nobody signed up", async () => {
    for (const claims of [{ email: "no.claim@example.com" }, { email: "string.true@example.com", email_verified: "true" }]) {
      const b = browser();
      const done = await signInWith(kit, b, "corp", upstreamAccount(claims));
      expect(errorCodeOf(done.html)).toBe("EMAIL_NOT_VERIFIED");
      expect(await userByEmail(kit.server, claims.email)).toBeNull();
    }
  });

  test("linking from /account into an account whose email is not verified is refused: the identity would outlive the owner's password reset", async () => {
    // The attacker registers the victim's address (unverified) and links their own provider account to it.
    const { b, user } = await signedInBrowser("link.squatter.victim@example.com");
    const attacker = upstreamAccount({ email: "attacker@evil.example", email_verified: true });
    const { page, url } = await startLink(b, "corp");
    if (url) {
      const answer = await walkUpstream(url, attacker, callbackOf());
      const finished = await b.get(answer.pathname + answer.search);
      expect(errorCodeOf(finished.html)).toBe("EMAIL_NOT_VERIFIED");
    } else {
      expect(errorCodeOf(page.html)).toBe("EMAIL_NOT_VERIFIED");
    }
    expect(await identitiesOf(kit.server, user.id)).toEqual([]);
    // The owner later resets the password: the attacker has no way in left.
    const token = await issueResetToken(kit.server, user.id);
    expect((await kit.server.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: "the owners own passphrase" } })).status).toBe(200);
    // Signing in with that provider account later makes (or reaches) the attacker's own account, never the victim's.
    await signInWith(kit, browser(), "corp", attacker);
    expect(await identitiesOf(kit.server, user.id)).toEqual([]);
    expect((await userByEmail(kit.server, "attacker@evil.example"))?.id).not.toBe(user.id);
  });

  test("checked again at the callback: an account no longer verified when the provider answers is not linked", async () => {
    const { b, user } = await signedInBrowser(undefined, true);
    const { url } = await startLink(b, "corp");
    expect(url).not.toBe("");
    await kit.server.core.db.update(users).set({ isVerified: false }).where(eq(users.id, user.id));
    const answer = await walkUpstream(url, upstreamAccount({ email: "late.check@evil.example", email_verified: true }), callbackOf());
    const refused = await b.get(answer.pathname + answer.search);
    expect({ status: refused.status, code: errorCodeOf(refused.html) }).toEqual({ status: 403, code: "EMAIL_NOT_VERIFIED" });
    expect(refused.html).toContain("Confirm your email address first");
    expect(await identitiesOf(kit.server, user.id)).toEqual([]);
  });

  test("a verified account still links from /account", async () => {
    const { b, user } = await signedInBrowser(undefined, true);
    const login = upstreamAccount({ email: "any.other@example.com", email_verified: false });
    const { url } = await startLink(b, "corp");
    const answer = await walkUpstream(url, login, callbackOf());
    expect((await b.get(answer.pathname + answer.search)).location).toBe("/account?done=identity_linked#identities");
    expect((await identitiesOf(kit.server, user.id)).map((i) => i.subject)).toEqual([login]);
  });
});

describe("email equality", () => {
  test("a verified address with KELVIN SIGN is not the local kelvin@…: no link, no sign-in as that user", async () => {
    const victim = await registerAndLogin(kit.server.api, { email: "kelvin.victim@example.com" });
    await kit.server.core.db.update(users).set({ isVerified: true }).where(eq(users.id, victim.user.id));
    const attacker = upstreamAccount({ email: "\u212Aelvin.victim@example.com", email_verified: true });
    const b = browser();
    const done = await signInWith(kit, b, "corp", attacker);
    expect(b.cookie("usersvc_session")).toBeUndefined();
    expect(errorCodeOf(done.html)).not.toBeNull();
    expect(await identitiesOf(kit.server, victim.user.id)).toEqual([]);
  });

  test("nor does it sign up a verified user under the ASCII address the provider never verified", async () => {
    const b = browser();
    await signInWith(kit, b, "corp", upstreamAccount({ email: "\u212Aate.nobody@example.com", email_verified: true }));
    expect(b.cookie("usersvc_session")).toBeUndefined();
    expect(await userByEmail(kit.server, "kate.nobody@example.com")).toBeNull();
  });

  test("upper-case ASCII is still the same address (held)", async () => {
    const local = await registerAndLogin(kit.server.api, { email: "mixed.case@example.com" });
    await kit.server.core.db.update(users).set({ isVerified: true }).where(eq(users.id, local.user.id));
    const b = browser();
    expect((await signInWith(kit, b, "corp", upstreamAccount({ email: "Mixed.CASE@Example.com", email_verified: true }))).location).toBe("/account");
    expect((await identitiesOf(kit.server, local.user.id)).length).toBe(1);
  });
});

describe("held", () => {
  test("a link the attacker started, finished in the victim's signed-in browser with the attacker's state: refused, nothing linked to the victim", async () => {
    const attacker = await signedInBrowser(undefined, true);
    const victim = await signedInBrowser(undefined, true);
    const { url } = await startLink(attacker.b, "corp");
    const answer = await walkUpstream(url, upstreamAccount({ email: "planted@evil.example", email_verified: true }), callbackOf());
    // Even with the attacker's state cookie planted in the victim's browser.
    victim.b.jar.set("usersvc_provider", attacker.b.cookie("usersvc_provider")!);
    const refused = await victim.b.get(answer.pathname + answer.search);
    expect(errorCodeOf(refused.html)).toBe("FORBIDDEN");
    expect(await identitiesOf(kit.server, victim.user.id)).toEqual([]);
    expect(await identitiesOf(kit.server, attacker.user.id)).toEqual([]);
  });

  test("a display name with markup is text on /login and /account", async () => {
    const admin = await createAdmin(kit.server);
    const name = `</script><img src=x onerror=alert(1)>"'`;
    const added = await kit.server.api("POST", "/api/v1/admin/providers", {
      token: admin.token,
      body: { name: "markup", type: "oidc", display_name: name, issuer: kit.upstream.issuer, client_id: "a", client_secret: "b" },
    });
    expect(added.status).toBe(201);
    try {
      const login = await browser().get("/login");
      expect(login.html).not.toContain("<img src=x");
      expect(login.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
      const { b } = await signedInBrowser(undefined, true);
      const account = await b.get("/account");
      expect(account.html).not.toContain("<img src=x");
    } finally {
      await kit.server.core.db.delete(identityProviders).where(eq(identityProviders.id, "markup"));
    }
  });

  test("two unlinks at once of a user's only two ways in: one succeeds, the other is LAST_SIGN_IN_METHOD (the user row is locked)", async () => {
    const email = "two.unlinks@example.com";
    await signInWith(kit, browser(), "corp", upstreamAccount({ email, email_verified: true }));
    kit.github.next = { id: 90210, login: "twounlinks", emails: [{ email, primary: true, verified: true }] };
    await signInWith(kit, browser(), "github", "");
    const user = (await userByEmail(kit.server, email))!;
    expect((await identitiesOf(kit.server, user.id)).length).toBe(2);
    const { access_token } = await startSession(kit.server.core, user as never, { ip: null, userAgent: null }, PROVIDER_AMR);
    const answers = await Promise.all(["corp", "github"].map((p) => kit.server.api("DELETE", `/api/v1/users/me/identities/${p}`, { token: access_token })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect((await identitiesOf(kit.server, user.id)).length).toBe(1);
  });

  test("an identity's email with markup (linking from /account keeps whatever the provider says) is text on /account", async () => {
    const { b, user } = await signedInBrowser(undefined, true);
    const { url } = await startLink(b, "corp");
    const answer = await walkUpstream(url, upstreamAccount({ email: `<img src=x onerror=alert(1)>"@evil.example`, email_verified: false }), callbackOf());
    expect((await b.get(answer.pathname + answer.search)).location).toBe("/account?done=identity_linked#identities");
    expect((await identitiesOf(kit.server, user.id)).length).toBe(1);
    const account = await b.get("/account");
    expect(account.html).not.toContain("<img src=x");
    expect(account.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });

  test("the admin API takes no field beyond its own (no mass assignment of created_at, id…)", async () => {
    const admin = await createAdmin(kit.server);
    const refused = await kit.server.api("POST", "/api/v1/admin/providers", {
      token: admin.token,
      body: { name: "extra", type: "google", client_id: "a", client_secret: "b", id: "corp", created_at: "2000-01-01T00:00:00Z" },
    });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    expect(await kit.server.core.db.select().from(identityProviders).where(eq(identityProviders.id, "extra"))).toEqual([]);
  });
});
