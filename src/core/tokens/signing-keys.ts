/**
 * Asymmetric signing keys, kept in the database so every instance sharing
 * it signs and verifies with the same set. The newest unretired key signs;
 * every listed key verifies and is published in the JWKS.
 */
import { createPrivateKey, type JsonWebKeyInput, type KeyObject } from "node:crypto";
import { desc, gt, isNull, or, sql } from "drizzle-orm";
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from "jose";
import type { Db } from "../db/client.ts";
import { signingKeys } from "../db/schema.ts";

export const ASYMMETRIC_ALG = "EdDSA";

export interface SigningKey {
  kid: string;
  alg: string;
  publicJwk: JWK;
  /** Signs with node:crypto (see signCompact in token-service.ts). */
  privateKey: KeyObject;
  /** Verifies with jose. */
  publicKey: CryptoKey;
  createdAt: Date;
  retiredAt: Date | null;
}

/** The active key and the keys retired after `retiredSince`, newest first. */
export async function loadSigningKeys(db: Db, retiredSince: Date): Promise<SigningKey[]> {
  const rows = await db
    .select()
    .from(signingKeys)
    .where(or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, retiredSince)))
    .orderBy(desc(signingKeys.createdAt));
  return Promise.all(
    rows.map(async (row) => ({
      kid: row.kid,
      alg: row.alg,
      publicJwk: row.publicJwk as JWK,
      privateKey: createPrivateKey({ key: row.privateJwk, format: "jwk" } as JsonWebKeyInput),
      publicKey: (await importJWK(row.publicJwk as JWK, row.alg)) as CryptoKey,
      createdAt: row.createdAt,
      retiredAt: row.retiredAt,
    })),
  );
}

export async function createSigningKey(db: Db, now: Date): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair(ASYMMETRIC_ALG, { crv: "Ed25519", extractable: true });
  const kid = crypto.randomUUID();
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ASYMMETRIC_ALG, use: "sig" };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ASYMMETRIC_ALG };
  await db.insert(signingKeys).values({ kid, alg: ASYMMETRIC_ALG, publicJwk, privateJwk, createdAt: now });
  return kid;
}

/**
 * A new signing key. Every other active key is retired: it keeps verifying
 * until its tokens have expired. With `revokePrevious` (a leaked key) every
 * other key is deleted instead: it leaves the JWKS and every token it signed
 * stops working. Returns the new key id.
 */
export async function rotateSigningKeys(db: Db, now: Date, options: { revokePrevious?: boolean } = {}): Promise<string> {
  return db.transaction(async (tx) => {
    if (options.revokePrevious) await tx.delete(signingKeys);
    else await tx.update(signingKeys).set({ retiredAt: now }).where(isNull(signingKeys.retiredAt));
    return createSigningKey(tx, now);
  });
}

/**
 * What changes whenever a key is created, retired or deleted: the watcher
 * compares it every few seconds (one tiny aggregate query) and reloads the
 * keys when it moved.
 */
export async function signingKeysVersion(db: Db): Promise<string> {
  const [row] = await db
    .select({
      count: sql<number>`count(*)::int`,
      newest: sql<string | null>`max(${signingKeys.createdAt})::text`,
      retired: sql<string | null>`max(${signingKeys.retiredAt})::text`,
      kids: sql<string | null>`md5(string_agg(${signingKeys.kid}, ',' order by ${signingKeys.kid}))`,
    })
    .from(signingKeys);
  return `${row?.count}|${row?.newest}|${row?.retired}|${row?.kids}`;
}

/** How long a retired key keeps verifying: the longest a token it signed can live. */
export function keyRetentionSeconds(config: { accessTtl: number; refreshTtl: number }): number {
  return Math.max(config.accessTtl, config.refreshTtl);
}
