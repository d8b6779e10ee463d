/**
 * The provider's callback and the linking rules (SPEC §10), in one place:
 *
 * 1. The identity (provider, subject) is linked already: sign that user in.
 * 2. Linking from /account: link to the signed-in user (the same browser
 *    session that started it), unless the identity belongs to someone else.
 * 3. The provider says the email is verified, and it is a local user's
 *    verified email: link, then sign in.
 * 4. A local user has the email otherwise (either side unverified): never
 *    link — whoever controls an unverified address at a provider must not get
 *    the account. The person signs in as before and links from /account.
 * 5. No local user has it, and the provider says it is verified: sign up
 *    through createUser (beforeRegister sees the provider), with no password.
 * 6. No verified email (GitHub without a verified primary, email_verified
 *    not true): refused. Linking from /account (2) needs the account's own
 *    email verified. Either way, nobody leaves an identity in an account
 *    whose address its owner later recovers by a password reset.
 *
 * A sign-in then passes the same checks as a password login (admitUser) and
 * asks for the second factor of a user who has one.
 */
import { randomBytes } from "node:crypto";
import { userActor } from "../audit/actor.ts";
import type { Core } from "../core.ts";
import { uniqueViolation } from "../db/pg-errors.ts";
import { DomainError } from "../errors.ts";
import { createMfaChallenge, type MfaChallenge } from "../mfa/challenge.ts";
import { isMfaEnabled } from "../mfa/factors.ts";
import { admitUser, loginFailed } from "../sessions/login.ts";
import type { ClientInfo, SessionStarter } from "../sessions/session-tokens.ts";
import { findUserByEmail, findUserById, findUserByUsername, updateUser } from "../users/queries.ts";
import type { UserRecord } from "../users/user-record.ts";
import { createUser } from "../users/users.ts";
import { normalizeEmail } from "../users/validation.ts";
import { findIdentity, identityOfUser, insertIdentity, touchIdentity } from "./identities.ts";
import { callbackUrl, getProvider, type ProviderRecord } from "./provider-admin.ts";
import { spendProviderLogin } from "./provider-logins.ts";
import { ProviderRefusal } from "./refusal.ts";
import { exchangeCode, type UpstreamIdentity } from "./upstream.ts";

/**
 * The `amr` of a session begun with a provider: usersvc's own value (RFC 8176
 * has none for federation); what the provider checked is not known here.
 */
export const PROVIDER_AMR = ["fed"];

export type ProviderOutcome<T> =
  | { kind: "session"; session: T; returnTo: string | null }
  | { kind: "mfa"; challenge: MfaChallenge; returnTo: string | null }
  | { kind: "linked"; provider: string; returnTo: string | null };

export interface ProviderCallback {
  providerName: string;
  /** The query the provider sent (code, state, iss… or error). */
  query: URLSearchParams;
  /** The browser's session, when it is signed in. */
  browser: { userId: string; sessionId: string } | null;
  client: ClientInfo;
  locale: string | null;
}

export async function completeProviderSignIn<T>(core: Core, input: ProviderCallback, start: SessionStarter<T>): Promise<ProviderOutcome<T>> {
  const state = input.query.get("state") ?? "";
  const login = await spendProviderLogin(core, input.providerName, state);
  const provider = await getProvider(core.db, login.providerId);
  const callback = new URL(callbackUrl(core, provider.id));
  callback.search = input.query.toString();
  const identity = await exchangeCode(core, provider, callback, { state, nonce: login.nonce, codeVerifier: login.codeVerifier });
  if (login.linkUserId !== null) {
    const sameSession = input.browser?.userId === login.linkUserId && input.browser.sessionId === login.linkSessionId;
    if (!sameSession) throw new ProviderRefusal("FORBIDDEN", "The account page that started this link is no longer signed in: sign in and link again", "link_session", provider.displayName);
    await linkToUser(core, provider, identity, login.linkUserId, input.client);
    return { kind: "linked", provider: provider.id, returnTo: login.returnTo };
  }
  try {
    const result = await signIn(core, provider, identity, input, start);
    core.metrics.loginOutcome(result.kind === "mfa" ? "mfa_required" : "success");
    return { ...result, returnTo: login.returnTo };
  } catch (error) {
    core.metrics.loginOutcome(error instanceof DomainError ? error.code : "INTERNAL_ERROR");
    throw error;
  }
}

type SignedIn<T> = { kind: "session"; session: T } | { kind: "mfa"; challenge: MfaChallenge };

async function signIn<T>(core: Core, provider: ProviderRecord, identity: UpstreamIdentity, input: ProviderCallback, start: SessionStarter<T>): Promise<SignedIn<T>> {
  const failure = { provider: provider.id };
  const linked = await findIdentity(core.db, provider.id, identity.subject);
  let user: UserRecord | null;
  if (linked) {
    user = await findUserById(core.db, linked.userId);
    if (!user || user.status === "deleted") {
      // Recorded like an unknown account; the page says the sign-in did not succeed (not "wrong password").
      await loginFailed(core, null, "unknown_account", failure, input.client, "INVALID_CREDENTIALS").catch((error: unknown) => {
        if (!(error instanceof DomainError)) throw error;
      });
      throw new ProviderRefusal("INVALID_CREDENTIALS", `The sign-in with ${provider.displayName} did not succeed`, "failed", provider.displayName);
    }
    await touchIdentity(core, linked, identity);
    await admitUser(core, user, input.client, failure);
  } else {
    user = await linkOrSignUp(core, provider, identity, input, failure);
  }
  if (await isMfaEnabled(core, user.id)) return { kind: "mfa", challenge: await createMfaChallenge(core, user, PROVIDER_AMR) };
  const now = core.now();
  const updated = (await updateUser(core.db, user.id, { lastLoginAt: now }, now)) ?? user;
  return { kind: "session", session: await start(core, updated, input.client, PROVIDER_AMR) };
}

