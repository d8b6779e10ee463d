/**
 * examples/apps/node-openid-client/app.mjs under Node, against a usersvc
 * issuer, driven by a cookie-jar browser through the app itself: /login →
 * usersvc's sign-in and consent pages → the app's /callback → "signed in
 * as <email>"; then /logout → usersvc's end_session_endpoint → back on the
 * app, signed out of both. And the app's own checks: a callback with
 * another state, or in a browser that did not start the sign-in, is refused.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { resolve } from "node:path";
import { createPlainUser } from "../support/admin.ts";
import { Browserless, freePort, registerClient, startIssuer, walkAuthorization, type Person } from "../support/oidc.ts";
import type { TestServer } from "../support/server.ts";
import { type ExampleProcess, startExample } from "./child-process.ts";

// More than bun's 5 s default: usersvc on a real database and a Node process start first, and every sign-in hashes a password.
setDefaultTimeout(60_000);

const APP = resolve(import.meta.dir, "../../examples/apps/node-openid-client/app.mjs");

let issuer: TestServer;
let app: ExampleProcess | undefined;
let appUrl: string;
let person: Person;

beforeAll(async () => {
  issuer = await startIssuer();
  const port = await freePort();
  appUrl = `http://127.0.0.1:${port}`;
  // What the README has `usersvc clients add` register, on this run's port.
  const client = await registerClient(issuer, {
    name: "Node example app",
    redirect_uris: [`${appUrl}/callback`],
    post_logout_redirect_uris: [`${appUrl}/`],
    grant_types: ["authorization_code"],
    scopes: ["openid", "profile", "email"],
  });
  app = await startExample("node-openid-client", ["node", APP], {
    port,
    env: { USERSVC_ISSUER_URL: issuer.url, CLIENT_ID: client.clientId, CLIENT_SECRET: client.clientSecret!, APP_URL: appUrl },
  });
  const created = await createPlainUser(issuer);
  person = { email: created.input.email, password: created.input.password };
});
afterAll(async () => {
  await app?.stop();
  await issuer?.stop();
});

/** usersvc's pages are the browser's base; the app is reached by absolute URLs (one browser, two sites, as in life). */
function newBrowser(): Browserless {
  return new Browserless(issuer.url);
}

/** /login on the app, then usersvc's pages, up to the redirect back to the app's /callback (not followed). */
async function signInUpTo(browser: Browserless): Promise<URL> {
  return walkAuthorization(browser, `${appUrl}/login`, person, { redirectUri: `${appUrl}/callback` });
}

function failing(message: string): string {
  return `${message}\n--- the app's output ---\n${app?.output()}`;
}

test("signed out, the home page offers to sign in", async () => {
  const home = await newBrowser().get(`${appUrl}/`);
  expect(home.status).toBe(200);
  expect(home.html).toContain('<a href="/login">Sign in with usersvc</a>');
});

