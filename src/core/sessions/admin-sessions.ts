/** An admin ending one session of a user (the console's revoke): audited with the admin as actor. */
import type { Actor } from "../audit/actor.ts";
import type { Core } from "../core.ts";
import { recordChange } from "../events/record.ts";
import { DomainError } from "../errors.ts";
import { getUserById } from "../users/users.ts";
import { isUuid } from "../uuid.ts";
import { liveSessionOf } from "./own-sessions.ts";
import { revokeSession } from "./queries.ts";

/** NOT_FOUND when the session is not the user's, or already ended. */
export async function adminRevokeSession(core: Core, actor: Actor, userId: string, sessionId: string): Promise<{ revoked: number }> {
  const user = await getUserById(core, userId);
  if (!isUuid(sessionId)) throw new DomainError("NOT_FOUND", "Session not found");
  const session = await liveSessionOf(core, user.id, sessionId);
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const revoked = await revokeSession(tx, session.id, "admin_revoked", now);
    if (revoked > 0) {
      await recordChange(core, tx, { type: "session.revoked", actor, user, data: { reason: "admin_revoked", sessions_revoked: revoked, session_id: session.id } });
    }
    return { revoked };
  });
}