/** The user signed in by a new identity, admitted (admitUser): an existing one it links to, or a new one. */
async function linkOrSignUp(
  core: Core,
  provider: ProviderRecord,
  identity: UpstreamIdentity,
  input: ProviderCallback,
  failure: Record<string, unknown>,
): Promise<UserRecord> {
  if (identity.email === null) {
    const message = `${provider.displayName} did not give a verified email address: sign in another way, then link ${provider.displayName} from your account page`;
    throw new ProviderRefusal("EMAIL_NOT_VERIFIED", message, "no_email", provider.displayName);
  }
  const email = normalizeEmail(identity.email);
  // Verified is the address as the provider verified it: a letter beyond ASCII that lower-cases to
  // another address (KELVIN SIGN to k) would name a mailbox the provider never checked.
  const verified = identity.emailVerified && asciiLowerCase(identity.email.trim()) === email;
  const local = await findUserByEmail(core.db, email);
  if (local) {
    if (!(verified && local.isVerified && local.status !== "deleted")) {
      // No more than /register says about a taken email.
      const message = `An account with this email exists: sign in to it, then link ${provider.displayName} from your account page`;
      throw new ProviderRefusal("EMAIL_TAKEN", message, "email_exists", provider.displayName);
    }
    // One account per provider per user: a second one with the same email is not linked beside the first.
    if (await identityOfUser(core.db, local.id, provider.id)) {
      const message = `An account with this email exists and has another ${provider.displayName} account linked: sign in with that one`;
      throw new ProviderRefusal("EMAIL_TAKEN", message, "email_exists", provider.displayName);
    }
    // Admitted before the link is written: a sign-in refused (blocked, a hook) links nothing.
    await admitUser(core, local, input.client, failure);
    try {
      await core.db.transaction((tx) => insertIdentity(core, tx, local, provider.id, identity, userActor(local.id, input.client.ip)));
    } catch (error) {
      throw raceLost(error) ?? error;
    }
    return local;
  }
  if (!verified) {
    // No sign-up with an address nobody has proven: its owner would later recover an account (by a
    // password reset) that whoever typed the address in at the provider still signs in to.
    const message = `${provider.displayName} did not give a verified email address: create an account another way, then link ${provider.displayName} from your account page`;
    throw new ProviderRefusal("EMAIL_NOT_VERIFIED", message, "no_email", provider.displayName);
  }
  const username = await freeUsername(core, identity, email);
  let created: UserRecord;
  try {
    created = await createUser(
      core,
      { email, username, password: null },
      {
        actor: { type: "user", id: null, ip: input.client.ip },
        isVerified: true,
        locale: input.locale,
        provider: {
          name: provider.id,
          type: provider.type,
          link: (tx, user) => insertIdentity(core, tx, user, provider.id, identity, userActor(user.id, input.client.ip)),
        },
      },
    );
  } catch (error) {
    throw raceLost(error) ?? error;
  }
  await admitUser(core, created, input.client, failure);
  return created;
}

/** Linking from /account: to this user, unless the identity is someone else's or the user has another at this provider. */
async function linkToUser(core: Core, provider: ProviderRecord, identity: UpstreamIdentity, userId: string, client: ClientInfo): Promise<void> {
  const user = await findUserById(core.db, userId);
  if (!user || user.status === "deleted") throw new ProviderRefusal("FORBIDDEN", "This account can no longer link providers", "link_session", provider.displayName);
  // Only into an account whose email is proven: a squatter of an unverified address must not leave a way in behind for after the owner's password reset.
  if (!user.isVerified) throw new ProviderRefusal("EMAIL_NOT_VERIFIED", "Confirm your email address first, then link the provider", "link_unverified", provider.displayName);
  const linked = await findIdentity(core.db, provider.id, identity.subject);
  if (linked && linked.userId !== userId) {
    throw new ProviderRefusal("FORBIDDEN", `This ${provider.displayName} account is already linked to another account`, "other_user", provider.displayName);
  }
  if (linked) return touchIdentity(core, linked, identity);
  if (await identityOfUser(core.db, userId, provider.id)) {
    throw new ProviderRefusal("FORBIDDEN", `Another ${provider.displayName} account is linked already: unlink it first`, "other_identity", provider.displayName);
  }
  try {
    await core.db.transaction((tx) => insertIdentity(core, tx, user, provider.id, identity, userActor(user.id, client.ip)));
  } catch (error) {
    throw raceLost(error) ?? error;
  }
}

function asciiLowerCase(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** A username from what the provider calls the person, else the email's local part, made unique. */
async function freeUsername(core: Core, identity: UpstreamIdentity, email: string): Promise<string> {
  const clean = (raw: string | null): string => (raw ?? "").replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 24);
  let base = clean(identity.username) || clean(email.split("@")[0]!);
  if (base.length < 3) base = `user${base}`;
  for (const candidate of [base, ...[2, 3, 4, 5].map((n) => `${base}${n}`)]) {
    if (!(await findUserByUsername(core.db, candidate))) return candidate;
  }
  return `${base}-${randomBytes(3).toString("hex")}`;
}

/** Two callbacks for the same identity at once: one links, the other is told to try again. */
function raceLost(error: unknown): DomainError | null {
  const constraint = uniqueViolation(error);
  if (constraint === null || !constraint.includes("user_identities")) return null;
  return new ProviderRefusal("INVALID_OR_EXPIRED_TOKEN", "This sign-in raced another one: start it again", "unknown_login", null);
}
