/**
 * What the browser tests check on every page: axe-core (no serious or
 * critical violation at 1280 px, at 360 px and in dark mode), no horizontal
 * overflow, no squeezed button, and full-page screenshots — into docs/pages/
 * with USERSVC_SCREENSHOTS=1 (the PNGs the docs show), else a temporary directory.
 */
import { expect } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";

export const WIDE = { width: 1280, height: 900 };
export const NARROW = { width: 360, height: 740 };
// A blank or unstyled page screenshots to a few KB; the rendered pages are larger.
const MIN_SCREENSHOT_BYTES = 10 * 1024;
const AXE_SOURCE = readFileSync(join(import.meta.dir, "../../node_modules/axe-core/axe.min.js"), "utf8");

/** The page's own globals, as seen inside page.evaluate. */
export type InPage = any;

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * One test file's checks: the violations found and the screenshots taken, for its summary.
 * `dir` names the folder under docs/ the screenshots go to with USERSVC_SCREENSHOTS=1 (default "pages").
 */
export function pageChecks(options: { dir?: string } = {}) {
  const screenshots =
    process.env.USERSVC_SCREENSHOTS === "1"
      ? join(import.meta.dir, "../../docs", options.dir ?? "pages")
      : mkdtempSync(join(tmpdir(), "usersvc-pages-"));
  mkdirSync(screenshots, { recursive: true });
  /** Every axe-core violation found, by page state and width: printed, and the serious ones fail the test. */
  const violations: { where: string; violation: AxeViolation }[] = [];

  /**
   * Runs axe-core on the page as it is. The pages' CSP (`default-src 'none'`,
   * no script-src) blocks `page.addScriptTag` (an inline or self script element:
   * the test "the CSP blocks ... an injected script" shows it), but
   * `page.evaluate(source)` goes through the DevTools protocol, which CSP does
   * not govern: axe runs on the page with the real CSP, and bypassCSP is not needed.
   */
  async function axe(page: Page, where: string): Promise<AxeViolation[]> {
    const found = await runAxe(page, where);
    for (const violation of found) violations.push({ where, violation });
    return found.filter((v) => v.impact === "serious" || v.impact === "critical");
  }

  async function runAxe(page: Page, where: string): Promise<AxeViolation[]> {
    if (!(await page.evaluate(() => "axe" in globalThis))) await page.evaluate(`${AXE_SOURCE}\n;void 0`);
    const { found, passed, unsure } = (await page.evaluate(async () => {
      const { axe, document } = globalThis as InPage;
      const results = await axe.run(document, { resultTypes: ["violations"] });
      const summary = (v: any) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n: any) => `${n.target.join(" ")}: ${n.failureSummary}`),
      });
      return { found: results.violations.map(summary), passed: results.passes.length, unsure: results.incomplete.map(summary) };
    })) as { found: AxeViolation[]; passed: number; unsure: AxeViolation[] };
    // axe did run its rules on a real page (a failed injection or an empty document passes nothing).
    expect(passed).toBeGreaterThan(15);
    // What axe could not decide (a colour over an unknown background, say) is printed for a human to look at.
    if (unsure.length > 0) console.log(`axe could not decide on ${where}:\n${JSON.stringify(unsure, null, 2)}`);
    if (found.length > 0) console.log(`axe on ${where}:\n${JSON.stringify(found, null, 2)}`);
    return found;
  }

  /** The visible text of every button whose label wraps onto more than one line (a squeezed button). */
  function wrappedButtons(page: Page): Promise<string[]> {
    return page.evaluate(() =>
      [...(globalThis as InPage).document.querySelectorAll("button, .button")].flatMap((el: InPage) => {
        const style = (globalThis as InPage).getComputedStyle(el);
        const inner = el.getBoundingClientRect().height - ["paddingTop", "paddingBottom", "borderTopWidth", "borderBottomWidth"].reduce((sum, p) => sum + parseFloat((style as any)[p]), 0);
        return Math.round(inner / parseFloat(style.lineHeight)) > 1 ? [el.innerText] : [];
      }),
    );
  }

  /** axe at 1280 px, at 360 px, and in dark mode; at both widths no horizontal overflow and no button squeezed onto two lines. */
  async function check(page: Page, where: string): Promise<void> {
    await page.setViewportSize(WIDE);
    const serious = [...(await axe(page, `${where} @1280`))];
    const wrappedWide = await wrappedButtons(page);
    await page.setViewportSize(NARROW);
    serious.push(...(await axe(page, `${where} @360`)));
    const wrappedNarrow = await wrappedButtons(page);
    const overflow = await page.evaluate(() => {
      const root = (globalThis as InPage).document.documentElement;
      return root.scrollWidth - root.clientWidth;
    });
    await page.emulateMedia({ colorScheme: "dark" });
    serious.push(...(await axe(page, `${where} @360 dark`)));
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize(WIDE);
    expect({ where, serious, overflow, wrappedWide, wrappedNarrow }).toEqual({ where, serious: [], overflow: 0, wrappedWide: [], wrappedNarrow: [] });
  }

  const shots: string[] = [];

  /** A full-page screenshot at one width (and colour scheme), kept when it is larger than a blank page. */
  async function shoot(page: Page, name: string, viewport = WIDE, colorScheme: "light" | "dark" = "light"): Promise<void> {
    await page.setViewportSize(viewport);
    await page.emulateMedia({ colorScheme });
    const path = join(screenshots, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize(WIDE);
    expect(statSync(path).size).toBeGreaterThan(MIN_SCREENSHOT_BYTES);
    shots.push(path);
  }

  return { axe, runAxe, check, shoot, shots, violations, screenshots };
}
