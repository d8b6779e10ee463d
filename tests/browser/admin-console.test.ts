/**
 * An operator's day in the admin console (issue 15), in Debian's Chromium
 * against one real server: sign in with the keyboard, find a user, block and
 * unblock them (the API refuses their token at once), adjust the balance with
 * a double click (applied once), reset MFA, revoke a session, retry a
 * dead-lettered webhook, rotate the keys, add an OIDC client and sign in to it
 * with openid-client, verify the audit chain, purge a user after typing the
 * confirmation. Plain users and demoted admins are refused; a cross-site form
 * post changes nothing. axe-core (no serious or critical violation at 1280 and
 * 360 px and in dark mode) on every screen, and screenshots into
 * docs/admin-console/ with USERSVC_SCREENSHOTS=1.
 *
 * The dead-lettered event is made by setting its row dead in the database
 * (status, attempts, last_error): walking it through every backoff would move
 * the server's clock by days, past the admin's session.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { Secret, TOTP } from "otpauth";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { outboxEvents, users } from "../../src/core/db/schema.ts";
import { MAX_ATTEMPTS } from "../../src/core/events/outbox.ts";
import { adminUpdateUser } from "../../src/core/users/admin-update.ts";
import { createUser } from "../../src/core/users/users.ts";
import { NARROW, pageChecks } from "../support/axe.ts";
import { launchChromium } from "../support/chromium.ts";
import { deliverUntilIdle, newWebhookSecret, startWebhookReceiver, type WebhookReceiver } from "../support/hooks.ts";
import { Browserless, discover, oidc, walkAuthorization } from "../support/oidc.ts";
import { freePort } from "../support/oidc.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// Chromium walks every screen, with axe three times on each.
setDefaultTimeout(120_000);

const ADMIN_MAX_AGE = 600;
const CALLBACK = "http://127.0.0.1:9/callback"; // never reached: the cookie jar stops at the redirect to it
const { check, shoot } = pageChecks({ dir: "admin-console" });
let server: TestServer;
let browser: Browser;
let receiver: WebhookReceiver;
let context: BrowserContext;
let page: Page;
const cspMessages: string[] = [];
const admin = newUser({ username: "ops-admin" });

beforeAll(async () => {
  const secret = newWebhookSecret();
  receiver = startWebhookReceiver(secret);
  const port = await freePort();
  server = await startTestServer(
    {
      USERSVC_PUBLIC_URL: `http://127.0.0.1:${port}`,
      USERSVC_ADMIN_MAX_AGE: String(ADMIN_MAX_AGE),
      USERSVC_WEBHOOK_URL: receiver.url,
      USERSVC_WEBHOOK_SECRET: secret,
    },
    { port },
  );
  // As `usersvc create-admin` does (the binary test runs the real command).
  await createUser(server.core, admin, { actor: CLI_ACTOR, roles: ["user", "admin"], isVerified: true });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) cspMessages.push(`${message.page()?.url()}: ${message.text()}`);
  });
  page = await context.newPage();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await receiver?.stop();
});

/** Presses Tab until the focused element matches `selector` (bounded), and answers whether its focus outline shows. */
async function tabTo(target: Page, selector: string): Promise<{ outline: string }> {
  for (let i = 0; i < 40; i++) {
    await target.keyboard.press("Tab");
    if (await target.evaluate((s) => (globalThis as any).document.activeElement?.matches(s) ?? false, selector)) {
      const outline = await target.evaluate(() => {
        const style = (globalThis as any).getComputedStyle((globalThis as any).document.activeElement);
        return `${style.outlineStyle} ${parseFloat(style.outlineWidth) > 0 ? "visible" : "zero"}`;
      });
      return { outline };
    }
  }
  throw new Error(`Tab never reached ${selector}`);
}

async function visit(path: string): Promise<void> {
  const response = await page.goto(`${server.url}${path}`);
  expect({ path, status: response!.status() }).toEqual({ path, status: 200 });
}

/** Checks and shoots the page as it is, at 1280 px (and 360 px when asked). */
async function screen(where: string, name: string, narrow = false): Promise<void> {
  await check(page, where);
  await shoot(page, `${name}-1280`);
  if (narrow) await shoot(page, `${name}-360`, NARROW);
}

