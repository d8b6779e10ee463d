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
      trustProxy: false,
      requireVerifiedEmail: false,
      hooksPath: null,
      hookTimeoutMs: 5000,
      webhookUrl: null,
      webhookSecret: null,
      corsOrigins: [],
      loginMaxAttempts: 5,
      loginWindow: 900,
      rateLimitPerIp: 30,
      hashMemoryKib: 65536,
      hashTimeCost: 2,
      hashConcurrency: availableParallelism(),
      authCacheMs: 1000,
      metrics: "on",
    });
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
      true,
    ]);
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

  test("a number with trailing garbage is refused rather than truncated", () => {
    expect(problemsOf({ USERSVC_ACCESS_TTL: "900s" })).toEqual([
      'USERSVC_ACCESS_TTL must be an integer >= 1 (got "900s")',
    ]);
  });
});
