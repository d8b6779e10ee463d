/**
 * Self-service email change (POST /users/me/email): step-up first, then a
 * confirmation link to the new address (user.email_change_requested). The
 * change applies only when that link is followed (email-tokens.ts
 * verifyEmail), and the old address is then told (user.email_changed).
 */
import { userActor } from "../audit/actor.ts";
import type { Core } from "../core.ts";
import { DomainError, validationError } from "../errors.ts";
import { firstInCooldown } from "../rate-limits/attempts.ts";
import { throttle } from "../rate-limits/throttle.ts";
import { requirePrivileged } from "../sessions/step-up.ts";
import { issueToken } from "./email-tokens.ts";
import { findUserByEmail } from "./queries.ts";
import type { UserRecord } from "./user-record.ts";
import { assertValidEmail, normalizeEmail } from "./validation.ts";

export interface EmailChangeRequest {
  user: UserRecord;
  session: { createdAt: Date };
  newEmail: string;
  /** The current password; without it the session must have signed in recently. */
  password?: string;
  ip: string | null;
}

export async function requestEmailChange(core: Core, request: EmailChangeRequest): Promise<void> {
  const { user } = request;
  try {
    assertValidEmail(request.newEmail);
  } catch {
    throw validationError([{ field: "new_email", message: "must be a valid email address" }]);
  }
  const newEmail = normalizeEmail(request.newEmail);
  // Per IP, like sign-up: EMAIL_TAKEN says an address has an account, so asking is limited the same way.
  await throttle(core, "change_email", request.ip);
  await requirePrivileged(core, user, request.session, request.password, request.ip);
  if (newEmail === user.email) throw validationError([{ field: "new_email", message: "is already your address" }]);
  if (await findUserByEmail(core.db, newEmail)) throw new DomainError("EMAIL_TAKEN");
  // One confirmation per cooldown, like the other emails sent on request; the answer is the same.
  if (!(await firstInCooldown(core, "change_email", user.id))) return;
  await core.db.transaction((tx) => issueToken(core, tx, user, "change_email", userActor(user.id, request.ip), newEmail));
}
