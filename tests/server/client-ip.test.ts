/**
 * The client IP behind USERSVC_TRUST_PROXY, over real HTTP: the test server's
 * socket peer is always 127.0.0.1, and each request plays the proxies in
 * front of it with its X-Forwarded-For header. The IP is read back where it
 * matters: the session's `ip`, and the per-IP rate limits.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

/** Logs a new user in with this X-Forwarded-For header; returns the `ip` its session recorded. */
async function sessionIp(server: TestServer, forwardedFor: string | null): Promise<string | null> {
  const input = newUser();
  expect((await server.api("POST", "/api/v1/users", { body: input })).status).toBe(201);
  const headers: Record<string, string> = forwardedFor === null ? {} : { "x-forwarded-for": forwardedFor };
  const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password }, headers });
  expect(login.status).toBe(200);
  const sessions = await server.api("GET", "/api/v1/users/me/sessions", { token: login.body.data.access_token });
  expect(sessions.body.data).toHaveLength(1);
  return sessions.body.data[0].ip;
}

async function withServer(trustProxy: string | null, run: (server: TestServer) => Promise<void>): Promise<void> {
  const server = await startTestServer(trustProxy === null ? {} : { USERSVC_TRUST_PROXY: trustProxy });
  try {
    await run(server);
  } finally {
    await server.stop();
  }
}

describe("USERSVC_TRUST_PROXY=1 (one proxy in front)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ USERSVC_TRUST_PROXY: "1" });
  });
  afterAll(() => server.stop());

  test("the client IP is the rightmost X-Forwarded-For entry: entries the client sent itself change nothing", async () => {
    expect(await sessionIp(server, "203.0.113.10")).toBe("203.0.113.10");
    expect(await sessionIp(server, "6.6.6.6, 203.0.113.10")).toBe("203.0.113.10");
    expect(await sessionIp(server, "1.1.1.1,2.2.2.2 ,  203.0.113.11")).toBe("203.0.113.11");
  });

  test("several X-Forwarded-For headers count as one list, in order", async () => {
    const input = newUser();
    await server.api("POST", "/api/v1/users", { body: input });
    const headers = new Headers({ "content-type": "application/json" });
    headers.append("x-forwarded-for", "6.6.6.6");
    headers.append("x-forwarded-for", "203.0.113.12");
    const login = await fetch(`${server.url}/api/v1/auth/login`, {
      method: "POST",
      headers,
      body: JSON.stringify({ email: input.email, password: input.password }),
    });
    const { data } = (await login.json()) as { data: { access_token: string } };
    const sessions = await server.api("GET", "/api/v1/users/me/sessions", { token: data.access_token });
    expect(sessions.body.data[0].ip).toBe("203.0.113.12");
  });

  test("an entry that is not an IP address falls back to the socket's address", async () => {
    expect(await sessionIp(server, "not-an-ip")).toBe("127.0.0.1");
    expect(await sessionIp(server, "203.0.113.13, <script>")).toBe("127.0.0.1");
    expect(await sessionIp(server, "203.0.113.14, 203.0.113.15:8080")).toBe("127.0.0.1");
    expect(await sessionIp(server, "203.0.113.16, ")).toBe("127.0.0.1");
    expect(await sessionIp(server, `203.0.113.17, ${"9".repeat(200)}`)).toBe("127.0.0.1");
  });

  test("without X-Forwarded-For the socket's address is the client", async () => {
    expect(await sessionIp(server, null)).toBe("127.0.0.1");
  });

  test("IPv6 entries are taken as they are", async () => {
    expect(await sessionIp(server, "6.6.6.6, 2001:db8::42")).toBe("2001:db8::42");
  });
});

describe("per-IP rate limits behind USERSVC_TRUST_PROXY=1", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ USERSVC_TRUST_PROXY: "1", USERSVC_RATE_LIMIT_PER_IP: "4" });
  });
  afterAll(() => server.stop());

  test("a spoofed leftmost entry that changes every time does not escape the per-IP limit", async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      const res = await server.api("POST", "/api/v1/users", {
        body: newUser(),
        headers: { "x-forwarded-for": `10.66.0.${i}, 203.0.113.77` },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([201, 201, 201, 201, 429]);
  });
});

describe("USERSVC_TRUST_PROXY as a number of hops", () => {
  test("2: the second entry from the right; spoofed entries to its left change nothing", async () => {
    await withServer("2", async (server) => {
      expect(await sessionIp(server, "6.6.6.6, 198.51.100.8, 10.0.0.9")).toBe("198.51.100.8");
      expect(await sessionIp(server, "198.51.100.8, 10.0.0.9")).toBe("198.51.100.8");
      // Fewer entries than hops: the farthest address there is, as Express's `trust proxy` does.
      expect(await sessionIp(server, "198.51.100.9")).toBe("198.51.100.9");
      expect(await sessionIp(server, "garbage, 10.0.0.9")).toBe("127.0.0.1");
    });
  });

  test("true is kept as an alias of 1", async () => {
    await withServer("true", async (server) => {
      expect(await sessionIp(server, "6.6.6.6, 203.0.113.20")).toBe("203.0.113.20");
    });
  });

  test("false (the default) ignores X-Forwarded-For", async () => {
    await withServer(null, async (server) => {
      expect(await sessionIp(server, "203.0.113.21")).toBe("127.0.0.1");
    });
    await withServer("false", async (server) => {
      expect(await sessionIp(server, "203.0.113.21")).toBe("127.0.0.1");
    });
  });
});

describe("USERSVC_TRUST_PROXY as a list of proxy addresses and CIDRs", () => {
  test("the client is the rightmost entry not in the list", async () => {
    await withServer("127.0.0.1, 10.0.0.0/8", async (server) => {
      expect(await sessionIp(server, "6.6.6.6, 198.51.100.7, 10.1.2.3, 10.200.0.1")).toBe("198.51.100.7");
      expect(await sessionIp(server, "198.51.100.7")).toBe("198.51.100.7");
      // Every entry trusted: the leftmost one is the client (nginx real_ip_recursive, Express).
      expect(await sessionIp(server, "10.0.0.1, 10.0.0.2")).toBe("10.0.0.1");
      // Garbage where the walk stops: the socket's address.
      expect(await sessionIp(server, "198.51.100.7, bogus, 10.1.2.3")).toBe("127.0.0.1");
    });
  });

  test("IPv6 CIDRs and addresses are matched, and so are IPv4-mapped IPv6 entries", async () => {
    await withServer("::1,127.0.0.0/8,2001:db8::/32", async (server) => {
      expect(await sessionIp(server, "2001:db8:ffff::1, 2001:db7::9, 2001:db8::5")).toBe("2001:db7::9");
      expect(await sessionIp(server, "203.0.113.30, ::ffff:127.0.0.5")).toBe("203.0.113.30");
    });
  });

  test("when the socket's peer is not in the list, X-Forwarded-For is ignored", async () => {
    await withServer("10.0.0.0/8", async (server) => {
      expect(await sessionIp(server, "203.0.113.31")).toBe("127.0.0.1");
    });
  });
});
