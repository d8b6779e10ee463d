/**
 * JWT minting and checking (SPEC §4 token rules). HS256 when
 * USERSVC_JWT_SECRET is set, otherwise EdDSA with keys from the database.
 * Only the signature and the standard claims are checked here; whether the
 * session behind a token is still alive is sessions.ts's business.
 */
import { errors, jwtVerify, SignJWT, type JWTPayload, type JWTHeaderParameters } from "jose";
import type { Config } from "../../config.ts";
import type { Db } from "../db/client.ts";
import { DomainError } from "../errors.ts";
import { createSigningKey, loadSigningKeys, type SigningKey } from "./signing-keys.ts";

export type TokenType = "access" | "refresh";

export interface TokenClaims {
  sub: string;
  sid: string;
  jti: string;
  type: TokenType;
  iat: number;
  exp: number;
  /** Access tokens only: the user's roles when it was minted. */
  roles?: string[];
  /** Access tokens only: the session generation it belongs to. */
  gen?: number;
}

export interface MintInput {
  sub: string;
  sid: string;
  jti: string;
  type: TokenType;
  ttlSeconds: number;
  extra?: Record<string, unknown>;
}

export interface TokenService {
  readonly alg: string;
  mint(input: MintInput): Promise<string>;
  verify(token: string, expected: TokenType): Promise<TokenClaims>;
  jwks(): { keys: Record<string, unknown>[] };
  /** Re-reads the keys from the database (after a rotation, possibly by another instance). */
  reload(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** An unknown kid reloads keys from the database at most this often (another instance may have rotated). */
const KEY_RELOAD_INTERVAL_MS = 5_000;

export async function createTokenService(config: Config, db: Db, now: () => Date): Promise<TokenService> {
  const retentionMs = Math.max(config.accessTtl, config.refreshTtl) * 1000;
  const keys = config.jwtSecret ? secretKeyRing(config.jwtSecret) : await databaseKeyRing(db, now, retentionMs);
  const verifyOptions = () => ({
    issuer: config.issuer,
    audience: config.audience,
    algorithms: [keys.alg],
    currentDate: now(),
    requiredClaims: ["sub", "sid", "jti", "type", "iat", "exp"],
  });

  return {
    alg: keys.alg,

    async mint(input: MintInput): Promise<string> {
      const { key, kid } = keys.signingKey();
      const iat = Math.floor(now().getTime() / 1000);
      const header: JWTHeaderParameters = { alg: keys.alg, typ: "JWT", ...(kid ? { kid } : {}) };
      return new SignJWT({ ...input.extra, sid: input.sid, type: input.type })
        .setProtectedHeader(header)
        .setSubject(input.sub)
        .setJti(input.jti)
        .setIssuer(config.issuer)
        .setAudience(config.audience)
        .setIssuedAt(iat)
        .setExpirationTime(iat + input.ttlSeconds)
        .sign(key);
    },

    async verify(token: string, expected: TokenType): Promise<TokenClaims> {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys.verificationKey, verifyOptions()));
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw new DomainError("TOKEN_EXPIRED");
        throw new DomainError("INVALID_TOKEN");
      }
      const claims = payload as unknown as TokenClaims;
      if (claims.type !== "access" && claims.type !== "refresh") throw new DomainError("INVALID_TOKEN");
      if (claims.type !== expected) throw new DomainError("INVALID_TOKEN_TYPE");
      if (!UUID.test(String(claims.sub)) || !UUID.test(String(claims.sid))) throw new DomainError("INVALID_TOKEN");
      return claims;
    },

    jwks: () => ({ keys: keys.publicJwks() }),
    reload: () => keys.reload(),
  };
}

interface KeyRing {
  alg: string;
  signingKey(): { key: CryptoKey | Uint8Array; kid: string | null };
  verificationKey(header: JWTHeaderParameters): Promise<CryptoKey | Uint8Array>;
  publicJwks(): Record<string, unknown>[];
  reload(): Promise<void>;
}

function secretKeyRing(secret: string): KeyRing {
  const key = new TextEncoder().encode(secret);
  return {
    alg: "HS256",
    signingKey: () => ({ key, kid: null }),
    verificationKey: async () => key,
    publicJwks: () => [],
    reload: async () => {},
  };
}

async function databaseKeyRing(db: Db, now: () => Date, retentionMs: number): Promise<KeyRing> {
  // Retired keys keep verifying (and stay published) until the last token they signed has expired.
  const load = () => loadSigningKeys(db, new Date(now().getTime() - retentionMs));
  let keys = await load();
  if (!keys.some((k) => k.retiredAt === null)) {
    await createSigningKey(db, now());
    keys = await load();
  }
  let lastReload = 0;
  const byKid = (kid: string): SigningKey | undefined => keys.find((k) => k.kid === kid);

  return {
    alg: "EdDSA",
    signingKey() {
      const active = keys.find((k) => k.retiredAt === null) ?? keys[0];
      if (!active) throw new Error("no signing key loaded");
      return { key: active.privateKey, kid: active.kid };
    },
    async verificationKey(header) {
      const kid = typeof header.kid === "string" ? header.kid : "";
      let key = byKid(kid);
      if (!key && Date.now() - lastReload > KEY_RELOAD_INTERVAL_MS) {
        lastReload = Date.now();
        keys = await load();
        key = byKid(kid);
      }
      if (!key) throw new DomainError("INVALID_TOKEN");
      return key.publicKey;
    },
    publicJwks: () => keys.map((k) => k.publicJwk as Record<string, unknown>),
    async reload() {
      keys = await load();
      lastReload = Date.now();
    },
  };
}
