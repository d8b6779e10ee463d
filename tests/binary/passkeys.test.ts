/**
 * Passkeys through the compiled binary copied alone into an empty directory:
 * it serves @simplewebauthn/browser's bundle and the pages' passkey script
 * from inside itself, and in Chromium with a virtual authenticator a user
 * signs in with a password, adds a passkey, signs out and signs in with it
 * and no username.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import type { Browser } from "playwright-core";
import { binaryAlone, removeBinaryAlone, callApi, startServe } from "../support/binary.ts";
import { launchChromium } from "../support/chromium.ts";
import type { TestDatabase } from "../support/database.ts";
import { freePort } from "../support/oidc.ts";

setDefaultTimeout(120_000);

let dir: string;
let binary: string;
let database: TestDatabase | null = null;
let browser: Browser;

beforeAll(async () => {
  ({ dir, binary, database } = await binaryAlone("usersvc-passkeys-"));
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await removeBinaryAlone({ dir, database });
});

test("the binary alone serves the passkey scripts, and a passkey added on /account signs in with no username", async () => {
  const port = await freePort();
  const base = `http://localhost:${port}`;
  await using serve = await startServe({
    binary,
    cwd: dir,
    args: ["--port", String(port)],
    env: { USERSVC_SMTP_URL: "log", USERSVC_PUBLIC_URL: base, ...(database ? { DATABASE_URL: database.env.DATABASE_URL } : {}) },
  });
  expect(new URL(serve.url).port).toBe(String(port));

  for (const [path, marker] of [["/assets/webauthn.js", "SimpleWebAuthnBrowser"], ["/assets/passkeys.js", "passkey-sign-in"]] as const) {
    const script = await fetch(`${base}${path}`);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await script.text()).toContain(marker);
  }

  const input = { email: "keyholder@example.com", username: "keyholder", password: "correct horse battery staple" };
  expect((await callApi(base, "POST", "/api/v1/users", { body: input })).status).toBe(201);
  let link: string | undefined;
  for (let i = 0; i < 200 && !link; i++) {
    link = serve.logs().flatMap((entry) => (entry.module === "email" && entry.to === input.email ? (entry.links as string[]) : [])).find((l) => l.includes("token="));
    if (!link) await Bun.sleep(50);
  }
  const token = new URL(link!).searchParams.get("token");
  expect((await callApi(base, "POST", "/api/v1/auth/verify-email", { body: { token } })).status).toBe(200);

  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await page.goto(`${base}/login`);
    await page.fill("#f-identifier", input.email);
    await page.fill("#f-password", input.password);
    await Promise.all([page.waitForURL(`${base}/account`), page.click("form[action='/login'] button[type=submit]")]);
    await Promise.all([page.waitForURL(`${base}/account/passkeys/start`), page.click("form[action='/account/passkeys/start'] button")]);
    await page.fill("#passkey-name", "Binary key");
    await Promise.all([page.waitForURL(/done=passkey_added/), page.click("#passkey-add button[type=submit]")]);
    expect(await page.locator("#passkeys li strong").allInnerTexts()).toEqual(["Binary key"]);

    await Promise.all([page.waitForURL(/\/login$/), page.click("header form[action='/logout'] button")]);
    // The autofill request of the login page, answered by the authenticator, signs in with no username.
    await page.waitForURL(`${base}/account`);
    expect(await page.locator("#profile").innerText()).toContain(input.email);
  } finally {
    await context.close();
  }
  expect((await serve.stop()).exitCode).toBe(0);
});
