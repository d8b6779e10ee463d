/**
 * Issue 12's first minute, through the compiled binary copied alone into an
 * empty directory: the templates, stylesheet, logo and message catalogues
 * are inside it. Sign up on /register, find the verification link in the
 * log (USERSVC_SMTP_URL=log), confirm it on /verify-email, sign out and in,
 * and land on /account. Then `npm start`'s entry writes emails to the log
 * without being told to.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binaryAlone, binaryEnv, removeBinaryAlone, callApi, parseLogLine, startServe } from "../support/binary.ts";
import type { TestDatabase } from "../support/database.ts";
import { Browserless, errorCodeOf, headingOf } from "../support/browserless.ts";

// The first test may build dist/usersvc (several seconds) before it spawns it.
setDefaultTimeout(120_000);

const ROOT = join(import.meta.dir, "..", "..");
let dir: string;
let binary: string;
let database: TestDatabase | null = null;

beforeAll(async () => {
  ({ dir, binary, database } = await binaryAlone("usersvc-pages-"));
});
afterAll(async () => {
  await removeBinaryAlone({ dir, database });
});

/** The links of the emails written to the log so far, to `to`. */
function loggedLinks(logs: Record<string, unknown>[], to: string): string[] {
  return logs.filter((entry) => entry.module === "email" && entry.to === to).flatMap((entry) => entry.links as string[]);
}

async function waitForLink(logs: () => Record<string, unknown>[], to: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const link = loggedLinks(logs(), to).find((l) => l.includes("/verify-email?token="));
    if (link) return link;
    await Bun.sleep(50);
  }
  throw new Error(`no verification link for ${to} in the log`);
}

test("register in the page, verify from the link in the log, sign out and in, land on /account", async () => {
  await using serve = await startServe({
    binary,
    cwd: dir,
    env: { USERSVC_SMTP_URL: "log", ...(database ? { DATABASE_URL: database.env.DATABASE_URL } : {}) },
  });
  const browser = new Browserless(serve.url);

  const style = await browser.get("/assets/theme.css");
  expect(style.status).toBe(200);
  expect(style.headers.get("content-type")).toBe("text/css; charset=utf-8");
  expect(style.html).toContain(":root");

  const register = await browser.get("/register");
  expect(register.status).toBe(200);
  expect(headingOf(register.html)).toBe("Create your account");
  const signedUp = await browser.submit(register, "/register", { email: "newcomer@example.com", username: "newcomer", password: "correct horse battery staple" });
  expect({ status: signedUp.status, location: signedUp.location }).toEqual({ status: 303, location: "/account" });
  const account = await browser.follow(signedUp);
  expect(headingOf(account.html)).toBe("Your account");
  expect(account.html).toContain("not confirmed");

  const link = new URL(await waitForLink(serve.logs, "newcomer@example.com"));
  const confirm = await browser.get(link.pathname + link.search);
  expect(confirm.status).toBe(200);
  const confirmed = await browser.submit(confirm, "/verify-email");
  expect(headingOf(confirmed.html)).toBe("Email address confirmed");

  const out = await browser.submit(await browser.get("/account"), "/logout");
  expect(out.status).toBe(303);
  expect((await browser.get("/account")).location).toStartWith("/login");

  const login = await browser.get("/login");
  const wrong = await browser.submit(login, "/login", { identifier: "newcomer", password: "not the password at all" });
  expect(errorCodeOf(wrong.html)).toBe("INVALID_CREDENTIALS");
  const signedIn = await browser.submit(wrong, "/login", { identifier: "newcomer", password: "correct horse battery staple" });
  const back = await browser.follow(signedIn);
  expect(headingOf(back.html)).toBe("Your account");
  expect(back.html).toContain(">confirmed<");
  expect((await serve.stop()).exitCode).toBe(0);
});

test("npm start's entry (scripts/start.ts) writes emails to the log when USERSVC_SMTP_URL is unset", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "usersvc-start-"));
  const proc = Bun.spawn([process.execPath, "--no-env-file", join(ROOT, "scripts", "start.ts"), "serve", "--port", "0"], {
    cwd: dataDir,
    env: binaryEnv({ USERSVC_DATA_DIR: join(dataDir, "data"), ...(database ? { DATABASE_URL: database.env.DATABASE_URL } : {}) }),
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    let stdout = "";
    const logs = () => stdout.split("\n").filter(Boolean).map(parseLogLine);
    void (async () => {
      for await (const chunk of proc.stdout) stdout += new TextDecoder().decode(chunk);
    })();
    let url: string | undefined;
    for (let i = 0; i < 400 && !url; i++) {
      url = logs().find((entry) => entry.msg === "usersvc listening")?.url as string | undefined;
      if (!url) await Bun.sleep(50);
    }
    expect(url).toBeDefined();
    const registered = await callApi(url!, "POST", "/api/v1/users", { body: { email: "dev@example.com", username: "dev", password: "correct horse battery staple" } });
    expect(registered.status).toBe(201);
    expect(await waitForLink(logs, "dev@example.com")).toContain("/verify-email?token=");
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
});
