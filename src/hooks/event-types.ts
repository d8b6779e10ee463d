/**
 * Every after-event as a value, for code that must list them (the hooks
 * module's known keys, `usersvc hooks test`). The union lives in types.ts,
 * which `usersvc hooks types` prints as a declaration file and so cannot
 * hold values; the compiler holds this list to it both ways.
 */
import type { EventType } from "./types.ts";

export const EVENT_TYPES = [
  "user.registered",
  "user.logged_in",
  "user.login_failed",
  "user.updated",
  "user.password_changed",
  "user.password_reset_requested",
  "user.email_change_requested",
  "user.email_changed",
  "user.password_reset",
  "user.verification_requested",
  "user.verified",
  "user.blocked",
  "user.unblocked",
  "user.deleted",
  "user.restored",
  "user.purged",
  "user.mfa_reset",
  "session.revoked",
  "balance.changed",
  "oauth.client_created",
  "oauth.client_updated",
  "oauth.client_removed",
  "oauth.consent_granted",
  "oauth.consent_revoked",
  "user.passkey_added",
  "user.passkey_removed",
  "user.identity_linked",
  "user.identity_unlinked",
] as const satisfies readonly EventType[];

// An event type added to the union but not here fails to compile on this line.
type Unlisted = Exclude<EventType, (typeof EVENT_TYPES)[number]>;
const everyTypeListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyTypeListed;
