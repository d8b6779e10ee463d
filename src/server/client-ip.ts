/**
 * The client's IP address. Without USERSVC_TRUST_PROXY it is the socket's
 * peer. Behind trusted proxies it is read from X-Forwarded-For the way
 * nginx's realip module (`real_ip_recursive on`) and Express's `trust proxy`
 * read it: start at the socket's peer and walk the list from the right,
 * nearest proxy first, while the address at hand is a trusted proxy; the
 * first address that is not is the client. Only proxies append to the right
 * of the list, so whatever a client writes to its left is never reached.
 *
 * - `{ hops: n }`: the socket's peer and the n-1 entries after it are trusted,
 *   so the client is the n-th entry from the right (or the leftmost when the
 *   list is shorter).
 * - `{ proxies }`: an address in those CIDRs is trusted. The socket's peer must
 *   be one, or the header is ignored; when every entry is, the leftmost is taken.
 *
 * An entry reached that is not an IP address (garbage, a port, an empty
 * entry) makes the header worthless: the socket's peer is used instead.
 */
import { BlockList, isIP } from "node:net";
import type { TrustProxy } from "../config.ts";

export type ClientIpOf = (forwardedFor: string | null, peer: string | null) => string | null;

const resolvers = new WeakMap<Exclude<TrustProxy, false>, ClientIpOf>();

/** The resolver for a setting, built once per config object. */
export function clientIpResolver(trust: TrustProxy): ClientIpOf {
  if (trust === false) return peerOnly;
  let resolver = resolvers.get(trust);
  if (!resolver) {
    resolver = createResolver(trust);
    resolvers.set(trust, resolver);
  }
  return resolver;
}

function peerOnly(_forwardedFor: string | null, peer: string | null): string | null {
  return peer;
}

function createResolver(trust: Exclude<TrustProxy, false>): ClientIpOf {
  const isTrusted: (address: string, hop: number) => boolean =
    "hops" in trust ? (_address, hop) => hop < trust.hops : proxyMatcher(trust.proxies);
  return (forwardedFor, peer) => {
    // No socket (app.handle in tests): nothing to start the walk from.
    if (peer === null) return null;
    const entries = forwardedFor?.trim() ? forwardedFor.split(",").map((entry) => entry.trim()) : [];
    let client = peer;
    for (let hop = 0; isTrusted(client, hop) && hop < entries.length; hop++) {
      const next = entries[entries.length - 1 - hop]!;
      if (isIP(next) === 0) return peer;
      client = next;
    }
    return client;
  };
}

function proxyMatcher(proxies: string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const proxy of proxies) {
    const [address = "", prefix] = proxy.split("/");
    const family = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return (address) => {
    const family = isIP(address);
    if (family === 0) return false;
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; match it against the IPv4 ranges too.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    try {
      return list.check(address, family === 6 ? "ipv6" : "ipv4") || (mapped !== undefined && list.check(mapped, "ipv4"));
    } catch {
      return false; // an address BlockList cannot take (a zone id): not a proxy of ours
    }
  };
}
