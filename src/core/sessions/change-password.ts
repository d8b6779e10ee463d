/** A change of password: other sessions end, this one gets a fresh pair. */
import { userActor } from "../audit/actor.ts";
import { checkCurrentPassword } from "./step-up.ts";
import { checkPasswordStrength } from "../passwords/hasher.ts";
import type { Core } from "../core.ts";
import { recordChange } from "../events/record.ts";
import { DomainError, type FieldProblem } from "../errors.ts";
import { updateUser } from "../users/queries.ts";
import { checkPasswordLength, throwIfProblems } from "../users/validation.ts";
import { renewSession, revokeUserSessions, type SessionRow } from "./queries.ts";
import { type ClientInfo, mintPair, type Principal, type TokenPair } from "./session-tokens.ts";

export interface PasswordChange {
  current_password: string;
  new_password: string;
}

/** Revokes the user's other sessions and answers with a fresh pair for this one. */
export async function changePassword(core: Core, principal: Principal, change: PasswordChange, client: ClientInfo): Promise<TokenPair> {
  const renewed = await changePasswordKeepingSession(core, principal, change, client);
  return mintPair(core, principal.user, renewed, renewed.refreshJti);
}

/** The change itself: the caller's session is renewed (a new generation: its older access tokens stop) and kept. */
export async function changePasswordKeepingSession(core: Core, principal: Principal, change: PasswordChange, client: ClientInfo): Promise<SessionRow> {
  const problems: FieldProblem[] = [];
  checkPasswordLength(change.new_password, problems, "new_password");
  throwIfProblems(problems);
  await checkCurrentPassword(core, principal.user, change.current_password, client.ip);
  await checkPasswordStrength(core, change.new_password);

  const now = core.now();
  const passwordHash = await core.passwords.hash(change.new_password);
  return core.db.transaction(async (tx) => {
    await updateUser(tx, principal.user.id, { passwordHash }, now);
    const revoked = await revokeUserSessions(tx, principal.user.id, "password_changed", now, { except: principal.session.id });
    const session = await renewSession(tx, principal.session.id, crypto.randomUUID(), now);
    // Throwing rolls the password change back: the caller's session died meanwhile.
    if (!session) throw new DomainError("SESSION_REVOKED");
    const actor = userActor(principal.user.id, client.ip);
    await recordChange(core, tx, { type: "user.password_changed", actor, user: principal.user, data: { sessions_revoked: revoked } });
    return session;
  });
}
