/**
 * A real Debian Caddy (`caddy`, 2.6 on bookworm) in front of a tiny
 * application, with usersvc's forward auth (SPEC §12) deciding every
 * request, configured by examples/apps/caddy-forward-auth/Caddyfile itself:
 * Caddy fills in its {$...} placeholders from the environment this test
 * gives it, and a Caddyfile of the test's own imports it after global
 * options that keep Caddy on loopback, on plain http, without its admin
 * endpoint, and with its files in a temporary directory. What a browser and
 * an API client see through it: the redirect to sign in and back, the
 * identity headers the application receives (and the client's own
 * X-Usersvc-* that it never does), the admin-only part, and logout.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createAdmin, createPlainUser, type LoggedIn } from "../support/admin.ts";
import { formOf } from "../support/browserless.ts";
import { API, BROWSER, fillTemplate, forwardAuthClient, placeholdersIn, type Seen, startEchoApp, type Template, waitForProxy } from "../support/forward-auth-proxy.ts";
import { closedPort } from "../support/hooks.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: Caddy, an application and usersvc on a real database start first, and sign-ins hash passwords.
setDefaultTimeout(60_000);

const CADDY = Bun.which("caddy");
if (CADDY === null) console.warn("tests/proxy/caddy-forward-auth.test.ts: skipped, caddy is not installed (apt-get install caddy)");

const TEMPLATE: Template = {
  path: resolve(import.meta.dir, "../../examples/apps/caddy-forward-auth/Caddyfile"),
  names: ["FORWARD_AUTH_SITE", "USERSVC_UPSTREAM", "APP_UPSTREAM"],
  style: "{$NAME}",
};

interface Caddy {
  base: string;
  stop(): Promise<void>;
}

async function startCaddy(values: Record<string, string>, port: number): Promise<Caddy> {
  const dir = mkdtempSync(join(tmpdir(), "usersvc-caddy-"));
  // Only how Caddy runs here; the example is imported as it is, and Caddy fills in its placeholders from the environment.
  writeFileSync(
    join(dir, "Caddyfile"),
    [
      "{",
      // No admin endpoint (it would take port 2019), no certificates or redirects to https, only loopback.
      "\tadmin off",
      "\tauto_https off",
      "\tdefault_bind 127.0.0.1",
      "\tgrace_period 1s",
      "}",
      `import ${TEMPLATE.path}`,
      "",
    ].join("\n"),
  );
  const log = join(dir, "caddy.log");
  const logFd = openSync(log, "w");
  // HOME and XDG_*: whatever Caddy keeps (its storage, an autosaved config) stays in the temporary directory.
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config"), ...values };
  const proc = Bun.spawn({ cmd: [CADDY!, "run", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], env, stdout: logFd, stderr: logFd });
  closeSync(logFd);
  const base = `http://127.0.0.1:${port}`;
  const why = async (): Promise<string> => (existsSync(log) ? readFileSync(log, "utf8") : "");
  // Through the example's /auth/ location to usersvc's probe: Caddy is up and routes to usersvc.
  await waitForProxy("caddy", proc, base, why);
  return {
    base,
    async stop() {
      proc.kill("SIGTERM");
      if ((await Promise.race([proc.exited, Bun.sleep(5_000).then(() => "timeout")])) === "timeout") proc.kill("SIGKILL");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("the example has exactly the placeholders this test fills in", () => {
  const { found, expected } = placeholdersIn(TEMPLATE);
  expect(found).toEqual(expected);
});

test("docs/forward-auth.md shows the example as it is, filled in with the values it names", () => {
  const documented = fillTemplate(TEMPLATE, { FORWARD_AUTH_SITE: "app.example.com", USERSVC_UPSTREAM: "127.0.0.1:8000", APP_UPSTREAM: "127.0.0.1:3000" });
  const doc = readFileSync(resolve(import.meta.dir, "../../docs/forward-auth.md"), "utf8");
  expect(doc).toContain(`\`\`\`caddyfile\n${documented.slice(documented.indexOf("app.example.com {"))}\`\`\``);
});

let usersvc: TestServer;
let app: ReturnType<typeof Bun.serve>;
let caddy: Caddy;
/** Every request the application received. */
let received: Seen[] = [];
let plain: LoggedIn;
let admin: LoggedIn;

