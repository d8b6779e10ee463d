/**
 * The outbox. `enqueueEvent` is called inside the transaction of the change
 * an event describes, so an event exists exactly when its change does. One
 * row per delivery target; `deliverDueEvents` (run by serve's worker) claims
 * rows with a lease, in order per user and target, and records the outcome:
 * delivered, retried later with exponential backoff, or dead after the last
 * attempt.
 */
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import type { Actor } from "../audit/actor.ts";
import { appendAudit } from "../audit/audit.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { rows } from "../db/migrate.ts";
import { outboxEvents } from "../db/schema.ts";
import type { EventType, UsersvcEvent } from "../../hooks/types.ts";
import { emailForEvent, emailKindOf } from "../email/emails.ts";
import { findUserLocale } from "../users/queries.ts";
import { sendWebhook, webhookSecretBytes } from "./webhook.ts";

import type { EventTarget, OutboxRow } from "./outbox-queries.ts";

export const MAX_ATTEMPTS = 8;
const LEASE_MS = 60_000;

export interface NewEvent {
  type: EventType;
  actor: Actor;
  /** Orders delivery: one user's events arrive one after another. */
  userId: string | null;
  data: UsersvcEvent["data"];
}

/** The targets configured for this event: none means nothing is written. */
function eventTargets(core: Core, event: NewEvent): EventTarget[] {
  const targets: EventTarget[] = [];
  if (core.hooks.handlesEvent(event.type)) targets.push("hooks");
  if (core.config.webhookUrl) targets.push("webhook");
  if (core.mailer && emailKindOf(event.type, event.data)) targets.push("email");
  return targets;
}

export async function enqueueEvent(core: Core, tx: Db, event: NewEvent): Promise<string | null> {
  const targets = eventTargets(core, event);
  if (targets.length === 0) return null;
  const now = core.now();
  const id = crypto.randomUUID();
  const payload: UsersvcEvent = {
    id,
    type: event.type,
    occurred_at: now.toISOString(),
    actor: { type: event.actor.type, id: event.actor.id },
    data: event.data,
  };
  await tx.insert(outboxEvents).values(
    targets.map((target) => ({
      eventId: id,
      target,
      type: event.type,
      userId: event.userId,
      payload: payload as unknown as Record<string, unknown>,
      nextAttemptAt: now,
      createdAt: now,
    })),
  );
  return id;
}

/** Seconds before attempt n+1: 2, 4, 8 … capped at one hour, with ±20 % jitter. */
export function backoffSeconds(attempts: number): number {
  const base = Math.min(2 ** attempts, 3600);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * Claims up to `limit` due rows and delivers them. Safe to run on several
 * instances at once: the claim skips rows another instance holds (row locks
 * while claiming, then a lease), and a row is only claimable when no earlier
 * row of the same user and target is still pending.
 */
export async function deliverDueEvents(core: Core, limit = 20): Promise<number> {
  const now = core.now();
  const leaseUntil = new Date(now.getTime() + LEASE_MS);
  const claimed = rows<{ seq: number | string }>(
    await core.db.execute(sql`
      update ${outboxEvents} set locked_until = ${leaseUntil.toISOString()}::timestamptz, attempts = attempts + 1
      where seq in (
        select e.seq from ${outboxEvents} e
        where e.status = 'pending' and e.next_attempt_at <= ${now.toISOString()}::timestamptz
          and (e.locked_until is null or e.locked_until < ${now.toISOString()}::timestamptz)
          and not exists (
            select 1 from ${outboxEvents} p
            where p.status = 'pending' and p.target = e.target
              and p.user_id is not distinct from e.user_id and p.seq < e.seq)
        order by e.seq
        limit ${limit}
        for update skip locked)
      returning seq`),
  ).map((r) => Number(r.seq));
  if (claimed.length === 0) return 0;

  const claimedRows = await core.db.select().from(outboxEvents).where(inArray(outboxEvents.seq, claimed)).orderBy(asc(outboxEvents.seq));
  // Rows of one user and target are delivered in order; different users in parallel.
  const lanes = new Map<string, OutboxRow[]>();
  for (const row of claimedRows) {
    const key = `${row.target}:${row.userId ?? ""}`;
    lanes.set(key, [...(lanes.get(key) ?? []), row]);
  }
  await Promise.all(
    [...lanes.values()].map(async (lane) => {
      for (const row of lane) {
        const ok = await deliverOne(core, row, leaseUntil);
        if (!ok) break; // keep the user's order: later rows wait for this one's retry
      }
    }),
  );
  return claimed.length;
}

async function deliverOne(core: Core, row: OutboxRow, lease: Date): Promise<boolean> {
  const log = core.logger.child({ module: "outbox", seq: row.seq, event: row.type, target: row.target });
  const leaseHeld = and(eq(outboxEvents.seq, row.seq), eq(outboxEvents.lockedUntil, lease));
  try {
    await deliver(core, row);
    // A delivered event no longer needs its single-use token and code (verification, reset): drop them.
    await core.db
      .update(outboxEvents)
      .set({
        status: "delivered",
        deliveredAt: core.now(),
        lockedUntil: null,
        lastError: null,
        payload: sql`${outboxEvents.payload} #- '{data,token}' #- '{data,code}'`,
      })
      .where(leaseHeld);
    return true;
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).slice(0, 1000);
    const dead = row.attempts >= MAX_ATTEMPTS;
    const next = new Date(core.now().getTime() + backoffSeconds(row.attempts) * 1000);
    await core.db
      .update(outboxEvents)
      .set({
        status: dead ? "dead" : "pending",
        nextAttemptAt: next,
        lockedUntil: null,
        lastError: message,
        // A dead event's single-use token is dropped too: nothing waits to deliver it, and it
        // must not sit readable in the table (the user asks for a new link instead).
        ...(dead ? { payload: sql`${outboxEvents.payload} #- '{data,token}' #- '{data,code}'` } : {}),
      })
      .where(leaseHeld);
    if (dead) log.error({ attempts: row.attempts, error: message }, "event dead-lettered after its last attempt");
    else log.warn({ attempts: row.attempts, error: message, retry_at: next.toISOString() }, "event delivery failed");
    return false;
  }
}

