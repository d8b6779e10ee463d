/**
 * The OpenID Connect provider in a real browser (Debian's Chromium): an
 * application's sign-in through /login and /consent, with JavaScript on and
 * off, ending at the client's redirect URI, which the test catches in place
 * of the application; openid-client then exchanges the code. The pages'
 * CSP must let the form's navigation end at the client (form-action), and
 * must block nothing else. axe-core on /consent and the logout page;
 * screenshots into docs/pages/ with USERSVC_SCREENSHOTS=1.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { createPlainUser } from "../support/admin.ts";
import { NARROW, pageChecks } from "../support/axe.ts";
import { launchChromium } from "../support/chromium.ts";
import { codeFlow, discover, oidc, POST_LOGOUT_URI, REDIRECT_URI, registerClient, startIssuer } from "../support/oidc.ts";
import type { TestServer } from "../support/server.ts";

// Well over bun's 5 s default: Chromium walks several pages, with a password hash per sign-in.
setDefaultTimeout(90_000);

const { check, shoot } = pageChecks();
let server: TestServer;
let browser: Browser;
let config: oidc.Configuration;
const cspMessages: string[] = [];

beforeAll(async () => {
  server = await startIssuer();
  browser = await launchChromium();
  const client = await registerClient(server, { name: "Team wiki" });
  config = await discover(server, client.clientId, client.clientSecret);
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * A context in which the application's URLs answer a page standing for it
 * (the application is not there), recording where they were called; the
 * page links to `app.next`, as an application's sign-in button would.
 */
async function clientContext(javaScriptEnabled: boolean): Promise<{ context: BrowserContext; arrivals: string[]; app: { next: string } }> {
  const context = await browser.newContext({ javaScriptEnabled, viewport: { width: 1280, height: 900 } });
  const arrivals: string[] = [];
  const app = { next: "about:blank" };
  await context.route("https://app.example.test/**", (route) => {
    arrivals.push(route.request().url());
    const body = `<!doctype html><title>app</title><p>back at the app</p><a id="sign-in" href="${app.next.replaceAll("&", "&amp;")}">Sign in</a>`;
    return route.fulfill({ status: 200, contentType: "text/html", body });
  });
  context.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) cspMessages.push(`${message.page()?.url()}: ${message.text()}`);
  });
  return { context, arrivals, app };
}

async function signInAndConsent(page: Page, person: { email: string; password: string }, flowUrl: string) {
  await page.goto(flowUrl);
  await page.waitForURL(/\/login\?/);
  await page.getByLabel("Email or username").fill(person.email);
  await page.getByLabel("Password").fill(person.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(/\/consent\?/);
  await page.getByRole("heading", { name: "Allow Team wiki to use your account?" }).waitFor();
}

for (const javaScriptEnabled of [true, false]) {
  test(`an application's sign-in, consent and logout with JavaScript ${javaScriptEnabled ? "on" : "off"}`, async () => {
    const created = await createPlainUser(server);
    const person = { email: created.input.email, password: created.input.password };
    const { context, arrivals, app } = await clientContext(javaScriptEnabled);
    const page = await context.newPage();
    const flow = await codeFlow(config);
    await signInAndConsent(page, person, flow.url);
    if (javaScriptEnabled) {
      await check(page, "/consent");
      await shoot(page, "consent-1280");
      await shoot(page, "consent-360", NARROW);
    }
    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL(`${REDIRECT_URI}**`);
    expect(arrivals).toHaveLength(1);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(arrivals[0]!), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    expect(tokens.claims()!.sub).toBe(created.id);

    // The consent is remembered: the next sign-in from the application's page goes straight back.
    app.next = (await codeFlow(config)).url;
    await page.goto("https://app.example.test/");
    await page.click("#sign-in");
    await page.waitForURL(`${REDIRECT_URI}**`);
    expect(arrivals).toHaveLength(3);
    expect(new URL(arrivals[2]!).searchParams.get("code")).toBeString();

    // Logout without a hint asks first, then returns to the client's registered URI.
    await page.goto(`${server.url}/oauth/logout?client_id=${config.clientMetadata().client_id}&post_logout_redirect_uri=${encodeURIComponent(POST_LOGOUT_URI)}`);
    await page.getByRole("heading", { name: "Sign out?" }).waitFor();
    if (javaScriptEnabled) {
      await check(page, "/oauth/logout");
      await shoot(page, "oidc-logout-360", NARROW);
    }
    await page.getByRole("button", { name: "Sign out" }).last().click();
    await page.waitForURL(`${POST_LOGOUT_URI}**`);
    await page.goto(`${server.url}/account`);
    await page.waitForURL(/\/login\?/);
    await context.close();
    expect(cspMessages).toEqual([]);
  });
}

test("an unregistered redirect URI is an error page the browser stays on", async () => {
  const { context, arrivals } = await clientContext(true);
  const page = await context.newPage();
  const flow = await codeFlow(config, { redirect_uri: "https://evil.example.test/steal" });
  const response = await page.goto(flow.url);
  expect(response!.status()).toBe(400);
  await page.getByRole("heading", { name: "This sign-in request cannot go on" }).waitFor();
  await check(page, "/oauth/authorize error");
  expect(page.url()).toStartWith(server.url);
  expect(arrivals).toEqual([]);
  await context.close();
});

test("a first-party client: the sign-in form's navigation ends at the client (CSP form-action allows its origin)", async () => {
  const firstParty = await registerClient(server, { name: "Intranet", skip_consent: true });
  const firstConfig = await discover(server, firstParty.clientId, firstParty.clientSecret);
  const created = await createPlainUser(server);
  const { context, arrivals } = await clientContext(false);
  const page = await context.newPage();
  const flow = await codeFlow(firstConfig);
  await page.goto(flow.url);
  await page.getByLabel("Email or username").fill(created.input.email);
  await page.getByLabel("Password").fill(created.input.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(`${REDIRECT_URI}**`);
  const tokens = await oidc.authorizationCodeGrant(firstConfig, new URL(arrivals[0]!), { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
  expect(tokens.claims()!.sub).toBe(created.id);
  await context.close();
  expect(cspMessages).toEqual([]);
});
