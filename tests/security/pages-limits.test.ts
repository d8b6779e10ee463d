/**
 * The API's per-IP limits hold on every page form (they live in the core use
 * cases the pages call): the form past its limit answers 429 with
 * data-error-code RATE_LIMITED and Retry-After, and changes nothing. Also: a
 * theme message with markup is shown as text, and a failed sign-in costs the
 * same time for an unknown account as for a wrong password.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Browserless, errorCodeOf, formOf, type PageResponse } from "../support/browserless.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, and twenty timed sign-ins.
setDefaultTimeout(60_000);

const LIMIT = 3;
let server: TestServer;
let themeDir: string;
beforeAll(async () => {
  themeDir = mkdtempSync(join(tmpdir(), "usersvc-theme-"));
  mkdirSync(join(themeDir, "messages"));
  writeFileSync(join(themeDir, "messages", "en.json"), JSON.stringify({ "login.title": '<script>alert("theme")</script> Sign in' }));
  server = await startTestServer({ USERSVC_RATE_LIMIT_PER_IP: String(LIMIT), USERSVC_THEME_DIR: themeDir });
});
afterAll(async () => {
  await server.stop();
  rmSync(themeDir, { recursive: true, force: true });
});

/** Posts the form of `path` (fetched fresh each time) LIMIT + 1 times; answers every response. */
async function exhaust(path: string, action: string, fields: Record<string, string>): Promise<PageResponse[]> {
  const b = new Browserless(server.url);
  const answers: PageResponse[] = [];
  for (let i = 0; i <= LIMIT; i++) answers.push(await b.submit(await b.get(path), action, fields));
  return answers;
}

function expectLimitedLast(answers: PageResponse[]): void {
  const codes = answers.map((a) => errorCodeOf(a.html));
  expect(codes.slice(0, LIMIT)).not.toContain("RATE_LIMITED");
  const last = answers.at(-1)!;
  expect({ status: last.status, code: codes.at(-1) }).toEqual({ status: 429, code: "RATE_LIMITED" });
  expect(Number(last.headers.get("retry-after"))).toBeGreaterThan(0);
}

describe("per-IP limits on the page forms", () => {
  test("/register: the sign-up past the limit is refused and creates no account", async () => {
    const users = Array.from({ length: LIMIT + 1 }, () => newUser());
    const b = new Browserless(server.url);
    const answers: PageResponse[] = [];
    for (const user of users) {
      answers.push(await b.submit(await b.get("/register"), "/register", user));
      b.jar.delete("usersvc_session");
    }
    expectLimitedLast(answers);
    const last = users.at(-1)!;
    expect((await server.api("POST", "/api/v1/auth/login", { body: { email: last.email, password: last.password } })).status).toBe(401);
  });

  test("/forgot-password", async () => {
    expectLimitedLast(await exhaust("/forgot-password", "/forgot-password", { email: "someone@example.com" }));
  });

  test("/verify-email with a code, then /reset-password: one budget for the link and code checks, as in the API", async () => {
    expectLimitedLast(await exhaust("/verify-email", "/verify-email", { email: "someone@example.com", code: "123456" }));
    const b = new Browserless(server.url);
    const page = await b.get("/login");
    const reset = await b.post("/reset-password", { csrf_token: formOf(page.html, "/login").fields.csrf_token!, token: "made-up", new_password: "a long new passphrase 9" });
    expect({ status: reset.status, code: errorCodeOf(reset.html) }).toEqual({ status: 429, code: "RATE_LIMITED" });
  });

  test("/login/mfa", async () => {
    const b = new Browserless(server.url);
    b.jar.set("usersvc_mfa", "made-up-challenge");
    const page = await b.get("/login/mfa");
    const answers: PageResponse[] = [];
    // A dead challenge clears its cookie; an attacker sends it again each time.
    for (let i = 0; i <= LIMIT; i++) {
      b.jar.set("usersvc_mfa", `made-up-challenge-${i}`);
      answers.push(await b.submit(page, "/login/mfa", { code: "123456" }));
    }
    expect(errorCodeOf(answers.at(-1)!.html)).toBe("RATE_LIMITED");
    expect(answers.at(-1)!.status).toBe(429);
  });
});

describe("what the pages print", () => {
  test("a theme message with markup is shown as text, never run", async () => {
    const page = await new Browserless(server.url).get("/login");
    expect(page.html).toContain("&lt;script&gt;alert(&quot;theme&quot;)&lt;/script&gt; Sign in");
    expect(page.html).not.toContain('<script>alert("theme")');
  });
});

describe("sign-in failures take the same time", () => {
  test("an unknown account and a wrong password on /login: medians within a factor of 2 over 10 alternating tries", async () => {
    const timing = await startTestServer({ USERSVC_LOGIN_MAX_ATTEMPTS: "1000", USERSVC_RATE_LIMIT_PER_IP: "1000" });
    try {
      const { input } = await registerAndLogin(timing.api);
      const b = new Browserless(timing.url);
      const page = await b.get("/login");
      const times: Record<"unknown" | "wrong", number[]> = { unknown: [], wrong: [] };
      for (let i = 0; i < 10; i++) {
        for (const kind of ["unknown", "wrong"] as const) {
          const identifier = kind === "unknown" ? `nobody${i}@example.com` : input.email;
          const started = performance.now();
          const answer = await b.submit(page, "/login", { identifier, password: `not the password ${i}` });
          times[kind].push(performance.now() - started);
          expect(errorCodeOf(answer.html)).toBe("INVALID_CREDENTIALS");
        }
      }
      const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
      const [unknown, wrong] = [median(times.unknown), median(times.wrong)];
      expect(Math.max(unknown, wrong) / Math.min(unknown, wrong)).toBeLessThan(2);
    } finally {
      await timing.stop();
    }
  });
});
