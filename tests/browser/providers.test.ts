/**
 * Signing in with a provider in a real browser (SPEC §10): Chromium clicks
 * "Continue with Corp SSO" on /login, signs in at a real OpenID Connect
 * issuer (oidc-provider's development forms on a loopback port) and lands on
 * /account as a new user; links GitHub (the stand-in) from /account, through
 * the page that sends the browser on; unlinks it. axe-core at 1280 and 360 px
 * on the pages involved, and screenshots (docs/pages/ with USERSVC_SCREENSHOTS=1).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import type { Browser } from "playwright-core";
import { NARROW, pageChecks } from "../support/axe.ts";
import { launchChromium } from "../support/chromium.ts";
import { registerAndLogin } from "../support/server.ts";
import { identitiesOf, type ProviderKit, startProviderKit, userByEmail } from "../providers/support.ts";

setDefaultTimeout(120_000);

const { check, shoot } = pageChecks();
let kit: ProviderKit;
let browser: Browser;
const cspMessages: string[] = [];

beforeAll(async () => {
  kit = await startProviderKit();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await kit?.stop();
});

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.on("console", (message) => {
    if (message.text().includes("Content Security Policy") && message.page()?.url().startsWith(kit.server.url)) cspMessages.push(message.text());
  });
  return context.newPage();
}

test("sign in with the issuer from /login, then link and unlink GitHub on /account", async () => {
  kit.upstream.accounts.set("ada", { email: "ada@example.com", email_verified: true, preferred_username: "ada" });
  kit.github.next = { id: 1815, login: "ada-gh", emails: [{ email: "ada@example.com", primary: true, verified: true }] };
  const page = await newPage();

  await page.goto(`${kit.server.url}/login`);
  await check(page, "/login with providers");
  await shoot(page, "login-providers-1280");
  await shoot(page, "login-providers-360", NARROW);

  await page.getByRole("link", { name: "Continue with Corp SSO" }).click();
  await page.waitForURL(`${kit.upstream.issuer}/**`);
  await page.locator('input[name="login"]').fill("ada");
  await page.locator('input[name="password"]').fill("anything");
  await page.locator('button[type="submit"]').click();
  await page.getByRole("button", { name: "Continue" }).click();
  await page.waitForURL(`${kit.server.url}/account`);
  const user = (await userByEmail(kit.server, "ada@example.com"))!;
  expect(user.passwordHash).toBeNull();
  expect(await page.locator("#identities li").allInnerTexts()).toEqual([expect.stringContaining("Corp SSO")]);
  expect(await page.locator("#password").innerText()).toContain("Your account has no password");

  // Link GitHub: a fresh sign-in needs no password; the page sends the browser on (a form may not redirect to another origin).
  await page.getByRole("button", { name: "Link GitHub" }).click();
  await page.waitForURL(`${kit.server.url}/account?done=identity_linked#identities`);
  expect(await page.locator(".notice").innerText()).toContain("The account is linked");
  expect((await identitiesOf(kit.server, user.id)).map((i) => i.providerId).sort()).toEqual(["corp", "github"]);
  await check(page, "/account with two linked accounts");
  await shoot(page, "account-identities-1280");
  await shoot(page, "account-identities-360", NARROW);

  await page.getByRole("button", { name: "Unlink GitHub" }).click();
  await page.waitForURL(`${kit.server.url}/account?done=identity_unlinked#identities`);
  expect((await identitiesOf(kit.server, user.id)).map((i) => i.providerId)).toEqual(["corp"]);
  expect(await page.getByRole("button", { name: "Link GitHub" }).count()).toBe(1);
  await shoot(page, "account-link-provider-1280");
  // The last one stays: refused on the page, with the error in the section.
  await page.getByRole("button", { name: "Unlink Corp SSO" }).click();
  expect(await page.locator("#identities .alert").getAttribute("data-error-code")).toBe("LAST_SIGN_IN_METHOD");
  expect(cspMessages).toEqual([]);
});

test("an existing email at a provider that does not verify it: the page says to sign in first", async () => {
  await registerAndLogin(kit.server.api, { email: "grace@example.com" });
  kit.upstream.accounts.set("grace", { email: "grace@example.com", email_verified: false });
  const page = await newPage();
  await page.goto(`${kit.server.url}/register`);
  await page.getByRole("link", { name: "Continue with Corp SSO" }).click();
  await page.locator('input[name="login"]').fill("grace");
  await page.locator('input[name="password"]').fill("anything");
  await page.locator('button[type="submit"]').click();
  await page.getByRole("button", { name: "Continue" }).click();
  await page.waitForURL(`${kit.server.url}/login/provider/corp/callback**`);
  expect(await page.locator("main .alert").getAttribute("data-error-code")).toBe("EMAIL_TAKEN");
  expect(await page.locator("main").innerText()).toContain("then link Corp SSO on your account page");
  await check(page, "the provider callback refused (EMAIL_TAKEN)");
  await shoot(page, "provider-email-exists-1280");
});
