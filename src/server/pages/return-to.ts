/**
 * Where a page may send the browser next (SPEC §7): a path of usersvc's own,
 * or an absolute URL under the public URL or under a prefix of
 * USERSVC_ALLOWED_RETURN_URLS. Compared as parsed URLs (origin, then whole
 * path segments), so `https://app.example.com.evil.test`, `//evil.test`,
 * `/\evil.test` and `https://user@app.example.com` never pass.
 */
import type { Config } from "../../config.ts";

export function returnToChecker(config: Config): (raw: string | undefined | null) => string | null {
  const prefixes = [config.publicUrl, ...config.allowedReturnUrls].map((prefix) => new URL(prefix));
  const base = new URL(`${config.publicUrl}/`);
  return (raw) => {
    if (!raw || raw.length > 4096 || /[\u0000-\u001f\\]/.test(raw)) return null;
    let url: URL;
    try {
      url = new URL(raw, base);
    } catch {
      return null;
    }
    if (url.username || url.password) return null;
    const allowed = prefixes.some((prefix) => url.origin === prefix.origin && underPath(url.pathname, prefix.pathname));
    if (!allowed) return null;
    // usersvc's own pages stay relative, so a Location works whichever host name the browser used;
    // never as `//…`, which a browser would read as another host.
    const relative = url.origin === base.origin && !url.pathname.startsWith("//");
    return relative ? `${url.pathname}${url.search}${url.hash}` : url.href;
  };
}

function underPath(path: string, prefix: string): boolean {
  const dir = prefix.endsWith("/") ? prefix : `${prefix}/`;
  return prefix === "/" || path === prefix || path.startsWith(dir);
}
