/**
 * Consent (SPEC §9): what a user let a client have, remembered per user and
 * client as a set of scopes; asked again only for a scope not in it. The
 * user's connected applications are the clients holding consent or a live
 * grant; revoking one ends both.
 */
import { and, eq, gt, isNull, isNotNull, sql } from "drizzle-orm";
import { type Actor, userActor } from "../audit/actor.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { oauthClients, oauthConsents, sessions } from "../db/schema.ts";
import { recordChange } from "../events/record.ts";
import { DomainError } from "../errors.ts";
import type { UserRecord } from "../users/user-record.ts";
import { revokeUserClientSessions } from "../sessions/queries.ts";
import type { ClientInfo } from "../sessions/session-tokens.ts";
import type { OAuthClient } from "./clients.ts";

export async function hasConsent(db: Db, userId: string, clientId: string, scopes: readonly string[]): Promise<boolean> {
  const [row] = await db
    .select({ scopes: oauthConsents.scopes })
    .from(oauthConsents)
    .where(and(eq(oauthConsents.userId, userId), eq(oauthConsents.clientId, clientId)))
    .limit(1);
  return row !== undefined && scopes.every((scope) => row.scopes.includes(scope));
}

/** Remembers the scopes (added to what was granted before) and records `oauth.consent_granted`. */
export async function grantConsent(core: Core, user: UserRecord, client: OAuthClient, scopes: readonly string[], from: ClientInfo): Promise<void> {
  const now = core.now();
  await core.db.transaction(async (tx) => {
    await tx
      .insert(oauthConsents)
      .values({ userId: user.id, clientId: client.id, scopes: [...scopes], createdAt: now, updatedAt: now })
      .onConflictDoUpdate({
        target: [oauthConsents.userId, oauthConsents.clientId],
        set: { scopes: sql`array(select distinct unnest(${oauthConsents.scopes} || excluded.scopes))`, updatedAt: now },
      });
    const data = { client_id: client.id, scopes: [...scopes] };
    await recordChange(core, tx, { type: "oauth.consent_granted", actor: userActor(user.id, from.ip), user, data });
  });
}

export interface ConnectedApplication {
  client_id: string;
  name: string;
  scopes: string[];
  consented_at: string | null;
  /** Live grants (refresh tokens) the client holds for the user. */
  active_grants: number;
}

export async function listConnectedApplications(core: Core, userId: string): Promise<ConnectedApplication[]> {
  const now = core.now();
  const [consents, grants] = await Promise.all([
    core.db
      .select({ clientId: oauthConsents.clientId, name: oauthClients.name, scopes: oauthConsents.scopes, at: oauthConsents.updatedAt })
      .from(oauthConsents)
      .innerJoin(oauthClients, eq(oauthClients.id, oauthConsents.clientId))
      .where(eq(oauthConsents.userId, userId)),
    core.db
      .select({ clientId: sessions.clientId, name: oauthClients.name, count: sql<number>`count(*)::int`, scope: sql<string>`max(${sessions.scope})` })
      .from(sessions)
      .innerJoin(oauthClients, eq(oauthClients.id, sessions.clientId))
      .where(and(eq(sessions.userId, userId), isNotNull(sessions.clientId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
      .groupBy(sessions.clientId, oauthClients.name),
  ]);
  const apps = new Map<string, ConnectedApplication>();
  for (const c of consents) {
    apps.set(c.clientId, { client_id: c.clientId, name: c.name, scopes: c.scopes, consented_at: c.at.toISOString(), active_grants: 0 });
  }
  for (const g of grants) {
    const id = g.clientId!;
    const app = apps.get(id) ?? { client_id: id, name: g.name, scopes: (g.scope ?? "").split(" ").filter(Boolean), consented_at: null, active_grants: 0 };
    app.active_grants = g.count;
    apps.set(id, app);
  }
  return [...apps.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Disconnects a client from a user: the consent is forgotten (it is asked
 * again next time) and every grant the client holds for the user is revoked
 * at once. `oauth.consent_revoked`, with the user or an admin as actor.
 */
export async function revokeConnectedApplication(
  core: Core,
  user: UserRecord,
  clientId: string,
  actor: Actor,
): Promise<{ revoked: number }> {
  const now = core.now();
  const revoked = await core.db.transaction(async (tx) => {
    const forgotten = await tx
      .delete(oauthConsents)
      .where(and(eq(oauthConsents.userId, user.id), eq(oauthConsents.clientId, clientId)))
      .returning({ clientId: oauthConsents.clientId });
    const ended = await revokeUserClientSessions(tx, user.id, clientId, "consent_revoked", now);
    if (forgotten.length === 0 && ended === 0) throw new DomainError("NOT_FOUND", "No such connected application");
    const data = { client_id: clientId, sessions_revoked: ended };
    await recordChange(core, tx, { type: "oauth.consent_revoked", actor, user, data });
    return ended;
  });
  return { revoked };
}

