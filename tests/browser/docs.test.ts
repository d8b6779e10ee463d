/**
 * /docs in a real browser: Debian's Chromium, driven by playwright-core, opens
 * the Swagger UI page served from the assets embedded in usersvc, with no
 * network other than the test server. A missing browser fails the suite
 * (it is never skipped), so CI cannot pass without having looked at the page.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, type Page } from "playwright-core";
import { launchChromium } from "../support/chromium.ts";
import { registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const AUTH_ROUTES = [
  "/api/v1/auth/register",
  "/api/v1/auth/login",
  "/api/v1/auth/refresh",
  "/api/v1/auth/logout",
  "/api/v1/auth/logout-all",
  "/api/v1/auth/change-password",
];
// A blank or unstyled page screenshots to a few KB; the rendered one is well over 100 KB.
const MIN_SCREENSHOT_BYTES = 30 * 1024;

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const requested: string[] = [];
let screenshots: string;

beforeAll(async () => {
  screenshots = mkdtempSync(join(tmpdir(), "usersvc-docs-"));
  server = await startTestServer();
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.on("request", (request) => void requested.push(request.url()));
  page = await context.newPage();
  await page.goto(`${server.url}/docs`);
  await page.locator(".swagger-ui .info .title").waitFor();
  await page.locator(".opblock").first().waitFor();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** The operation block of one route; its path text holds <wbr> breaks, data-path does not. */
function operation(method: string, path: string) {
  return page.locator(`.opblock-${method}`).filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
}

async function screenshot(name: string): Promise<string> {
  const path = join(screenshots, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
  return path;
}

describe("/docs in Chromium", () => {
  test("renders the usersvc title, version and description from the embedded assets", async () => {
    expect(await page.title()).toBe("usersvc API");
    expect(await page.locator(".info .title").innerText()).toStartWith("usersvc");
    expect((await page.locator(".info .title .version").first().innerText()).trim()).toBe(
      (await server.api("GET", "/docs/json")).body.info.version,
    );
    expect(await page.locator(".info .description").innerText()).toContain("Authorize");
    // The stylesheet applied: Swagger UI's operation blocks get their coloured border.
    const border = await page
      .locator(".opblock-post")
      .first()
      .evaluate((el) => el.ownerDocument.defaultView!.getComputedStyle(el).borderColor);
    expect(border).toBe("rgb(73, 204, 144)");
  });

  test("lists the auth routes, and every route has a summary", async () => {
    for (const path of AUTH_ROUTES) expect(await operation("post", path).count()).toBe(1);
    expect(await operation("get", "/api/v1/users/me").count()).toBe(1);
    const summaries = await page.locator(".opblock-summary-description").allInnerTexts();
    const blocks = await page.locator(".opblock").count();
    expect(summaries).toHaveLength(blocks);
    expect(summaries.filter((s) => s.trim() === "")).toEqual([]);
  });

  test("Authorize shows the bearerAuth scheme (http, bearer)", async () => {
    await page.locator(".auth-wrapper .authorize").click();
    const dialog = page.locator(".modal-ux");
    await dialog.waitFor();
    const scheme = dialog.locator(".auth-container").filter({ hasText: "bearerAuth" });
    expect(await scheme.locator("h4").innerText()).toMatch(/^bearerAuth\s*\(http, Bearer\)$/);
    expect(await scheme.locator("input").count()).toBe(1);
    await dialog.locator(".close-modal").click();
    await dialog.waitFor({ state: "detached" });
  });

  test("a full-page screenshot shows a rendered page", async () => {
    const path = await screenshot("docs.png");
    expect(statSync(path).size).toBeGreaterThan(MIN_SCREENSHOT_BYTES);
  });

  test("Authorize with a real access token, then Try it out on GET /api/v1/users/me answers 200 with the user", async () => {
    const { input, tokens } = await registerAndLogin(server.api);

    await page.locator(".auth-wrapper .authorize").click();
    const dialog = page.locator(".modal-ux");
    const scheme = dialog.locator(".auth-container").filter({ hasText: "bearerAuth" });
    await scheme.locator("input").fill(tokens.access_token);
    // The dialog's Authorize button is labelled "Apply credentials" for assistive technology.
    await scheme.getByRole("button", { name: "Apply credentials" }).click();
    await scheme.locator("h6", { hasText: "Authorized" }).waitFor();
    await dialog.locator(".close-modal").click();
    await dialog.waitFor({ state: "detached" });
    // The lock on the button closes once a scheme is authorized.
    expect(await page.locator(".auth-wrapper .authorize").getAttribute("class")).toContain("locked");

    const me = operation("get", "/api/v1/users/me");
    await me.locator(".opblock-summary-control").click();
    await me.getByRole("button", { name: "Try it out" }).click();
    const answered = page.waitForResponse((r) => r.url() === `${server.url}/api/v1/users/me`);
    await me.getByRole("button", { name: "Execute" }).click();
    const response = await answered;
    expect(response.request().headers().authorization).toBe(`Bearer ${tokens.access_token}`);

    const live = me.locator(".live-responses-table");
    await live.waitFor();
    expect(await live.locator("tbody .response-col_status").first().innerText()).toBe("200");
    const shown = JSON.parse(await live.locator("tbody .response-col_description pre.microlight").first().innerText());
    expect(shown).toMatchObject({ success: true, data: { email: input.email, username: input.username }, error: null });

    const path = await screenshot("docs-try-it-out.png");
    expect(statSync(path).size).toBeGreaterThan(MIN_SCREENSHOT_BYTES);
  });

  test("every request the page made went to the test server on 127.0.0.1", () => {
    expect(requested.length).toBeGreaterThanOrEqual(4);
    expect(requested.filter((url) => new URL(url).host !== new URL(server.url).host)).toEqual([]);
    expect(requested).toEqual(
      expect.arrayContaining([
        `${server.url}/docs`,
        `${server.url}/docs/assets/swagger-ui.css`,
        `${server.url}/docs/assets/swagger-ui-bundle.js`,
        `${server.url}/docs/json`,
        `${server.url}/api/v1/users/me`,
      ]),
    );
  });
});
