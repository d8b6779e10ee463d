/**
 * The pages' cookies (SPEC §7): HttpOnly, SameSite=Lax, Path=/; on an https
 * public URL also Secure with the `__Host-` prefix, so no other host or
 * plain-http page can set or shadow them.
 */
import type { Config } from "../../config.ts";

export type CookieName = "session" | "csrf" | "mfa" | "provider";
const NAMES: Record<CookieName, string> = { session: "usersvc_session", csrf: "usersvc_csrf", mfa: "usersvc_mfa", provider: "usersvc_provider" };

export interface PageCookies {
  /**
   * The cookie's value; undefined when absent or sent more than once (a
   * sibling host on plain http can add a same-named cookie with a longer
   * path, which browsers send first: neither copy is trusted).
   */
  read(header: string | null, name: CookieName): string | undefined;
  /** How many cookies of this name the browser sent. */
  count(header: string | null, name: CookieName): number;
  /** A Set-Cookie value; `maxAge` in seconds, none for a cookie that ends with the browser. */
  set(name: CookieName, value: string, maxAge?: number): string;
  clear(name: CookieName): string;
}

export function pageCookies(config: Config): PageCookies {
  const secure = config.publicUrl.startsWith("https://");
  const fullName = (name: CookieName) => (secure ? `__Host-${NAMES[name]}` : NAMES[name]);
  const attributes = `; Path=/; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
  return {
    read(header, name) {
      const values = valuesOf(header, fullName(name));
      return values.length === 1 ? values[0] : undefined;
    },
    count: (header, name) => valuesOf(header, fullName(name)).length,
    set: (name, value, maxAge) => `${fullName(name)}=${value}${attributes}${maxAge === undefined ? "" : `; Max-Age=${maxAge}`}`,
    clear: (name) => `${fullName(name)}=${attributes}; Max-Age=0`,
  };
}

function valuesOf(header: string | null, wanted: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === wanted) values.push(part.slice(eq + 1).trim());
  }
  return values;
}
