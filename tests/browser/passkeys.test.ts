/**
 * Passkeys (SPEC §10) in a real browser: Debian's Chromium with the DevTools
 * virtual authenticator (ctap2, internal, resident keys, user verification),
 * against a usersvc on http://localhost:PORT (WebAuthn refuses an IP as
 * relying party id; localhost is a secure context).
 *
 * - The pages: sign in with a password, add a passkey (step-up asked), sign
 *   out, sign in with the passkey and no username, add a second one, remove
 *   one; the other still works and the removed one no longer does.
 * - Refusals: user verification off (in the browser, and an assertion
 *   without the UV flag at the server), a replayed assertion, a registration
 *   answer to another user's challenge, a cloned authenticator (the counter
 *   going back: refused and audited), another user's passkey id (404), the
 *   last way in (409), posts without the CSRF token.
 * - The API from a test page: registration and sign-in through /api/v1 with
 *   @simplewebauthn/browser, a token pair whose access token says amr.
 * - axe-core and screenshots of /login and /account with passkeys.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { Secret, TOTP } from "otpauth";
import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { auditLog, passkeys, sessions } from "../../src/core/db/schema.ts";
import { updateUser } from "../../src/core/users/queries.ts";
import { type InPage, pageChecks, WIDE } from "../support/axe.ts";
import { launchChromium } from "../support/chromium.ts";
import { deliverUntilIdle, newWebhookSecret, outboxRows, startWebhookReceiver, type WebhookReceiver } from "../support/hooks.ts";
import { freePort, REDIRECT_URI, registerClient } from "../support/oidc.ts";
import { newUser, registerVerified, startTestServer, type TestServer } from "../support/server.ts";
import { type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

setDefaultTimeout(120_000);

const { check, shoot } = pageChecks();

let smtp: SmtpReceiver;
/** Every event reaches the outbox (and this receiver), so the tests can read the refusals' reasons. */
let webhook: WebhookReceiver;
let server: TestServer;
let browser: Browser;
/** The server as the browser reaches it: http://localhost:PORT, its public URL. */
let base: string;
const contexts: BrowserContext[] = [];
const cspMessages: string[] = [];

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  const secret = newWebhookSecret();
  webhook = startWebhookReceiver(secret);
  const port = await freePort();
  base = `http://localhost:${port}`;
  server = await startTestServer({ USERSVC_PUBLIC_URL: base, USERSVC_SMTP_URL: smtp.url, USERSVC_EMAIL_COOLDOWN: "0", USERSVC_WEBHOOK_URL: webhook.url, USERSVC_WEBHOOK_SECRET: secret,
    // Shorter than the access tokens' 15 minutes: the step-up tests move the clock past it and keep their tokens.
    USERSVC_PRIVILEGED_MAX_AGE: "120",
  }, { port });
  browser = await launchChromium();
});

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
  await server?.stop();
  await smtp?.stop();
  await webhook?.stop();
});

interface Authenticator {
  cdp: CDPSession;
  id: string;
}

/**
 * A page in a context of its own. The virtual authenticator answers the login
 * page's autofill request (conditional mediation) by itself, signing in at
 * once; unless `autofill`, the page is told the browser has no autofill, so
 * the "Sign in with a passkey" button is what signs in.
 */
async function newPage(options: { autofill?: boolean } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: WIDE });
  contexts.push(context);
  if (!options.autofill) {
    await context.addInitScript(() => {
      (globalThis as InPage).PublicKeyCredential.isConditionalMediationAvailable = async () => false;
    });
  }
  context.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) cspMessages.push(`${message.page()?.url()}: ${message.text()}`);
  });
  return context.newPage();
}

/** A virtual platform authenticator on the page: resident keys, user verification, presence simulated. */
async function addAuthenticator(page: Page, cdp?: CDPSession): Promise<Authenticator> {
  const session = cdp ?? (await page.context().newCDPSession(page));
  if (!cdp) await session.send("WebAuthn.enable");
  const { authenticatorId } = await session.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { cdp: session, id: authenticatorId };
}

