/**
 * The ways a user can sign in: a password, passkeys, linked identities. A
 * change that would leave none (removing the last passkey of a user without
 * a password, unlinking the only identity) is refused (SPEC §10).
 */
import { count, eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { passkeys, userIdentities, users } from "../db/schema.ts";
import { DomainError } from "../errors.ts";

export interface SignInWays {
  password: boolean;
  passkeys: number;
  identities: number;
}

export async function signInWays(db: Db, userId: string): Promise<SignInWays> {
  const [[user], [keys], [identities]] = await Promise.all([
    db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, userId)).limit(1),
    db.select({ n: count() }).from(passkeys).where(eq(passkeys.userId, userId)),
    db.select({ n: count() }).from(userIdentities).where(eq(userIdentities.userId, userId)),
  ]);
  return { password: Boolean(user?.hash), passkeys: keys?.n ?? 0, identities: identities?.n ?? 0 };
}

/**
 * Throws LAST_SIGN_IN_METHOD when taking away `removing` (one passkey or one identity)
 * would leave the user no way in. Call inside the removal's transaction, after
 * locking the user's row (`select … for update`), so two removals at once
 * cannot each see the other's way still there.
 */
export async function assertAnotherWayIn(db: Db, userId: string, removing: "passkey" | "identity"): Promise<void> {
  const ways = await signInWays(db, userId);
  const left = (ways.password ? 1 : 0) + ways.passkeys + ways.identities - 1;
  if (left < 1) {
    throw new DomainError("LAST_SIGN_IN_METHOD", undefined, [{ field: removing, message: "the last way to sign in; add a password, a passkey or another provider first" }]);
  }
}