/** Fills `fields` of the form posting to a path ending with `action` and presses its submit button. */
async function submit(action: string, fields: Record<string, string> = {}): Promise<void> {
  const form = page.locator(`form[action$="${action}"]`).first();
  for (const [name, value] of Object.entries(fields)) {
    const field = form.locator(`[name="${name}"]`).first();
    if ((await field.evaluate((el) => el.tagName)) === "SELECT") await field.selectOption(value);
    else await field.fill(value);
  }
  await Promise.all([page.waitForLoadState("load"), form.locator('button[type="submit"], button:not([type])').first().click()]);
}

/** Answers the are-you-sure page (which the action asked first). */
async function confirmAsked(): Promise<void> {
  await page.locator('input[name="confirmed"][value="yes"]').waitFor({ state: "attached" });
  await Promise.all([page.waitForLoadState("load"), page.locator("form button.danger").click()]);
}

function me(token: string, path = "") {
  return server.api("GET", `/api/v1/users/me${path}`, { token });
}

function auditTrail(): Promise<string> {
  return page.locator("#audit").innerText();
}

let target: Awaited<ReturnType<typeof registerAndLogin>>;

describe("an operator's day", () => {
  test("sign in and search for a user with the keyboard only; the overview and the users list", async () => {
    target = await registerAndLogin(server.api, { username: "bob-the-target" });
    await visit("/login?return_to=/admin");
    expect(await tabTo(page, 'input[name="identifier"]')).toEqual({ outline: expect.stringMatching(/visible$/) });
    await page.keyboard.type(admin.email);
    await tabTo(page, 'input[name="password"]');
    await page.keyboard.type(admin.password);
    await Promise.all([page.waitForURL(`${server.url}/admin`), page.keyboard.press("Enter")]);
    await screen("/admin (overview)", "overview", true);

    const nav = await tabTo(page, 'nav.admin-nav a[href$="/admin/users"]');
    expect(nav.outline).toMatch(/visible$/);
    await Promise.all([page.waitForURL(`${server.url}/admin/users`), page.keyboard.press("Enter")]);
    expect(await page.locator('nav.admin-nav [aria-current="page"]').innerText()).toBe("Users");
    expect((await tabTo(page, 'input[name="q"]')).outline).toMatch(/visible$/);
    await page.keyboard.type("the-targ");
    await Promise.all([page.waitForURL(/\/admin\/users\?.*q=the-targ/), page.keyboard.press("Enter")]);
    const rows = page.locator("table tbody tr");
    expect(await rows.count()).toBe(1);
    expect(await rows.first().innerText()).toContain(target.input.email);
    await screen("/admin/users?q=", "users", true);

    await Promise.all([page.waitForURL(`${server.url}/admin/users/${target.user.id}`), page.getByRole("link", { name: target.input.email }).click()]);
    await screen("/admin/users/{id}", "user", true);
  });

  test("block for 7 days with a reason: the token is refused at once, the trail shows it; unblock", async () => {
    expect((await me(target.tokens.access_token)).status).toBe(200);
    await submit(`/admin/users/${target.user.id}/block`, { reason: "Chargeback under review", duration: "7d" });
    expect((await me(target.tokens.access_token)).status).toBe(401);
    const [row] = await server.core.db.select().from(users).where(eq(users.id, target.user.id));
    expect(row!.status).toBe("blocked");
    expect(await page.locator(".notice").count()).toBe(1);
    expect(await page.locator("#status").innerText()).toContain("Chargeback under review");
    expect(await auditTrail()).toContain("user.blocked");

    await submit(`/admin/users/${target.user.id}/unblock`);
    const [after] = await server.core.db.select().from(users).where(eq(users.id, target.user.id));
    expect(after!.status).toBe("active");
    expect(await auditTrail()).toContain("user.unblocked");
  });

  test("a double-clicked balance adjustment applies once; reset MFA; revoke a session", async () => {
    target.tokens = (await server.api("POST", "/api/v1/auth/login", { body: { email: target.input.email, password: target.input.password } })).body.data;
    const token = target.tokens.access_token;
    const before = (await me(token)).body.data.balance as number;
    await visit(`/admin/users/${target.user.id}#balance`);
    const form = page.locator('form[action$="/balance"]');
    await form.locator('[name="amount"]').fill("25");
    await form.locator('[name="reason"]').fill("Goodwill credit");
    await form.locator("button").first().dblclick();
    await page.waitForLoadState("load");
    await page.waitForURL(/done=/);
    expect((await me(token)).body.data.balance).toBe(before + 25);

    // MFA: the user enrols TOTP through the API, the console resets it (asked first).
    await adminUpdateUser(server.core, CLI_ACTOR, target.user.id, { is_verified: true });
    const enrolled = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token, body: { password: target.input.password } });
    const secret = enrolled.body.data.secret as string;
    const code = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" }).generate({ timestamp: server.clock.now().getTime() });
    expect((await server.api("POST", "/api/v1/users/me/mfa/confirm", { token, body: { code } })).status).toBe(200);
    expect((await me(token, "/mfa")).body.data.enabled).toBe(true);
    await visit(`/admin/users/${target.user.id}`);
    await submit(`/admin/users/${target.user.id}/mfa/reset`);
    await screen("the are-you-sure page (reset MFA)", "are-you-sure");
    await confirmAsked();
    expect((await me(token, "/mfa")).body.data.enabled).toBe(false);

    // The user's one session, revoked from #sessions: its token stops working.
    await submit(`/admin/users/${target.user.id}/sessions/revoke`);
    expect((await me(token)).status).toBe(401);
  });

  test("outbox: a dead-lettered webhook, the receiver recovers, Retry delivers it", async () => {
    receiver.answer = () => 503;
    await deliverUntilIdle(server.core).catch(() => 0);
    const [failing] = await server.core.db.select().from(outboxEvents).where(eq(outboxEvents.status, "pending")).limit(1);
    expect(failing).toBeDefined();
    await server.core.db
      .update(outboxEvents)
      .set({ status: "dead", attempts: MAX_ATTEMPTS, lastError: "webhook answered 503" })
      .where(eq(outboxEvents.seq, failing!.seq));
    receiver.answer = () => 204;

    await visit("/admin/outbox?status=dead");
    expect(await page.locator("main").innerText()).toContain("webhook answered 503");
    await screen("/admin/outbox?status=dead", "outbox");
    await page.locator(`form[action$="/admin/outbox/retry"]:has(input[name="seq"][value="${failing!.seq}"]) button`).click();
    await page.waitForURL(/done=/);
    await deliverUntilIdle(server.core);
    const [delivered] = await server.core.db.select().from(outboxEvents).where(eq(outboxEvents.seq, failing!.seq));
    expect(delivered!.status).toBe("delivered");
    expect(receiver.delivered().some((r) => r.id === failing!.eventId)).toBe(true);
  });

  test("keys: rotate; the JWKS publishes the new keys (one per algorithm)", async () => {
    const jwks = async () => ((await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    const before = await jwks();
    await visit("/admin/keys");
    await screen("/admin/keys", "keys");
    await submit("/admin/keys/rotate");
    await page.waitForURL(/done=/);
    const after = await jwks();
    expect(after.filter((kid) => !before.includes(kid))).toHaveLength(2);
  });

  test("clients: add a confidential client, read its secret once, sign in to it with openid-client", async () => {
    await visit("/admin/clients");
    await screen("/admin/clients", "clients");
    await visit("/admin/clients/new");
    await submit("/admin/clients", { name: "Billing app", redirect_uris: CALLBACK, scopes: "openid profile email" });
    const secret = (await page.locator("[data-secret], #client-secret").first().innerText()).trim();
    const clientId = (await page.locator("main").innerText()).match(/[0-9a-f-]{36}|[A-Za-z0-9_-]{16,}/)?.[0];
    expect(secret.length).toBeGreaterThan(20);
    await screen("the client created (secret shown once)", "client-created");
    expect(await page.locator("main").innerText()).toContain("Billing app");

    const id = await clientIdOf(clientId);
    // Shown once: the client's own page does not show it again.
    await visit(`/admin/clients/${id}`);
    expect(await page.content()).not.toContain(secret);
    await screen("/admin/clients/{id}", "client");
    const config = await discover(server, id, secret);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: "openid email",
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
    });
    const jar = new Browserless(server.url);
    const back = await walkAuthorization(jar, url.href, { email: target.input.email, password: target.input.password }, { redirectUri: CALLBACK });
    const tokens = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()!.sub).toBe(target.user.id);
  });

  test("providers, audit (verify: intact), step-up, and purge after typing the email", async () => {
    await visit("/admin/providers");
    await screen("/admin/providers", "providers");

    await visit(`/admin/audit?user_id=${target.user.id}`);
    await screen("/admin/audit", "audit");
    await submit("/admin/audit/verify");
    expect(await page.getByRole("status").first().innerText()).toMatch(/Audit chain intact: \d+ entries/);

    // Past USERSVC_ADMIN_MAX_AGE an action asks for the password, then the admin is back on the screen.
    server.clock.advance(ADMIN_MAX_AGE + 60);
    const doomed = await registerAndLogin(server.api, { username: "doomed-user" });
    await visit(`/admin/users/${doomed.user.id}`);
    await submit(`/admin/users/${doomed.user.id}/purge`, { confirm_email: doomed.input.email });
    await page.waitForURL(/\/admin\/confirm\?/);
    await screen("/admin/confirm (step-up)", "confirm");
    await page.getByLabel("Password").fill(admin.password);
    await Promise.all([page.waitForURL(`${server.url}/admin/users/${doomed.user.id}**`), page.getByRole("button", { name: "Confirm" }).click()]);

    // A wrong confirmation changes nothing; the exact email purges.
    await submit(`/admin/users/${doomed.user.id}/purge`, { confirm_email: doomed.input.email.toUpperCase() });
    expect(await server.core.db.select().from(users).where(eq(users.id, doomed.user.id))).toHaveLength(1);
    await visit(`/admin/users/${doomed.user.id}`);
    await submit(`/admin/users/${doomed.user.id}/purge`, { confirm_email: doomed.input.email });
    expect(await server.core.db.select().from(users).where(eq(users.id, doomed.user.id))).toHaveLength(0);
    expect(cspMessages).toEqual([]);
  });
});