async function credentialsOf(authenticator: Authenticator) {
  const { credentials } = await authenticator.cdp.send("WebAuthn.getCredentials", { authenticatorId: authenticator.id });
  return credentials;
}

const verifiedUser = () => registerVerified(server);

async function apiLogin(input: { email: string; password: string }): Promise<string> {
  const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
  expect(login.status).toBe(200);
  return login.body.data.access_token as string;
}

async function passwordSignIn(page: Page, input: { email: string; password: string }): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill("#f-identifier", input.email);
  await page.fill("#f-password", input.password);
  await Promise.all([page.waitForURL(`${base}/account`), page.click("form[action='/login'] button[type=submit]")]);
}

async function signOut(page: Page): Promise<void> {
  await Promise.all([page.waitForURL(/\/login$/), page.click("header form[action='/logout'] button")]);
}

/** On /account: "Add a passkey" (with the password when given), then the creation page's button. */
async function addPasskeyOnAccount(page: Page, name: string, password?: string): Promise<void> {
  if (password !== undefined) await page.fill("#passkeys-password", password);
  await Promise.all([page.waitForURL(`${base}/account/passkeys/start`), page.click("form[action='/account/passkeys/start'] button")]);
  await page.fill("#passkey-name", name);
  await Promise.all([page.waitForURL(/\/account\?done=passkey_added#passkeys$/), page.click("#passkey-add button[type=submit]")]);
}

async function passkeySignIn(page: Page): Promise<void> {
  await page.goto(`${base}/login`);
  const button = page.locator("#passkey-sign-in button");
  await button.waitFor({ state: "visible" });
  await Promise.all([page.waitForURL(`${base}/account`), button.click()]);
}

const passkeyNames = (page: Page) => page.locator("#passkeys li strong").allInnerTexts();
const payloadOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8"));

async function loginFailures(userId: string | null): Promise<Record<string, unknown>[]> {
  return (await outboxRows(server.core.db))
    .filter((row) => row.type === "user.login_failed" && (userId === null || (row.payload as any).data?.user?.id === userId))
    .map((row) => (row.payload as any).data);
}

/** In the page: the API's registration and sign-in with @simplewebauthn/browser (loaded by /login). */
async function apiRegister(page: Page, token: string, name: string) {
  return page.evaluate(
    async ({ token, name }) => {
      const { SimpleWebAuthnBrowser: lib, fetch } = globalThis as InPage;
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const options = await (await fetch("/api/v1/users/me/passkeys/registration/options", { method: "POST", headers, body: "{}" })).json();
      const response = await lib.startRegistration({ optionsJSON: options.data.options });
      const added = await fetch("/api/v1/users/me/passkeys", { method: "POST", headers, body: JSON.stringify({ response, name }) });
      return { status: added.status, body: await added.json(), options: options.data.options, response };
    },
    { token, name },
  );
}

async function apiAssertion(page: Page, userVerification?: string) {
  return page.evaluate(async (userVerification) => {
    const { SimpleWebAuthnBrowser: lib, fetch } = globalThis as InPage;
    const options = (await (await fetch("/api/v1/auth/passkeys/options", { method: "POST" })).json()).data.options;
    if (userVerification) options.userVerification = userVerification;
    return lib.startAuthentication({ optionsJSON: options });
  }, userVerification);
}

const verify = (response: unknown) => server.api("POST", "/api/v1/auth/passkeys/verify", { body: { response } });

describe("passkeys on the pages", () => {
  test("password, add a passkey (step-up asked), sign out, sign in with it and no username, a second one, remove one: the other works, the removed one does not", async () => {
    const page = await newPage();
    const first = await addAuthenticator(page);
    const { input, id } = await verifiedUser();
    await passwordSignIn(page, input);
    expect(await page.locator("#passkeys").innerText()).toContain("none yet");

    // Past USERSVC_PRIVILEGED_MAX_AGE: adding asks for the password.
    server.clock.advance(server.core.config.privilegedMaxAge + 60);
    await Promise.all([page.waitForURL(`${base}/account/passkeys/start`), page.click("form[action='/account/passkeys/start'] button")]);
    expect(await page.locator("#passkeys .alert").getAttribute("data-error-code")).toBe("REAUTHENTICATION_REQUIRED");
    await addPasskeyOnAccount(page, "Laptop", input.password);
    expect(await page.locator(".notice").innerText()).toContain("passkey is added");
    expect(await passkeyNames(page)).toEqual(["Laptop"]);
    const [stored] = await credentialsOf(first);
    expect(stored?.isResidentCredential).toBe(true);
    // The user handle is the user's id, never the email.
    expect(Buffer.from(stored!.userHandle!, "base64").toString("hex")).toBe(id.replaceAll("-", ""));
    const notice = await (async () => {
      await deliverUntilIdle(server.core);
      return smtp.waitFor(input.email, /passkey was added/);
    })();
    expect(notice.text).toContain("passkey was added");

    await signOut(page);
    await passkeySignIn(page);
    expect(await page.locator("#profile").innerText()).toContain(input.email);
    const [session] = await server.core.db.select().from(sessions).where(eq(sessions.userId, id)).orderBy(sessions.createdAt);
    const newest = (await server.core.db.select().from(sessions).where(eq(sessions.userId, id))).sort((a, b) => +b.createdAt - +a.createdAt)[0]!;
    expect(session).toBeDefined();
    expect(newest.amr?.slice(1)).toEqual(["user", "mfa"]);
    expect(["hwk", "swk"]).toContain(newest.amr![0]!);

    // The first authenticator would refuse a second credential (excludeCredentials): another one makes it.
    const firstCredential = stored!;
    await first.cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: first.id });
    const second = await addAuthenticator(page, first.cdp);
    await page.goto(`${base}/account`);
    // A fresh passkey sign-in: no password needed now.
    await addPasskeyOnAccount(page, "Phone");
    expect(await passkeyNames(page)).toEqual(["Laptop", "Phone"]);

    const laptop = page.locator("#passkeys li", { hasText: "Laptop" });
    await Promise.all([page.waitForURL(/done=passkey_removed/), laptop.locator("button[formaction='/account/passkeys/remove']").click()]);
    expect(await passkeyNames(page)).toEqual(["Phone"]);

    await signOut(page);
    await passkeySignIn(page);
    await signOut(page);

    // The removed passkey, back in an authenticator of its own: the server no longer knows it.
    await second.cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: second.id });
    const third = await addAuthenticator(page, first.cdp);
    await third.cdp.send("WebAuthn.addCredential", { authenticatorId: third.id, credential: firstCredential });
    await page.goto(`${base}/login`);
    await Promise.all([page.waitForURL(`${base}/login/passkey`), page.click("#passkey-sign-in button")]);
    expect(await page.locator(".alert[data-error-code]").getAttribute("data-error-code")).toBe("INVALID_CREDENTIALS");
    expect((await loginFailures(null)).some((data) => data.reason === "unknown_passkey")).toBe(true);
  });

  test("autofill (conditional mediation): the identifier field offers the passkey, and choosing it signs in with no click on the button", async () => {
    const page = await newPage({ autofill: true });
    await addAuthenticator(page);
    const { input } = await verifiedUser();
    await passwordSignIn(page, input);
    await addPasskeyOnAccount(page, "Laptop");
    const html = await (await fetch(`${base}/login`)).text();
    expect(html).toContain('autocomplete="username webauthn"');
    // Signed out, the login page's autofill request starts; the virtual authenticator picks the one passkey it offers.
    await signOut(page);
    await page.waitForURL(`${base}/account`);
    expect(await page.locator("#profile").innerText()).toContain(input.email);
  });

  test("an application's sign-in (OpenID Connect authorize) continues after a passkey: the code's id_token says hwk/swk, user, mfa", async () => {
    const page = await newPage();
    await addAuthenticator(page);
    const { input, id } = await verifiedUser();
    await passwordSignIn(page, input);
    await addPasskeyOnAccount(page, "Laptop");
    await signOut(page);

    const { clientId, clientSecret } = await registerClient(server);
    const verifier = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    const challenge = Buffer.from(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)))).toString("base64url");
    const authorize = new URL(`${base}/oauth/authorize`);
    const params = { response_type: "code", client_id: clientId, redirect_uri: REDIRECT_URI, scope: "openid", state: "st4te", nonce: "n0nce", code_challenge: challenge, code_challenge_method: "S256" };
    for (const [name, value] of Object.entries(params)) authorize.searchParams.set(name, value);
    let redirected: URL | null = null;
    await page.route(`${new URL(REDIRECT_URI).origin}/**`, async (route) => {
      redirected = new URL(route.request().url());
      await route.fulfill({ status: 200, body: "the application" });
    });
    await page.goto(authorize.href);
    expect(new URL(page.url()).pathname).toBe("/login");
    await page.click("#passkey-sign-in button");
    // The consent page, when the client is not first-party.
    await page.waitForURL((url) => url.pathname === "/consent" || url.origin === new URL(REDIRECT_URI).origin);
    if (new URL(page.url()).pathname === "/consent") await page.click("button[name=decision][value=allow]");
    await page.waitForURL((url) => url.origin === new URL(REDIRECT_URI).origin);
    expect(redirected!.searchParams.get("state")).toBe("st4te");
    const code = redirected!.searchParams.get("code");
    expect(code).toBeTruthy();

    const exchanged = await fetch(`${base}/oauth/token`, {
      method: "POST",
      headers: { authorization: `Basic ${btoa(`${clientId}:${clientSecret}`)}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", code: code!, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
    });
    expect(exchanged.status).toBe(200);
    const idToken = payloadOf(((await exchanged.json()) as { id_token: string }).id_token);
    expect(idToken.sub).toBe(id);
    expect(idToken.nonce).toBe("n0nce");
    expect(idToken.amr.slice(1)).toEqual(["user", "mfa"]);
    expect(["hwk", "swk"]).toContain(idToken.amr[0]);
    expect(idToken.acr).toBe("urn:usersvc:acr:mfa");
  });

  test("rename: the new name is shown; an empty or 65-character name is refused", async () => {
    const page = await newPage();
    await addAuthenticator(page);
    const { input } = await verifiedUser();
    await passwordSignIn(page, input);
    await addPasskeyOnAccount(page, "");
    expect(await passkeyNames(page)).toEqual(["Passkey 1"]);
    const form = page.locator("#passkeys form.rename");
    await form.locator("input[name=name]").fill("  Work laptop  ");
    await Promise.all([page.waitForURL(/done=passkey_renamed/), form.locator("button:not([formaction])").click()]);
    expect(await passkeyNames(page)).toEqual(["Work laptop"]);
    await page.locator("#passkeys form.rename input[name=name]").evaluate((el: InPage) => el.removeAttribute("maxlength"));
    await page.locator("#passkeys form.rename input[name=name]").fill("x".repeat(65));
    await Promise.all([page.waitForURL(`${base}/account/passkeys/rename`), page.locator("#passkeys form.rename button:not([formaction])").click()]);
    expect(await page.locator("#passkeys .alert").getAttribute("data-error-code")).toBe("VALIDATION_ERROR");
    expect(await passkeyNames(page)).toEqual(["Work laptop"]);
  });

  test("user verification off: the browser refuses, and an assertion without it is refused by the server", async () => {
    const page = await newPage();
    const authenticator = await addAuthenticator(page);
    const { input, id } = await verifiedUser();
    await passwordSignIn(page, input);
    await addPasskeyOnAccount(page, "Laptop");
    await signOut(page);

    await authenticator.cdp.send("WebAuthn.setUserVerified", { authenticatorId: authenticator.id, isUserVerified: false });
    await page.click("#passkey-sign-in button");
    await page.locator("#passkey-sign-in [data-passkey-error]").waitFor({ state: "visible" });
    expect(page.url()).toBe(`${base}/login`);

    // A page that asks the authenticator not to verify the user gets an assertion without the UV flag: refused.
    const assertion = await apiAssertion(page, "discouraged");
    const answer = await verify(assertion);
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe("INVALID_CREDENTIALS");
    expect((await loginFailures(id)).map((data) => data.reason)).toContain("passkey_invalid");
  });

  test("a replayed assertion is refused: the challenge was spent by the sign-in", async () => {
    const page = await newPage();
    await addAuthenticator(page);
    const { input, id } = await verifiedUser();
    await passwordSignIn(page, input);
    await addPasskeyOnAccount(page, "Laptop");
    await signOut(page);

    let posted: string | null = null;
    await page.route(`${base}/login/passkey`, async (route) => {
      posted = route.request().postData();
      await route.continue();
    });
    await passkeySignIn(page);
    expect(posted).not.toBeNull();
    const response = JSON.parse(new URLSearchParams(posted!).get("response")!);
    const replayed = await verify(response);
    expect(replayed.status).toBe(401);
    expect(replayed.body.error.code).toBe("INVALID_CREDENTIALS");
    expect((await loginFailures(id)).map((data) => data.reason)).toContain("passkey_challenge_unknown");
    // The page post replayed from the signed-in browser: its CSRF token was renewed by the sign-in.
    const again = await page.evaluate(async (body) => (await (globalThis as InPage).fetch("/login/passkey", { method: "POST", body: new URLSearchParams(body) })).status, posted!);
    expect(again).toBe(403);
  });

  test("a post without this browser's CSRF token changes nothing", async () => {
    const page = await newPage();
    await addAuthenticator(page);
    const { input, id } = await verifiedUser();
    await passwordSignIn(page, input);
    await addPasskeyOnAccount(page, "Laptop");
    const [key] = await server.core.db.select().from(passkeys).where(eq(passkeys.userId, id));
    const status = await page.evaluate(async (passkeyId) => {
      const { fetch } = globalThis as InPage;
      const remove = await fetch("/account/passkeys/remove", { method: "POST", body: new URLSearchParams({ passkey_id: passkeyId }) });
      const rename = await fetch("/account/passkeys/rename", { method: "POST", body: new URLSearchParams({ passkey_id: passkeyId, name: "pwned", csrf_token: "x".repeat(43) }) });
      return [remove.status, rename.status];
    }, key!.id);
    expect(status).toEqual([403, 403]);
    const [after] = await server.core.db.select().from(passkeys).where(eq(passkeys.id, key!.id));
    expect(after?.name).toBe("Laptop");
  });
});

describe("passkeys through the API", () => {
  test("registration and sign-in from a test page: a token pair whose access token carries amr", async () => {
    const page = await newPage();
    await addAuthenticator(page);
    const { input, id } = await verifiedUser();
    const token = await apiLogin(input);
    await page.goto(`${base}/login`);
    const added = await apiRegister(page, token, "API key");
    expect(added.status).toBe(201);
    expect(added.body.data).toMatchObject({ name: "API key", backed_up: expect.any(Boolean), last_used_at: null });
    expect(added.body.data.public_key).toBeUndefined();
    expect(added.options.authenticatorSelection).toMatchObject({ residentKey: "required", userVerification: "required" });
    expect(added.options.user.id).toBe(Buffer.from(id.replaceAll("-", ""), "hex").toString("base64url"));
    expect(added.options.rp.id).toBe("localhost");

    const listed = await server.api("GET", "/api/v1/users/me/passkeys", { token });
    expect(listed.body.data.map((key: { name: string }) => key.name)).toEqual(["API key"]);

    const assertion = await apiAssertion(page);
    const signedIn = await verify(assertion);
    expect(signedIn.status).toBe(200);
    expect(Object.keys(signedIn.body.data).sort()).toEqual(["access_token", "expires_in", "refresh_expires_in", "refresh_token", "token_type"]);
    const claims = payloadOf(signedIn.body.data.access_token);
    expect(claims.sub).toBe(id);
    expect(claims.amr).toContain("user");
    expect(claims.amr.some((value: string) => value === "hwk" || value === "swk")).toBe(true);
    // The pair works, and keeps saying how the session began after a refresh.
    const me = await server.api("GET", "/api/v1/users/me", { token: signedIn.body.data.access_token });
    expect(me.body.data.id).toBe(id);
    const refreshed = await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: signedIn.body.data.refresh_token } });
    expect(payloadOf(refreshed.body.data.access_token).amr).toEqual(claims.amr);
    const used = await server.api("GET", "/api/v1/users/me/passkeys", { token });
    expect(used.body.data[0].last_used_at).not.toBeNull();
    // A password sign-in says pwd.
    expect(payloadOf(token).amr).toEqual(["pwd"]);
  });

  test("a registration answer to a challenge issued to another user is refused, and spends it", async () => {
    const page = await newPage();
    await addAuthenticator(page);
    const alice = await verifiedUser();
    const mallory = await verifiedUser();
    const aliceToken = await apiLogin(alice.input);
    const malloryToken = await apiLogin(mallory.input);
    await page.goto(`${base}/login`);
    // Alice's options, answered by the authenticator, posted with Mallory's token.
    const created = await page.evaluate(async (token) => {
      const { SimpleWebAuthnBrowser: lib, fetch } = globalThis as InPage;
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const options = await (await fetch("/api/v1/users/me/passkeys/registration/options", { method: "POST", headers, body: "{}" })).json();
      return lib.startRegistration({ optionsJSON: options.data.options });
    }, aliceToken);
    const asMallory = await server.api("POST", "/api/v1/users/me/passkeys", { token: malloryToken, body: { response: created } });
    expect(asMallory.status).toBe(422);
    expect(asMallory.body.error.code).toBe("VALIDATION_ERROR");
    expect(asMallory.body.error.details[0].field).toBe("response");
    const asAlice = await server.api("POST", "/api/v1/users/me/passkeys", { token: aliceToken, body: { response: created } });
    expect(asAlice.status).toBe(422);
    expect(await server.core.db.select().from(passkeys).where(eq(passkeys.userId, mallory.id))).toEqual([]);
    expect(await server.core.db.select().from(passkeys).where(eq(passkeys.userId, alice.id))).toEqual([]);
    // A made-up answer and a missing one: clear errors in the envelope.
    const bogus = await server.api("POST", "/api/v1/users/me/passkeys", { token: aliceToken, body: { response: { id: "x", response: { clientDataJSON: "not json" } } } });
    expect(bogus.status).toBe(422);
    expect(bogus.body.error.details[0]).toMatchObject({ field: "response" });
    const missing = await server.api("POST", "/api/v1/users/me/passkeys", { token: aliceToken, body: {} });
    expect(missing.status).toBe(422);
  });

  test("options need a verified email and a fresh sign-in or the password", async () => {
    const input = newUser();
    const registered = await server.api("POST", "/api/v1/users", { body: input });
    const token = await apiLogin(input);
    const unverified = await server.api("POST", "/api/v1/users/me/passkeys/registration/options", { token, body: {} });
    expect(unverified.status).toBe(403);
    expect(unverified.body.error.code).toBe("EMAIL_NOT_VERIFIED");
    await updateUser(server.core.db, registered.body.data.id, { isVerified: true }, server.clock.now());
    server.clock.advance(server.core.config.privilegedMaxAge + 60);
    const stale = await server.api("POST", "/api/v1/users/me/passkeys/registration/options", { token, body: {} });
    expect(stale.body.error.code).toBe("REAUTHENTICATION_REQUIRED");
    const wrong = await server.api("POST", "/api/v1/users/me/passkeys/registration/options", { token, body: { password: "not it at all" } });
    expect(wrong.body.error.code).toBe("WRONG_PASSWORD");
    const right = await server.api("POST", "/api/v1/users/me/passkeys/registration/options", { token, body: { password: input.password } });
    expect(right.status).toBe(200);
    expect(right.body.data.options.challenge).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(right.body.data.options.excludeCredentials).toEqual([]);
  });

  test("another user's passkey id is 404; the last way in is 409", async () => {
    const page = await newPage();
    await addAuthenticator(page);
    const alice = await verifiedUser();
    const bob = await verifiedUser();
    const aliceToken = await apiLogin(alice.input);
    const bobToken = await apiLogin(bob.input);
    await page.goto(`${base}/login`);
    const added = await apiRegister(page, aliceToken, "Alice's key");
    expect(added.status).toBe(201);
    const keyId = added.body.data.id as string;

    for (const [method, body] of [["PATCH", { name: "mine now" }], ["DELETE", undefined]] as const) {
      const answer = await server.api(method, `/api/v1/users/me/passkeys/${keyId}`, { token: bobToken, body });
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe("NOT_FOUND");
    }
    expect((await server.api("DELETE", "/api/v1/users/me/passkeys/not-a-uuid", { token: aliceToken })).status).toBe(404);
    const [kept] = await server.core.db.select().from(passkeys).where(eq(passkeys.id, keyId));
    expect(kept?.name).toBe("Alice's key");

    // Without a password, the passkey is Alice's only way in.
    await updateUser(server.core.db, alice.id, { passwordHash: null }, server.clock.now());
    const last = await server.api("DELETE", `/api/v1/users/me/passkeys/${keyId}`, { token: aliceToken });
    expect(last.status).toBe(409);
    expect(last.body.error.code).toBe("LAST_SIGN_IN_METHOD");
    expect(await server.core.db.select().from(passkeys).where(eq(passkeys.id, keyId))).toHaveLength(1);
    // The page says so too.
    const context = page.context();
    await context.clearCookies();
    await passkeySignIn(page);
    await Promise.all([page.waitForURL(`${base}/account/passkeys/remove`), page.click("#passkeys button[formaction='/account/passkeys/remove']")]);
    expect(await page.locator("#passkeys .alert").getAttribute("data-error-code")).toBe("LAST_SIGN_IN_METHOD");

    const renamed = await server.api("PATCH", `/api/v1/users/me/passkeys/${keyId}`, { token: aliceToken, body: { name: "  Alice's laptop " } });
    expect(renamed.body.data.name).toBe("Alice's laptop");
  });

  test("renaming or removing a passkey asks for the password when the sign-in is not recent", async () => {
    const page = await newPage();
    await addAuthenticator(page);
    const user = await verifiedUser();
    const token = await apiLogin(user.input);
    await page.goto(`${base}/login`);
    const added = await apiRegister(page, token, "Old key");
    expect(added.status).toBe(201);
    const keyId = added.body.data.id as string;
    server.clock.advance(server.core.config.privilegedMaxAge + 60);
    for (const [method, body] of [["PATCH", { name: "renamed" }], ["DELETE", undefined]] as const) {
      const stale = await server.api(method, `/api/v1/users/me/passkeys/${keyId}`, { token, body });
      expect(stale.body.error.code).toBe("REAUTHENTICATION_REQUIRED");
      const wrong = await server.api(method, `/api/v1/users/me/passkeys/${keyId}`, { token, body: { ...body, password: "not the password" } });
      expect(wrong.body.error.code).toBe("WRONG_PASSWORD");
    }
    expect((await server.core.db.select().from(passkeys).where(eq(passkeys.id, keyId)))[0]?.name).toBe("Old key");
    const renamed = await server.api("PATCH", `/api/v1/users/me/passkeys/${keyId}`, { token, body: { name: "renamed", password: user.input.password } });
    expect(renamed.body.data.name).toBe("renamed");
    const removed = await server.api("DELETE", `/api/v1/users/me/passkeys/${keyId}`, { token, body: { password: user.input.password } });
    expect(removed.status).toBe(200);
    expect(await server.core.db.select().from(passkeys).where(eq(passkeys.id, keyId))).toEqual([]);
  });

  test("an account holds at most 20 passkeys: options for a 21st are refused", async () => {
    const user = await verifiedUser();
    const token = await apiLogin(user.input);
    const now = server.clock.now();
    await server.core.db.insert(passkeys).values(
      Array.from({ length: 20 }, (_, i) => ({
        userId: user.id,
        credentialId: `filler-${user.id}-${i}`,
        publicKey: "AA",
        deviceType: "singleDevice",
        backedUp: false,
        name: `Key ${i + 1}`,
        createdAt: now,
      })),
    );
    const refused = await server.api("POST", "/api/v1/users/me/passkeys/registration/options", { token, body: {} });
    expect(refused.status).toBe(422);
    expect(refused.body.error.details[0].field).toBe("passkeys");
  });

  test("a cloned authenticator (the counter going back) is refused and audited", async () => {
    const page = await newPage();
    await addAuthenticator(page);
    const { input, id } = await verifiedUser();
    const token = await apiLogin(input);
    await page.goto(`${base}/login`);
    expect((await apiRegister(page, token, "Key")).status).toBe(201);
    expect((await verify(await apiAssertion(page))).status).toBe(200);
    const [key] = await server.core.db.select().from(passkeys).where(eq(passkeys.userId, id));
    expect(key!.counter).toBeGreaterThan(0);

    // Another copy of the key signed more often than this one has.
    await server.core.db.update(passkeys).set({ counter: key!.counter + 1000 }).where(eq(passkeys.id, key!.id));
    const refused = await verify(await apiAssertion(page));
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe("INVALID_CREDENTIALS");
    const audited = await server.core.db.select().from(auditLog).where(and(eq(auditLog.event, "user.login_failed"), eq(auditLog.targetId, id)));
    expect(audited).toHaveLength(1);
    expect(audited[0]!.data).toMatchObject({ reason: "passkey_counter_regressed", passkey_id: key!.id });
    const [after] = await server.core.db.select().from(passkeys).where(eq(passkeys.id, key!.id));
    expect(after!.counter).toBe(key!.counter + 1000);
  });

  test("a passkey satisfies two-step verification: a user with TOTP on gets tokens at once, no mfa_required", async () => {
    const page = await newPage();
    await addAuthenticator(page);
    const { input } = await verifiedUser();
    const token = await apiLogin(input);
    const enrolled = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token, body: {} });
    const totp = new TOTP({ secret: Secret.fromBase32(enrolled.body.data.secret), digits: 6, period: 30, algorithm: "SHA1" });
    expect((await server.api("POST", "/api/v1/users/me/mfa/confirm", { token, body: { code: totp.generate({ timestamp: server.clock.now().getTime() }) } })).status).toBe(200);
    const password = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect(password.body.data.mfa_required).toBe(true);

    await page.goto(`${base}/login`);
    expect((await apiRegister(page, token, "Key")).status).toBe(201);
    const signedIn = await verify(await apiAssertion(page));
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.data.mfa_required).toBeUndefined();
    expect(payloadOf(signedIn.body.data.access_token).amr).toContain("mfa");
  });

  test("a blocked user's passkey signs nobody in", async () => {
    const page = await newPage();
    await addAuthenticator(page);
    const { input, id } = await verifiedUser();
    const token = await apiLogin(input);
    await page.goto(`${base}/login`);
    expect((await apiRegister(page, token, "Key")).status).toBe(201);
    await updateUser(server.core.db, id, { status: "blocked" }, server.clock.now());
    const refused = await verify(await apiAssertion(page));
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("ACCOUNT_BLOCKED");
  });
});

describe("the passkey pages' look", () => {
  test("axe-core on /login and /account with passkeys at 1280 and 360 px; screenshots", async () => {
    const page = await newPage();
    const authenticator = await addAuthenticator(page);
    const { input } = await verifiedUser();
    await page.goto(`${base}/login`);
    await page.locator("#passkey-sign-in button").waitFor({ state: "visible" });
    await check(page, "/login with passkeys");
    await shoot(page, "login-passkey-1280");
    await passwordSignIn(page, input);
    await addPasskeyOnAccount(page, "Laptop");
    await authenticator.cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: authenticator.id });
    await addAuthenticator(page, authenticator.cdp);
    await page.goto(`${base}/account`);
    await addPasskeyOnAccount(page, "Phone");
    await check(page, "/account with passkeys");
    await page.locator("#passkeys").scrollIntoViewIfNeeded();
    await shoot(page, "account-passkeys-1280");
    await Promise.all([page.waitForURL(`${base}/account/passkeys/start`), page.click("form[action='/account/passkeys/start'] button")]);
    await check(page, "/account/passkeys/start");
    expect(cspMessages).toEqual([]);
  });
});