describe.skipIf(CADDY === null)("Caddy forward_auth with examples/apps/caddy-forward-auth/Caddyfile", () => {
  beforeAll(async () => {
    ({ server: app, received } = startEchoApp());
    const port = await closedPort();
    const base = `http://127.0.0.1:${port}`;
    usersvc = await startTestServer({ USERSVC_PUBLIC_URL: `${base}/auth`, USERSVC_ALLOWED_RETURN_URLS: `${base}/`, USERSVC_TRUST_PROXY: "127.0.0.1" });
    caddy = await startCaddy({ FORWARD_AUTH_SITE: base, USERSVC_UPSTREAM: new URL(usersvc.url).host, APP_UPSTREAM: `127.0.0.1:${app.port}` }, port);
    plain = await createPlainUser(usersvc);
    admin = await createAdmin(usersvc);
  });
  afterAll(async () => {
    await caddy?.stop();
    await app?.stop(true);
    await usersvc?.stop();
  });

  /** GETs through Caddy, redirects not followed; a browser signed in on /auth/login through Caddy; what the application saw. */
  const { get, signIn, seenIn } = forwardAuthClient(() => caddy.base);
  const signInPage = (path: string): string => `${caddy.base}/auth/login?return_to=${encodeURIComponent(path)}`;

  test("a browser that is not signed in is sent to usersvc's sign-in page with return_to = the URL it asked for, and the application sees nothing", async () => {
    const before = received.length;
    const res = await get("/reports/2026?view=full&x=%2F", BROWSER);
    expect(res.status).toBe(302);
    expect(res.location).toBe(signInPage("/reports/2026?view=full&x=%2F"));
    expect(received.length).toBe(before);
  });

  test("return_to is the URL Caddy was asked for, whatever X-Forwarded-* or X-Original-URL the client sends", async () => {
    const res = await get("/real/page", {
      ...BROWSER,
      "x-forwarded-proto": "http",
      "x-forwarded-host": new URL(caddy.base).host,
      "x-forwarded-uri": "/chosen/by/the/client",
      "x-original-url": `${caddy.base}/chosen/too`,
    });
    expect(res.status).toBe(302);
    expect(res.location).toBe(signInPage("/real/page"));
  });

  test("?redirect=1: an API call that is not signed in is sent to sign in as well, a POST with a body too, and the application sees neither", async () => {
    const before = received.length;
    const res = await get("/api/things", API);
    expect([res.status, res.location]).toEqual([302, signInPage("/api/things")]);
    const post = await fetch(`${caddy.base}/api/things`, { method: "POST", headers: { ...API, "content-type": "application/json" }, body: '{"a":1}', redirect: "manual" });
    expect([post.status, post.headers.get("location")]).toEqual([302, signInPage("/api/things")]);
    expect(received.length).toBe(before);
  });

  test("signing in on the /auth/login page it was sent to brings the browser back, and the application sees who it is", async () => {
    const target = "/reports/2026?view=full";
    const anonymous = await get(target, BROWSER);
    const { browser, res } = await signIn(plain, new URL(anonymous.location!).pathname + new URL(anonymous.location!).search);
    expect(res.location).toBe(target);
    const back = await browser.get(res.location!, BROWSER);
    expect(seenIn(back)).toEqual({
      method: "GET",
      path: target,
      body: "",
      usersvc: {
        "x-usersvc-user-id": plain.id,
        "x-usersvc-email": plain.input.email,
        "x-usersvc-username": plain.input.username,
        "x-usersvc-roles": "user",
      },
    });
  });

  test("a POST with a body reaches the application whole (Caddy asks usersvc with a GET)", async () => {
    const { browser } = await signIn(plain);
    const res = await browser.post("/forms/submit", { comment: "hello" }, BROWSER);
    const seen = seenIn(res);
    expect([seen.method, seen.path, seen.body, seen.usersvc["x-usersvc-user-id"]]).toEqual(["POST", "/forms/submit", "comment=hello", plain.id]);
  });

  test("a bearer access token works through Caddy as the cookie does", async () => {
    const res = await get("/api/things", { ...API, authorization: `Bearer ${plain.token}` });
    expect(res.status).toBe(200);
    expect((JSON.parse(res.text) as Seen).usersvc["x-usersvc-user-id"]).toBe(plain.id);
  });

  test("X-Usersvc-* headers a client sends, the four and any other, never reach the application: only usersvc's", async () => {
    const forged = {
      "x-usersvc-user-id": admin.id,
      "x-usersvc-email": admin.input.email,
      "x-usersvc-username": admin.input.username,
      "x-usersvc-roles": "admin",
      "x-usersvc-tenant": "made-up",
    };
    const { browser } = await signIn(plain);
    const seen = seenIn(await browser.get("/", { ...BROWSER, ...forged }));
    expect(seen.usersvc).toEqual({
      "x-usersvc-user-id": plain.id,
      "x-usersvc-email": plain.input.email,
      "x-usersvc-username": plain.input.username,
      "x-usersvc-roles": "user",
    });
    const before = received.length;
    expect((await get("/", { ...BROWSER, ...forged })).status).toBe(302);
    expect((await get("/admin/settings", { ...API, ...forged })).status).toBe(302);
    expect(received.length).toBe(before);
  });

  test("a user with no roles: the client's X-Usersvc-Roles does not get through in place of the empty value", async () => {
    const roleless = await createPlainUser(usersvc);
    const patch = await usersvc.api("PATCH", `/api/v1/admin/users/${roleless.id}`, { token: admin.token, body: { roles: [] } });
    expect(patch.status).toBe(200);
    const res = await get("/", { ...API, authorization: `Bearer ${roleless.token}`, "x-usersvc-roles": "admin" });
    expect(res.status).toBe(200);
    const { "x-usersvc-roles": roles, ...rest } = (JSON.parse(res.text) as Seen).usersvc;
    expect(rest).toEqual({
      "x-usersvc-user-id": roleless.id,
      "x-usersvc-email": roleless.input.email,
      "x-usersvc-username": roleless.input.username,
    });
    // Caddy 2.6's copy_headers sets it to usersvc's empty value; Caddy 2.10 leaves the client's in its place, which the example's
    // request_header -X-Usersvc-* has deleted by then. Present and empty, or absent: never the client's.
    expect(roles ?? "").toBe("");
  });

  test("/admin/ asks with ?role=admin: 403 for a plain user, the application for an admin", async () => {
    const { browser } = await signIn(plain);
    const before = received.length;
    expect((await browser.get("/admin/settings", BROWSER)).status).toBe(403);
    expect(received.length).toBe(before);
    const asAdmin = await signIn(admin);
    const seen = seenIn(await asAdmin.browser.get("/admin/settings", BROWSER));
    expect([seen.path, seen.usersvc["x-usersvc-user-id"], seen.usersvc["x-usersvc-roles"]]).toEqual(["/admin/settings", admin.id, "user,admin"]);
    // Not signed in, the admin part sends the browser to sign in like any other.
    const anonymous = await get("/admin/settings", BROWSER);
    expect([anonymous.status, anonymous.location]).toEqual([302, signInPage("/admin/settings")]);
  });

  test("after logout on usersvc's page, the next request is sent to sign in again", async () => {
    const { browser } = await signIn(plain);
    expect(seenIn(await browser.get("/", BROWSER)).usersvc["x-usersvc-user-id"]).toBe(plain.id);
    const account = await browser.get("/auth/account", BROWSER);
    expect(account.status).toBe(200);
    const form = formOf(account.html, "/logout");
    expect(form.action).toBe("/auth/logout");
    const cookie = browser.cookie("usersvc_session")!;
    const out = await browser.submit(account, "/logout");
    expect(out.status).toBe(303);
    // The cookie as it was before: the session behind it has ended, not just the browser's copy.
    browser.jar.set("usersvc_session", cookie);
    const next = await browser.get("/", BROWSER);
    expect(next.status).toBe(302);
    expect(next.location).toBe(signInPage("/"));
  });
});
