/**
 * The hosted pages (SPEC §7) in a real browser: Debian's Chromium driven by
 * playwright-core, never a downloaded browser (a missing one fails the suite).
 *
 * - The password flows with JavaScript turned off: sign up, confirm the
 *   emailed link, sign out, sign in; forgot password, emailed reset link, new
 *   password. Sign-up once more with JavaScript on.
 * - Two-step verification: enrol from /account (QR as inline SVG, secret,
 *   TOTP code, 10 recovery codes), then a sign-in through /login/mfa.
 * - axe-core on every page state at 360 px and 1280 px, and in dark mode:
 *   no serious or critical violation.
 * - Full-page screenshots: into docs/pages/ with USERSVC_SCREENSHOTS=1 (the
 *   PNGs docs/pages.md shows), else into a temporary directory.
 * - No request leaves the test server, and the CSP blocks nothing of ours.
 *
 * Emails arrive at a real SMTP receiver; their links point at the public URL
 * and are opened as path + query on the test server.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Secret, TOTP } from "otpauth";
import { type Browser, type BrowserContext, type BrowserContextOptions, type Page } from "playwright-core";
import { type InPage, NARROW, pageChecks, WIDE } from "../support/axe.ts";
import { launchChromium } from "../support/chromium.ts";
import { deliverUntilIdle } from "../support/hooks.ts";
import { issueResetToken, newUser, startTestServer, type TestServer } from "../support/server.ts";
import { type ReceivedMail, type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// Well over bun's 5 s default: each test drives Chromium through several pages
// (password hashing on every sign-in) against real databases on a shared machine,
// and the axe test runs axe-core about fifty times.
setDefaultTimeout(120_000);

const PUBLIC_URL = "http://id.example.test";
const { check, runAxe, shoot, shots, violations } = pageChecks();

let smtp: SmtpReceiver;
let server: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
/** Every URL any page of the watched contexts requested. */
const requested: string[] = [];
/** Console messages about the Content Security Policy, from the watched contexts. */
const cspMessages: string[] = [];

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  server = await startTestServer({ USERSVC_SMTP_URL: smtp.url, USERSVC_PUBLIC_URL: PUBLIC_URL, USERSVC_EMAIL_COOLDOWN: "0" });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await smtp?.stop();
});

/** A new context whose requests and CSP console messages are recorded (bypassCSP stays off). */
async function newContext(options: BrowserContextOptions = {}): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: WIDE, ...options });
  contexts.push(context);
  context.on("request", (request) => void requested.push(request.url()));
  context.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) cspMessages.push(`${message.page()?.url()}: ${message.text()}`);
  });
  return context;
}

/** An emailed link (on the public URL) as the same path and query on the test server. */
function local(link: string | null): string {
  expect(link).toStartWith(`${PUBLIC_URL}/`);
  const url = new URL(link!);
  return `${server.url}${url.pathname}${url.search}`;
}

/**
 * The newest email to `to` whose subject matches, once the outbox delivered it.
 * Polls: some emails (the reset request) are written just after the answer.
 */
async function mailTo(to: string, subject: RegExp, after = 0): Promise<ReceivedMail> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await deliverUntilIdle(server.core);
    const found = smtp.to(to).slice(after).filter((m) => subject.test(m.subject));
    if (found.length > 0) return found[found.length - 1]!;
    if (Date.now() > deadline) throw new Error(`no email to ${to} matching ${subject}`);
    await Bun.sleep(20);
  }
}

/** A user made through the API whose email address is confirmed (through the emailed token). */
async function verifiedUser() {
  const input = newUser();
  const registered = await server.api("POST", "/api/v1/users", { body: input });
  expect(registered.status).toBe(201);
  const mail = await mailTo(input.email, /Confirm your email/);
  const token = new URL(mail.link!).searchParams.get("token");
  const verified = await server.api("POST", "/api/v1/auth/verify-email", { body: { token } });
  expect(verified.body.data?.is_verified).toBe(true);
  return { input, user: registered.body.data as { id: string; email: string; username: string } };
}

