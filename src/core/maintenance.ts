/**
 * The lifecycle sweep `serve` runs on a timer (expired blocks, purges, keys
 * past retention): every step is a conditional write, so several instances
 * sweeping one database never do a change twice.
 */
import type { Core } from "./core.ts";
import { sweepExpiredCodes } from "./oidc/codes.ts";
import { sweepRevokedTokens } from "./oidc/revoked-tokens.ts";
import { sweepExpiredChallenges } from "./passkeys/queries.ts";
import { sweepExpiredProviderLogins } from "./providers/provider-logins.ts";
import { runLifecycleSweep } from "./users/lifecycle.ts";

export const SWEEP_INTERVAL_MS = 60_000;

/** One sweep: what `serve` runs every SWEEP_INTERVAL_MS (exported for the scale benchmark). */
export async function runMaintenance(core: Core): Promise<{ unblocked: number; purged: number }> {
  const done = await runLifecycleSweep(core);
  // Spent or expired codes, WebAuthn challenges and provider sign-ins never finished, and the revocations
  // of expired machine tokens have nothing left to guard.
  const now = core.now();
  await Promise.all([
    sweepExpiredCodes(core.db, now),
    sweepRevokedTokens(core.db, now),
    sweepExpiredChallenges(core.db, now),
    sweepExpiredProviderLogins(core.db, now),
  ]);
  // Retired keys whose tokens have all expired leave the JWKS.
  await core.tokens.reload();
  return done;
}

export function scheduleMaintenance(core: Core, intervalMs = SWEEP_INTERVAL_MS): { stop(): Promise<void> } {
  const log = core.logger.child({ module: "maintenance" });
  let running: Promise<void> = Promise.resolve();
  const tick = (): void => {
    running = runMaintenance(core)
      .then((done) => {
        if (done.unblocked || done.purged) log.info(done, "lifecycle sweep");
      })
      .catch((error: unknown) => log.error({ err: error }, "lifecycle sweep failed"));
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
