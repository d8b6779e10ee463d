/**
 * The callback under attack, and linking from /account (SPEC §10): a state
 * that is not this browser's, a replayed callback, a tampered nonce, a code
 * from another provider, an expired sign-in, CSRF on link and unlink, a link
 * finished in another session, an identity that is someone else's; unlinking
 * never the last way in; a TOTP user still asked for the code.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { Secret, TOTP } from "otpauth";
import { providerLogins, userIdentities, users } from "../../src/core/db/schema.ts";
import { Browserless, errorCodeOf, formOf, type PageResponse } from "../support/browserless.ts";
import { issueResetToken, registerAndLogin } from "../support/server.ts";
import { walkUpstream } from "../support/upstream-oidc.ts";
import { auditEvents, identitiesOf, type ProviderKit, providerAnswer, sessionAmrs, signInWith, startAt, shareProviderKit, userByEmail } from "./support.ts";

setDefaultTimeout(30_000);

let kit: ProviderKit;
const browser = shareProviderKit((started) => (kit = started));
let n = 0;
const person = (email: string, email_verified = true) => {
  const login = `attacker-or-victim${++n}`;
  kit.upstream.accounts.set(login, { email, email_verified });
  return login;
};
const pendingLogins = async () => (await kit.server.core.db.select().from(providerLogins)).length;
const follow = (b: Browserless, url: URL) => b.get(url.pathname + url.search);

/** A browser signed in with a password on the pages. */
async function signedInBrowser(overrides: { email?: string } = {}) {
  const { input, user } = await registerAndLogin(kit.server.api, overrides);
  // Linking from /account needs a verified email (tests/security/providers-review.test.ts).
  await kit.server.core.db.update(users).set({ isVerified: true }).where(eq(users.id, user.id));
  const b = browser();
  const page = await b.get("/login");
  const done = await b.submit(page, "/login", { identifier: input.email, password: input.password });
  expect(done.status).toBe(303);
  return { b, input, user };
}

/** POST the account page's link form for `provider`: the page that sends the browser on, and the provider's URL in it. */
async function startLink(b: Browserless, provider: string): Promise<{ page: PageResponse; url: string }> {
  const account = await b.get("/account");
  const form = formOf(account.html, "/account/identities/link");
  const page = await b.post(form.action, { ...form.fields, provider });
  const url = /http-equiv="refresh" content="0; url=([^"]+)"/.exec(page.html)?.[1]?.replaceAll("&amp;", "&") ?? "";
  return { page, url };
}

