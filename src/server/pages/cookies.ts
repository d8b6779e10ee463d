/**
 * The pages' cookies (SPEC §7): HttpOnly, SameSite=Lax, Path=/; on an https
 * public URL also Secure with the `__Host-` prefix, so no other host or
 * plain-http page can set or shadow them.
 */
import type { Config } from "../../config.ts";

export type CookieName = "session" | "csrf" | "mfa";
const NAMES: Record<CookieName, string> = { session: "usersvc_session", csrf: "usersvc_csrf", mfa: "usersvc_mfa" };

export interface PageCookies {
  read(header: string | null, name: CookieName): string | undefined;
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
      if (!header) return undefined;
      const wanted = fullName(name);
      for (const part of header.split(";")) {
        const eq = part.indexOf("=");
        if (eq !== -1 && part.slice(0, eq).trim() === wanted) return part.slice(eq + 1).trim();
      }
      return undefined;
    },
    set: (name, value, maxAge) => `${fullName(name)}=${value}${attributes}${maxAge === undefined ? "" : `; Max-Age=${maxAge}`}`,
    clear: (name) => `${fullName(name)}=${attributes}; Max-Age=0`,
  };
}
