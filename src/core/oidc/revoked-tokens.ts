/**
 * Access tokens of machine clients revoked before they expire (RFC 7009).
 * A user's token needs no list: revoking it ends its grant (a session).
 * Rows go once the token would have expired anyway (the sweep job).
 */
import { eq, lt } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { oauthRevokedTokens } from "../db/schema.ts";

export async function revokeToken(db: Db, jti: string, expiresAt: Date): Promise<void> {
  await db.insert(oauthRevokedTokens).values({ jti, expiresAt }).onConflictDoNothing();
}

export async function isRevokedToken(db: Db, jti: string): Promise<boolean> {
  const [row] = await db.select({ jti: oauthRevokedTokens.jti }).from(oauthRevokedTokens).where(eq(oauthRevokedTokens.jti, jti)).limit(1);
  return row !== undefined;
}

export async function sweepRevokedTokens(db: Db, now: Date): Promise<number> {
  const gone = await db.delete(oauthRevokedTokens).where(lt(oauthRevokedTokens.expiresAt, now)).returning({ jti: oauthRevokedTokens.jti });
  return gone.length;
}
