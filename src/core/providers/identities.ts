/**
 * A user's linked identities (user_identities): listed, linked and unlinked
 * (SPEC §10). Unlinking never takes the last way in (assertAnotherWayIn,
 * under the user's row lock), whoever asks — the user or an admin.
 */
import { and, asc, eq } from "drizzle-orm";
import type { Actor } from "../audit/actor.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { identityProviders, userIdentities, users } from "../db/schema.ts";
import { DomainError } from "../errors.ts";
import { recordChange } from "../events/record.ts";
import { assertAnotherWayIn } from "../users/sign-in-ways.ts";
import { findUserById } from "../users/queries.ts";
import type { UserRecord } from "../users/user-record.ts";
import { getUserById } from "../users/users.ts";
import type { UpstreamIdentity } from "./upstream.ts";

export type IdentityRow = typeof userIdentities.$inferSelect;

/** An identity as the API and /account show it. */
export interface IdentityView {
  provider: string;
  provider_type: "oidc" | "github" | "google";
  display_name: string;
  /** The email the provider gave at the last sign-in, and whether it said it was verified. */
  email: string | null;
  email_verified: boolean;
  linked_at: string;
  last_used_at: string | null;
}

export interface UnlinkedIdentity {
  provider: string;
  unlinked: true;
}

export async function listIdentities(core: Core, userId: string): Promise<IdentityView[]> {
  const rows = await core.db
    .select({ identity: userIdentities, type: identityProviders.type, displayName: identityProviders.displayName })
    .from(userIdentities)
    .innerJoin(identityProviders, eq(identityProviders.id, userIdentities.providerId))
    .where(eq(userIdentities.userId, userId))
    .orderBy(asc(userIdentities.createdAt));
  return rows.map(({ identity, type, displayName }) => ({
    provider: identity.providerId,
    provider_type: type,
    display_name: displayName,
    email: identity.email,
    email_verified: identity.emailVerified,
    linked_at: identity.createdAt.toISOString(),
    last_used_at: identity.lastUsedAt?.toISOString() ?? null,
  }));
}

export async function findIdentity(db: Db, providerId: string, subject: string): Promise<IdentityRow | null> {
  const [row] = await db
    .select()
    .from(userIdentities)
    .where(and(eq(userIdentities.providerId, providerId), eq(userIdentities.subject, subject)))
    .limit(1);
  return row ?? null;
}

/** The user's identity at `providerId`, if any (one per provider and user). */
export async function identityOfUser(db: Db, userId: string, providerId: string): Promise<IdentityRow | null> {
  const [row] = await db
    .select()
    .from(userIdentities)
    .where(and(eq(userIdentities.userId, userId), eq(userIdentities.providerId, providerId)))
    .limit(1);
  return row ?? null;
}

/** Writes the link and its `user.identity_linked` event and audit entry, in `tx`. */
export async function insertIdentity(core: Core, tx: Db, user: UserRecord, providerId: string, identity: UpstreamIdentity, actor: Actor): Promise<void> {
  const now = core.now();
  await tx.insert(userIdentities).values({
    providerId,
    subject: identity.subject,
    userId: user.id,
    email: identity.email,
    emailVerified: identity.emailVerified,
    createdAt: now,
    lastUsedAt: now,
  });
  await recordChange(core, tx, { type: "user.identity_linked", actor, user, data: { provider: providerId, subject: identity.subject } });
}

/** What the provider said this time: kept with the identity (shown on /account, never trusted for linking). */
export async function touchIdentity(core: Core, row: IdentityRow, identity: UpstreamIdentity): Promise<void> {
  await core.db
    .update(userIdentities)
    .set({ email: identity.email, emailVerified: identity.emailVerified, lastUsedAt: core.now() })
    .where(and(eq(userIdentities.providerId, row.providerId), eq(userIdentities.subject, row.subject)));
}

/**
 * Removes the user's identity at `providerName`. NOT_FOUND when there is
 * none; LAST_SIGN_IN_METHOD when it is the only way in left.
 */
export async function unlinkIdentity(core: Core, actor: Actor, userId: string, providerName: string): Promise<UnlinkedIdentity> {
  return core.db.transaction(async (tx) => {
    const [locked] = await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).for("update");
    const row = locked ? await identityOfUser(tx, userId, providerName) : null;
    if (!row) throw new DomainError("NOT_FOUND", "No linked identity at this provider");
    await assertAnotherWayIn(tx, userId, "identity");
    await tx.delete(userIdentities).where(and(eq(userIdentities.providerId, row.providerId), eq(userIdentities.subject, row.subject)));
    const user = (await findUserById(tx, userId))!;
    await recordChange(core, tx, { type: "user.identity_unlinked", actor, user, data: { provider: row.providerId, subject: row.subject } });
    return { provider: row.providerId, unlinked: true as const };
  });
}

/** An admin's view of a user's identities: USER_NOT_FOUND for no such user. */
export async function identitiesOfUser(core: Core, userId: string): Promise<IdentityView[]> {
  const user = await getUserById(core, userId);
  return listIdentities(core, user.id);
}

/** An admin unlinks under the same rule as the user: never the last way in. */
export async function unlinkUserIdentity(core: Core, actor: Actor, userId: string, providerName: string): Promise<UnlinkedIdentity> {
  const user = await getUserById(core, userId);
  return unlinkIdentity(core, actor, user.id, providerName);
}
