/** Key rotation, for `usersvc keys rotate` and anything later that rotates (an admin console). */
import type { Actor } from "../audit/actor.ts";
import { appendAudit } from "../audit/audit.ts";
import type { Core } from "../core.ts";
import { keyRetentionSeconds, rotateSigningKeys } from "./signing-keys.ts";

/**
 * A new signing key, used at once by this instance (the others follow within the key watch's
 * interval). With `revokePrevious` every earlier key is deleted, so every token they signed stops
 * working; otherwise they keep verifying for keyRetentionSeconds. Audited as keys.rotated.
 */
export async function rotateKeys(core: Core, actor: Actor, options: { revokePrevious: boolean }): Promise<{ kid: string; retiredVerifyForSeconds: number }> {
  const kid = await rotateSigningKeys(core.db, core.now(), options);
  await core.tokens.reload();
  await appendAudit(core.db, { event: "keys.rotated", actor, targetId: null, data: { kid, revoke_previous: options.revokePrevious } }, core.now());
  return { kid, retiredVerifyForSeconds: options.revokePrevious ? 0 : keyRetentionSeconds(core.config) };
}
