/**
 * JWT minting and checking (SPEC §4 token rules). HS256 when
 * USERSVC_JWT_SECRET is set, otherwise EdDSA with keys from the database.
 * Only the signature and the standard claims are checked here; whether the
 * session behind a token is still alive is sessions/authenticate.ts's business.
 */
import { createHmac, type KeyObject, sign } from "node:crypto";
import { errors, jwtVerify, type JWTPayload, type JWTHeaderParameters } from "jose";
import type { Config } from "../../config.ts";
import type { Db } from "../db/client.ts";
import { DomainError } from "../errors.ts";
import { isUuid } from "../uuid.ts";
import { createSigningKey, keyRetentionSeconds, loadSigningKeys, SIGNING_ALGS, type SigningAlg, type SigningKey } from "./signing-keys.ts";

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
  /** The session generation it belongs to (refresh tokens minted before 0.1 have none: 0). */
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

/** A JWT of the OpenID Connect provider, checked by verifyJwt: the signature, `iss`, `exp` and the algorithm. */
export interface VerifiedJwt {
  payload: JWTPayload & Record<string, unknown>;
  header: JWTHeaderParameters;
}

export interface TokenService {
  readonly alg: string;
  /** Whether the OpenID Connect provider can sign (not in HS256 mode: id_tokens need a published key). */
  readonly asymmetric: boolean;
  mint(input: MintInput): Promise<string>;
  verify(token: string, expected: TokenType): Promise<TokenClaims>;
  /** A JWT with `header` (alg and kid are set here) and `payload` as given, signed with the active key of `alg`. */
  signJwt(alg: SigningAlg, header: Record<string, unknown>, payload: Record<string, unknown>): string;
  /**
   * Checks a JWT this service signed with one of `algorithms` for `issuer`; throws INVALID_TOKEN or
   * TOKEN_EXPIRED (`anyAge`: an expired one passes, as an id_token_hint may be).
   */
  verifyJwt(token: string, options: { algorithms: SigningAlg[]; issuer: string; anyAge?: boolean }): Promise<VerifiedJwt>;
  jwks(): { keys: Record<string, unknown>[] };
  /** Re-reads the keys from the database (after a rotation, possibly by another instance). */
  reload(): Promise<void>;
}

/** RFC 9068: the header type of a JWT access token. */
const ACCESS_TYP = "at+jwt";

/**
 * A refresh token's audience: never USERSVC_AUDIENCE, so a resource server
 * that checks signature, iss, aud and exp against the JWKS refuses it.
 */
export function refreshAudienceOf(audience: string): string {
  return `${audience}:refresh`;
}

/** Verified tokens remembered (the oldest are forgotten first). */
const VERIFIED_TOKENS_KEPT = 10_000;
/** An unknown kid reloads keys from the database at most this often (another instance may have rotated). */
const KEY_RELOAD_INTERVAL_MS = 5_000;