/** The current TOTP code of a base32 secret, at the server's clock. */
function totp(secret: string): string {
  return new TOTP({ algorithm: "SHA1", digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({
    timestamp: server.clock.now().getTime(),
  });
}

/** Moves the server's clock to the next TOTP step, so a new code is accepted (each step counts once). */
function nextTotpStep(): void {
  server.clock.advance(30);
}

async function signIn(page: Page, identifier: string, password: string): Promise<void> {
  await page.goto(`${server.url}/login`);
  await page.getByLabel("Email or username").fill(identifier);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

async function signOut(page: Page): Promise<void> {
  await page.locator("header.top").getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${server.url}/login`);
}

const heading = (page: Page) => page.locator("h1");

/**
 * The page's own globals, for functions that run in the browser: the
 * project's tsconfig has no DOM lib (adding it breaks Bun's types elsewhere),
 * so they are reached through globalThis, untyped, inside each function.
 */
const emailBadge = (page: Page) => page.locator("#profile .badge");

describe("the password flows in Chromium with JavaScript turned off", () => {
  let context: BrowserContext;
  let page: Page;
  const input = newUser();

  beforeAll(async () => {
    context = await newContext({ javaScriptEnabled: false });
    page = await context.newPage();
  });

  test("a newcomer signs up, lands on /account unconfirmed, confirms the emailed link, signs out and in again", async () => {
    await page.goto(`${server.url}/register`);
    await page.getByLabel("Email address").fill(input.email);
    await page.getByLabel("Username").fill(input.username);
    await page.getByLabel("Password", { exact: true }).fill(input.password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(`${server.url}/account`);
    expect(await heading(page).innerText()).toBe("Your account");
    expect(await page.locator("#profile dd").innerText()).toContain(input.email);
    expect(await emailBadge(page).innerText()).toBe("not confirmed");

    const mail = await mailTo(input.email, /Confirm your email/);
    await page.goto(local(mail.link));
    expect(await heading(page).innerText()).toBe("Confirm your email address");
    await page.getByRole("button", { name: "Confirm" }).click();
    await heading(page).filter({ hasText: "Email address confirmed" }).waitFor();
    expect(await page.locator("main").innerText()).toContain(`${input.email} is confirmed`);

    await signOut(page);
    expect(await heading(page).innerText()).toBe("Sign in");
    await signIn(page, input.username, input.password);
    await page.waitForURL(`${server.url}/account`);
    expect(await emailBadge(page).innerText()).toBe("confirmed");
  });

  test("forgot password: the emailed link sets a new password, which then signs in (the old one no longer does)", async () => {
    const fresh = await newContext({ javaScriptEnabled: false });
    const anonymous = await fresh.newPage();
    const before = smtp.to(input.email).length;
    await anonymous.goto(`${server.url}/login`);
    await anonymous.getByRole("link", { name: "Forgot your password?" }).click();
    await anonymous.waitForURL(`${server.url}/forgot-password`);
    await anonymous.getByLabel("Email address").fill(input.email);
    await anonymous.getByRole("button", { name: "Send the link" }).click();
    await heading(anonymous).filter({ hasText: "Check your email" }).waitFor();
    expect(await anonymous.locator("main").innerText()).toContain(input.email);

    const mail = await mailTo(input.email, /Reset your password/, before);
    await anonymous.goto(local(mail.link));
    expect(await heading(anonymous).innerText()).toBe("Choose a new password");
    const newPassword = "another horse battery staple";
    await anonymous.getByLabel("New password").fill(newPassword);
    await anonymous.getByRole("button", { name: "Set the new password" }).click();
    await heading(anonymous).filter({ hasText: "Your password is changed" }).waitFor();

    // The reset ended every session: the first browser is signed out on its next request.
    await page.goto(`${server.url}/account`);
    expect(new URL(page.url()).pathname).toBe("/login");

    await anonymous.getByRole("link", { name: "Sign in" }).click();
    await anonymous.waitForURL(/\/login$/);
    await anonymous.getByLabel("Email or username").fill(input.email);
    await anonymous.getByLabel("Password", { exact: true }).fill(input.password);
    await anonymous.getByRole("button", { name: "Sign in", exact: true }).click();
    expect(await anonymous.locator(".alert").getAttribute("data-error-code")).toBe("INVALID_CREDENTIALS");
    await anonymous.getByLabel("Password", { exact: true }).fill(newPassword);
    await anonymous.getByRole("button", { name: "Sign in", exact: true }).click();
    await anonymous.waitForURL(`${server.url}/account`);
    expect(await emailBadge(anonymous).innerText()).toBe("confirmed");
  });
});

describe("sign-up in Chromium with JavaScript on", () => {
  test("register lands on /account with the address not yet confirmed", async () => {
    const context = await newContext();
    const page = await context.newPage();
    const input = newUser();
    await page.goto(`${server.url}/register`);
    // JavaScript does run in this context (the other one proves the pages need none).
    expect(await page.evaluate(() => (globalThis as InPage).document.title)).toBe("Create your account · usersvc");
    await page.getByLabel("Email address").fill(input.email);
    await page.getByLabel("Username").fill(input.username);
    await page.getByLabel("Password", { exact: true }).fill(input.password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(`${server.url}/account`);
    expect(await page.locator("#profile dd").innerText()).toContain(input.email);
    expect(await emailBadge(page).innerText()).toBe("not confirmed");
    expect(await page.locator("#profile-username").inputValue()).toBe(input.username);
  });
});

describe.each([
  ["on", true],
  ["off", false],
])("two-step verification, sessions and deletion in Chromium with JavaScript %s", (_label, javaScriptEnabled) => {
  test("enrol on /account (QR, secret, TOTP code, 10 recovery codes), sign in through /login/mfa, sign out another session, delete the account", async () => {
    const { input } = await verifiedUser();
    const context = await newContext({ javaScriptEnabled });
    const page = await context.newPage();
    await signIn(page, input.username, input.password);
    await page.waitForURL(`${server.url}/account`);
    expect(await page.locator("#mfa .badge").innerText()).toBe("off");

    await page.getByRole("button", { name: "Turn on two-step verification" }).click();
    // The enrolment is the POST's own answer (the secret is shown nowhere else).
    const qr = page.locator(".qr svg");
    await qr.waitFor({ state: "visible" });
    expect(await qr.getAttribute("aria-label")).toBe("QR code of your two-step verification key");
    const box = (await qr.boundingBox())!;
    expect(box.width).toBeGreaterThan(100);
    expect(box.height).toBeGreaterThan(100);
    const secret = (await page.locator("code.secret").innerText()).trim();
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);

    await page.getByLabel("Code from the app").fill(totp(secret));
    await page.getByRole("button", { name: "Turn on", exact: true }).click();
    await heading(page).filter({ hasText: "Two-step verification is on" }).waitFor();
    const codes = await page.locator("ul.codes li").allInnerTexts();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    await page.getByRole("link", { name: "I have saved them" }).click();
    await page.waitForURL(`${server.url}/account#mfa`);
    expect(await page.locator("#mfa .badge").innerText()).toBe("on");

    await signOut(page);
    await signIn(page, input.username, input.password);
    await page.waitForURL(`${server.url}/login/mfa`);
    expect(await heading(page).innerText()).toBe("Two-step verification");
    // The code that turned two-step verification on is spent: a fresh one, from the next step.
    nextTotpStep();
    await page.getByLabel("Code", { exact: true }).fill(totp(secret));
    await page.getByRole("button", { name: "Verify" }).click();
    await page.waitForURL(`${server.url}/account`);
    expect(await page.locator("#mfa .badge").innerText()).toBe("on");

    // An API session of the same user is listed beside this browser's, and signed out from here.
    const apiLogin = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect(apiLogin.body.data.mfa_required).toBe(true);
    nextTotpStep();
    const apiSession = await server.api("POST", "/api/v1/auth/mfa/verify", { body: { mfa_token: apiLogin.body.data.mfa_token, code: totp(secret) } });
    expect(apiSession.status).toBe(200);
    await page.reload();
    const sessions = page.locator(".sessions li");
    expect(await sessions.count()).toBe(2);
    const other = sessions.filter({ hasNotText: "this browser" });
    await other.getByRole("button", { name: /^Sign out/ }).click();
    await page.locator('[role="status"]').filter({ hasText: "The session is signed out." }).waitFor();
    expect(await page.locator(".sessions li").count()).toBe(1);
    expect((await server.api("POST", "/api/v1/auth/refresh", { body: { refresh_token: apiSession.body.data.refresh_token } })).status).toBe(401);

    await page.locator("#delete").getByLabel("Current password").fill(input.password);
    await page.getByRole("button", { name: "Delete my account" }).click();
    await heading(page).filter({ hasText: "Your account is deleted" }).waitFor();
    await page.goto(`${server.url}/account`);
    await page.waitForURL(/\/login\?return_to=/);
    expect((await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } })).status).toBe(401);
  });
});

