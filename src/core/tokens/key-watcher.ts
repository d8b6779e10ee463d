/**
 * Notices a rotation made elsewhere (`usersvc keys rotate` in another
 * process, another instance) within KEY_WATCH_MS: it polls a tiny version of
 * the signing-keys table and reloads the keys when it moves. Polling, not
 * LISTEN/NOTIFY: it works the same on PGlite, on PostgreSQL and behind
 * PgBouncer in transaction mode, at the cost of one index-free aggregate over
 * a handful of rows every two seconds.
 */
import type { Core } from "../core.ts";
import { signingKeysVersion } from "./signing-keys.ts";

export const KEY_WATCH_MS = 2_000;

export function watchSigningKeys(core: Core, intervalMs = KEY_WATCH_MS): { stop(): Promise<void> } {
  if (core.config.jwtSecret) return { stop: async () => {} };
  const log = core.logger.child({ module: "keys" });
  let last: string | null = null;
  let running: Promise<void> = Promise.resolve();
  const tick = (): void => {
    running = (async () => {
      const version = await signingKeysVersion(core.db);
      if (last !== null && version !== last) {
        await core.tokens.reload();
        log.info("signing keys changed: reloaded");
      }
      last = version;
    })().catch((error: unknown) => log.warn({ err: error }, "signing keys check failed; retrying"));
  };
  tick();
  const timer = setInterval(() => void running.then(tick), intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
