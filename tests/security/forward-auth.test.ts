/**
 * Forward auth (SPEC §12) attacked. It builds a redirect from request
 * headers and writes user data into response headers that a proxy copies
 * onto requests to other applications, so:
 * - no open redirect: whatever X-Forwarded-Proto/Host/Uri or X-Original-URL
 *   say (other hosts, look-alike hosts, userinfo, scheme-relative paths,
 *   backslashes, CR/LF encoded or raw, non-ASCII bytes, huge values, a Host
 *   header of another site), the Location is /login under the public URL,
 *   with a return_to only to the public URL or an allowed prefix;
 * - no header injection: a username or email with CR/LF, commas, `%` or
 *   non-ASCII letters (the API refuses most of them; the database is
 *   written directly to try anyway) comes out percent-encoded in one line,
 *   and a role with a comma cannot become two roles;
 * - no spoofing: X-Usersvc-* headers a client sends are never reflected and
 *   never count, and credentials are read only where they belong.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { headerValue, originalUrlOf } from "../../src/core/sessions/forward-auth.ts";
import { updateUser } from "../../src/core/users/queries.ts";
import { createAdmin, createPlainUser, failureOf, type LoggedIn } from "../support/admin.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: a real server on a real database, and sign-ups (password hashing).
setDefaultTimeout(60_000);

const PUBLIC = "https://id.example.test";
const ALLOWED = "https://app.example.test/";
const FORWARD = "/api/v1/auth/forward";

let server: TestServer;
let plain: LoggedIn;
beforeAll(async () => {
  server = await startTestServer({ USERSVC_PUBLIC_URL: PUBLIC, USERSVC_ALLOWED_RETURN_URLS: ALLOWED });
  plain = await createPlainUser(server);
});
afterAll(() => server.stop());

async function forward(query: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${server.url}${FORWARD}${query}`, { headers, redirect: "manual" });
}

/** Writes `head` on a plain TCP connection (bytes fetch would refuse to send) and returns the answer's head. */
async function rawExchange(head: Uint8Array): Promise<string> {
  const { hostname, port } = new URL(server.url);
  let received = "";
  let finish: (text: string) => void = () => {};
  const done = new Promise<string>((resolve) => (finish = resolve));
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data(_socket, data) {
        received += new TextDecoder().decode(data);
      },
      close: () => finish(received),
      error: () => finish(received),
    },
  });
  socket.write(head);
  const timer = setTimeout(() => finish(received || "timeout"), 5000);
  const answer = await done;
  clearTimeout(timer);
  socket.end();
  return answer.slice(0, answer.indexOf("\r\n\r\n") + 2);
}

/** Where a browser may be sent: exactly /login, or /login with a return_to under the public URL or the allowed prefix. */
function expectSafeLocation(location: string | null, label: string): void {
  expect(location, label).not.toBeNull();
  const url = new URL(location!);
  expect(`${url.origin}${url.pathname}`, label).toBe(`${PUBLIC}/login`);
  expect([...url.searchParams.keys()].filter((k) => k !== "return_to"), label).toEqual([]);
  const returnTo = url.searchParams.get("return_to");
  if (returnTo === null) return;
  expect(returnTo, label).not.toMatch(/[\u0000-\u001f\u007f\\]/);
  if (returnTo.startsWith("/")) {
    // A path of usersvc's: never `//host`, which a browser reads as another host.
    expect(returnTo.startsWith("//"), label).toBe(false);
    return;
  }
  const target = new URL(returnTo);
  expect([PUBLIC, new URL(ALLOWED).origin], label).toContain(target.origin);
  expect([target.username, target.password], label).toEqual(["", ""]);
}

const PLAIN_LOGIN = `${PUBLIC}/login`;
const forwardedFor = (proto: string, host: string, uri: string) => ({ "x-forwarded-proto": proto, "x-forwarded-host": host, "x-forwarded-uri": uri });

