/**
 * The hooks runner core calls (it never calls the host's object directly):
 * loads USERSVC_HOOKS once, then gives each hook point its meaning —
 * before-hooks veto (HOOK_REJECTED) or fail closed (HOOK_FAILED); claims
 * are filtered; events are delivered or throw so the outbox retries.
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { extname, resolve } from "node:path";
import { type Config, ConfigError } from "../config.ts";
import { DomainError } from "../core/errors.ts";
import type { Logger } from "../logger.ts";
import { type HookAnswer, type HookCaller, HookFailure, moduleCaller, scriptCaller, scriptEnvironment } from "./call.ts";
import { EVENT_TYPES } from "./event-types.ts";
import type {
  AccessTokenClaimsInput,
  BeforeLoginInput,
  BeforeRegisterInput,
  EventType,
  ReservedClaim,
  UsersvcEvent,
} from "./types.ts";

export const BEFORE_HOOKS = ["beforeRegister", "beforeLogin", "accessTokenClaims"] as const;
const KNOWN_KEYS = new Set<string>([...BEFORE_HOOKS, "on", ...EVENT_TYPES]);
const RESERVED_CLAIMS = new Set<ReservedClaim>(["sub", "sid", "jti", "type", "iss", "aud", "exp", "iat", "nbf", "roles", "gen", "amr", "client_id", "scope", "auth_time"]);

export interface Hooks {
  readonly kind: "none" | "module" | "script";
  readonly path: string | null;
  /** Hook and event names this project handles ("*" for a script: every one). */
  readonly handlers: string[];
  handlesEvent(type: EventType): boolean;
  /** May replace metadata and set app_metadata; throws HOOK_REJECTED or HOOK_FAILED. */
  beforeRegister(input: BeforeRegisterInput): Promise<{ metadata?: Record<string, unknown>; app_metadata?: Record<string, unknown> }>;
  beforeLogin(input: BeforeLoginInput): Promise<void>;
  /** Extra access-token claims, reserved ones removed; throws HOOK_FAILED. */
  accessTokenClaims(input: AccessTokenClaimsInput): Promise<Record<string, unknown>>;
  /** Delivers an event to its handler(s) and `on`; throws when delivery failed (to be retried). */
  deliverEvent(event: UsersvcEvent): Promise<void>;
}

export const NO_HOOKS: Hooks = {
  kind: "none",
  path: null,
  handlers: [],
  handlesEvent: () => false,
  beforeRegister: async () => ({}),
  beforeLogin: async () => {},
  accessTokenClaims: async () => ({}),
  deliverEvent: async () => {},
};

export interface HookOptions {
  timeoutMs: number;
  logger: Logger;
  /** USERSVC_HOOK_ENV: variables a script gets besides PATH, HOME, LANG, TZ and LC_*. */
  env?: readonly string[];
}

/** Throws an Error whose message says what is wrong with the hooks file. */
export async function loadHooks(path: string | null, options: HookOptions): Promise<Hooks> {
  if (!path) return NO_HOOKS;
  const absolute = resolve(path);
  if (!existsSync(absolute) || !statSync(absolute).isFile()) throw new Error(`USERSVC_HOOKS: ${absolute} is not a file`);
  const logger = options.logger.child({ module: "hooks" });
  const ext = extname(absolute);
  if ([".ts", ".js", ".mjs", ".cjs", ".mts", ".cts"].includes(ext)) {
    let loaded: Record<string, unknown>;
    try {
      loaded = (await import(absolute)) as Record<string, unknown>;
    } catch (error) {
      throw new Error(`USERSVC_HOOKS: cannot load ${absolute}: ${(error as Error).message}`);
    }
    const hooks = (loaded.default ?? loaded) as Record<string, unknown>;
    if (!hooks || typeof hooks !== "object") throw new Error(`USERSVC_HOOKS: ${absolute} must export an object by default`);
    const unknown = Object.keys(hooks).filter((k) => !KNOWN_KEYS.has(k));
    if (unknown.length > 0) {
      throw new Error(`USERSVC_HOOKS: unknown hook ${unknown.map((k) => `"${k}"`).join(", ")} in ${absolute}`);
    }
    return runner("module", absolute, moduleCaller(hooks, options.timeoutMs, logger), logger);
  }
  try {
    accessSync(absolute, constants.X_OK);
  } catch {
    throw new Error(`USERSVC_HOOKS: ${absolute} is neither a .ts/.js module nor an executable file`);
  }
  const env = scriptEnvironment(options.env ?? []);
  return runner("script", absolute, scriptCaller(absolute, { timeoutMs: options.timeoutMs, env }), logger);
}

