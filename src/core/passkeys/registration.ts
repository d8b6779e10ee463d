/**
 * Adding a passkey: options for the browser's navigator.credentials.create
 * (a challenge kept five minutes, for this user only), then the
 * authenticator's answer verified and stored. Step-up and a verified email
 * first, as for a second factor: whoever registered someone else's address
 * must not keep a way in after its owner resets the password.
 */
import { generateRegistrationOptions, type PublicKeyCredentialCreationOptionsJSON, verifyRegistrationResponse } from "@simplewebauthn/server";
import type { Actor } from "../audit/actor.ts";
import type { Core } from "../core.ts";
import { DomainError, validationError } from "../errors.ts";
import { recordChange } from "../events/record.ts";
import { requirePrivileged } from "../sessions/step-up.ts";
import type { UserRecord } from "../users/user-record.ts";
import { challengeOf, CHALLENGE_TTL_MS, isCrossOrigin } from "./challenge.ts";
import { passkeyName, type PublicPasskey, toPublicPasskey } from "./passkey.ts";
import { countPasskeys, insertChallenge, insertPasskey, passkeysOf, spendChallenge } from "./queries.ts";
import { relyingParty, userHandle } from "./relying-party.ts";

const TRANSPORTS = new Set<string>(["ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"]);

export interface PasskeyEnrolment {
  user: UserRecord;
  session: { createdAt: Date };
  /** The current password; without it the session must have signed in recently. */
  password?: string;
  ip: string | null;
}

/** Enough for every device a person has; a bound on what one account can store. */
export const MAX_PASSKEYS = 20;
const tooMany = () => validationError([{ field: "passkeys", message: `at most ${MAX_PASSKEYS} passkeys per account: remove one first` }]);

export async function registrationOptions(core: Core, enrolment: PasskeyEnrolment): Promise<{ options: PublicKeyCredentialCreationOptionsJSON }> {
  const { user } = enrolment;
  if (!user.isVerified) throw new DomainError("EMAIL_NOT_VERIFIED", "Verify your email address before adding a passkey");
  await requirePrivileged(core, user, enrolment.session, enrolment.password, enrolment.ip);
  const rp = relyingParty(core);
  const existing = await passkeysOf(core.db, user.id);
  if (existing.length >= MAX_PASSKEYS) throw tooMany();
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userID: userHandle(user.id),
    userName: user.email,
    userDisplayName: user.username,
    timeout: CHALLENGE_TTL_MS,
    attestationType: "none",
    excludeCredentials: existing.map((key) => ({ id: key.credentialId, transports: key.transports })),
    authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
  });
  const now = core.now();
  await insertChallenge(core.db, { challenge: options.challenge, purpose: "register", userId: user.id, expiresAt: new Date(now.getTime() + CHALLENGE_TTL_MS), createdAt: now });
  return { options };
}

/**
 * Verifies the authenticator's answer to a challenge issued to this very
 * user and stores the passkey. `name`: the user's, else "Passkey N".
 */
export async function addPasskey(core: Core, actor: Actor, user: UserRecord, response: unknown, name?: unknown): Promise<PublicPasskey> {
  const chosenName = name === undefined || (typeof name === "string" && name.trim() === "") ? null : passkeyName(name);
  const challenge = challengeOf(response);
  const spent = await spendChallenge(core.db, challenge, "register");
  // Another user's challenge is spent too: it was shown to someone who is not its user.
  if (!spent || spent.userId !== user.id || spent.expiresAt <= core.now()) {
    throw validationError([{ field: "response", message: "answers no registration of yours under way (expired or used): ask for new options" }]);
  }
  if (isCrossOrigin(response)) throw validationError([{ field: "response", message: "was made in a frame of another site" }]);
  const rp = relyingParty(core);
  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verified = await verifyRegistrationResponse({
      response: response as Parameters<typeof verifyRegistrationResponse>[0]["response"],
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
    });
  } catch (error) {
    throw validationError([{ field: "response", message: `could not be verified: ${(error as Error).message}` }]);
  }
  if (!verified.verified) throw validationError([{ field: "response", message: "could not be verified" }]);
  const info = verified.registrationInfo;
  return core.db.transaction(async (tx) => {
    const count = await countPasskeys(tx, user.id);
    if (count >= MAX_PASSKEYS) throw tooMany();
    const label = chosenName ?? `Passkey ${count + 1}`;
    const created = await insertPasskey(tx, {
      userId: user.id,
      credentialId: info.credential.id,
      publicKey: Buffer.from(info.credential.publicKey).toString("base64url"),
      counter: info.credential.counter,
      // The browser's word, stored and shown back: only the names WebAuthn defines.
      transports: [...new Set((info.credential.transports ?? []).filter((t) => TRANSPORTS.has(t)))],
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      aaguid: info.aaguid,
      name: label,
      createdAt: core.now(),
    });
    if (!created) throw validationError([{ field: "response", message: "this passkey is registered already" }]);
    await recordChange(core, tx, { type: "user.passkey_added", actor, user, data: { passkey_id: created.id } });
    return toPublicPasskey(created);
  });
}
