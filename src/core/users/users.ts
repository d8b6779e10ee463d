/** User use cases shared by the HTTP API and the CLI. */
import { type Actor, userActor } from "../audit/actor.ts";
import { checkPasswordStrength } from "../passwords/hasher.ts";
import { throttle } from "../rate-limits/throttle.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { uniqueViolation } from "../db/pg-errors.ts";
import { recordChange } from "../events/record.ts";
import type { BeforeRegisterInput } from "../../hooks/types.ts";
import { DomainError, type FieldProblem } from "../errors.ts";
import {
  findUserByEmail,
  findUserById,
  findUserByUsername,
  insertUser,
  updateUser,
} from "./queries.ts";
import { countActivity } from "../stats/activity-counts.ts";
import { isUuid } from "../uuid.ts";
import type { UserRecord } from "./user-record.ts";
import { requestVerificationIn } from "./email-tokens.ts";
import {
  checkEmail,
  checkMetadata,
  checkPasswordLength,
  checkUsername,
  normalizeEmail,
  throwIfProblems,
} from "./validation.ts";

export interface NewUserInput {
  email: string;
  username: string;
  /** Null only for a sign-up through a provider (`options.provider`): such a user has no password. */
  password: string | null;
  metadata?: Record<string, unknown>;
}

export interface CreateUserOptions {
  actor: Actor;
  roles?: string[];
  isVerified?: boolean;
  /** The pages' locale at sign-up (one of the theme's), for usersvc's emails. */
  locale?: string | null;
  /**
   * A sign-up through a sign-in provider: `beforeRegister` sees it, and
   * `link` writes the identity in the user's own transaction.
   */
  provider?: { name: string; type: "oidc" | "github" | "google"; link(tx: Db, user: UserRecord): Promise<void> };
}

export async function createUser(core: Core, input: NewUserInput, options: CreateUserOptions): Promise<UserRecord> {
  if (options.actor.type === "user") await throttle(core, "register", options.actor.ip);
  const email = normalizeEmail(input.email);
  const username = input.username.trim();
  const problems: FieldProblem[] = [];
  checkEmail(email, problems);
  checkUsername(username, problems);
  const password = input.password ?? (options.provider ? null : "");
  if (password !== null) checkPasswordLength(password, problems);
  if (input.metadata !== undefined) checkMetadata(input.metadata, problems);
  throwIfProblems(problems);
  if (password !== null) await checkPasswordStrength(core, password);

  // Checked first for a clear answer; the unique indexes are the real guard against races.
  await assertEmailFree(core.db, email);
  await assertUsernameFree(core.db, username);
  const provider = options.provider ? { name: options.provider.name, type: options.provider.type } : undefined;
  const shaped = await shapeByHook(core, { email, username, metadata: input.metadata ?? {}, ip: options.actor.ip, ...(provider ? { provider } : {}) });

  const passwordHash = password === null ? null : await core.passwords.hash(password);
  const now = core.now();
  try {
    return await core.db.transaction(async (tx) => {
      const user = await insertUser(tx, {
        email,
        username,
        passwordHash,
        metadata: shaped.metadata,
        appMetadata: shaped.appMetadata ?? {},
        roles: options.roles ?? ["user"],
        isVerified: options.isVerified ?? false,
        locale: options.locale ?? null,
        createdAt: now,
        updatedAt: now,
      });
      // Self-registration: the actor is the user just created.
      const actor = options.actor.type === "user" ? userActor(user.id, options.actor.ip) : options.actor;
      await recordChange(core, tx, { type: "user.registered", actor, user, data: { roles: user.roles, ...(provider ? { provider: provider.name } : {}) } });
      await options.provider?.link(tx, user);
      await requestVerificationIn(core, tx, user, actor);
      // Last: the hour's counter row is one every sign-up takes, so it is held for the shortest time.
      await countActivity(tx, "sign_up", now);
      return user;
    });
  } catch (error) {
    throw conflictFromUniqueViolation(error) ?? error;
  }
}

/**
 * beforeRegister may veto the sign-up, replace its metadata and set its
 * app_metadata (each checked like a caller's); `appMetadata` is undefined
 * when the hook set none.
 */