function runner(kind: "module" | "script", path: string, caller: HookCaller, logger: Logger): Hooks {
  async function before(name: string, payload: unknown): Promise<HookAnswer | null> {
    if (!caller.has(name)) return null;
    const started = performance.now();
    try {
      const answer = await caller.call(name, payload);
      logger.debug({ hook: name, ms: Math.round(performance.now() - started) }, "hook answered");
      return answer;
    } catch (error) {
      logger.error({ hook: name, err: error }, "hook failed: refusing the action");
      throw new DomainError("HOOK_FAILED");
    }
  }
  const rejectIfAsked = (answer: HookAnswer | null): void => {
    if (answer?.kind === "reject") throw new DomainError("HOOK_REJECTED", answer.message || "Rejected by a usersvc hook");
  };
  const objectOrNothing = (name: string, value: unknown): Record<string, unknown> | null => {
    if (value === undefined || value === null) return null;
    if (typeof value !== "object" || Array.isArray(value)) {
      logger.error({ hook: name }, "hook answered something other than an object: refusing the action");
      throw new DomainError("HOOK_FAILED");
    }
    return value as Record<string, unknown>;
  };

  return {
    kind,
    path,
    handlers: caller.names(),
    handlesEvent: (type) => caller.has(type) || caller.has("on"),

    async beforeRegister(input) {
      const answer = await before("beforeRegister", input);
      rejectIfAsked(answer);
      const value = objectOrNothing("beforeRegister", answer?.kind === "value" ? answer.value : undefined);
      const shaped: { metadata?: Record<string, unknown>; app_metadata?: Record<string, unknown> } = {};
      if (value && "metadata" in value) shaped.metadata = objectOrNothing("beforeRegister", value.metadata) ?? {};
      if (value && "app_metadata" in value) shaped.app_metadata = objectOrNothing("beforeRegister", value.app_metadata) ?? {};
      return shaped;
    },

    async beforeLogin(input) {
      rejectIfAsked(await before("beforeLogin", input));
    },

    async accessTokenClaims(input) {
      const answer = await before("accessTokenClaims", input);
      const claims = objectOrNothing("accessTokenClaims", answer?.kind === "value" ? answer.value : undefined) ?? {};
      return Object.fromEntries(Object.entries(claims).filter(([k]) => !RESERVED_CLAIMS.has(k as ReservedClaim)));
    },

    async deliverEvent(event) {
      // A script is called once per event, with the event name; a module's
      // per-event handler and its `on` are both called.
      const names = kind === "script" ? [event.type] : [event.type, "on"].filter((n) => caller.has(n));
      for (const name of names) {
        const answer = await caller.call(name, event).catch((error: unknown) => {
          throw error instanceof HookFailure ? error : new HookFailure(String(error));
        });
        if (answer.kind === "reject") throw new HookFailure(`event handler ${name} refused: ${answer.message}`);
      }
    },
  };
}

/** The hooks USERSVC_HOOKS names, or none; a file that does not load is a ConfigError (usersvc refuses to start). */
export async function loadConfiguredHooks(config: Config, logger: Logger): Promise<Hooks> {
  try {
    return await loadHooks(config.hooksPath, { timeoutMs: config.hookTimeoutMs, logger, env: config.hookEnv });
  } catch (error) {
    throw new ConfigError([(error as Error).message]);
  }
}
