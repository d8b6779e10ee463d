/**
 * A real Debian nginx (/usr/sbin/nginx) in front of a tiny application, with
 * usersvc's forward auth (SPEC §12) deciding every request, configured by
 * examples/apps/nginx-forward-auth/nginx.conf itself: the test fills in its
 * placeholders and includes it in an nginx.conf of its own that only says
 * where nginx keeps its pid, logs and temporary files. What a browser and an
 * API client see through it: the redirect to sign in and back, the identity
 * headers the application receives (and the client's own X-Usersvc-* that it
 * never does), the admin-only location, and logout.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createAdmin, createPlainUser, type LoggedIn } from "../support/admin.ts";
import { formOf } from "../support/browserless.ts";
import { API, BROWSER, fillTemplate as fill, forwardAuthClient, placeholdersIn, type Seen, startEchoApp, type Template, waitForProxy } from "../support/forward-auth-proxy.ts";
import { closedPort } from "../support/hooks.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: nginx, an application and usersvc on a real database start first, and sign-ins hash passwords.
setDefaultTimeout(60_000);

const NGINX = "/usr/sbin/nginx";
const hasNginx = existsSync(NGINX);
if (!hasNginx) console.warn(`tests/proxy/nginx-forward-auth.test.ts: skipped, ${NGINX} is not installed (apt-get install nginx)`);

const TEMPLATE: Template = {
  path: resolve(import.meta.dir, "../../examples/apps/nginx-forward-auth/nginx.conf"),
  names: ["FORWARD_AUTH_LISTEN", "FORWARD_AUTH_SERVER_NAME", "USERSVC_UPSTREAM", "APP_UPSTREAM"],
  style: "${NAME}",
};

interface Nginx {
  base: string;
  stop(): Promise<void>;
}

/** The example with its placeholders filled in; throws if it has one this test does not know. */
const fillTemplate = (values: Record<string, string>): string => fill(TEMPLATE, values);