/** Hostile forwarded headers; each must end on plain /login. */
const HOSTILE: [string, Record<string, string>][] = [
  // X-Forwarded-Host
  ["another host", forwardedFor("https", "evil.test", "/")],
  ["the allowed host as a subdomain of another site", forwardedFor("https", "app.example.test.evil.test", "/")],
  ["the public host as a subdomain of another site", forwardedFor("https", "id.example.test.evil.test", "/account")],
  ["userinfo before another host", forwardedFor("https", "app.example.test@evil.test", "/")],
  ["userinfo before the allowed host", forwardedFor("https", "user:secret@app.example.test", "/")],
  ["a path in the host", forwardedFor("https", "evil.test/app.example.test", "/")],
  ["a backslash in the host", forwardedFor("https", "evil.test\\app.example.test", "/")],
  ["a query in the host", forwardedFor("https", "evil.test?app.example.test", "/")],
  ["a fragment in the host", forwardedFor("https", "evil.test#app.example.test", "/")],
  ["two hosts (a proxy chain)", forwardedFor("https", "app.example.test, evil.test", "/")],
  ["a percent-encoded host", forwardedFor("https", "evil%2etest", "/")],
  ["the allowed host on another port", forwardedFor("https", "app.example.test:8443", "/")],
  ["an empty host", forwardedFor("https", "", "/")],
  ["a very long host", forwardedFor("https", `${"a".repeat(300)}.app.example.test`, "/")],
  // X-Forwarded-Proto
  ["the allowed host over http", forwardedFor("http", "app.example.test", "/")],
  ["javascript: as the scheme", forwardedFor("javascript", "app.example.test", "/")],
  ["a scheme carrying another URL", forwardedFor("https://evil.test/#", "app.example.test", "/")],
  ["two schemes (a proxy chain)", forwardedFor("https, http", "app.example.test", "/")],
  // X-Forwarded-Uri
  ["a URI that is not a path", forwardedFor("https", "app.example.test", "evil.test/")],
  ["a URI starting with @", forwardedFor("https", "app.example.test", "@evil.test/")],
  ["a URI starting with a backslash", forwardedFor("https", "app.example.test", "\\evil.test")],
  ["a slash and a backslash", forwardedFor("https", "app.example.test", "/\\evil.test")],
  ["an absolute URL as the URI", forwardedFor("https", "app.example.test", "https://evil.test/")],
  ["a space in the URI", forwardedFor("https", "app.example.test", "/a b")],
  ["a URI over 2 KiB", forwardedFor("https", "app.example.test", `/${"a".repeat(3000)}`)],
  // X-Original-URL
  ["another site", { "x-original-url": "https://evil.test/phish" }],
  ["a scheme-relative URL", { "x-original-url": "//evil.test/" }],
  ["a slash and a backslash", { "x-original-url": "/\\evil.test" }],
  ["a relative path (nginx always sends an absolute URL)", { "x-original-url": "/account" }],
  ["the allowed host as a subdomain of another site", { "x-original-url": "https://app.example.test.evil.test/" }],
  ["the allowed host as the userinfo of another site", { "x-original-url": "https://app.example.test@evil.test/" }],
  ["a user name before the allowed host", { "x-original-url": "https://user@app.example.test/" }],
  ["user and password before the allowed host", { "x-original-url": "https://user:secret@app.example.test/x" }],
  ["the allowed host over http", { "x-original-url": "http://app.example.test/" }],
  ["the allowed host on another port", { "x-original-url": "https://app.example.test:8443/" }],
  ["javascript:", { "x-original-url": "javascript:alert(1)" }],
  ["JaVaScRiPt: in mixed case", { "x-original-url": "JaVaScRiPt:alert(document.cookie)" }],
  ["data:", { "x-original-url": "data:text/html,<script>alert(1)</script>" }],
  ["https: without slashes", { "x-original-url": "https:evil.test" }],
  ["a backslash after the scheme", { "x-original-url": "https:\\\\evil.test" }],
  ["a space before another site", { "x-original-url": " https://evil.test/" }],
  ["a URL over 2 KiB", { "x-original-url": `https://app.example.test/${"a".repeat(3000)}` }],
  ["nonsense", { "x-original-url": "::::" }],
];

