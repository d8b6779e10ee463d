/**
 * Recording a change: its outbox event (for the host's hooks and webhook)
 * and its audit entry, both inside the transaction that makes the change.
 * The event carries the user object; the audit entry only ids and details.
 */
import type { Actor } from "../audit/actor.ts";
import { appendAudit } from "../audit/audit.ts";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import type { EventType } from "../../hooks/types.ts";
import { toPublicUser, type UserRecord } from "../users/user-record.ts";
import { enqueueEvent } from "./outbox.ts";

export interface Change {
  type: EventType;
  actor: Actor;
  /** The user the change is about, as it is after the change (before it, for a purge). */
  user: UserRecord;
  /** Details for both the audit entry and the event (ids and amounts, nothing personal). */
  data?: Record<string, unknown>;
}

export async function recordChange(core: Core, tx: Db, change: Change): Promise<void> {
  await recordEvent(core, tx, change);
  // Last: the audit append holds the chain's lock until the transaction ends.
  await appendAudit(tx, { event: change.type, actor: change.actor, targetId: change.user.id, data: change.data }, core.now());
}

/** An event without an audit entry (logins, verification and reset requests). */
export async function recordEvent(core: Core, tx: Db, change: Change): Promise<void> {
  await enqueueEvent(core, tx, {
    type: change.type,
    actor: change.actor,
    userId: change.user.id,
    data: { user: toPublicUser(change.user, core.now()), ...change.data },
  });
}
