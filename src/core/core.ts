/**
 * The domain core: everything usersvc does, for the HTTP server and the CLI
 * alike. Never imports elysia, commander, @clack/prompts or process.*.
 */
import type { Config } from "../config.ts";
import { type Hooks, loadConfiguredHooks } from "../hooks/hooks.ts";
import type { Logger } from "../logger.ts";
import { createHitBatcher, type HitBatcher } from "./rate-limits/hit-batcher.ts";
import { createPasswordHasher, type PasswordHasher } from "./passwords/hasher.ts";
import { createTokenService, type TokenService } from "./tokens/token-service.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { type AuthCache, createAuthCache } from "./sessions/auth-cache.ts";
import { type ClientCache, createClientCache } from "./oidc/client-cache.ts";
import type { Database, DatabaseKind } from "./db/client.ts";
import { createMailer, type Mailer } from "./email/mailer.ts";
import { loadTheme, type Theme } from "./theme/theme.ts";

export interface Core {
  config: Config;
  db: Database;
  dbKind: DatabaseKind;
  logger: Logger;
  tokens: TokenService;
  /** The host project's hooks (USERSVC_HOOKS), or none. */
  hooks: Hooks;
  passwords: PasswordHasher;
  metrics: Metrics;
  /** Recent session checks of this instance (sessions/auth-cache.ts). */
  authCache: AuthCache;
  /** Recently read OpenID Connect clients of this instance (oidc/client-cache.ts). */
  oidcClients: ClientCache;
  /** Per-IP refresh counts, written to the shared table in batches (rate-limits/hit-batcher.ts). */
  refreshHits: HitBatcher;
  /** usersvc's own email (USERSVC_SMTP_URL), or null when it sends none. */
  mailer: Mailer | null;
  /** Messages and templates, with USERSVC_THEME_DIR's overrides. */
  theme: Theme;
  /** The clock every rule reads, so tests move time instead of sleeping. */
  now(): Date;
}

export interface CoreOptions {
  config: Config;
  db: Database;
  dbKind: DatabaseKind;
  logger: Logger;
  now?: () => Date;
  /** Already loaded hooks; by default they are loaded from config.hooksPath. */
  hooks?: Hooks;
}

/** Expects a migrated database (signing keys live in it). Throws if the hooks cannot be loaded. */
export async function createCore(options: CoreOptions): Promise<Core> {
  const now = options.now ?? (() => new Date());
  const hooks = options.hooks ?? (await loadConfiguredHooks(options.config, options.logger));
  const tokens = await createTokenService(options.config, options.db, now);
  const { hashMemoryKib: memoryKib, hashTimeCost: timeCost, hashConcurrency, hashNiceness } = options.config;
  const metrics = createMetrics(options.db);
  const passwords = createPasswordHasher({ memoryKib, timeCost }, hashConcurrency, metrics.passwordWork, { logger: options.logger, niceness: hashNiceness });
  const authCache = createAuthCache(options.db, options.config.authCacheMs, () => now().getTime());
  const oidcClients = createClientCache(options.db, options.config.authCacheMs, () => now().getTime());
  const refreshHits = createHitBatcher(options.db, options.config.loginWindow, now, options.logger);
  const theme = loadTheme(options.config.themeDir);
  const mailer = createMailer(options.config, options.logger);
  return { ...options, now, tokens, hooks, passwords, metrics, authCache, oidcClients, refreshHits, theme, mailer };
}

