import type { HookUser } from "../../hooks/types.ts";
import type { users } from "../db/schema.ts";

/** A user row without its password hash: the only shape that leaves queries.ts. */
export type UserRecord = Omit<typeof users.$inferSelect, "passwordHash">;

export type UserStatus = UserRecord["status"];

/**
 * The user object of SPEC §4, as the API and `--json` print it. Defined in
 * the hook contract (hooks/types.ts), which hosts receive as a standalone
 * file, so the two can never drift apart.
 */
export type PublicUser = HookUser;

/** A block whose `blocked_until` has passed has ended, whether or not the sweep has recorded it yet. */
export function effectiveStatus(user: UserRecord, now: Date): UserStatus {
  if (user.status === "blocked" && user.blockedUntil !== null && user.blockedUntil <= now) return "active";
  return user.status;
}

export function isBlocked(user: UserRecord, now: Date): boolean {
  return effectiveStatus(user, now) === "blocked";
}

export function isActiveAdmin(user: UserRecord, now: Date): boolean {
  return user.roles.includes("admin") && effectiveStatus(user, now) === "active";
}

export function toPublicUser(user: UserRecord, now: Date): PublicUser {
  const status = effectiveStatus(user, now);
  const blockEnded = status !== user.status;
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    roles: user.roles,
    is_admin: user.roles.includes("admin"),
    is_active: status === "active",
    is_verified: user.isVerified,
    status,
    blocked_reason: blockEnded ? null : user.blockedReason,
    blocked_until: blockEnded ? null : isoOrNull(user.blockedUntil),
    metadata: user.metadata,
    app_metadata: user.appMetadata,
    balance: user.balance,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
    last_login_at: isoOrNull(user.lastLoginAt),
    deleted_at: isoOrNull(user.deletedAt),
  };
}

export function isoOrNull(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}