describe("open redirects", () => {
  for (const [name, headers] of HOSTILE) {
    test(`${name}: ${JSON.stringify(headers).slice(0, 160)} → plain /login`, async () => {
      for (const query of ["?redirect=1", ""]) {
        const res = await forward(query, { ...headers, accept: "text/html" });
        expect(res.status).toBe(302);
        expect(res.headers.get("location")).toBe(PLAIN_LOGIN);
      }
    });
  }

  test("a forwarded host that is not allowed, every variant at once, with a Host header of another site: plain /login under the public URL", async () => {
    const res = await forward("?redirect=1", { ...forwardedFor("https", "other.example.test", "/"), "x-original-url": "https://other.example.test/", host: "evil.test" });
    expect(res.headers.get("location")).toBe(PLAIN_LOGIN);
  });

  test("a URI of the allowed host that starts with // keeps the host: the browser comes back to the application, never to //evil.test", async () => {
    for (const headers of [forwardedFor("https", "app.example.test", "//evil.test/x"), { "x-original-url": "https://app.example.test//evil.test/x" }]) {
      const location = (await forward("?redirect=1", headers)).headers.get("location");
      expectSafeLocation(location, JSON.stringify(headers));
      expect(new URL(new URL(location!).searchParams.get("return_to")!).host).toBe("app.example.test");
    }
  });

  test("a path of the public URL that normalizes to //evil.test is never handed on as a scheme-relative return_to", async () => {
    for (const path of ["/.//evil.test", "/..//evil.test/x", "/a/..//evil.test", "/%2e//evil.test"]) {
      for (const headers of [forwardedFor("https", "id.example.test", path), { "x-original-url": `${PUBLIC}${path}` }]) {
        const res = await forward("?redirect=1", headers);
        expectSafeLocation(res.headers.get("location"), `${path} ${JSON.stringify(headers)}`);
      }
    }
  });

  test("CR/LF percent-encoded in the URI stays encoded: one Location line, nothing added to the answer", async () => {
    for (const uri of ["/x%0D%0ASet-Cookie:%20a=b", "/x%0d%0aLocation:%20https://evil.test", "/%E5%98%8A%E5%98%8Dx"]) {
      const res = await forward("?redirect=1", forwardedFor("https", "app.example.test", uri));
      expect(res.status).toBe(302);
      expectSafeLocation(res.headers.get("location"), uri);
      expect(res.headers.getSetCookie()).toEqual([]);
    }
  });

  test("raw CR, LF and non-ASCII bytes in the forwarded headers (sent on a socket): never a 500, never another host", async () => {
    const encoder = new TextEncoder();
    const cases: [string, Uint8Array][] = [
      // A full-width dot, as UTF-8 bytes: read as Latin-1 it is not a host name.
      ["x-forwarded-host", new Uint8Array([...encoder.encode("app.example.test"), 0xef, 0xbc, 0x8e, ...encoder.encode("evil.test")])],
      ["x-forwarded-uri", new Uint8Array([...encoder.encode("/caf"), 0xc3, 0xa9])],
      ["x-original-url", new Uint8Array([...encoder.encode("https://app.example.test/"), 0xff, 0xfe])],
      // A bare CR inside a value: the HTTP parser must not take it for the end of the line.
      ["x-forwarded-uri", encoder.encode("/x\rLocation: https://evil.test")],
    ];
    for (const [name, value] of cases) {
      const rest = name === "x-original-url" ? "" : name === "x-forwarded-host" ? "X-Forwarded-Proto: https\r\nX-Forwarded-Uri: /\r\n" : "X-Forwarded-Proto: https\r\nX-Forwarded-Host: app.example.test\r\n";
      const head = new Uint8Array([
        ...encoder.encode(`GET ${FORWARD}?redirect=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${rest}${name}: `),
        ...value,
        ...encoder.encode("\r\n\r\n"),
      ]);
      const answer = await rawExchange(head);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
      const label = `${name}: ${JSON.stringify(new TextDecoder().decode(value))} → ${answer.slice(0, 200)}`;
      // The HTTP parser may refuse the request (400); usersvc itself answers with the redirect.
      expect([302, 400], label).toContain(status);
      if (status === 302) {
        const locations = answer.split("\r\n").filter((line) => /^location:/i.test(line));
        expect(locations.length, label).toBe(1);
        expectSafeLocation(locations[0]!.slice("location:".length).trim(), label);
        expect(locations[0]!, label).not.toContain("evil.test");
      }
    }
  });

  test("allowed original URLs are kept, exactly", async () => {
    const cases: [Record<string, string>, string][] = [
      [forwardedFor("https", "app.example.test", "/a/b?c=d&e=%2F#f"), "https://app.example.test/a/b?c=d&e=%2F#f"],
      [forwardedFor("HTTPS", "APP.EXAMPLE.TEST:443", "/x"), "https://app.example.test/x"],
      [{ "x-original-url": "https://app.example.test" }, "https://app.example.test/"],
      [forwardedFor("https", "id.example.test", "/account"), "/account"],
    ];
    for (const [headers, returnTo] of cases) {
      const location = (await forward("?redirect=1", headers)).headers.get("location");
      expect(location).toBe(`${PLAIN_LOGIN}?return_to=${encodeURIComponent(returnTo)}`);
      expectSafeLocation(location, returnTo);
    }
  });

  test("originalUrlOf refuses what cannot be a plain http(s) URL, whatever the checker downstream would say", () => {
    const none = { proto: null, host: null, uri: null, originalUrl: null };
    expect(originalUrlOf(none)).toBeNull();
    expect(originalUrlOf({ ...none, originalUrl: "https://a.test/x\r\nSet-Cookie: a=b" })).toBeNull();
    expect(originalUrlOf({ ...none, originalUrl: "https://a.test/\u0000" })).toBeNull();
    expect(originalUrlOf({ ...none, originalUrl: "ftp://a.test/" })).toBeNull();
    expect(originalUrlOf({ proto: "https", host: "a.test", uri: "/x\ny", originalUrl: null })).toBeNull();
    expect(originalUrlOf({ proto: "https", host: "[::1]:8443", uri: "/x", originalUrl: null })).toBe("https://[::1]:8443/x");
  });
});

