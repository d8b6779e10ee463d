import { describe, expect, test } from "bun:test";
import { availableParallelism } from "node:os";
import { ConfigError, loadConfig } from "../src/config.ts";

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("loadConfig", () => {
  test("an empty environment gives the documented defaults", () => {
    const config = loadConfig({});
    expect({ ...config, dataDir: config.dataDir.endsWith("/usersvc-data") }).toEqual({
      databaseUrl: null,
      dataDir: true,
      host: "127.0.0.1",
      port: 8000,
      logLevel: "info",
      jwtSecret: null,
      issuer: "usersvc",
      audience: "usersvc",
      accessTtl: 900,
      refreshTtl: 2_592_000,
      refreshGrace: 0,
      purgeAfterDays: 30,
      emailCooldown: 60,
      privilegedMaxAge: 900,
      adminMaxAge: 900,
      sessionMaxAge: 2_592_000,
      trustProxy: false,
      requireVerifiedEmail: false,
      hooksPath: null,
      hookTimeoutMs: 5000,
      hookEnv: [],
      webhookUrl: null,
      webhookSecret: null,
      corsOrigins: [],
      metricsToken: null,
      loginMaxAttempts: 5,
      loginWindow: 900,
      rateLimitPerIp: 30,
      hashMemoryKib: 65536,
      hashTimeCost: 2,
      hashConcurrency: availableParallelism(),
      hashNiceness: 4,
      authCacheMs: 1000,
      metrics: "on",
      breachedPasswordsPath: null,
      publicUrl: "http://127.0.0.1:8000",
      smtpUrl: null,
      emailFrom: "usersvc <no-reply@127.0.0.1>",
      themeDir: null,
      allowedReturnUrls: [],
    });
  });

  test("the public URL follows HOST and PORT unless set; set, it loses its trailing slash and names the From domain", () => {
    expect(loadConfig({ HOST: "0.0.0.0", PORT: "9000" }).publicUrl).toBe("http://0.0.0.0:9000");
    const config = loadConfig({ USERSVC_PUBLIC_URL: "https://id.example.com/auth/" });
    expect(config.publicUrl).toBe("https://id.example.com/auth");
    expect(config.emailFrom).toBe("usersvc <no-reply@id.example.com>");
    expect(loadConfig({ USERSVC_EMAIL_FROM: "Example <me@example.com>" }).emailFrom).toBe("Example <me@example.com>");
  });

  test("a public URL or SMTP URL that is not one is refused, naming its variable", () => {
    for (const bad of ["id.example.com", "ftp://id.example.com", "https://id.example.com/?x=1", "https://u:p@id.example.com"]) {
      expect(problemsOf({ USERSVC_PUBLIC_URL: bad })).toEqual([expect.stringMatching(/^USERSVC_PUBLIC_URL must be an http/)]);
    }
    for (const bad of ["mail.example.com:25", "http://mail.example.com", "smtp://"]) {
      expect(problemsOf({ USERSVC_SMTP_URL: bad })).toEqual([expect.stringMatching(/^USERSVC_SMTP_URL must be smtp:/)]);
    }
    expect(loadConfig({ USERSVC_SMTP_URL: "smtps://user:pass@mail.example.com:465", USERSVC_PUBLIC_URL: "https://id.example.com" }).smtpUrl).toBe(
      "smtps://user:pass@mail.example.com:465",
    );
    expect(problemsOf({ USERSVC_SMTP_URL: "smtp://mail.example.com:25" })).toEqual([
      "USERSVC_PUBLIC_URL must be set when USERSVC_SMTP_URL is: the links in emails are built from it",
    ]);
    expect(loadConfig({ USERSVC_SMTP_URL: "log" }).smtpUrl).toBe("log");
    expect(problemsOf({ USERSVC_THEME_DIR: "/nonexistent/theme" })).toEqual(["USERSVC_THEME_DIR: /nonexistent/theme is not a directory"]);
    expect(loadConfig({ USERSVC_ALLOWED_RETURN_URLS: " https://app.example.com/callback/ , http://localhost:3000" }).allowedReturnUrls).toEqual([
      "https://app.example.com/callback",
      "http://localhost:3000",
    ]);
    for (const bad of ["app.example.com", "ftp://app.example.com", "https://app.example.com/?next=1", "https://user:pw@app.example.com"]) {
      expect(problemsOf({ USERSVC_ALLOWED_RETURN_URLS: `https://ok.example.com,${bad}` })).toEqual([expect.stringMatching(/^USERSVC_ALLOWED_RETURN_URLS must be an http/)]);
    }
  });

  test("every bad setting is reported, one line each, naming its variable", () => {
    const problems = problemsOf({
      PORT: "eighty",
      USERSVC_JWT_SECRET: "too-short",
      USERSVC_ACCESS_TTL: "0",
      USERSVC_REFRESH_GRACE: "-1",
      USERSVC_TRUST_PROXY: "maybe",
      LOG_LEVEL: "loud",
      DATABASE_URL: "mysql://localhost/x",
    });
    expect(problems.map((p) => p.split(" ")[0])).toEqual([
      "DATABASE_URL",
      "USERSVC_JWT_SECRET",
      "LOG_LEVEL",
      "PORT",
      "USERSVC_ACCESS_TTL",
      "USERSVC_REFRESH_GRACE",
      "USERSVC_TRUST_PROXY",
    ]);
    for (const problem of problems) expect(problem).not.toContain("\n");
  });

  test("a 32-byte secret, a postgres URL and explicit numbers are accepted", () => {
    const config = loadConfig({
      USERSVC_JWT_SECRET: "x".repeat(32),
      DATABASE_URL: "postgresql://u@h:5432/db",
      PORT: "0",
      USERSVC_REFRESH_GRACE: "10",
      USERSVC_TRUST_PROXY: "yes",
    });
    expect([config.jwtSecret?.length, config.databaseUrl, config.port, config.refreshGrace, config.trustProxy]).toEqual([
      32,
      "postgresql://u@h:5432/db",
      0,
      10,
      { hops: 1 },
    ]);
  });

  test("USERSVC_TRUST_PROXY takes false, a number of hops (true meaning 1), or a list of proxy addresses and CIDRs", () => {
    const trustProxy = (value: string) => loadConfig({ USERSVC_TRUST_PROXY: value }).trustProxy;
    expect(["false", "0", "off", "no"].map(trustProxy)).toEqual([false, false, false, false]);
    expect(["1", "true", "yes", "on", "3"].map(trustProxy)).toEqual([{ hops: 1 }, { hops: 1 }, { hops: 1 }, { hops: 1 }, { hops: 3 }]);
    expect(trustProxy(" 10.0.0.0/8, 127.0.0.1,::1 ,fd00::/8,172.16.0.0/12 ")).toEqual({
      proxies: ["10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8", "172.16.0.0/12"],
    });
    expect(trustProxy("loopback, uniquelocal")).toEqual({
      proxies: ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
    });
  });

  test("a USERSVC_TRUST_PROXY that is neither is refused with what was wrong in it", () => {
    expect(problemsOf({ USERSVC_TRUST_PROXY: "10.0.0.0/33,proxy.internal,10.0.0.1" })).toEqual([
      "USERSVC_TRUST_PROXY must be false, a number of proxy hops, or a comma-separated list of proxy IPs/CIDRs; not: 10.0.0.0/33, proxy.internal",
    ]);
    for (const value of ["maybe", "-1", "1.5", "10.0.0.0/", "::1/129", "256.0.0.1", "10.0.0.0/8,,bad", "100"]) {
      expect(problemsOf({ USERSVC_TRUST_PROXY: value }).map((p) => p.split(" ")[0])).toEqual(["USERSVC_TRUST_PROXY"]);
    }
  });

  test("USERSVC_METRICS_TOKEN is unset by default and must be at least 16 printable characters without spaces", () => {
    expect(loadConfig({}).metricsToken).toBeNull();
    expect(loadConfig({ USERSVC_METRICS_TOKEN: "s3cret-scrape-token-123" }).metricsToken).toBe("s3cret-scrape-token-123");
    expect(problemsOf({ USERSVC_METRICS_TOKEN: "short" })).toEqual([
      "USERSVC_METRICS_TOKEN must be at least 16 characters, printable ASCII without spaces",
    ]);
    expect(problemsOf({ USERSVC_METRICS_TOKEN: "sixteen chars with spaces" }).map((p) => p.split(" ")[0])).toEqual(["USERSVC_METRICS_TOKEN"]);
  });

  test("a webhook URL needs a Standard Webhooks secret", () => {
    expect(problemsOf({ USERSVC_WEBHOOK_URL: "http://127.0.0.1:9/hook" })).toEqual([
      "USERSVC_WEBHOOK_SECRET must be set when USERSVC_WEBHOOK_URL is (webhooks are always signed)",
    ]);
    expect(problemsOf({ USERSVC_WEBHOOK_URL: "ftp://x", USERSVC_WEBHOOK_SECRET: "plain" }).map((p) => p.split(" ")[0])).toEqual([
      "USERSVC_WEBHOOK_URL",
      "USERSVC_WEBHOOK_SECRET",
    ]);
    const secret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    expect(loadConfig({ USERSVC_WEBHOOK_URL: "https://example.com/hook", USERSVC_WEBHOOK_SECRET: secret }).webhookSecret).toBe(secret);
  });

  test("USERSVC_ADMIN_MAX_AGE is at least a minute: a confirmation must outlast pressing the button again", () => {
    expect(problemsOf({ USERSVC_ADMIN_MAX_AGE: "0" })[0]).toStartWith("USERSVC_ADMIN_MAX_AGE");
    expect(problemsOf({ USERSVC_ADMIN_MAX_AGE: "60" })).toEqual([]);
  });

  test("USERSVC_REFRESH_TTL is at most ten years: an expiry PostgreSQL can store", () => {
    expect(problemsOf({ USERSVC_REFRESH_TTL: "315360001" })[0]).toStartWith("USERSVC_REFRESH_TTL");
    expect(problemsOf({ USERSVC_REFRESH_TTL: "315360000" })).toEqual([]);
  });

  test("USERSVC_HASH_NICENESS is a Linux niceness a thread may lower itself to: 0 to 19", () => {
    expect(problemsOf({ USERSVC_HASH_NICENESS: "-1" })[0]).toStartWith("USERSVC_HASH_NICENESS");
    expect(problemsOf({ USERSVC_HASH_NICENESS: "20" })[0]).toStartWith("USERSVC_HASH_NICENESS");
    expect(problemsOf({ USERSVC_HASH_NICENESS: "0" })).toEqual([]);
    expect(loadConfig({ USERSVC_HASH_NICENESS: "12" }).hashNiceness).toBe(12);
  });

  test("a number with trailing garbage is refused rather than truncated", () => {
    expect(problemsOf({ USERSVC_ACCESS_TTL: "900s" })).toEqual([
      'USERSVC_ACCESS_TTL must be an integer >= 1 (got "900s")',
    ]);
  });
});