describe("the callback refuses", () => {
  test("a state that is not this browser's (login CSRF): nothing changes, the other sign-in stays usable", async () => {
    const attacker = browser();
    const login = person("attacker@example.com");
    const answer = await providerAnswer(kit, "corp", await startAt(attacker, "corp"), login);
    const victim = browser();
    await startAt(victim, "corp"); // the victim has a sign-in of their own under way
    const refused = await follow(victim, answer);
    expect({ status: refused.status, code: errorCodeOf(refused.html) }).toEqual({ status: 400, code: "INVALID_OR_EXPIRED_TOKEN" });
    expect(victim.cookie("usersvc_session")).toBeUndefined();
    // No cookie at all: refused as well.
    const bare = browser();
    expect(errorCodeOf((await follow(bare, answer)).html)).toBe("INVALID_OR_EXPIRED_TOKEN");
    expect(await userByEmail(kit.server, "attacker@example.com")).toBeNull();
    // The attacker's own browser can still finish it: nothing was spent.
    expect((await follow(attacker, answer)).location).toBe("/account");
  });

  test("the same callback twice (a replay): the second finds its sign-in spent", async () => {
    const b = browser();
    const login = person("replay@example.com");
    const answer = await providerAnswer(kit, "corp", await startAt(b, "corp"), login);
    const state = b.cookie("usersvc_provider")!;
    expect((await follow(b, answer)).location).toBe("/account");
    const replayer = browser();
    replayer.jar.set("usersvc_provider", state);
    const replayed = await follow(replayer, answer);
    expect(errorCodeOf(replayed.html)).toBe("INVALID_OR_EXPIRED_TOKEN");
    expect(replayer.cookie("usersvc_session")).toBeUndefined();
  });

  test("an id_token whose nonce is not the sign-in's (the authorization request tampered with)", async () => {
    const b = browser();
    const login = person("nonce@example.com");
    const url = new URL(await startAt(b, "corp"));
    url.searchParams.set("nonce", "an-attackers-nonce");
    const answer = await walkUpstream(url.href, login, `${kit.server.url}/login/provider/corp/callback`);
    const refused = await follow(b, answer);
    expect({ status: refused.status, code: errorCodeOf(refused.html) }).toEqual({ status: 401, code: "INVALID_CREDENTIALS" });
    expect(refused.html).toContain("The sign-in with Corp SSO did not succeed");
    expect(await userByEmail(kit.server, "nonce@example.com")).toBeNull();
    expect(kit.server.logs.some((line) => line.includes("sign-in with a provider failed") && line.includes("nonce"))).toBe(true);
  });

  test("a code and state from another provider given to this provider's callback", async () => {
    const b = browser();
    kit.github.next = { id: 4242, login: "mixup", emails: [{ email: "mixup@example.com", primary: true, verified: true }] };
    const githubAnswer = await providerAnswer(kit, "github", await startAt(b, "github"), "");
    const mixed = await b.get(`/login/provider/corp/callback${githubAnswer.search}`);
    expect(errorCodeOf(mixed.html)).toBe("INVALID_OR_EXPIRED_TOKEN");
    // This provider's own state with the other provider's code: the issuer refuses the code.
    const corpAuthorization = await startAt(b, "corp");
    const state = new URL(corpAuthorization).searchParams.get("state")!;
    const swapped = await b.get(`/login/provider/corp/callback?code=${githubAnswer.searchParams.get("code")}&state=${state}&iss=${encodeURIComponent(kit.upstream.issuer)}`);
    expect(errorCodeOf(swapped.html)).toBe("INVALID_CREDENTIALS");
    expect(await userByEmail(kit.server, "mixup@example.com")).toBeNull();
    expect(b.cookie("usersvc_session")).toBeUndefined();
  });

  test("a sign-in older than ten minutes", async () => {
    const b = browser();
    const login = person("late@example.com");
    const answer = await providerAnswer(kit, "corp", await startAt(b, "corp"), login);
    kit.server.clock.advance(601);
    const late = await follow(b, answer);
    expect(errorCodeOf(late.html)).toBe("INVALID_OR_EXPIRED_TOKEN");
    expect(await userByEmail(kit.server, "late@example.com")).toBeNull();
  });

  test("an error from the provider (the person cancelled)", async () => {
    const b = browser();
    const authorization = new URL(await startAt(b, "corp"));
    const state = authorization.searchParams.get("state")!;
    const cancelled = await b.get(`/login/provider/corp/callback?error=access_denied&state=${state}&iss=${encodeURIComponent(kit.upstream.issuer)}`);
    expect(errorCodeOf(cancelled.html)).toBe("INVALID_CREDENTIALS");
    expect(b.cookie("usersvc_session")).toBeUndefined();
  });

  test("an issuer that does not answer: a clear page (not a 500), nothing started", async () => {
    const { closedPort } = await import("../support/hooks.ts");
    const { addProvider } = await import("../../src/core/providers/provider-admin.ts");
    const { CLI_ACTOR } = await import("../../src/core/audit/actor.ts");
    await addProvider(kit.server.core, CLI_ACTOR, { name: "down", type: "oidc", issuer: `http://127.0.0.1:${await closedPort()}`, client_id: "a", client_secret: "b" });
    const before = await pendingLogins();
    const page = await browser().get("/login/provider/down");
    expect({ status: page.status, code: errorCodeOf(page.html) }).toEqual({ status: 401, code: "INVALID_CREDENTIALS" });
    expect(page.html).toContain("The sign-in with down did not succeed");
    expect(await pendingLogins()).toBe(before);
  });

  test("an identity whose user was deleted: refused like an unknown account", async () => {
    const login = person("deleted.later@example.com");
    await signInWith(kit, browser(), "corp", login);
    const user = (await userByEmail(kit.server, "deleted.later@example.com"))!;
    await kit.server.core.db.update(users).set({ status: "deleted", deletedAt: new Date() }).where(eq(users.id, user.id));
    const b = browser();
    const refused = await signInWith(kit, b, "corp", login);
    expect({ status: refused.status, code: errorCodeOf(refused.html) }).toEqual({ status: 401, code: "INVALID_CREDENTIALS" });
    expect(refused.html).toContain("The sign-in with Corp SSO did not succeed");
    expect(b.cookie("usersvc_session")).toBeUndefined();
  });

  test("an unknown provider", async () => {
    const unknown = await browser().get("/login/provider/nope");
    expect({ status: unknown.status, code: errorCodeOf(unknown.html) }).toEqual({ status: 404, code: "NOT_FOUND" });
  });
});