describe("header injection", () => {
  async function identityOf(token: string): Promise<{ status: number; headers: Headers }> {
    const res = await forward("", { authorization: `Bearer ${token}` });
    await res.text();
    return { status: res.status, headers: res.headers };
  }

  test("the API refuses usernames with CR/LF, spaces, commas or non-ASCII letters in the first place", async () => {
    for (const username of ["bad\r\nX-Usersvc-Roles: admin", "bad\nname", "has space", "a,b", "jürgen", "ad\u0000min", "emoji😀"]) {
      const res = await server.api("POST", "/api/v1/users", { body: newUser({ username }) });
      expect([username, res.status]).toEqual([username, 422]);
    }
  });

  test("an email with non-ASCII letters (which the API accepts) comes out percent-encoded, and decodes to the stored address", async () => {
    const email = `jürgen.${crypto.randomUUID().slice(0, 8)}@exämple.test`;
    const { user, tokens } = await registerAndLogin(server.api, { email });
    const { status, headers } = await identityOf(tokens.access_token);
    expect(status).toBe(200);
    const sent = headers.get("x-usersvc-email")!;
    expect(sent).toMatch(/^[\x21-\x7e]+$/);
    expect(sent).toStartWith("j%C3%BCrgen.");
    expect(decodeURIComponent(sent)).toBe(user.email);
  });

  test("CR/LF, NUL-free control characters, commas, % and unicode written straight into the database: percent-encoded, one line each, never a 500", async () => {
    const victim = await createPlainUser(server);
    const hostile = {
      username: "evil\r\nX-Usersvc-Roles: admin\r\nSet-Cookie: a=b",
      email: "a%0d%0a\u2028\u0085,b@\u00e9xample.test 😀",
      roles: ["user,admin", "ops\r\nX-Usersvc-User-Id: forged", "r\u00e9le"],
    };
    await updateUser(server.core.db, victim.id, hostile, server.clock.now());
    const { status, headers } = await identityOf(victim.token);
    expect(status).toBe(200);
    const sent = Object.fromEntries([...headers].filter(([name]) => name.startsWith("x-usersvc-")));
    expect(sent).toEqual({
      "x-usersvc-user-id": victim.id,
      "x-usersvc-username": "evil%0D%0AX-Usersvc-Roles:%20admin%0D%0ASet-Cookie:%20a=b",
      "x-usersvc-email": "a%250d%250a%E2%80%A8%C2%85%2Cb@%C3%A9xample.test%20%F0%9F%98%80",
      "x-usersvc-roles": "user%2Cadmin,ops%0D%0AX-Usersvc-User-Id:%20forged,r%C3%A9le",
    });
    expect(headers.getSetCookie()).toEqual([]);
    expect(decodeURIComponent(sent["x-usersvc-username"]!)).toBe(hostile.username);
    expect(decodeURIComponent(sent["x-usersvc-email"]!)).toBe(hostile.email);
    // Split on commas as an application does, then decoded: the three stored roles, never "admin" on its own.
    expect(sent["x-usersvc-roles"]!.split(",").map(decodeURIComponent)).toEqual(hostile.roles);
    expect((await forward("?role=admin", { authorization: `Bearer ${victim.token}` })).status).toBe(403);
  });

  test("headerValue: printable ASCII passes as it is; everything else, and % , and space, is UTF-8 percent-encoded; a lone surrogate cannot throw", () => {
    expect(headerValue("alice.o'brien+tag@example.com")).toBe("alice.o'brien+tag@example.com");
    expect(headerValue("a b,c%d")).toBe("a%20b%2Cc%25d");
    expect(headerValue("\r\n\t\u0000\u007f")).toBe("%0D%0A%09%00%7F");
    expect(headerValue("\ud800x")).toBe("%EF%BF%BDx");
    expect(headerValue("")).toBe("");
  });
});