async function startNginx(values: Record<string, string>, port: number): Promise<Nginx> {
  const prefix = mkdtempSync(join(tmpdir(), "usersvc-nginx-"));
  writeFileSync(join(prefix, "forward-auth.conf"), fillTemplate(values));
  // Only where nginx keeps its files, so it runs as this user in its own directory; the example is included as it is.
  writeFileSync(
    join(prefix, "nginx.conf"),
    [
      // As root nginx would hand its workers to `nobody`; they stay with this user.
      process.getuid?.() === 0 ? "user root;" : "",
      "daemon off;",
      "worker_processes 1;",
      `pid ${prefix}/nginx.pid;`,
      `error_log ${prefix}/error.log warn;`,
      "events { worker_connections 256; }",
      "http {",
      `  access_log ${prefix}/access.log;`,
      `  client_body_temp_path ${prefix}/client_body;`,
      `  proxy_temp_path ${prefix}/proxy;`,
      `  fastcgi_temp_path ${prefix}/fastcgi;`,
      `  uwsgi_temp_path ${prefix}/uwsgi;`,
      `  scgi_temp_path ${prefix}/scgi;`,
      `  include ${prefix}/forward-auth.conf;`,
      "}",
    ].join("\n"),
  );
  const proc = Bun.spawn({ cmd: [NGINX, "-p", `${prefix}/`, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "error.log")], stdout: "pipe", stderr: "pipe" });
  const base = `http://127.0.0.1:${port}`;
  const why = async (): Promise<string> => `${await new Response(proc.stderr).text()}\n${existsSync(join(prefix, "error.log")) ? readFileSync(join(prefix, "error.log"), "utf8") : ""}`;
  // Through nginx's /auth/ location to usersvc's probe: nginx is up and routes to usersvc.
  await waitForProxy("nginx", proc, base, why);
  return {
    base,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

test("docs/forward-auth.md shows the example as it is, filled in with the values it names", () => {
  const documented = fillTemplate({
    FORWARD_AUTH_LISTEN: "443 ssl",
    FORWARD_AUTH_SERVER_NAME: "app.example.com",
    USERSVC_UPSTREAM: "127.0.0.1:8000",
    APP_UPSTREAM: "127.0.0.1:3000",
  });
  const doc = readFileSync(resolve(import.meta.dir, "../../docs/forward-auth.md"), "utf8");
  expect(doc).toContain(documented.slice(documented.indexOf("upstream usersvc {")));
});

let usersvc: TestServer;
let app: ReturnType<typeof Bun.serve>;
let nginx: Nginx;
/** Every request the application received. */
let received: Seen[] = [];
let plain: LoggedIn;
let admin: LoggedIn;

describe.skipIf(!hasNginx)("nginx auth_request with examples/apps/nginx-forward-auth/nginx.conf", () => {
  beforeAll(async () => {
    ({ server: app, received } = startEchoApp());
    const port = await closedPort();
    const base = `http://127.0.0.1:${port}`;
    usersvc = await startTestServer({ USERSVC_PUBLIC_URL: `${base}/auth`, USERSVC_ALLOWED_RETURN_URLS: `${base}/`, USERSVC_TRUST_PROXY: "127.0.0.1" });
    nginx = await startNginx(
      {
        FORWARD_AUTH_LISTEN: `127.0.0.1:${port}`,
        FORWARD_AUTH_SERVER_NAME: "127.0.0.1",
        USERSVC_UPSTREAM: new URL(usersvc.url).host,
        APP_UPSTREAM: `127.0.0.1:${app.port}`,
      },
      port,
    );
    plain = await createPlainUser(usersvc);
    admin = await createAdmin(usersvc);
  });
  afterAll(async () => {
    await nginx?.stop();
    await app?.stop(true);
    await usersvc?.stop();
  });

  /** GETs through nginx, redirects not followed; a browser signed in on /auth/login through nginx; what the application saw. */
  const { get, signIn, seenIn } = forwardAuthClient(() => nginx.base);

  test("the example has exactly the placeholders this test fills in", () => {
    const { found, expected } = placeholdersIn(TEMPLATE);
    expect(found).toEqual(expected);
  });

  test("a browser that is not signed in is sent to usersvc's sign-in page with return_to = the URL it asked for, and the application sees nothing", async () => {
    const before = received.length;
    const res = await get("/reports/2026?view=full&x=%2F", BROWSER);
    expect(res.status).toBe(302);
    expect(res.location).toBe(`${nginx.base}/auth/login?return_to=${encodeURIComponent("/reports/2026?view=full&x=%2F")}`);
    expect(received.length).toBe(before);
  });

  test("return_to is the URL nginx was asked for, whatever X-Forwarded-* or X-Original-URL the client sends", async () => {
    const res = await get("/real/page", {
      ...BROWSER,
      "x-forwarded-proto": "http",
      "x-forwarded-host": new URL(nginx.base).host,
      "x-forwarded-uri": "/chosen/by/the/client",
      "x-original-url": `${nginx.base}/chosen/too`,
    });
    expect(res.status).toBe(302);
    expect(res.location).toBe(`${nginx.base}/auth/login?return_to=${encodeURIComponent("/real/page")}`);
  });

  test("an API call that is not signed in gets usersvc's 401 envelope, a POST with a body too (never nginx's 500)", async () => {
    const res = await get("/api/things", API);
    expect({ status: res.status, body: JSON.parse(res.text) }).toEqual({
      status: 401,
      body: { success: false, data: null, error: { code: "UNAUTHENTICATED", message: expect.any(String) } },
    });
    const post = await fetch(`${nginx.base}/api/things`, { method: "POST", headers: { ...API, "content-type": "application/json" }, body: '{"a":1}' });
    expect(post.status).toBe(401);
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

  test("a POST with a body reaches the application whole (nginx asks usersvc with a GET and no body)", async () => {
    const { browser } = await signIn(plain);
    const res = await browser.post("/forms/submit", { comment: "hello" }, BROWSER);
    const seen = seenIn(res);
    expect([seen.method, seen.path, seen.body, seen.usersvc["x-usersvc-user-id"]]).toEqual(["POST", "/forms/submit", "comment=hello", plain.id]);
  });

  test("a bearer access token works through nginx as the cookie does", async () => {
    const res = await get("/api/things", { ...API, authorization: `Bearer ${plain.token}` });
    expect(res.status).toBe(200);
    expect((JSON.parse(res.text) as Seen).usersvc["x-usersvc-user-id"]).toBe(plain.id);
  });

  test("X-Usersvc-* headers a client sends are replaced by usersvc's, and never reach the application from someone not signed in", async () => {
    const forged = { "x-usersvc-user-id": admin.id, "x-usersvc-email": admin.input.email, "x-usersvc-username": admin.input.username, "x-usersvc-roles": "admin" };
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
    expect((await get("/", { ...API, ...forged })).status).toBe(401);
    expect(received.length).toBe(before);
  });

  test("a user with no roles: the client's X-Usersvc-Roles does not get through in place of the empty value", async () => {
    const roleless = await createPlainUser(usersvc);
    const patch = await usersvc.api("PATCH", `/api/v1/admin/users/${roleless.id}`, { token: admin.token, body: { roles: [] } });
    expect(patch.status).toBe(200);
    const res = await get("/", { ...API, authorization: `Bearer ${roleless.token}`, "x-usersvc-roles": "admin" });
    expect(res.status).toBe(200);
    expect((JSON.parse(res.text) as Seen).usersvc).toEqual({
      "x-usersvc-user-id": roleless.id,
      "x-usersvc-email": roleless.input.email,
      "x-usersvc-username": roleless.input.username,
    });
  });

  test("/admin/ asks with ?role=admin: 403 for a plain user, the application for an admin", async () => {
    const { browser } = await signIn(plain);
    const before = received.length;
    expect((await browser.get("/admin/settings", BROWSER)).status).toBe(403);
    expect(received.length).toBe(before);
    const asAdmin = await signIn(admin);
    const seen = seenIn(await asAdmin.browser.get("/admin/settings", BROWSER));
    expect([seen.path, seen.usersvc["x-usersvc-user-id"], seen.usersvc["x-usersvc-roles"]]).toEqual(["/admin/settings", admin.id, "user,admin"]);
    // Not signed in, the admin location sends the browser to sign in like any other.
    expect((await get("/admin/settings", BROWSER)).status).toBe(302);
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
    expect(next.location).toBe(`${nginx.base}/auth/login?return_to=${encodeURIComponent("/")}`);
    expect((await browser.get("/", API)).status).toBe(401);
  });
});