describe("linking from /account", () => {
  test("links the provider to the signed-in user, who can then sign in with it", async () => {
    const { b, user } = await signedInBrowser();
    const login = person("someone.else@example.com", false); // the provider's email plays no part in a link from /account
    const { page, url } = await startLink(b, "corp");
    expect(page.status).toBe(200);
    expect(page.html).toContain("Continue to Corp SSO");
    const done = await follow(b, await walkUpstream(url, login, `${kit.server.url}/login/provider/corp/callback`));
    expect(done.location).toBe("/account?done=identity_linked#identities");
    expect((await identitiesOf(kit.server, user.id)).map((i) => i.subject)).toEqual([login]);
    const account = await b.get("/account?done=identity_linked");
    expect(account.html).toContain("The account is linked");
    expect(account.html).toContain("Unlink");
    const later = browser();
    expect((await signInWith(kit, later, "corp", login)).location).toBe("/account");
    expect(await sessionAmrs(kit.server, user.id)).toContainEqual(["fed"]);
  });

  test("without a CSRF token, or from another origin: FORBIDDEN, no sign-in started", async () => {
    const { b } = await signedInBrowser();
    const before = await pendingLogins();
    const noToken = await b.post("/account/identities/link", { provider: "corp" });
    expect({ status: noToken.status, code: errorCodeOf(noToken.html) }).toEqual({ status: 403, code: "FORBIDDEN" });
    const account = await b.get("/account");
    const form = formOf(account.html, "/account/identities/link");
    b.origin = "https://evil.example";
    const crossSite = await b.post(form.action, { ...form.fields, provider: "corp" });
    expect(errorCodeOf(crossSite.html)).toBe("FORBIDDEN");
    expect(await pendingLogins()).toBe(before);
  });

  test("a sign-in that is not recent needs the password first", async () => {
    const { b, input } = await signedInBrowser();
    kit.server.clock.advance(3600);
    const { page } = await startLink(b, "corp");
    expect(errorCodeOf(page.html)).toBe("REAUTHENTICATION_REQUIRED");
    const account = await b.get("/account");
    const form = formOf(account.html, "/account/identities/link");
    const ok = await b.post(form.action, { ...form.fields, provider: "corp", password: input.password });
    expect(ok.html).toContain("Continue to Corp SSO");
  });

  test("finished after the account page's session ended: refused, nothing linked", async () => {
    const { b, user } = await signedInBrowser();
    const login = person("ended@example.com");
    const { url } = await startLink(b, "corp");
    const answer = await walkUpstream(url, login, `${kit.server.url}/login/provider/corp/callback`);
    const logoutForm = formOf((await b.get("/account")).html, "/logout");
    await b.post(logoutForm.action, logoutForm.fields);
    const refused = await follow(b, answer);
    expect(errorCodeOf(refused.html)).toBe("FORBIDDEN");
    expect(refused.html).toContain("no longer signed in");
    expect(await identitiesOf(kit.server, user.id)).toEqual([]);
  });

  test("an identity linked to another user is refused", async () => {
    const login = person("owner@example.com");
    await signInWith(kit, browser(), "corp", login);
    const { b, user } = await signedInBrowser();
    const { url } = await startLink(b, "corp");
    const refused = await follow(b, await walkUpstream(url, login, `${kit.server.url}/login/provider/corp/callback`));
    expect(errorCodeOf(refused.html)).toBe("FORBIDDEN");
    expect(refused.html).toContain("already linked to another account");
    expect(await identitiesOf(kit.server, user.id)).toEqual([]);
  });
});

describe("unlinking", () => {
  test("unlinks with the CSRF token; without it nothing changes", async () => {
    const { b, user } = await signedInBrowser();
    const { url } = await startLink(b, "corp");
    await follow(b, await walkUpstream(url, person("unlink.me@example.com"), `${kit.server.url}/login/provider/corp/callback`));
    const forged = await b.post("/account/identities/unlink", { provider: "corp" });
    expect(errorCodeOf(forged.html)).toBe("FORBIDDEN");
    expect((await identitiesOf(kit.server, user.id)).length).toBe(1);
    const form = formOf((await b.get("/account")).html, "/account/identities/unlink");
    const done = await b.post(form.action, form.fields);
    expect(done.location).toBe("/account?done=identity_unlinked#identities");
    expect(await identitiesOf(kit.server, user.id)).toEqual([]);
    expect((await auditEvents(kit.server, "user.identity_unlinked", user.id)).length).toBe(1);
  });

  test("never the last way in: a user with no password keeps their only identity", async () => {
    const b = browser();
    await signInWith(kit, b, "corp", person("only.corp@example.com"));
    const user = (await userByEmail(kit.server, "only.corp@example.com"))!;
    const form = formOf((await b.get("/account")).html, "/account/identities/unlink");
    const refused = await b.post(form.action, form.fields);
    expect({ status: refused.status, code: errorCodeOf(refused.html) }).toEqual({ status: 409, code: "LAST_SIGN_IN_METHOD" });
    expect((await identitiesOf(kit.server, user.id)).length).toBe(1);
  });
});

