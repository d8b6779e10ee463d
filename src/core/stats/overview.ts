/**
 * The admin console's overview figures, each counted in SQL at the core's
 * clock: sign-ups per UTC day and sign-ins per UTC hour over the last 14
 * days, and the state of users, sessions, the outbox and the audit log.
 *
 * Sign-ups and sign-ins come from the hourly counters (activity-counts.ts):
 * a sign-up is a user created (registration, a provider's first sign-in, an
 * admin; imports left out); a sign-in succeeded when usersvc opened a session
 * of its own (every sign-in way opens one; OpenID Connect grants are not
 * sign-ins), else it is counted by the refusal's reason.
 */
import { sql } from "drizzle-orm";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { rows } from "../db/migrate.ts";
import { SIGN_IN_OUTCOMES, type SignInOutcome } from "./activity-counts.ts";

export const OVERVIEW_DAYS = 14;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const noSignIns = () => Object.fromEntries(SIGN_IN_OUTCOMES.map((o) => [o, 0])) as Record<SignInOutcome, number>;

/** A UTC day, `YYYY-MM-DD`. */
export interface DayCount {
  day: string;
  count: number;
}

/** A UTC hour, `YYYY-MM-DDTHH`, with its sign-ins by outcome. */
export type HourCounts = { hour: string } & Record<SignInOutcome, number>;

export interface OverviewFigures {
  now: Date;
  signUpsPerDay: DayCount[];
  signInsPerHour: HourCounts[];
  users: { blocked: number; deleted: number };
  sessions: { active: number; oidcGrants: number };
  outbox: { pending: number; dead: number };
  /** The newest audit entry (ids count up from 1), or null for an empty log. */
  audit: { newestId: number; newestAt: Date } | null;
}

export async function overviewFigures(core: Core): Promise<OverviewFigures> {
  const now = core.now();
  // Whole UTC days and hours: the oldest bucket starts on its boundary, the newest is the current one.
  const dayStart = Math.floor(now.getTime() / DAY_MS) * DAY_MS - (OVERVIEW_DAYS - 1) * DAY_MS;
  const hourStart = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS - (OVERVIEW_DAYS * 24 - 1) * HOUR_MS;
  const [signUps, signIns, users, sessions, outbox, audit] = await Promise.all([
    signUpsPerDay(core.db, new Date(dayStart), now),
    signInsPerHour(core.db, new Date(hourStart), now),
    userCounts(core.db, now),
    sessionCounts(core.db, now),
    outboxCounts(core.db),
    newestAuditEntry(core.db),
  ]);
  const days = buckets(dayStart, DAY_MS, OVERVIEW_DAYS, 10);
  const hours = buckets(hourStart, HOUR_MS, OVERVIEW_DAYS * 24, 13);
  return {
    now,
    signUpsPerDay: days.map((day) => ({ day, count: signUps.get(day) ?? 0 })),
    signInsPerHour: hours.map((hour) => ({ hour, ...(signIns.get(hour) ?? noSignIns()) })),
    users,
    sessions,
    outbox,
    audit,
  };
}

/** Every bucket's key, oldest first: the ISO time cut to `length` characters (10: a day, 13: an hour). */
function buckets(start: number, step: number, count: number, length: number): string[] {
  return Array.from({ length: count }, (_, i) => new Date(start + i * step).toISOString().slice(0, length));
}

const at = (time: Date) => sql`${time.toISOString()}::timestamptz`;

/** Sign-ups per UTC day, summed from the hourly counters. */
async function signUpsPerDay(db: Db, since: Date, now: Date): Promise<Map<string, number>> {
  const found = rows<{ day: string; n: number }>(
    await db.execute(sql`
      select to_char(date_trunc('day', hour at time zone 'UTC'), 'YYYY-MM-DD') as day, sum(count)::int as n
      from activity_counts
      where kind = 'sign_up' and hour >= ${at(since)} and hour <= ${at(now)}
      group by 1`),
  );
  return new Map(found.map((r) => [r.day, Number(r.n)]));
}

/** Sign-ins per UTC hour and outcome. */
async function signInsPerHour(db: Db, since: Date, now: Date): Promise<Map<string, Record<SignInOutcome, number>>> {
  const found = rows<{ hour: string; kind: string; n: number }>(
    await db.execute(sql`
      select to_char(hour at time zone 'UTC', 'YYYY-MM-DD"T"HH24') as hour, kind, count as n
      from activity_counts
      where kind like 'sign\_in.%' and hour >= ${at(since)} and hour <= ${at(now)}`),
  );
  const hours = new Map<string, Record<SignInOutcome, number>>();
  for (const r of found) {
    const counts = hours.get(r.hour) ?? noSignIns();
    const outcome = r.kind.slice("sign_in.".length);
    if (Object.hasOwn(counts, outcome)) counts[outcome as SignInOutcome] = Number(r.n);
    hours.set(r.hour, counts);
  }
  return hours;
}

/** Blocked as sign-in sees it: a block whose `until` has passed no longer counts, before the sweep clears it. */
async function userCounts(db: Db, now: Date): Promise<OverviewFigures["users"]> {
  const [row] = rows<{ blocked: number; deleted: number }>(
    await db.execute(sql`
      select count(*) filter (where status = 'blocked' and (blocked_until is null or blocked_until > ${at(now)}))::int as blocked,
        count(*) filter (where status = 'deleted')::int as deleted
      from users where status in ('blocked', 'deleted')`),
  );
  return { blocked: Number(row?.blocked ?? 0), deleted: Number(row?.deleted ?? 0) };
}

async function sessionCounts(db: Db, now: Date): Promise<OverviewFigures["sessions"]> {
  const [row] = rows<{ active: number; grants: number }>(
    await db.execute(sql`
      select count(*) filter (where client_id is null)::int as active, count(*) filter (where client_id is not null)::int as grants
      from sessions where revoked_at is null and expires_at > ${at(now)}`),
  );
  return { active: Number(row?.active ?? 0), oidcGrants: Number(row?.grants ?? 0) };
}

async function outboxCounts(db: Db): Promise<OverviewFigures["outbox"]> {
  const [row] = rows<{ pending: number; dead: number }>(
    await db.execute(sql`
      select count(*) filter (where status = 'pending')::int as pending, count(*) filter (where status = 'dead')::int as dead
      from outbox_events where status in ('pending', 'dead')`),
  );
  return { pending: Number(row?.pending ?? 0), dead: Number(row?.dead ?? 0) };
}

async function newestAuditEntry(db: Db): Promise<OverviewFigures["audit"]> {
  const [row] = rows<{ id: number | string; occurred_at: string }>(
    await db.execute(sql`select id, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as occurred_at from audit_log order by id desc limit 1`),
  );
  return row ? { newestId: Number(row.id), newestAt: new Date(row.occurred_at) } : null;
}
