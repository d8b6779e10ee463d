/**
 * Configuration: read once from the environment (and CLI flags, which the
 * caller merges in first), validated as a whole so every bad setting is
 * reported, each on one line naming its variable.
 */
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { DEFAULT_HASH_NICENESS } from "./core/passwords/hash-workers.ts";
import {
  checkBreachedPasswordsFile,
  type Env,
  hostnameOf,
  isDirectory,
  isSmtpUrl,
  isWebhookSecret,
  Reader,
  readPublicUrl,
  readTrustProxy,
  type TrustProxy,
} from "./config-values.ts";

export type { Env, TrustProxy } from "./config-values.ts";

export interface Config {
  databaseUrl: string | null;
  dataDir: string;
  host: string;
  port: number;
  logLevel: LogLevel;
  jwtSecret: string | null;
  issuer: string;
  audience: string;
  accessTtl: number;
  refreshTtl: number;
  refreshGrace: number;
  /** Days after which soft-deleted users are purged. */
  purgeAfterDays: number;
  /** Whose X-Forwarded-For is believed (docs/configuration.md, "Client IP behind proxies"). */
  trustProxy: TrustProxy;
  requireVerifiedEmail: boolean;
  /** A .ts/.js hooks module or an executable (SPEC §6). */
  hooksPath: string | null;
  hookTimeoutMs: number;
  /** Variables a script hook gets besides PATH, HOME, LANG, TZ and LC_*: its environment is an allow-list. */
  hookEnv: string[];
  webhookUrl: string | null;
  /** Standard Webhooks secret, `whsec_` + base64. */
  webhookSecret: string | null;
  /** Origins allowed by CORS; empty: no CORS headers at all. "*" allows any. */
  corsOrigins: string[];
  /** Failed logins per account and per client IP within loginWindow before 429. */
  loginMaxAttempts: number;
  /** Seconds of a rate-limit window. */
  loginWindow: number;
  /** Seconds between two emails sent on request (verification resend, password reset) to one account. */
  emailCooldown: number;
  /** Seconds after a sign-in during which sensitive self-service changes need no password (step-up). */
  privilegedMaxAge: number;
  /** Seconds after a sign-in or password confirmation during which the admin console acts without asking again. */
  adminMaxAge: number;
  /** Absolute lifetime of a session in seconds: refresh never extends it past this. */
  sessionMaxAge: number;
  /** Requests per client IP and window for register, forgot-password, refresh, verification and MFA codes. */
  rateLimitPerIp: number;
  /** argon2id memory cost, KiB. */
  hashMemoryKib: number;
  /** argon2id passes. */
  hashTimeCost: number;
  /** Password hashes computed at once; the rest wait their turn. */
  hashConcurrency: number;
  /** The niceness of the hashing threads (Linux): 0 is request handling's own priority. */
  hashNiceness: number;
  /** GET /metrics: "on" (API port), "off", or a port number of its own. */
  metrics: "on" | "off" | number;
  /** If set, GET /metrics (on either port) needs `Authorization: Bearer <token>`. */
  metricsToken: string | null;
  /** How long an instance may reuse a session check for changes made elsewhere (0: never). */
  authCacheMs: number;
  /** A Have I Been Pwned SHA-1 "ordered by hash" file; new passwords found in it are refused. */
  breachedPasswordsPath: string | null;
  /** The external base URL, without a trailing slash: links in emails. */
  publicUrl: string;
  /** smtp:// or smtps:// URL, or "log" (emails written to the log); null: usersvc sends no email. */
  smtpUrl: string | null;
  /** The From header of every email. */
  emailFrom: string;
  /** A directory whose files override the embedded templates and messages, file by file. */
  themeDir: string | null;
  /** Absolute URL prefixes that `return_to` may lead to besides the public URL. */
  allowedReturnUrls: string[];
}

