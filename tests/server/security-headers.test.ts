import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

describe("security headers", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  test("API answers, errors included, forbid sniffing, framing, caching and any content", async () => {
    for (const res of [await server.api("GET", "/api/v1/users/me"), await server.api("GET", "/api/v1/nope")]) {
      expect({
        nosniff: res.headers.get("x-content-type-options"),
        frame: res.headers.get("x-frame-options"),
        csp: res.headers.get("content-security-policy"),
        cache: res.headers.get("cache-control"),
        referrer: res.headers.get("referrer-policy"),
      }).toEqual({
        nosniff: "nosniff",
        frame: "DENY",
        csp: "default-src 'none'; frame-ancestors 'none'",
        cache: "no-store",
        referrer: "no-referrer",
      });
    }
  });

  test("the docs page allows only its own scripts: no inline script remains in it", async () => {
    const res = await fetch(`${server.url}/docs`);
    const html = await res.text();
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self';");
    expect(html).not.toMatch(/<script>(?!<\/script>)/);
    expect((await fetch(`${server.url}/docs/assets/init.js`)).status).toBe(200);
  });

  test("without USERSVC_CORS_ORIGINS no CORS header is sent, whatever the Origin", async () => {
    const res = await server.api("GET", "/api/v1/users/me", { headers: { origin: "https://evil.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS with USERSVC_CORS_ORIGINS", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ USERSVC_CORS_ORIGINS: "https://app.example, https://admin.example" });
  });
  afterAll(() => server.stop());

  test("a listed origin is echoed, with Vary: Origin", async () => {
    const res = await server.api("GET", "/healthz", { headers: { origin: "https://app.example" } });
    expect([res.headers.get("access-control-allow-origin"), res.headers.get("vary")]).toEqual(["https://app.example", "Origin"]);
  });

  test("an unlisted origin gets no allow header", async () => {
    const res = await server.api("GET", "/healthz", { headers: { origin: "https://evil.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("a preflight from a listed origin answers 204 with the methods and headers", async () => {
    const res = await fetch(`${server.url}/api/v1/users/me`, {
      method: "OPTIONS",
      headers: { origin: "https://admin.example", "access-control-request-method": "PATCH" },
    });
    expect({
      status: res.status,
      origin: res.headers.get("access-control-allow-origin"),
      methods: res.headers.get("access-control-allow-methods"),
      headers: res.headers.get("access-control-allow-headers"),
    }).toEqual({
      status: 204,
      origin: "https://admin.example",
      methods: "GET, POST, PUT, PATCH, DELETE",
      headers: "authorization, content-type, x-request-id",
    });
  });

  test("a preflight from an unlisted origin gets no CORS allowance", async () => {
    const res = await fetch(`${server.url}/api/v1/users/me`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});
