import { and, arrayContains, count, eq, lte, ne, or } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { lockFor } from "../db/locks.ts";
import { users } from "../db/schema.ts";
import { DomainError } from "../errors.ts";
import { findUserById } from "./queries.ts";
import { isActiveAdmin, type UserRecord } from "./user-record.ts";

/**
 * Refuses a change that would leave no active admin (LAST_ADMIN). Call it
 * inside the transaction that makes the change: the advisory lock makes
 * concurrent demotions, blocks and deletions of admins take turns, so two of
 * them can never each see the other as the remaining admin.
 */
export async function assertNotLastAdmin(tx: Db, target: UserRecord, now: Date): Promise<void> {
  await lockFor(tx, "admins");
  const current = await findUserById(tx, target.id);
  if (!current || !isActiveAdmin(current, now)) return;
  const [others] = await tx
    .select({ n: count() })
    .from(users)
    .where(
      and(
        ne(users.id, target.id),
        arrayContains(users.roles, ["admin"]),
        or(
          eq(users.status, "active"),
          and(eq(users.status, "blocked"), lte(users.blockedUntil, now)),
        ),
      ),
    );
  if (Number(others?.n ?? 0) === 0) throw new DomainError("LAST_ADMIN");
}