export async function createTokenService(config: Config, db: Db, now: () => Date): Promise<TokenService> {
  const retentionMs = keyRetentionSeconds(config) * 1000;
  const keys = config.jwtSecret ? secretKeyRing(config.jwtSecret) : await databaseKeyRing(db, now, retentionMs);
  const refreshAudience = refreshAudienceOf(config.audience);
  const verifyOptions = () => ({
    issuer: config.issuer,
    audience: [config.audience, refreshAudience],
    algorithms: [keys.alg],
    currentDate: now(),
    requiredClaims: ["sub", "sid", "jti", "type", "iat", "exp"],
  });

  // Tokens whose signature and claims checked out, so that a client's repeated requests
  // cost one signature check, not one each (EdDSA verification is ~70 µs of CPU).
  const verified = new Map<string, Readonly<TokenClaims>>();
  /** The same for the OpenID Connect provider's tokens (verifyJwt), with the checks they passed. */
  const verifiedJwts = new Map<string, { checks: string; jwt: VerifiedJwt }>();
  /** Moves when a key goes: a check that began before it is judged again, never remembered. */
  let keysGone = 0;
  async function verifySignedClaims(token: string): Promise<Readonly<TokenClaims>> {
    let payload: JWTPayload;
    let header: JWTHeaderParameters;
    try {
      ({ payload, protectedHeader: header } = await jwtVerify(token, keys.verificationKey, verifyOptions()));
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new DomainError("TOKEN_EXPIRED");
      throw new DomainError("INVALID_TOKEN");
    }
    const claims = payload as unknown as TokenClaims;
    // The header, the audience and the type claim must tell one story (SPEC §4).
    const access = claims.type === "access" && header.typ === ACCESS_TYP && payload.aud === config.audience;
    // Refresh tokens minted before they had an audience of their own carry the access audience:
    // still honoured by /auth/refresh (never by a protected route) until they expire.
    const refresh = claims.type === "refresh" && header.typ !== ACCESS_TYP && (payload.aud === refreshAudience || payload.aud === config.audience);
    if (!access && !refresh) throw new DomainError("INVALID_TOKEN");
    // An OpenID Connect client's token is never one of usersvc's own, whatever its audience.
    if ("client_id" in payload) throw new DomainError("INVALID_TOKEN");
    if (!isUuid(claims.sub) || !isUuid(claims.sid)) throw new DomainError("INVALID_TOKEN");
    return Object.freeze(claims);
  }

  return {
    alg: keys.alg,
    asymmetric: keys.alg !== "HS256",

    signJwt(alg, header, payload) {
      const { key, kid } = keys.signingKey(alg);
      return signCompact({ ...header, alg, ...(kid ? { kid } : {}) }, payload, key, alg);
    },

    async verifyJwt(token, { algorithms, issuer, anyAge }) {
      // As verify() does: a token whose signature checked out is not checked again, its expiry is.
      const checks = `${issuer} ${algorithms.join(",")}`;
      const known = anyAge ? undefined : verifiedJwts.get(token);
      if (known && known.checks === checks) {
        if (typeof known.jwt.payload.exp === "number" && known.jwt.payload.exp <= Math.floor(now().getTime() / 1000)) {
          throw new DomainError("TOKEN_EXPIRED");
        }
        return known.jwt;
      }
      const check = async (): Promise<VerifiedJwt> => {
        try {
          const { payload, protectedHeader } = await jwtVerify(token, keys.verificationKey, {
            issuer,
            algorithms,
            currentDate: anyAge ? new Date(0) : now(),
          });
          return Object.freeze({ payload: Object.freeze(payload) as VerifiedJwt["payload"], header: Object.freeze(protectedHeader) });
        } catch (error) {
          if (error instanceof errors.JWTExpired) throw new DomainError("TOKEN_EXPIRED");
          throw new DomainError("INVALID_TOKEN");
        }
      };
      const before = keysGone;
      const jwt = await check();
      // A key revoked while this token was checked may have been its key: checked again by the keys now loaded.
      if (before !== keysGone) return check();
      if (!anyAge) {
        if (verifiedJwts.size >= VERIFIED_TOKENS_KEPT) verifiedJwts.delete(verifiedJwts.keys().next().value!);
        verifiedJwts.set(token, { checks, jwt });
      }
      return jwt;
    },

    async mint(input: MintInput): Promise<string> {
      const { key, kid } = keys.signingKey();
      const iat = Math.floor(now().getTime() / 1000);
      const access = input.type === "access";
      const header = { alg: keys.alg, typ: access ? ACCESS_TYP : "JWT", ...(kid ? { kid } : {}) };
      // The reserved claims come last: a hook's extra claims cannot override them.
      const payload = {
        ...input.extra,
        sid: input.sid,
        type: input.type,
        sub: input.sub,
        jti: input.jti,
        iss: config.issuer,
        aud: access ? config.audience : refreshAudience,
        iat,
        exp: iat + input.ttlSeconds,
      };
      return signCompact(header, payload, key);
    },

    async verify(token: string, expected: TokenType): Promise<TokenClaims> {
      let claims = verified.get(token);
      if (claims) {
        // The signature was checked before; the clock has moved since (jose's rule: expired at exp).
        if (claims.exp <= Math.floor(now().getTime() / 1000)) throw new DomainError("TOKEN_EXPIRED");
      } else {
        const before = keysGone;
        claims = await verifySignedClaims(token);
        if (before !== keysGone) {
          // A key was revoked while this token was checked, perhaps with that key: check it again by the keys now loaded.
          claims = await verifySignedClaims(token);
        } else {
          if (verified.size >= VERIFIED_TOKENS_KEPT) verified.delete(verified.keys().next().value!);
          verified.set(token, claims);
        }
      }
      if (claims.type !== expected) throw new DomainError("INVALID_TOKEN_TYPE");
      return claims;
    },

    jwks: () => ({ keys: keys.publicJwks() }),
    async reload() {
      const before = keys.publicJwks().map((jwk) => jwk.kid);
      await keys.reload();
      const after = new Set(keys.publicJwks().map((jwk) => jwk.kid));
      // A key that has gone takes its tokens with it. Otherwise nothing is forgotten: judging every
      // token again at once would queue signature checks behind argon2 on the runtime's thread pool.
      if (before.some((kid) => !after.has(kid))) {
        keysGone += 1;
        verified.clear();
        verifiedJwts.clear();
      }
    },
  };
}

