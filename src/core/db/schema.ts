/**
 * The one drizzle schema, shared by PostgreSQL (postgres.js) and the
 * embedded PGlite. Migrations in migrations/ are generated from this file
 * by `npm run db:generate`; never edit a migration that has shipped.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    email: text("email").notNull(),
    username: text("username").notNull(),
    passwordHash: text("password_hash").notNull(),
    roles: text("roles").array().notNull().default(sql`ARRAY['user']::text[]`),
    status: text("status", { enum: ["active", "blocked", "deleted"] }).notNull().default("active"),
    isVerified: boolean("is_verified").notNull().default(false),
    blockedReason: text("blocked_reason"),
    blockedUntil: timestamptz("blocked_until"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
    balance: bigint("balance", { mode: "number" }).notNull().default(0),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
    lastLoginAt: timestamptz("last_login_at"),
    deletedAt: timestamptz("deleted_at"),
  },
  (t) => [
    // Emails are stored lower-cased; usernames keep their case but are unique without it.
    uniqueIndex("users_email_key").on(t.email),
    uniqueIndex("users_username_lower_key").on(sql`lower(${t.username})`),
    index("users_created_at_idx").on(t.createdAt),
    check("users_status_check", sql`${t.status} in ('active', 'blocked', 'deleted')`),
    check("users_balance_check", sql`${t.balance} >= 0`),
  ],
);

/**
 * A session is one login. Its refresh tokens rotate: `refreshJti` is the only
 * one that may be spent next, `previousJti` the one spent last (for the
 * USERSVC_REFRESH_GRACE window). `generation` is copied into access tokens so
 * that a password change can retire the session's older access tokens.
 */
export const sessions = pgTable(
  "sessions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    refreshJti: text("refresh_jti").notNull(),
    previousJti: text("previous_jti"),
    rotatedAt: timestamptz("rotated_at"),
    generation: integer("generation").notNull().default(0),
    userAgent: text("user_agent"),
    ip: text("ip"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    lastUsedAt: timestamptz("last_used_at").notNull().defaultNow(),
    expiresAt: timestamptz("expires_at").notNull(),
    revokedAt: timestamptz("revoked_at"),
    revokedReason: text("revoked_reason"),
  },
  (t) => [index("sessions_user_id_idx").on(t.userId)],
);

/** Asymmetric signing keys; the newest unretired one signs, all listed ones verify. */
export const signingKeys = pgTable("signing_keys", {
  kid: text("kid").primaryKey(),
  alg: text("alg").notNull(),
  publicJwk: jsonb("public_jwk").$type<Record<string, unknown>>().notNull(),
  privateJwk: jsonb("private_jwk").$type<Record<string, unknown>>().notNull(),
  createdAt: timestamptz("created_at").notNull().defaultNow(),
  retiredAt: timestamptz("retired_at"),
});