/** The client id shown on the created page, else the one newest in the list. */
async function clientIdOf(shown: string | undefined): Promise<string> {
  const fromPage = await page.locator("[data-client-id], #client-id").first().innerText({ timeout: 1000 }).catch(() => null);
  if (fromPage) return fromPage.trim();
  if (shown) return shown;
  throw new Error("no client id on the created page");
}

describe("who is refused", () => {
  test("a plain user and a demoted admin get 403 in the browser", async () => {
    const plain = newUser();
    await createUser(server.core, plain, { actor: CLI_ACTOR, isVerified: true });
    const demoted = newUser();
    const record = await createUser(server.core, demoted, { actor: CLI_ACTOR, roles: ["user", "admin"], isVerified: true });
    for (const person of [plain, demoted]) {
      const ctx = await browser.newContext();
      const p = await ctx.newPage();
      await p.goto(`${server.url}/login?return_to=/admin`);
      await p.getByLabel("Email or username").fill(person.email);
      await p.getByLabel("Password").fill(person.password);
      await Promise.all([p.waitForLoadState("load"), p.getByRole("button", { name: "Sign in", exact: true }).click()]);
      if (person === demoted) {
        expect((await p.goto(`${server.url}/admin`))!.status()).toBe(200);
        await adminUpdateUser(server.core, CLI_ACTOR, record.id, { roles: ["user"] });
      }
      const response = await p.goto(`${server.url}/admin/users`);
      expect(response!.status()).toBe(403);
      expect(await p.locator("nav.admin-nav").count()).toBe(0);
      await ctx.close();
    }
  });

  test("a cross-site form auto-posting to /admin/users/{id}/block changes nothing", async () => {
    const victim = await registerAndLogin(server.api);
    const evil = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        new Response(
          `<!doctype html><title>win a prize</title><form id="f" method="post" action="${server.url}/admin/users/${victim.user.id}/block">` +
            `<input name="reason" value="csrf"><input name="duration" value="7d"><input name="back" value="/admin"></form>` +
            `<script>document.getElementById("f").submit()</script>`,
          { headers: { "content-type": "text/html" } },
        ),
    });
    try {
      // The admin's own browser (signed in above), visiting another origin.
      const arrived = page.waitForURL((url) => url.href.startsWith(server.url));
      await page.goto(`http://127.0.0.1:${evil.port}/`);
      await arrived;
      await page.waitForLoadState("load");
      const [row] = await server.core.db.select().from(users).where(eq(users.id, victim.user.id));
      expect(row!.status).toBe("active");
      expect((await me(victim.tokens.access_token)).status).toBe(200);
    } finally {
      await evil.stop(true);
    }
  });
});
