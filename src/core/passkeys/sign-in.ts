/**
 * Signing in with a passkey and no username: options with an empty
 * allowCredentials (the browser offers the discoverable credentials it has
 * for this relying party), then the assertion verified, its signature
 * counter checked, and the same admission as a password sign-in. A passkey
 * with user verification is two factors: no TOTP is asked after it.
 */
import { generateAuthenticationOptions, type PublicKeyCredentialRequestOptionsJSON, verifyAuthenticationResponse } from "@simplewebauthn/server";
import { appendAudit } from "../audit/audit.ts";
import type { Core } from "../core.ts";
import { DomainError } from "../errors.ts";
import { reserveAttempt } from "../rate-limits/attempts.ts";
import { throttle } from "../rate-limits/throttle.ts";
import { admitUser, loginFailed } from "../sessions/login.ts";
import { type ClientInfo, passkeyAmr, type SessionStarter, startSession, type TokenPair } from "../sessions/session-tokens.ts";
import { findUserById, updateUser } from "../users/queries.ts";
import { challengeOf, CHALLENGE_TTL_MS, isCrossOrigin } from "./challenge.ts";
import { findPasskeyByCredentialId, insertChallenge, recordPasskeyUse, spendChallenge } from "./queries.ts";
import { relyingParty, userHandleBase64url } from "./relying-party.ts";

export async function authenticationOptions(core: Core, ip: string | null): Promise<{ options: PublicKeyCredentialRequestOptionsJSON }> {
  await throttle(core, "passkey", ip);
  const options = await generateAuthenticationOptions({ rpID: relyingParty(core).id, allowCredentials: [], userVerification: "required", timeout: CHALLENGE_TTL_MS });
  const now = core.now();
  await insertChallenge(core.db, { challenge: options.challenge, purpose: "authenticate", userId: null, expiresAt: new Date(now.getTime() + CHALLENGE_TTL_MS), createdAt: now });
  return { options };
}

/** Tokens (or what `start` makes: a browser session) for a verified assertion; INVALID_CREDENTIALS for any other. */
export async function passkeyLogin<T = TokenPair>(
  core: Core,
  response: unknown,
  client: ClientInfo,
  start: SessionStarter<T> = startSession as SessionStarter<T>,
): Promise<T> {
  try {
    const result = await attemptPasskeyLogin(core, response, client, start);
    core.metrics.loginOutcome("success");
    return result;
  } catch (error) {
    core.metrics.loginOutcome(error instanceof DomainError ? error.code : "INTERNAL_ERROR");
    throw error;
  }
}

const refused = "The passkey could not be verified";

async function attemptPasskeyLogin<T>(core: Core, response: unknown, client: ClientInfo, start: SessionStarter<T>): Promise<T> {
  const challenge = challengeOf(response);
  const credentialId = (response as { id?: unknown }).id;
  if (typeof credentialId !== "string" || !/^[A-Za-z0-9_-]{1,1400}$/.test(credentialId)) {
    throw new DomainError("VALIDATION_ERROR", "response.id must be the credential id (base64url)", [{ field: "response", message: "has no credential id" }]);
  }
  const passkey = await findPasskeyByCredentialId(core.db, credentialId);
  const attempt = await reserveAttempt(core, passkey ? { userId: passkey.userId } : { typed: `passkey:${credentialId}` }, client.ip);
  const failure = { method: "passkey", ...(passkey ? { passkey_id: passkey.id } : {}) };
  const fail = (user: Parameters<typeof loginFailed>[1], reason: string) => refuse(core, user, reason, failure, client);

  // Spent before anything is verified: an answer is worth one try, right or wrong.
  const spent = await spendChallenge(core.db, challenge, "authenticate");
  const found = passkey ? await findUserById(core.db, passkey.userId) : null;
  const user = found?.status === "deleted" ? null : found;
  if (!spent || spent.expiresAt <= core.now()) return fail(user, "passkey_challenge_unknown");
  if (!passkey) return fail(null, "unknown_passkey");
  if (!user) return fail(null, "unknown_account");

  // The user handle the authenticator keeps with the credential must be this user's; a discoverable
  // credential always returns one (WebAuthn §7.2 step 6), so none is no match either.
  const handle = (response as { response?: { userHandle?: unknown } }).response?.userHandle;
  if (handle !== userHandleBase64url(user.id)) return fail(user, "passkey_user_mismatch");
  if (isCrossOrigin(response)) return fail(user, "passkey_cross_origin");
  const rp = relyingParty(core);
  let info: Awaited<ReturnType<typeof verifyAuthenticationResponse>>["authenticationInfo"];
  try {
    const verified = await verifyAuthenticationResponse({
      response: response as Parameters<typeof verifyAuthenticationResponse>[0]["response"],
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      // The counter is checked below, once the signature is known to be the key's.
      credential: { id: passkey.credentialId, publicKey: Buffer.from(passkey.publicKey, "base64url"), counter: 0, transports: passkey.transports as never },
      requireUserVerification: true,
    });
    if (!verified.verified) return fail(user, "passkey_invalid");
    info = verified.authenticationInfo;
  } catch {
    return fail(user, "passkey_invalid");
  }
  const used = await recordPasskeyUse(core.db, passkey.id, info.newCounter, info.credentialBackedUp, core.now());
  if (!used) {
    // A valid signature with a counter that went back: two authenticators hold this key (a clone).
    const data = { reason: "passkey_counter_regressed", passkey_id: passkey.id, stored_counter: passkey.counter, counter: info.newCounter, ip: client.ip };
    await appendAudit(core.db, { event: "user.login_failed", actor: { type: "user", id: user.id, ip: client.ip }, targetId: user.id, data }, core.now());
    return fail(user, "passkey_counter_regressed");
  }
  // As for a password: the credential was right, whatever the admission says.
  await attempt.succeeded();
  await admitUser(core, user, client, failure);
  const now = core.now();
  const updated = (await updateUser(core.db, user.id, { lastLoginAt: now }, now)) ?? user;
  return start(core, updated, client, passkeyAmr(info.credentialBackedUp));
}

async function refuse(core: Core, user: Parameters<typeof loginFailed>[1], reason: string, failure: Record<string, unknown>, client: ClientInfo): Promise<never> {
  try {
    return await loginFailed(core, user, reason, failure, client, "INVALID_CREDENTIALS");
  } catch (error) {
    if (error instanceof DomainError && error.code === "INVALID_CREDENTIALS") throw new DomainError("INVALID_CREDENTIALS", refused);
    throw error;
  }
}