describe("every page through axe-core, and screenshots", () => {
  test("each page state has no serious or critical axe violation at 360 px, 1280 px and in dark mode", async () => {
    const context = await newContext();
    const page = await context.newPage();
    const { input, user } = await verifiedUser();

    await page.goto(`${server.url}/login`);
    await check(page, "/login");
    await shoot(page, "login-1280");
    await shoot(page, "login-360", NARROW);
    await shoot(page, "login-dark-1280", WIDE, "dark");

    await page.getByLabel("Email or username").fill(input.username);
    await page.getByLabel("Password", { exact: true }).fill("not the password");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    expect(await page.locator("main .alert").getAttribute("data-error-code")).toBe("INVALID_CREDENTIALS");
    await check(page, "/login with an error");
    await shoot(page, "login-error-1280");
    await shoot(page, "login-error-360", NARROW);

    await page.goto(`${server.url}/login?ui_locales=de`);
    expect(await page.locator("html").getAttribute("lang")).toBe("de");
    expect(await heading(page).innerText()).toBe("Anmelden");
    await check(page, "/login?ui_locales=de");
    await shoot(page, "login-de-1280");

    await page.goto(`${server.url}/register`);
    await check(page, "/register");
    await shoot(page, "register-1280");
    await shoot(page, "register-360", NARROW);

    const taken = newUser();
    await page.getByLabel("Email address").fill(taken.email);
    await page.getByLabel("Username").fill("no spaces allowed");
    await page.getByLabel("Password", { exact: true }).fill("short");
    await page.getByRole("button", { name: "Create account" }).click();
    expect(await page.locator("main .alert").getAttribute("data-error-code")).toBe("VALIDATION_ERROR");
    expect(await page.locator(".field-error").count()).toBeGreaterThanOrEqual(1);
    await check(page, "/register with field errors");
    await shoot(page, "register-errors-360", NARROW);

    await page.goto(`${server.url}/forgot-password`);
    await check(page, "/forgot-password");
    await shoot(page, "forgot-password-1280");
    await page.getByLabel("Email address").fill(input.email);
    await page.getByRole("button", { name: "Send the link" }).click();
    await heading(page).filter({ hasText: "Check your email" }).waitFor();
    await check(page, "/forgot-password, check your email");

    await page.goto(`${server.url}/reset-password?token=${await issueResetToken(server, user.id)}`);
    expect(await heading(page).innerText()).toBe("Choose a new password");
    await check(page, "/reset-password with a live token");

    await page.goto(`${server.url}/reset-password?token=spent-or-never-issued`);
    expect(await page.locator("main .alert").getAttribute("data-error-code")).toBe("INVALID_OR_EXPIRED_TOKEN");
    await check(page, "/reset-password with a dead link");
    await shoot(page, "dead-link-360", NARROW);

    await page.goto(`${server.url}/verify-email`);
    expect(await page.getByLabel("Code").count()).toBe(1);
    await check(page, "/verify-email (code form)");

    const newcomer = newUser();
    expect((await server.api("POST", "/api/v1/users", { body: newcomer })).status).toBe(201);
    await page.goto(local((await mailTo(newcomer.email, /Confirm your email/)).link));
    expect(await page.getByRole("button", { name: "Confirm" }).count()).toBe(1);
    await check(page, "/verify-email?token= (live)");

    // Two more sessions (API logins), so /account lists three.
    for (let i = 0; i < 2; i++) {
      expect((await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } })).status).toBe(200);
    }
    await signIn(page, input.username, input.password);
    await page.waitForURL(`${server.url}/account`);
    expect(await page.locator(".sessions li").count()).toBe(3);
    await check(page, "/account");
    await shoot(page, "account-1280");
    await shoot(page, "account-360", NARROW);
    await shoot(page, "account-dark-360", NARROW, "dark");

    await page.getByRole("button", { name: "Turn on two-step verification" }).click();
    await page.locator(".qr svg").waitFor();
    await check(page, "the TOTP set-up page (QR)");
    // Big enough to scan from a phone, small enough to leave the form in view: 150-260 px at both widths.
    for (const viewport of [WIDE, NARROW]) {
      await page.setViewportSize(viewport);
      const box = (await page.locator(".qr svg").boundingBox())!;
      expect(box.width).toBeGreaterThanOrEqual(150);
      expect(box.width).toBeLessThanOrEqual(260);
      expect(Math.abs(box.width - box.height)).toBeLessThan(2);
    }
    await page.setViewportSize(WIDE);
    await shoot(page, "mfa-enrol-1280");
    await shoot(page, "mfa-enrol-360", NARROW);

    const secret = (await page.locator("code.secret").innerText()).trim();
    await page.getByLabel("Code from the app").fill(totp(secret));
    await page.getByRole("button", { name: "Turn on", exact: true }).click();
    await heading(page).filter({ hasText: "Two-step verification is on" }).waitFor();
    expect(await page.locator("ul.codes li").count()).toBe(10);
    await check(page, "the recovery codes page");
    await shoot(page, "recovery-codes-1280");
    await shoot(page, "recovery-codes-360", NARROW);

    await page.goto(`${server.url}/account`);
    expect(await page.locator("#mfa .badge").innerText()).toBe("on");
    await check(page, "/account with TOTP on");

    await signOut(page);
    await signIn(page, input.username, input.password);
    await page.waitForURL(`${server.url}/login/mfa`);
    await check(page, "/login/mfa");
    await shoot(page, "login-mfa-1280");
    await shoot(page, "login-mfa-360", NARROW);

    nextTotpStep();
    await page.getByLabel("Code", { exact: true }).fill("000000" === totp(secret) ? "111111" : "000000");
    await page.getByRole("button", { name: "Verify" }).click();
    expect(await page.locator("main .alert").getAttribute("data-error-code")).toBe("INVALID_CREDENTIALS");
    await check(page, "/login/mfa with a wrong code");

    const summary = violations.map(({ where, violation }) => `${where}: ${violation.impact} ${violation.id} (${violation.nodes.length})`);
    console.log(summary.length > 0 ? `all axe violations:\n${summary.join("\n")}` : "axe: no violation on any page");
    expect(shots.length).toBeGreaterThanOrEqual(12);
  });
});

