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

/** usersvc's own tokens and OpenID Connect access tokens. */
export const ASYMMETRIC_ALG = "EdDSA";
/**
 * Every algorithm with a key of its own: EdDSA signs usersvc's tokens, RS256
 * signs id_tokens (OpenID Connect requires it of every provider). Each has
 * one active key; rotation replaces both.
 */
export const SIGNING_ALGS = ["EdDSA", "RS256"] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

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

export async function createSigningKey(db: Db, now: Date, alg: SigningAlg = ASYMMETRIC_ALG): Promise<string> {
  const options = alg === "RS256" ? { modulusLength: 2048, extractable: true } : { crv: "Ed25519", extractable: true };
  const { publicKey, privateKey } = await generateKeyPair(alg, options);
  const kid = crypto.randomUUID();
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };
  await db.insert(signingKeys).values({ kid, alg, publicJwk, privateJwk, createdAt: now });
  return kid;
}

/**
 * New signing keys, one per algorithm. Every other active key is retired: it
 * keeps verifying until its tokens have expired. With `revokePrevious` (a
 * leaked key) every other key is deleted instead: it leaves the JWKS and
 * every token it signed stops working. Returns the new EdDSA key's id.
 */
export async function rotateSigningKeys(db: Db, now: Date, options: { revokePrevious?: boolean } = {}): Promise<string> {
  return db.transaction(async (tx) => {
    if (options.revokePrevious) await tx.delete(signingKeys);
    else await tx.update(signingKeys).set({ retiredAt: now }).where(isNull(signingKeys.retiredAt));
    const [kid] = await Promise.all(SIGNING_ALGS.map((alg) => createSigningKey(tx, now, alg)));
    return kid!;
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

/** A signing key as an admin may see it: no key material, public or private. */
export interface SigningKeyView {
  kid: string;
  alg: string;
  createdAt: Date;
  retiredAt: Date | null;
}

/** Every stored key, newest first, without its key material (for the admin console). */
export async function listSigningKeys(db: Db): Promise<SigningKeyView[]> {
  return db
    .select({ kid: signingKeys.kid, alg: signingKeys.alg, createdAt: signingKeys.createdAt, retiredAt: signingKeys.retiredAt })
    .from(signingKeys)
    .orderBy(desc(signingKeys.createdAt));
}