/** The environment variable each setting is read from (the compiler keeps it complete). */
export const ENV_NAMES = {
  databaseUrl: "DATABASE_URL",
  dataDir: "USERSVC_DATA_DIR",
  host: "HOST",
  port: "PORT",
  logLevel: "LOG_LEVEL",
  jwtSecret: "USERSVC_JWT_SECRET",
  issuer: "USERSVC_ISSUER",
  audience: "USERSVC_AUDIENCE",
  accessTtl: "USERSVC_ACCESS_TTL",
  refreshTtl: "USERSVC_REFRESH_TTL",
  refreshGrace: "USERSVC_REFRESH_GRACE",
  purgeAfterDays: "USERSVC_PURGE_AFTER",
  trustProxy: "USERSVC_TRUST_PROXY",
  requireVerifiedEmail: "USERSVC_REQUIRE_VERIFIED_EMAIL",
  hooksPath: "USERSVC_HOOKS",
  hookTimeoutMs: "USERSVC_HOOK_TIMEOUT_MS",
  hookEnv: "USERSVC_HOOK_ENV",
  webhookUrl: "USERSVC_WEBHOOK_URL",
  webhookSecret: "USERSVC_WEBHOOK_SECRET",
  corsOrigins: "USERSVC_CORS_ORIGINS",
  loginMaxAttempts: "USERSVC_LOGIN_MAX_ATTEMPTS",
  loginWindow: "USERSVC_LOGIN_WINDOW",
  emailCooldown: "USERSVC_EMAIL_COOLDOWN",
  privilegedMaxAge: "USERSVC_PRIVILEGED_MAX_AGE",
  adminMaxAge: "USERSVC_ADMIN_MAX_AGE",
  sessionMaxAge: "USERSVC_SESSION_MAX_AGE",
  rateLimitPerIp: "USERSVC_RATE_LIMIT_PER_IP",
  hashMemoryKib: "USERSVC_HASH_MEMORY_KIB",
  hashTimeCost: "USERSVC_HASH_TIME_COST",
  hashConcurrency: "USERSVC_HASH_CONCURRENCY",
  hashNiceness: "USERSVC_HASH_NICENESS",
  metrics: "USERSVC_METRICS",
  metricsToken: "USERSVC_METRICS_TOKEN",
  authCacheMs: "USERSVC_AUTH_CACHE_MS",
  breachedPasswordsPath: "USERSVC_BREACHED_PASSWORDS",
  publicUrl: "USERSVC_PUBLIC_URL",
  smtpUrl: "USERSVC_SMTP_URL",
  emailFrom: "USERSVC_EMAIL_FROM",
  themeDir: "USERSVC_THEME_DIR",
  allowedReturnUrls: "USERSVC_ALLOWED_RETURN_URLS",
} as const satisfies Record<keyof Config, string>;



export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];


