import type { Actor } from "../audit/actor.ts";
import { recordChange } from "../events/record.ts";
import type { Core } from "../core.ts";
import { DomainError, type FieldProblem } from "../errors.ts";
import { assertNotLastAdmin } from "./last-admin.ts";
import { findUserById, lockUserRow, updateUser } from "./queries.ts";
import { spendOutstandingTokens } from "./email-tokens.ts";
import type { UserRecord } from "./user-record.ts";
import { assertEmailFree, assertUsernameFree, conflictFromUniqueViolation } from "./users.ts";
import { checkEmail, checkMetadata, checkUsername, normalizeEmail, throwIfProblems } from "./validation.ts";

export interface AdminChanges {
  email?: string;
  username?: string;
  roles?: string[];
  is_verified?: boolean;
  metadata?: Record<string, unknown>;
  /** Server-only metadata: admins, operators and hooks write it, users never. */
  app_metadata?: Record<string, unknown>;
}

const ROLE = /^[a-z][a-z0-9_.-]{0,31}$/;
const MAX_ROLES = 32;

/** PATCH /admin/users/{id}: the uniqueness rules of registration, and LAST_ADMIN on demotion. */
export async function adminUpdateUser(core: Core, actor: Actor, userId: string, changes: AdminChanges): Promise<UserRecord> {
  const problems: FieldProblem[] = [];
  const email = changes.email === undefined ? undefined : normalizeEmail(changes.email);
  const username = changes.username?.trim();
  if (email !== undefined) checkEmail(email, problems);
  if (username !== undefined) checkUsername(username, problems);
  if (changes.metadata !== undefined) checkMetadata(changes.metadata, problems);
  if (changes.app_metadata !== undefined) checkMetadata(changes.app_metadata, problems, "app_metadata");
  const roles = changes.roles === undefined ? undefined : [...new Set(changes.roles)];
  if (roles !== undefined && (roles.length > MAX_ROLES || !roles.every((r) => ROLE.test(r)))) {
    problems.push({ field: "roles", message: `must be at most ${MAX_ROLES} names of lower-case letters, digits, '_', '.' or '-'` });
  }
  throwIfProblems(problems);

  const now = core.now();
  try {
    return await core.db.transaction(async (tx) => {
      // The row first, then (on a demotion) the admins' lock: the order block, delete and purge take
      // them in, so a demotion racing one of those on the same admin waits instead of deadlocking.
      await lockUserRow(tx, userId);
      const user = await findUserById(tx, userId);
      if (!user) throw new DomainError("USER_NOT_FOUND");
      if (email !== undefined && email !== user.email) await assertEmailFree(tx, email);
      if (username !== undefined && username.toLowerCase() !== user.username.toLowerCase()) {
        await assertUsernameFree(tx, username);
      }
      if (roles !== undefined && user.roles.includes("admin") && !roles.includes("admin")) {
        await assertNotLastAdmin(tx, user, now);
      }
      const emailChanged = email !== undefined && email !== user.email;
      // A new address is unproven (unless the admin says otherwise in the same change), and tokens
      // emailed to the old one must not verify or reset the account any more.
      const isVerified = changes.is_verified ?? (emailChanged ? false : undefined);
      if (emailChanged) await spendOutstandingTokens(tx, userId, now);
      const updated = await updateUser(
        tx,
        userId,
        { email, username, roles, isVerified, metadata: changes.metadata, appMetadata: changes.app_metadata },
        now,
      );
      if (!updated) throw new DomainError("USER_NOT_FOUND");
      const fields = Object.keys(changes).filter((k) => changes[k as keyof AdminChanges] !== undefined);
      const data: Record<string, unknown> = { fields };
      if (roles !== undefined) data.roles = { from: user.roles, to: updated.roles };
      await recordChange(core, tx, { type: "user.updated", actor, user: updated, data });
      return updated;
    });
  } catch (error) {
    throw conflictFromUniqueViolation(error) ?? error;
  }
}