test("/login sends the browser to usersvc's authorization endpoint with PKCE S256, state and nonce, keeping them behind an HttpOnly cookie", async () => {
  const start = await newBrowser().get(`${appUrl}/login`);
  expect(start.status).toBe(302);
  const location = new URL(start.location!);
  expect(`${location.origin}${location.pathname}`).toBe(`${issuer.url}/oauth/authorize`);
  const params = Object.fromEntries(location.searchParams);
  expect(params).toEqual({
    client_id: expect.any(String),
    redirect_uri: `${appUrl}/callback`,
    response_type: "code",
    scope: "openid profile email",
    state: expect.stringMatching(/^[\w-]{20,}$/),
    nonce: expect.stringMatching(/^[\w-]{20,}$/),
    code_challenge: expect.stringMatching(/^[\w-]{43}$/),
    code_challenge_method: "S256",
  });
  expect(start.cookies).toHaveLength(1);
  expect(start.cookies[0]).toMatch(/^app_session=[\w-]{40,}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
});

test("a browser signs in through usersvc's sign-in and consent pages, the app shows the email; logout signs it out of the app and of usersvc", async () => {
  const browser = newBrowser();
  const callback = await signInUpTo(browser);
  expect(callback.searchParams.get("code")).toBeString();
  expect(callback.searchParams.get("iss")).toBe(issuer.url);
  const before = browser.cookie("app_session");

  const exchanged = await browser.get(callback.href);
  expect(exchanged.status, failing(exchanged.html)).toBe(302);
  expect(exchanged.location).toBe(`${appUrl}/`);
  // A new session id once signed in.
  expect(browser.cookie("app_session")).toBeString();
  expect(browser.cookie("app_session")).not.toBe(before);
  const home = await browser.get(`${appUrl}/`);
  expect(home.status).toBe(200);
  expect(home.html).toContain(`signed in as ${person.email}`);
  expect((await browser.get("/account")).status).toBe(200);

  const logout = await browser.get(`${appUrl}/logout`);
  expect(logout.status).toBe(302);
  const endSession = new URL(logout.location!);
  expect(`${endSession.origin}${endSession.pathname}`).toBe(`${issuer.url}/oauth/logout`);
  expect(endSession.searchParams.get("post_logout_redirect_uri")).toBe(`${appUrl}/`);
  expect(endSession.searchParams.get("id_token_hint")).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  expect(browser.cookie("app_session")).toBeUndefined();
  // usersvc signs out without asking (the hint names its session) and sends the browser back.
  const back = await browser.get(logout.location!);
  expect(back.status, back.html.slice(0, 500)).toBe(303);
  expect(back.location).toBe(`${appUrl}/`);
  expect((await browser.get(back.location!)).html).toContain("You are not signed in.");
  expect((await browser.get("/account")).location).toStartWith("/login");
});

test("still signed in at usersvc and consented, a new app session signs in with no page shown", async () => {
  const browser = newBrowser();
  await browser.get((await signInUpTo(browser)).href);
  // The app forgets the browser (its cookie expired, say); usersvc still knows it.
  browser.jar.delete("app_session");
  const start = await browser.get(`${appUrl}/login`);
  const authorize = await browser.get(start.location!);
  expect(authorize.location, authorize.html.slice(0, 500)).toStartWith(`${appUrl}/callback?`);
  expect((await browser.get(authorize.location!)).location).toBe(`${appUrl}/`);
  expect((await browser.get(`${appUrl}/`)).html).toContain(`signed in as ${person.email}`);
});

test("a callback with another state is refused, and the sign-in it interrupted cannot be completed afterwards", async () => {
  const browser = newBrowser();
  const callback = await signInUpTo(browser);
  const forged = new URL(callback);
  forged.searchParams.set("state", "not-the-state-the-app-sent");
  const refused = await browser.get(forged.href);
  expect(refused.status).toBe(400);
  expect(refused.html).toContain("Sign-in failed");
  const genuine = await browser.get(callback.href);
  expect(genuine.status).toBe(400);
  expect((await browser.get(`${appUrl}/`)).html).toContain("You are not signed in.");
  // The reason, in openid-client's words, goes to the log too.
  await app!.printed('sign-in failed: invalid response encountered: unexpected "state" response parameter value');
});

test("a callback in a browser that did not start the sign-in is refused; the one that did completes it", async () => {
  const victim = newBrowser();
  const callback = await signInUpTo(victim);
  const other = await newBrowser().get(callback.href);
  expect(other.status).toBe(400);
  expect(other.html).toContain("This sign-in was not started here");
  expect((await victim.get(callback.href)).location).toBe(`${appUrl}/`);
  expect((await victim.get(`${appUrl}/`)).html).toContain(`signed in as ${person.email}`);
});

test("/logout without a session goes home and answers no end-session redirect", async () => {
  const answer = await newBrowser().get(`${appUrl}/logout`);
  expect(answer.status).toBe(302);
  expect(answer.location).toBe(`${appUrl}/`);
});
