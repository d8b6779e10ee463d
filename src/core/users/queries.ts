/**
 * drizzle queries on users; no business rules here. Every write to users goes
 * through this file and announces itself (db/change-announcements.ts), so the auth cache
 * never serves a user as it was before a committed change.
 */
import { and, eq, getTableColumns, type SQL, sql } from "drizzle-orm";
import { changed } from "../db/change-announcements.ts";
import type { Db } from "../db/client.ts";
import { users } from "../db/schema.ts";
import type { UserRecord } from "./user-record.ts";

const { passwordHash: _omitted, ...userColumns } = getTableColumns(users);
export { userColumns };

export type NewUserRow = typeof users.$inferInsert;

/** Holds the user's row until the transaction ends: changes that must not interleave (removing a way in, a demotion racing a block) take turns per user. */
export async function lockUserRow(tx: Db, userId: string): Promise<boolean> {
  const rows = await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).for("update");
  return rows.length > 0;
}

export async function findUserById(db: Db, id: string): Promise<UserRecord | null> {
  const [row] = await db.select(userColumns).from(users).where(eq(users.id, id)).limit(1);
  return row ?? null;
}

export async function findUserByEmail(db: Db, email: string): Promise<UserRecord | null> {
  const [row] = await db.select(userColumns).from(users).where(eq(users.email, email)).limit(1);
  return row ?? null;
}

export async function findUserByUsername(db: Db, username: string): Promise<UserRecord | null> {
  const [row] = await db
    .select(userColumns)
    .from(users)
    .where(sql`lower(${users.username}) = lower(${username})`)
    .limit(1);
  return row ?? null;
}

/** The login lookup: the only query that reads the hash. */
export async function findCredentialsBy(
  db: Db,
  key: { email: string } | { username: string },
): Promise<{ user: UserRecord; passwordHash: string | null } | null> {
  const where =
    "email" in key ? eq(users.email, key.email) : sql`lower(${users.username}) = lower(${key.username})`;
  const [row] = await db
    .select({ ...userColumns, passwordHash: users.passwordHash })
    .from(users)
    .where(where)
    .limit(1);
  if (!row) return null;
  const { passwordHash, ...user } = row;
  return { user, passwordHash };
}

export async function findPasswordHash(db: Db, userId: string): Promise<string | null> {
  const [row] = await db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, userId)).limit(1);
  return row?.hash ?? null;
}

export async function insertUser(db: Db, row: NewUserRow): Promise<UserRecord> {
  const [created] = await db.insert(users).values(row).returning(userColumns);
  if (!created) throw new Error("insert into users returned no row");
  return created;
}

/** Updates the user (only while `condition` holds, when given); null when no row was changed. */
export async function updateUser(
  db: Db,
  id: string,
  changes: Partial<Omit<NewUserRow, "id" | "createdAt">>,
  now: Date,
  condition?: SQL,
): Promise<UserRecord | null> {
  const [row] = await db
    .update(users)
    .set({ ...changes, updatedAt: now })
    .where(and(eq(users.id, id), condition))
    .returning(userColumns);
  changed(db, { userId: id });
  return row ?? null;
}

/** Adds `amount` to a live user's balance unless it would go below zero; null when refused or not found. */
export async function addToBalance(db: Db, id: string, amount: number, now: Date): Promise<UserRecord | null> {
  const [row] = await db
    .update(users)
    .set({ balance: sql`${users.balance} + ${amount}`, updatedAt: now })
    .where(and(eq(users.id, id), sql`${users.status} <> 'deleted'`, sql`${users.balance} + ${amount} >= 0`))
    .returning(userColumns);
  changed(db, { userId: id });
  return row ?? null;
}

/** Deletes the user (only while `condition` holds, when given); returns it as it was, or null. */
export async function deleteUser(db: Db, id: string, condition?: SQL): Promise<UserRecord | null> {
  const [row] = await db.delete(users).where(and(eq(users.id, id), condition)).returning(userColumns);
  changed(db, { userId: id });
  return row ?? null;
}

export async function countUsers(db: Db): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(users);
  return row?.n ?? 0;
}

/** The locale the user signed up in (for usersvc's emails), or null. */
export async function findUserLocale(db: Db, id: string): Promise<string | null> {
  const [row] = await db.select({ locale: users.locale }).from(users).where(eq(users.id, id));
  return row?.locale ?? null;
}
