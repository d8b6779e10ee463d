/**
 * Configuration: read once from the environment (and CLI flags, which the
 * caller merges in first), validated as a whole so every bad setting is
 * reported, each on one line naming its variable.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";

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
  /** GET /metrics: "on" (API port), "off", or a port number of its own. */
  metrics: "on" | "off" | number;
  /** If set, GET /metrics (on either port) needs `Authorization: Bearer <token>`. */
  metricsToken: string | null;
  /** How long an instance may reuse a session check for changes made elsewhere (0: never). */
  authCacheMs: number;
  /** A Have I Been Pwned SHA-1 "ordered by hash" file; new passwords found in it are refused. */
  breachedPasswordsPath: string | null;
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
  sessionMaxAge: "USERSVC_SESSION_MAX_AGE",
  rateLimitPerIp: "USERSVC_RATE_LIMIT_PER_IP",
  hashMemoryKib: "USERSVC_HASH_MEMORY_KIB",
  hashTimeCost: "USERSVC_HASH_TIME_COST",
  hashConcurrency: "USERSVC_HASH_CONCURRENCY",
  metrics: "USERSVC_METRICS",
  metricsToken: "USERSVC_METRICS_TOKEN",
  authCacheMs: "USERSVC_AUTH_CACHE_MS",
  breachedPasswordsPath: "USERSVC_BREACHED_PASSWORDS",
} as const satisfies Record<keyof Config, string>;

/**
 * false: the socket's peer is the client. `hops`: that many proxies stand in
 * front of usersvc, the socket's peer being the first. `proxies`: the
 * addresses and CIDRs of trusted proxies.
 */
export type TrustProxy = false | { hops: number } | { proxies: string[] };

/** Named ranges USERSVC_TRUST_PROXY takes besides IPs and CIDRs (the names of Express's `trust proxy`). */
const PROXY_RANGES = new Map<string, string[]>([
  ["loopback", ["127.0.0.0/8", "::1/128"]],
  ["linklocal", ["169.254.0.0/16", "fe80::/10"]],
  ["uniquelocal", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]],
]);
const MAX_PROXY_HOPS = 32;

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
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

  const config: Config = {
    databaseUrl,
    dataDir: resolve(read.string(ENV_NAMES.dataDir) ?? "./usersvc-data"),
    host: read.string(ENV_NAMES.host) ?? "127.0.0.1",
    port: read.integer(ENV_NAMES.port, 8000, { min: 0, max: 65535 }),
    logLevel,
    jwtSecret,
    issuer: read.string(ENV_NAMES.issuer) ?? "usersvc",
    audience: read.string(ENV_NAMES.audience) ?? "usersvc",
    accessTtl: read.integer(ENV_NAMES.accessTtl, 900, { min: 1 }),
    refreshTtl: read.integer(ENV_NAMES.refreshTtl, 2_592_000, { min: 1 }),
    refreshGrace: read.integer(ENV_NAMES.refreshGrace, 0, { min: 0 }),
    purgeAfterDays: read.integer(ENV_NAMES.purgeAfterDays, 30, { min: 0 }),
    trustProxy: readTrustProxy(read.string(ENV_NAMES.trustProxy), problems),
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
    sessionMaxAge: read.integer(ENV_NAMES.sessionMaxAge, 2_592_000, { min: 1 }),
    rateLimitPerIp: read.integer(ENV_NAMES.rateLimitPerIp, 30, { min: 1 }),
    hashMemoryKib: read.integer(ENV_NAMES.hashMemoryKib, 65536, { min: 1024, max: 4_194_304 }),
    hashTimeCost: read.integer(ENV_NAMES.hashTimeCost, 2, { min: 1, max: 100 }),
    hashConcurrency: read.integer(ENV_NAMES.hashConcurrency, availableParallelism(), { min: 1, max: 1024 }),
    authCacheMs: read.integer(ENV_NAMES.authCacheMs, 1000, { min: 0, max: 1000 }),
    metrics,
    metricsToken,
    breachedPasswordsPath,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * Null when `path` is a readable file whose first line is `SHA1:COUNT` (40
 * uppercase hex digits): the "ordered by hash" SHA-1 download, not the NTLM
 * one. Only that line is read; lookups never load the file (core/passwords/breached.ts).
 */
function checkBreachedPasswordsFile(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    return `cannot open ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  try {
    if (!fstatSync(fd).isFile()) return `${path} is not a file`;
    const head = Buffer.alloc(64);
    const bytes = readSync(fd, head, 0, head.length, 0);
    if (!/^[0-9A-F]{40}:\d+(\r?\n|$)/.test(head.toString("latin1", 0, bytes))) {
      return `${path} does not start with a SHA1:COUNT line (the Have I Been Pwned SHA-1 file ordered by hash)`;
    }
    return null;
  } catch (error) {
    return `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  } finally {
    closeSync(fd);
  }
}

function readTrustProxy(raw: string | null, problems: string[]): TrustProxy {
  const name = ENV_NAMES.trustProxy;
  const value = raw?.toLowerCase() ?? "false";
  if (["false", "0", "no", "off"].includes(value)) return false;
  // Before hop counts, `true` trusted the one proxy in front of usersvc: 1 hop.
  if (["true", "yes", "on"].includes(value)) return { hops: 1 };
  if (/^\d+$/.test(value)) {
    if (Number(value) <= MAX_PROXY_HOPS) return { hops: Number(value) };
    problems.push(`${name} must be a number of proxy hops between 1 and ${MAX_PROXY_HOPS} (got "${raw}")`);
    return false;
  }
  const entries = value.split(",").map((entry) => entry.trim()).filter(Boolean);
  const bad = entries.filter((entry) => !PROXY_RANGES.has(entry) && !isAddressOrCidr(entry));
  if (bad.length > 0) {
    problems.push(`${name} must be false, a number of proxy hops, or a comma-separated list of proxy IPs/CIDRs; not: ${bad.join(", ")}`);
    return false;
  }
  return { proxies: entries.flatMap((entry) => PROXY_RANGES.get(entry) ?? [entry]) };
}

/** 10.0.0.1, 10.0.0.0/8, ::1, fd00::/8; no zone ids (fe80::1%eth0), which a forwarded address never has. */
function isAddressOrCidr(entry: string): boolean {
  const [address = "", prefix, ...rest] = entry.split("/");
  const family = address.includes("%") ? 0 : isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function isWebhookSecret(secret: string): boolean {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!match) return false;
  const bytes = Buffer.from(match[1]!, "base64").length;
  return bytes >= 24 && bytes <= 64;
}

class Reader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  string(name: string): string | null {
    const value = this.env[name]?.trim();
    return value ? value : null;
  }

  integer(name: string, fallback: number, range: { min?: number; max?: number }): number {
    const raw = this.string(name);
    if (raw === null) return fallback;
    const value = Number(raw);
    const { min = -Infinity, max = Number.MAX_SAFE_INTEGER } = range;
    if (!/^-?\d+$/.test(raw) || value < min || value > max) {
      const bounds = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
      this.problems.push(`${name} must be an integer ${bounds} (got "${raw}")`);
      return fallback;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.string(name)?.toLowerCase();
    if (raw === undefined || raw === null) return fallback;
    if (["1", "true", "yes", "on"].includes(raw)) return true;
    if (["0", "false", "no", "off"].includes(raw)) return false;
    this.problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  }
}
