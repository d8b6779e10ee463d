/**
 * Clients as the provider reads them on every request (authentication at
 * the token endpoint, every token it checks), kept per instance for at most
 * USERSVC_AUTH_CACHE_MS (1 s), as sessions are (sessions/auth-cache.ts). A
 * change made on this instance (client-admin.ts) drops the entry at once;
 * one made on another instance, or by the CLI on PostgreSQL, is seen within
 * that time. An unknown id is never remembered: made-up ids cannot fill it.
 */
import type { Db } from "../db/client.ts";
import { findClient, type OAuthClient } from "./clients.ts";

export interface ClientCache {
  get(clientId: string): Promise<OAuthClient | null>;
  /** After a change to the client (update, secret rotation, removal). */
  forget(clientId: string): void;
}

/** Clients are few; the bound only guards against a flood of registrations. */
const MAX_ENTRIES = 1_000;

export function createClientCache(db: Db, ttlMs: number, nowMs: () => number): ClientCache {
  const entries = new Map<string, { client: OAuthClient; until: number }>();
  /** Moves at every forget: a read that began before it is used, not kept. */
  let generation = 0;
  return {
    async get(clientId) {
      const entry = entries.get(clientId);
      if (entry && entry.until > nowMs()) return entry.client;
      const started = generation;
      const client = await findClient(db, clientId);
      if (client && ttlMs > 0 && started === generation) {
        if (entries.size >= MAX_ENTRIES) entries.clear();
        entries.set(clientId, { client, until: nowMs() + ttlMs });
      } else if (!client) {
        entries.delete(clientId);
      }
      return client;
    },
    forget(clientId) {
      generation += 1;
      entries.delete(clientId);
    },
  };
}
