/**
 * Export and import of users as JSON lines, password hashes included, so
 * users move between usersvc instances or arrive from other systems. Hashes
 * from elsewhere (argon2 of any variant and parameter order, bcrypt) are
 * kept as they are and replaced by usersvc's own at the user's next login,
 * if their cost is within the hash policy (passwords/hash-policy.ts): a line
 * whose hash is not is refused, as login would never verify it.
 * Every line is its own transaction: a bad line never stops or half-applies
 * the others.
 */
import { asc, gt } from "drizzle-orm";
import type { Actor } from "../audit/actor.ts";
import { recordChange } from "../events/record.ts";
import { findHashPolicyViolation } from "../passwords/hash-policy.ts";
import { normalizeForeignHash } from "../passwords/hasher.ts";
import type { Core } from "../core.ts";
import { balanceTransactions, users } from "../db/schema.ts";
import { DomainError, ERROR_MESSAGES, type FieldProblem } from "../errors.ts";
import { findUserByEmail, findUserById, findUserByUsername, insertUser } from "./queries.ts";
import { isoOrNull, type PublicUser } from "./user-record.ts";
import { isUuid } from "../uuid.ts";
import { conflictFromUniqueViolation, shapeByHook } from "./users.ts";
import { checkEmail, checkMetadata, checkUsername, normalizeEmail } from "./validation.ts";

/** One exported user: the user object's stored fields plus its password hash. */
export type UserExport = Omit<PublicUser, "is_admin" | "is_active"> & { password_hash: string | null; locale: string | null };

/** Streams every user, oldest id first, one JSON line each; returns the count. */
export async function exportUsers(core: Core, writeLine: (line: string) => void): Promise<number> {
  let after = "00000000-0000-0000-0000-000000000000";
  let exported = 0;
  for (;;) {
    const rows = await core.db.select().from(users).where(gt(users.id, after)).orderBy(asc(users.id)).limit(500);
    for (const row of rows) {
      const record: UserExport = {
        id: row.id,
        email: row.email,
        username: row.username,
        password_hash: row.passwordHash,
        roles: row.roles,
        status: row.status,
        is_verified: row.isVerified,
        blocked_reason: row.blockedReason,
        blocked_until: isoOrNull(row.blockedUntil),
        metadata: row.metadata,
        app_metadata: row.appMetadata,
        balance: row.balance,
        created_at: row.createdAt.toISOString(),
        updated_at: row.updatedAt.toISOString(),
        last_login_at: isoOrNull(row.lastLoginAt),
        deleted_at: isoOrNull(row.deletedAt),
        locale: row.locale,
      };
      writeLine(JSON.stringify(record));
      exported += 1;
    }
    if (rows.length < 500) return exported;
    after = rows.at(-1)!.id;
  }
}

export type ImportOutcome =
  | { line: number; result: "created" | "would_create"; id: string; email: string }
  | { line: number; result: "skipped"; code: string; message: string }
  | { line: number; result: "invalid"; message: string };

const ARGON2 = /^\$argon2(id|i|d)\$v=\d+\$(m=\d+,t=\d+,p=\d+|m=\d+,p=\d+,t=\d+)\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/;
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const STATUSES = ["active", "blocked", "deleted"];

/** Imports JSON lines; blank lines are ignored. `dryRun` checks everything and writes nothing. */
export async function importUsers(
  core: Core,
  actor: Actor,
  lines: string[],
  options: { dryRun: boolean },
): Promise<ImportOutcome[]> {
  const outcomes: ImportOutcome[] = [];
  // A dry run writes nothing, so it remembers what earlier lines would create: a later line
  // repeating one of them is reported as skipped, as the real run would skip it.
  const planned: Planned | null = options.dryRun ? { ids: new Set(), emails: new Set(), usernames: new Set() } : null;
  for (const [index, text] of lines.entries()) {
    if (text.trim() === "") continue;
    outcomes.push(await importLine(core, actor, index + 1, text, planned));
  }
  return outcomes;
}

interface Planned {
  ids: Set<string>;
  emails: Set<string>;
  usernames: Set<string>;
}

async function importLine(core: Core, actor: Actor, line: number, text: string, planned: Planned | null): Promise<ImportOutcome> {
  let row: typeof users.$inferInsert;
  try {
    row = parseRecord(text, core.now());
  } catch (error) {
    return { line, result: "invalid", message: error instanceof Error ? error.message : String(error) };
  }
  const conflict = (await findConflict(core, row)) ?? (planned && findPlannedConflict(planned, row));
  if (conflict) return { line, result: "skipped", code: conflict.code, message: conflict.message };
  // Imports are sign-ups too: the host's beforeRegister may refuse or reshape them.
  try {
    const shaped = await shapeByHook(core, { email: row.email, username: row.username, metadata: row.metadata ?? {}, ip: null });
    row.metadata = shaped.metadata;
    if (shaped.appMetadata) row.appMetadata = shaped.appMetadata;
  } catch (error) {
    if (error instanceof DomainError) return { line, result: "skipped", code: error.code, message: error.message };
    throw error;
  }
  if (planned) {
    if (row.id) planned.ids.add(row.id);
    planned.emails.add(row.email);
    planned.usernames.add(row.username.toLowerCase());
    return { line, result: "would_create", id: row.id ?? "(new id)", email: row.email };
  }

  const now = core.now();
  try {
    const created = await core.db.transaction(async (tx) => {
      const user = await insertUser(tx, row);
      if (row.balance) {
        await tx.insert(balanceTransactions).values({
          userId: user!.id,
          amount: row.balance,
          balanceAfter: row.balance,
          reason: "imported balance",
          actorType: actor.type,
          actorId: actor.id,
          createdAt: now,
        });
      }
      await recordChange(core, tx, { type: "user.registered", actor, user: user!, data: { imported: true, roles: row.roles } });
      return user!;
    });
    return { line, result: "created", id: created.id, email: created.email };
  } catch (error) {
    const conflictError = conflictFromUniqueViolation(error);
    if (conflictError) return { line, result: "skipped", code: conflictError.code, message: conflictError.message };
    throw error;
  }
}