/**
 * A compact JWS (RFC 7515) of `header` and `payload`. Signed with
 * node:crypto rather than jose's WebCrypto: in Bun an Ed25519 signature costs
 * ~30 µs this way and ~200 µs through WebCrypto, twice per login and refresh.
 * Verification stays with jose.
 */
function signCompact(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject | Uint8Array, alg = "EdDSA"): string {
  const input = `${base64url(header)}.${base64url(payload)}`;
  const signature =
    key instanceof Uint8Array
      ? createHmac("sha256", key).update(input).digest()
      : sign(alg === "RS256" ? "sha256" : null, Buffer.from(input), key);
  return `${input}.${signature.toString("base64url")}`;
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

interface KeyRing {
  alg: string;
  /** The active key of `alg` (EdDSA by default; the HS256 ring has only its secret). */
  signingKey(alg?: SigningAlg): { key: KeyObject | Uint8Array; kid: string | null };
  verificationKey(header: JWTHeaderParameters): Promise<CryptoKey | Uint8Array>;
  publicJwks(): Record<string, unknown>[];
  reload(): Promise<void>;
}

function secretKeyRing(secret: string): KeyRing {
  const key = new TextEncoder().encode(secret);
  return {
    alg: "HS256",
    signingKey(alg) {
      if (alg && alg !== "EdDSA") throw new Error(`no ${alg} key in HS256 mode`);
      return { key, kid: null };
    },
    verificationKey: async () => key,
    publicJwks: () => [],
    reload: async () => {},
  };
}

async function databaseKeyRing(db: Db, now: () => Date, retentionMs: number): Promise<KeyRing> {
  // Retired keys keep verifying (and stay published) until the last token they signed has expired.
  const load = () => loadSigningKeys(db, new Date(now().getTime() - retentionMs));
  let keys = await load();
  const missing = SIGNING_ALGS.filter((alg) => !keys.some((k) => k.alg === alg && k.retiredAt === null));
  if (missing.length > 0) {
    await Promise.all(missing.map((alg) => createSigningKey(db, now(), alg)));
    keys = await load();
  }
  let lastReload = 0;
  const byKid = (kid: string): SigningKey | undefined => keys.find((k) => k.kid === kid);

  return {
    alg: "EdDSA",
    signingKey(alg = "EdDSA") {
      const ofAlg = keys.filter((k) => k.alg === alg);
      const active = ofAlg.find((k) => k.retiredAt === null) ?? ofAlg[0];
      if (!active) throw new Error(`no ${alg} signing key loaded`);
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
      // Not counted in lastReload: the watcher's reloads must not delay the look-up of a kid it has not seen yet.
      keys = await load();
    },
  };
}