describe("the checks themselves", () => {
  test("axe, run the same way, does report a page broken on purpose (labels removed, text as pale as the background)", async () => {
    const context = await browser.newContext({ viewport: WIDE });
    const page = await context.newPage();
    await page.goto(`${server.url}/login`);
    await page.evaluate(() => {
      const { document } = globalThis as InPage;
      for (const label of document.querySelectorAll("label")) label.remove();
      // Through the CSSOM: a style attribute would be refused by the CSP (style-src 'self').
      document.querySelector("h1")!.style.color = "#c0c4cc";
    });
    const found = await runAxe(page, "/login broken on purpose");
    expect(found.map((v) => v.id)).toEqual(expect.arrayContaining(["label", "color-contrast"]));
    expect(found.find((v) => v.id === "label")!.impact).toBe("critical");
    await context.close();
  });
});

describe("what the pages load", () => {
  test("the CSP blocks a script injected into a page, and the console listener sees it (so its silence means something)", async () => {
    // A context of its own, not watched: this violation is made on purpose.
    const context = await browser.newContext();
    const seen: string[] = [];
    context.on("console", (message) => void seen.push(message.text()));
    const page = await context.newPage();
    await page.goto(`${server.url}/login`);
    await page.addScriptTag({ content: "document.title = 'injected'" }).catch(() => {});
    expect(await page.title()).toBe("Sign in · usersvc");
    expect(seen.some((text) => text.includes("Content Security Policy"))).toBe(true);
    await context.close();
  });

  test("no page requested anything outside the test server, and the CSP refused nothing of ours", () => {
    expect(requested.length).toBeGreaterThan(30);
    expect(requested.filter((url) => new URL(url).origin !== server.url)).toEqual([]);
    expect(requested).toEqual(expect.arrayContaining([`${server.url}/assets/theme.css`, `${server.url}/assets/logo.svg`]));
    expect(cspMessages).toEqual([]);
  });
});
