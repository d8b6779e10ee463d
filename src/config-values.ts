/**
 * How each kind of setting is read from the environment and checked: the
 * Reader (strings, integers in a range, booleans), proxy trust, webhook
 * secrets, the breached-passwords file. Each problem found is pushed, named
 * by its variable, for loadConfig to report them all at once.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { isIP } from "node:net";

export type Env = Record<string, string | undefined>;

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

/**
 * Null when `path` is a readable file whose first line is `SHA1:COUNT` (40
 * uppercase hex digits): the "ordered by hash" SHA-1 download, not the NTLM
 * one. Only that line is read; lookups never load the file (core/passwords/breached.ts).
 */
export function checkBreachedPasswordsFile(path: string): string | null {
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

export function readTrustProxy(name: string, raw: string | null, problems: string[]): TrustProxy {
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

export function isWebhookSecret(secret: string): boolean {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!match) return false;
  const bytes = Buffer.from(match[1]!, "base64").length;
  return bytes >= 24 && bytes <= 64;
}

export class Reader {
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

/** An http(s) origin, optionally with a path; kept without a trailing slash. */
export function readPublicUrl(name: string, raw: string | null, fallback: string, problems: string[]): string {
  if (raw === null) return fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`${name} must be an http:// or https:// URL (got "${raw}")`);
    return fallback;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.search || url.hash || url.username || url.password) {
    problems.push(`${name} must be an http:// or https:// URL without query, fragment or credentials (got "${raw}")`);
    return fallback;
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

export function hostnameOf(url: string): string {
  return new URL(url).hostname.replace(/^\[|\]$/g, "");
}

export function isSmtpUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return (url.protocol === "smtp:" || url.protocol === "smtps:") && url.hostname !== "";
  } catch {
    return false;
  }
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
