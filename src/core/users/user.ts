import type { users } from "../db/schema.ts";

/** A user row without its password hash: the only shape that leaves queries.ts. */
export type UserRecord = Omit<typeof users.$inferSelect, "passwordHash">;

export type UserStatus = UserRecord["status"];

/** The user object of SPEC §4, as the API and `--json` print it. */
export interface PublicUser {
  id: string;
  email: string;
  username: string;
  roles: string[];
  is_admin: boolean;
  is_active: boolean;
  is_verified: boolean;
  status: UserStatus;
  blocked_reason: string | null;
  blocked_until: string | null;
  metadata: Record<string, unknown>;
  balance: number;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
  deleted_at: string | null;
}

export function toPublicUser(user: UserRecord): PublicUser {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    roles: user.roles,
    is_admin: user.roles.includes("admin"),
    is_active: user.status === "active",
    is_verified: user.isVerified,
    status: user.status,
    blocked_reason: user.blockedReason,
    blocked_until: isoOrNull(user.blockedUntil),
    metadata: user.metadata,
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