test("a user who signed up with a provider sets a password through the reset email, and can then unlink", async () => {
  const b = browser();
  await signInWith(kit, b, "corp", person("sets.password@example.com"));
  const user = (await userByEmail(kit.server, "sets.password@example.com"))!;
  // The token a reset email carries (forgot-password issues it the same way, whether or not the user has a password).
  const token = await issueResetToken(kit.server, user.id);
  const password = "a new passphrase of my own";
  expect((await kit.server.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: password } })).status).toBe(200);
  const login = await kit.server.api("POST", "/api/v1/auth/login", { body: { email: "sets.password@example.com", password } });
  expect(login.status).toBe(200);
  expect((await kit.server.api("DELETE", "/api/v1/users/me/identities/corp", { token: login.body.data.access_token })).body.data).toEqual({ provider: "corp", unlinked: true });
});

test("a user with TOTP is still asked for the code after the provider", async () => {
  const { input, tokens, user } = await registerAndLogin(kit.server.api, { email: "totp.user@example.com" });
  await kit.server.core.db.update(users).set({ isVerified: true }).where(eq(users.id, user.id));
  const enrolled = await kit.server.api("POST", "/api/v1/users/me/mfa/enroll", { token: tokens.access_token, body: {} });
  const totp = new TOTP({ secret: Secret.fromBase32(enrolled.body.data.secret), digits: 6, period: 30, algorithm: "SHA1" });
  const code = () => totp.generate({ timestamp: kit.server.clock.now().getTime() });
  expect((await kit.server.api("POST", "/api/v1/users/me/mfa/confirm", { token: tokens.access_token, body: { code: code() } })).status).toBe(200);
  kit.server.clock.advance(30);
  void input;
  const b = browser();
  const done = await signInWith(kit, b, "corp", person("totp.user@example.com"), "?return_to=%2Faccount%23mfa");
  expect(done.location).toBe("/login/mfa?return_to=%2Faccount%23mfa");
  expect(b.cookie("usersvc_session")).toBeUndefined();
  const page = await b.get(done.location!);
  const signedIn = await b.submit(page, "/login/mfa", { code: code() });
  expect(signedIn.location).toBe("/account#mfa");
  expect(b.cookie("usersvc_session")).toBeDefined();
  expect((await kit.server.core.db.select().from(userIdentities).where(eq(userIdentities.userId, user.id))).length).toBe(1);
  // The session says how it was proven: the provider, then the code — not a password that was never typed.
  expect(await sessionAmrs(kit.server, user.id)).toContainEqual(["fed", "otp", "mfa"]);
});

test("a user without a password deletes their account after a recent sign-in, and not with an old one", async () => {
  const b = browser();
  const login = person("leaves.soon@example.com");
  await signInWith(kit, b, "corp", login);
  const account = await b.get("/account");
  const deleteSection = account.html.slice(account.html.indexOf('id="delete"'));
  expect(deleteSection.slice(0, deleteSection.indexOf("</section>"))).not.toContain('type="password"');
  kit.server.clock.advance(kit.server.core.config.privilegedMaxAge + 60);
  const old = await b.submit(await b.get("/account"), "/account/delete", {});
  expect(errorCodeOf(old.html)).toBe("REAUTHENTICATION_REQUIRED");
  expect((await userByEmail(kit.server, "leaves.soon@example.com"))!.status).toBe("active");
  const again = browser();
  const signedIn = await signInWith(kit, again, "corp", login);
  expect({ status: signedIn.status, location: signedIn.location, code: errorCodeOf(signedIn.html) }).toEqual({ status: 303, location: "/account", code: null });
  const done = await again.submit(await again.get("/account"), "/account/delete", {});
  expect(done.status).toBe(200);
  expect((await userByEmail(kit.server, "leaves.soon@example.com"))!.status).toBe("deleted");
});

test("a second account at the same provider with the same verified email is not linked beside the first", async () => {
  await signInWith(kit, browser(), "corp", person("one.per.provider@example.com"));
  const user = (await userByEmail(kit.server, "one.per.provider@example.com"))!;
  const second = await signInWith(kit, browser(), "corp", person("one.per.provider@example.com"));
  expect(errorCodeOf(second.html)).toBe("EMAIL_TAKEN");
  expect(await identitiesOf(kit.server, user.id)).toHaveLength(1);
});