function parseRecord(text: string, now: Date): typeof users.$inferInsert {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error("not valid JSON");
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("not a JSON object");
  const input = value as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  const field = <T>(name: string, check: (v: unknown) => v is T, message: string): T | undefined => {
    const v = input[name];
    if (v === undefined || v === null) return undefined;
    if (!check(v)) {
      problems.push({ field: name, message });
      return undefined;
    }
    return v;
  };
  const isString = (v: unknown): v is string => typeof v === "string";
  const isDate = (v: unknown): v is string => typeof v === "string" && !Number.isNaN(Date.parse(v));

  const email = normalizeEmail(field("email", isString, "must be a string") ?? "");
  checkEmail(email, problems);
  const username = (field("username", isString, "must be a string") ?? "").trim();
  checkUsername(username, problems);
  // null: a user without a password (signed up with a provider), exported as such.
  const hash = input.password_hash === null ? null : (field("password_hash", isString, "must be a string or null") ?? "");
  if (hash === null) {
    // nothing to check
  } else if (!ARGON2.test(hash) && !BCRYPT.test(hash)) {
    problems.push({ field: "password_hash", message: "must be an argon2 ($argon2id$…) or bcrypt ($2b$…) hash" });
  } else {
    const violation = findHashPolicyViolation(hash);
    if (violation !== null) problems.push({ field: "password_hash", message: violation });
  }
  const id = field("id", (v): v is string => isUuid(v), "must be a UUID");
  const roles = field(
    "roles",
    (v): v is string[] => Array.isArray(v) && v.length <= 32 && v.every((r) => typeof r === "string" && /^[a-z][a-z0-9_.-]{0,31}$/.test(r)),
    "must be a list of role names",
  );
  const status = field("status", (v): v is "active" | "blocked" | "deleted" => STATUSES.includes(v as string), "must be active, blocked or deleted");
  const isVerified = field("is_verified", (v): v is boolean => typeof v === "boolean", "must be true or false");
  const metadata = input.metadata ?? undefined;
  if (metadata !== undefined && metadata !== null) checkMetadata(metadata, problems);
  const appMetadata = input.app_metadata ?? undefined;
  if (appMetadata !== undefined && appMetadata !== null) checkMetadata(appMetadata, problems, "app_metadata");
  const balance = field("balance", (v): v is number => Number.isSafeInteger(v) && (v as number) >= 0, "must be an integer >= 0");
  const blockedReason = field("blocked_reason", isString, "must be a string");
  // A BCP 47 tag as Accept-Language gives it ("de", "pt-BR"); which catalogue it picks is decided when an email is sent.
  const locale = field("locale", (v): v is string => typeof v === "string" && /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,3}$/.test(v), "must be a language tag like de or pt-BR");
  const dates = Object.fromEntries(
    ["blocked_until", "created_at", "updated_at", "last_login_at", "deleted_at"].map((name) => {
      const v = field(name, isDate, "must be an ISO-8601 date-time");
      return [name, v === undefined ? undefined : new Date(v)];
    }),
  ) as Record<string, Date | undefined>;
  if (problems.length > 0) throw new DomainError("VALIDATION_ERROR", problems.map((p) => `${p.field}: ${p.message}`).join("; "));

  return {
    ...(id ? { id: id.toLowerCase() } : {}),
    email,
    username,
    passwordHash: hash === null ? null : normalizeForeignHash(hash),
    roles: roles ?? ["user"],
    status: status ?? "active",
    isVerified: isVerified ?? false,
    blockedReason: status === "blocked" ? (blockedReason ?? null) : null,
    blockedUntil: status === "blocked" ? (dates.blocked_until ?? null) : null,
    metadata: (metadata as Record<string, unknown> | undefined) ?? {},
    appMetadata: (appMetadata as Record<string, unknown> | undefined) ?? {},
    balance: balance ?? 0,
    locale: locale ?? null,
    createdAt: dates.created_at ?? now,
    updatedAt: dates.updated_at ?? now,
    lastLoginAt: dates.last_login_at ?? null,
    deletedAt: status === "deleted" ? (dates.deleted_at ?? now) : null,
  };
}

function findPlannedConflict(planned: Planned, row: typeof users.$inferInsert): { code: string; message: string } | null {
  if (row.id && planned.ids.has(row.id)) return { code: "ID_TAKEN", message: `a user with id ${row.id} exists` };
  if (planned.emails.has(row.email)) return { code: "EMAIL_TAKEN", message: ERROR_MESSAGES.EMAIL_TAKEN };
  if (planned.usernames.has(row.username.toLowerCase())) return { code: "USERNAME_TAKEN", message: ERROR_MESSAGES.USERNAME_TAKEN };
  return null;
}

async function findConflict(core: Core, row: typeof users.$inferInsert): Promise<{ code: string; message: string } | null> {
  if (row.id && (await findUserById(core.db, row.id))) return { code: "ID_TAKEN", message: `a user with id ${row.id} exists` };
  for (const [code, taken] of [
    ["EMAIL_TAKEN", await findUserByEmail(core.db, row.email)],
    ["USERNAME_TAKEN", await findUserByUsername(core.db, row.username)],
  ] as const) {
    if (taken) return { code, message: ERROR_MESSAGES[code] };
  }
  return null;
}