export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** USERSVC_PUBLIC_URL when unset: where this process listens. */
export function defaultPublicUrl(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** USERSVC_EMAIL_FROM when unset. */
export function defaultEmailFrom(publicUrl: string): string {
  return `usersvc <no-reply@${hostnameOf(publicUrl)}>`;
}

/** Throws ConfigError listing every problem found. */
export function loadConfig(env: Env): Config {
  const problems: string[] = [];
  const read = new Reader(env, problems);

  const databaseUrl = read.string(ENV_NAMES.databaseUrl);
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push("DATABASE_URL must be a postgres:// or postgresql:// URL");
  }
  const jwtSecret = read.string(ENV_NAMES.jwtSecret);
  if (jwtSecret !== null && Buffer.byteLength(jwtSecret) < 32) {
    problems.push("USERSVC_JWT_SECRET must be at least 32 bytes long");
  }
  const webhookUrl = read.string(ENV_NAMES.webhookUrl);
  if (webhookUrl !== null && !/^https?:\/\/[^\s]+$/.test(webhookUrl)) {
    problems.push("USERSVC_WEBHOOK_URL must be an http:// or https:// URL");
  }
  const webhookSecret = read.string(ENV_NAMES.webhookSecret);
  if (webhookUrl !== null && webhookSecret === null) {
    problems.push("USERSVC_WEBHOOK_SECRET must be set when USERSVC_WEBHOOK_URL is (webhooks are always signed)");
  }
  if (webhookSecret !== null && !isWebhookSecret(webhookSecret)) {
    problems.push("USERSVC_WEBHOOK_SECRET must be whsec_ followed by 24-64 bytes in base64 (Standard Webhooks)");
  }
  const corsOrigins = (read.string(ENV_NAMES.corsOrigins) ?? "")
    .split(",")
    .map((o) => o.trim().replace(/\/$/, ""))
    .filter(Boolean);
  const badOrigins = corsOrigins.filter((o) => o !== "*" && !/^https?:\/\/[^/\s]+$/.test(o));
  if (badOrigins.length > 0) {
    problems.push(`USERSVC_CORS_ORIGINS must list origins like https://app.example.com (or *); not: ${badOrigins.join(", ")}`);
  }
  const hookEnv = (read.string(ENV_NAMES.hookEnv) ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const badHookEnv = hookEnv.filter((n) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n));
  if (badHookEnv.length > 0) {
    problems.push(`USERSVC_HOOK_ENV must list environment variable names like SMTP_HOST,SMTP_PORT; not: ${badHookEnv.join(", ")}`);
  }
  const metricsSetting = (read.string(ENV_NAMES.metrics) ?? "on").toLowerCase();
  let metrics: Config["metrics"] = "on";
  if (metricsSetting === "off" || metricsSetting === "on") metrics = metricsSetting;
  else if (/^\d+$/.test(metricsSetting) && Number(metricsSetting) > 0 && Number(metricsSetting) <= 65535) metrics = Number(metricsSetting);
  else problems.push(`USERSVC_METRICS must be on, off or a port number (got "${metricsSetting}")`);
  const breachedPasswords = read.string(ENV_NAMES.breachedPasswordsPath);
  const breachedPasswordsPath = breachedPasswords === null ? null : resolve(breachedPasswords);
  const breachedProblem = breachedPasswordsPath === null ? null : checkBreachedPasswordsFile(breachedPasswordsPath);
  if (breachedProblem !== null) problems.push(`USERSVC_BREACHED_PASSWORDS: ${breachedProblem}`);
  const metricsToken = read.string(ENV_NAMES.metricsToken);
  if (metricsToken !== null && !/^[\x21-\x7e]{16,}$/.test(metricsToken)) {
    problems.push("USERSVC_METRICS_TOKEN must be at least 16 characters, printable ASCII without spaces");
  }
  const logLevel = (read.string(ENV_NAMES.logLevel) ?? "info").toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`);
  }

  const host = read.string(ENV_NAMES.host) ?? "127.0.0.1";
  const port = read.integer(ENV_NAMES.port, 8000, { min: 0, max: 65535 });
  const publicUrl = readPublicUrl(ENV_NAMES.publicUrl, read.string(ENV_NAMES.publicUrl), defaultPublicUrl(host, port), problems);
  const smtpUrl = read.string(ENV_NAMES.smtpUrl);
  if (smtpUrl !== null && smtpUrl !== "log" && !isSmtpUrl(smtpUrl)) {
    problems.push(`${ENV_NAMES.smtpUrl} must be smtp://[user:pass@]host:port, smtps://…, or log`);
  }
  // A default built from the listen address (0.0.0.0, a container's port) makes links nobody can open.
  if (smtpUrl !== null && isSmtpUrl(smtpUrl) && read.string(ENV_NAMES.publicUrl) === null) {
    problems.push(`${ENV_NAMES.publicUrl} must be set when ${ENV_NAMES.smtpUrl} is: the links in emails are built from it`);
  }
  const emailFrom = read.string(ENV_NAMES.emailFrom) ?? defaultEmailFrom(publicUrl);
  const allowedReturnUrls = (read.string(ENV_NAMES.allowedReturnUrls) ?? "")
    .split(",")
    .map((prefix) => prefix.trim())
    .filter(Boolean)
    .map((prefix) => readPublicUrl(ENV_NAMES.allowedReturnUrls, prefix, "", problems));
  const themeDir = read.string(ENV_NAMES.themeDir);
  if (themeDir !== null && !isDirectory(resolve(themeDir))) problems.push(`${ENV_NAMES.themeDir}: ${resolve(themeDir)} is not a directory`);

  const config: Config = {
    databaseUrl,
    dataDir: resolve(read.string(ENV_NAMES.dataDir) ?? "./usersvc-data"),
    host,
    port,
    logLevel,
    jwtSecret,
    issuer: read.string(ENV_NAMES.issuer) ?? "usersvc",
    audience: read.string(ENV_NAMES.audience) ?? "usersvc",
    accessTtl: read.integer(ENV_NAMES.accessTtl, 900, { min: 1 }),
    // At most ten years: a refresh's new expiry is a timestamp PostgreSQL must be able to store.
    refreshTtl: read.integer(ENV_NAMES.refreshTtl, 2_592_000, { min: 1, max: 315_360_000 }),
    refreshGrace: read.integer(ENV_NAMES.refreshGrace, 0, { min: 0 }),
    purgeAfterDays: read.integer(ENV_NAMES.purgeAfterDays, 30, { min: 0 }),
    trustProxy: readTrustProxy(ENV_NAMES.trustProxy, read.string(ENV_NAMES.trustProxy), problems),
    requireVerifiedEmail: read.boolean(ENV_NAMES.requireVerifiedEmail, false),
    hooksPath: read.string(ENV_NAMES.hooksPath),
    hookTimeoutMs: read.integer(ENV_NAMES.hookTimeoutMs, 5000, { min: 1, max: 600_000 }),
    hookEnv,
    webhookUrl,
    webhookSecret,
    corsOrigins,
    loginMaxAttempts: read.integer(ENV_NAMES.loginMaxAttempts, 5, { min: 1 }),
    loginWindow: read.integer(ENV_NAMES.loginWindow, 900, { min: 1 }),
    emailCooldown: read.integer(ENV_NAMES.emailCooldown, 60, { min: 0, max: 86_400 }),
    privilegedMaxAge: read.integer(ENV_NAMES.privilegedMaxAge, 900, { min: 0 }),
    adminMaxAge: read.integer(ENV_NAMES.adminMaxAge, 900, { min: 60 }),
    sessionMaxAge: read.integer(ENV_NAMES.sessionMaxAge, 2_592_000, { min: 1 }),
    rateLimitPerIp: read.integer(ENV_NAMES.rateLimitPerIp, 30, { min: 1 }),
    hashMemoryKib: read.integer(ENV_NAMES.hashMemoryKib, 65536, { min: 1024, max: 4_194_304 }),
    hashTimeCost: read.integer(ENV_NAMES.hashTimeCost, 2, { min: 1, max: 100 }),
    hashConcurrency: read.integer(ENV_NAMES.hashConcurrency, availableParallelism(), { min: 1, max: 1024 }),
    hashNiceness: read.integer(ENV_NAMES.hashNiceness, DEFAULT_HASH_NICENESS, { min: 0, max: 19 }),
    authCacheMs: read.integer(ENV_NAMES.authCacheMs, 1000, { min: 0, max: 1000 }),
    metrics,
    metricsToken,
    breachedPasswordsPath,
    publicUrl,
    smtpUrl,
    emailFrom,
    themeDir: themeDir === null ? null : resolve(themeDir),
    allowedReturnUrls: allowedReturnUrls.filter(Boolean),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
