/** A user's own sessions: logout, logout-all, the listing and revoking one. */
import { userActor } from "../audit/actor.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { recordEvent } from "../events/record.ts";
import { DomainError } from "../errors.ts";
import { isUuid } from "../uuid.ts";
import { findSession, listActiveSessions, revokeSession, revokeUserSessions, type SessionRow } from "./queries.ts";
import { type ClientInfo, type Principal } from "./session-tokens.ts";

export async function logout(core: Core, principal: Principal, client: ClientInfo): Promise<{ revoked: number }> {
  return revokeAndRecord(core, principal, client, "logout", (tx, now) => revokeSession(tx, principal.session.id, "logout", now));
}

export async function logoutAll(core: Core, principal: Principal, client: ClientInfo): Promise<{ revoked: number }> {
  return revokeAndRecord(core, principal, client, "logout_all", (tx, now) =>
    revokeUserSessions(tx, principal.user.id, "logout_all", now),
  );
}

/** Revokes sessions of the caller and, when any were live, records `session.revoked`. */
async function revokeAndRecord(
  core: Core,
  principal: Principal,
  client: ClientInfo,
  reason: string,
  revoke: (tx: Db, now: Date) => Promise<number>,
  sessionId?: string,
): Promise<{ revoked: number }> {
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const revoked = await revoke(tx, now);
    if (revoked > 0) {
      const data = { reason, sessions_revoked: revoked, ...(sessionId ? { session_id: sessionId } : {}) };
      await recordEvent(core, tx, { type: "session.revoked", actor: userActor(principal.user.id, client.ip), user: principal.user, data });
    }
    return { revoked };
  });
}
export interface SessionView {
  id: string;
  created_at: string;
  last_used_at: string;
  user_agent: string | null;
  ip: string | null;
  current: boolean;
}

export async function listSessions(core: Core, principal: Principal): Promise<SessionView[]> {
  const rows = await listActiveSessions(core.db, principal.user.id, core.now());
  return rows.map((s) => ({
    id: s.id,
    created_at: s.createdAt.toISOString(),
    last_used_at: s.lastUsedAt.toISOString(),
    user_agent: s.userAgent,
    ip: s.ip,
    current: s.id === principal.session.id,
  }));
}

/** A live session of the user's by its id (a UUID); NOT_FOUND for someone else's, an ended one or none. */
export async function liveSessionOf(core: Core, userId: string, sessionId: string): Promise<SessionRow> {
  const session = await findSession(core.db, sessionId.toLowerCase());
  if (!session || session.userId !== userId || session.revokedAt || session.expiresAt <= core.now()) {
    throw new DomainError("NOT_FOUND", "Session not found");
  }
  return session;
}

/** Revokes one of the caller's own sessions; someone else's is simply not found. */
export async function revokeOwnSession(
  core: Core,
  principal: Principal,
  sessionId: string,
  client: ClientInfo,
): Promise<{ revoked: number }> {
  if (!isUuid(sessionId)) {
    throw new DomainError("VALIDATION_ERROR", "id: must be a UUID", [{ field: "id", message: "must be a UUID" }]);
  }
  const session = await liveSessionOf(core, principal.user.id, sessionId);
  return revokeAndRecord(core, principal, client, "revoked_by_user", (tx, now) => revokeSession(tx, session.id, "revoked_by_user", now), session.id);
}