export async function shapeByHook(
  core: Core,
  input: BeforeRegisterInput,
): Promise<{ metadata: Record<string, unknown>; appMetadata?: Record<string, unknown> }> {
  const shaped = await core.hooks.beforeRegister(input);
  const problems: FieldProblem[] = [];
  if (shaped.metadata !== undefined) checkMetadata(shaped.metadata, problems);
  if (shaped.app_metadata !== undefined) checkMetadata(shaped.app_metadata, problems, "app_metadata");
  if (problems.length > 0) {
    core.logger.error({ hook: "beforeRegister", problems }, "hook returned unusable metadata: refusing the sign-up");
    throw new DomainError("HOOK_FAILED");
  }
  return { metadata: shaped.metadata ?? input.metadata, ...(shaped.app_metadata ? { appMetadata: shaped.app_metadata } : {}) };
}

export interface ProfileChanges {
  username?: string;
  metadata?: Record<string, unknown>;
}

export async function updateProfile(core: Core, actor: Actor, userId: string, changes: ProfileChanges): Promise<UserRecord> {
  const problems: FieldProblem[] = [];
  const username = changes.username?.trim();
  if (username !== undefined) checkUsername(username, problems);
  if (changes.metadata !== undefined) checkMetadata(changes.metadata, problems);
  throwIfProblems(problems);

  const current = await getUserById(core, userId);
  if (username !== undefined && username.toLowerCase() !== current.username.toLowerCase()) {
    await assertUsernameFree(core.db, username);
  }
  const now = core.now();
  try {
    return await core.db.transaction(async (tx) => {
      const updated = await updateUser(tx, userId, { username, metadata: changes.metadata }, now);
      if (!updated) throw new DomainError("USER_NOT_FOUND");
      const fields = Object.keys(changes).filter((k) => changes[k as keyof ProfileChanges] !== undefined);
      await recordChange(core, tx, { type: "user.updated", actor, user: updated, data: { fields } });
      return updated;
    });
  } catch (error) {
    throw conflictFromUniqueViolation(error) ?? error;
  }
}

export async function getUserById(core: Core, userId: string): Promise<UserRecord> {
  const user = await findUserById(core.db, userId);
  if (!user) throw new DomainError("USER_NOT_FOUND");
  return user;
}

/** Finds a user by id, email or username, as operators name them on the command line. */
export async function findUserByReference(core: Core, reference: string): Promise<UserRecord | null> {
  const ref = reference.trim();
  if (isUuid(ref)) return findUserById(core.db, ref.toLowerCase());
  if (ref.includes("@")) return findUserByEmail(core.db, normalizeEmail(ref));
  return findUserByUsername(core.db, ref);
}

export async function grantRole(core: Core, actor: Actor, user: UserRecord, role: string): Promise<UserRecord> {
  if (user.roles.includes(role)) return user;
  const now = core.now();
  return core.db.transaction(async (tx) => {
    const roles = [...user.roles, role];
    const updated = await updateUser(tx, user.id, { roles }, now);
    if (!updated) throw new DomainError("USER_NOT_FOUND");
    const data = { fields: ["roles"], roles: { from: user.roles, to: roles } };
    await recordChange(core, tx, { type: "user.updated", actor, user: updated, data });
    return updated;
  });
}

/** Like findUserByReference, but a miss is an error naming the reference. */
export async function getUserByReference(core: Core, reference: string): Promise<UserRecord> {
  const user = await findUserByReference(core, reference);
  if (!user) throw new DomainError("USER_NOT_FOUND", `No user matches "${reference}"`);
  return user;
}

export async function assertEmailFree(db: Db, email: string): Promise<void> {
  if (await findUserByEmail(db, email)) throw new DomainError("EMAIL_TAKEN");
}

export async function assertUsernameFree(db: Db, username: string): Promise<void> {
  if (await findUserByUsername(db, username)) throw new DomainError("USERNAME_TAKEN");
}

export function conflictFromUniqueViolation(error: unknown): DomainError | null {
  const constraint = uniqueViolation(error);
  if (constraint === null) return null;
  return new DomainError(constraint.includes("username") ? "USERNAME_TAKEN" : "EMAIL_TAKEN");
}