describe("spoofing", () => {
  const forged = {
    "x-usersvc-user-id": "00000000-0000-4000-8000-000000000000",
    "x-usersvc-email": "ceo@example.test",
    "x-usersvc-username": "ceo",
    "x-usersvc-roles": "admin",
    "x-usersvc-extra": "1",
  };

  test("X-Usersvc-* request headers are not reflected: the answer carries the token's user, and no header it did not set", async () => {
    const res = await forward("", { ...forged, authorization: `Bearer ${plain.token}` });
    expect(res.status).toBe(200);
    expect(Object.fromEntries([...res.headers].filter(([name]) => name.startsWith("x-usersvc-")))).toEqual({
      "x-usersvc-user-id": plain.id,
      "x-usersvc-email": plain.input.email,
      "x-usersvc-username": plain.input.username,
      "x-usersvc-roles": "user",
    });
  });

  test("X-Usersvc-* request headers alone sign nobody in, and a forged X-Usersvc-Roles grants no role", async () => {
    for (const query of ["", "?redirect=1", "?role=admin"]) {
      const res = await forward(query, forged);
      expect([query, res.status]).toEqual([query, query === "?redirect=1" ? 302 : 401]);
      expect([...res.headers.keys()].filter((name) => name.startsWith("x-usersvc-"))).toEqual([]);
    }
    const asPlain = await forward("?role=admin", { ...forged, authorization: `Bearer ${plain.token}` });
    expect([asPlain.status, await asPlain.json()]).toEqual([403, failureOf("FORBIDDEN")]);
  });

  test("credentials only where they belong: not in the query, not in other headers, not under another cookie name", async () => {
    const admin = await createAdmin(server);
    const cases: [string, Record<string, string>][] = [
      ["", { "x-forwarded-authorization": `Bearer ${admin.token}` }],
      ["", { "x-access-token": admin.token }],
      ["", { authorization: admin.token }],
      ["", { authorization: `Bearer ${admin.token} ${admin.token}` }],
      ["", { cookie: `access_token=${admin.token}` }],
    ];
    for (const [query, headers] of cases) {
      const res = await forward(query, headers);
      expect([Object.keys(headers)[0] ?? query.slice(0, 14), res.status]).toEqual([Object.keys(headers)[0] ?? query.slice(0, 14), 401]);
    }
    // A token in the query is an unknown parameter: refused before it is looked at.
    const inQuery = await forward(`?access_token=${admin.token}`, {});
    expect([inQuery.status, await inQuery.json()]).toEqual([422, failureOf("VALIDATION_ERROR")]);
  });
});