async function deliver(core: Core, row: OutboxRow): Promise<void> {
  const event = row.payload as unknown as UsersvcEvent;
  if (row.target === "hooks") return core.hooks.deliverEvent(event);
  if (row.target === "email") {
    if (!core.mailer) throw new Error("USERSVC_SMTP_URL is no longer set");
    // The user's locale now, not at enqueueing: one who switched language gets the retry in the new one.
    const locale = (row.userId ? await findUserLocale(core.db, row.userId) : null) ?? "en";
    await core.mailer.send(emailForEvent(core.config, core.theme, event, locale));
    return;
  }
  const { webhookUrl, webhookSecret } = core.config;
  if (!webhookUrl || !webhookSecret) throw new Error("USERSVC_WEBHOOK_URL is no longer set");
  await sendWebhook(webhookUrl, webhookSecretBytes(webhookSecret), event.id, JSON.stringify(event), core.now());
}

/** Dead rows back to pending, due now, with their attempts reset; returns how many. Audited (events.retried) when any. */
export async function retryDeadEvents(core: Core, actor: Actor, which: { seq: number } | "all"): Promise<number> {
  const condition = which === "all" ? eq(outboxEvents.status, "dead") : and(eq(outboxEvents.status, "dead"), eq(outboxEvents.seq, which.seq));
  const retried = await core.db
    .update(outboxEvents)
    .set({ status: "pending", attempts: 0, nextAttemptAt: core.now(), lockedUntil: null })
    .where(condition)
    .returning({ seq: outboxEvents.seq });
  if (retried.length > 0) {
    const data = { seq: which === "all" ? "all" : which.seq, count: retried.length };
    await appendAudit(core.db, { event: "events.retried", actor, targetId: null, data }, core.now());
  }
  return retried.length;
}

/** Runs deliverDueEvents on a timer until stopped (serve). */
export function startOutboxWorker(core: Core, intervalMs = 500): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const log = core.logger.child({ module: "outbox" });
  const loop = async (): Promise<void> => {
    while (!stopped) {
      let delivered = 0;
      try {
        delivered = await deliverDueEvents(core);
      } catch (error) {
        log.error({ err: error }, "outbox worker pass failed");
      }
      // A full batch: go again at once; otherwise wait for new work.
      if (delivered === 0 && !stopped) await new Promise((r) => setTimeout(r, intervalMs));
    }
  };
  running = loop();
  return {
    async stop() {
      stopped = true;
      await running;
    },
  };
}
