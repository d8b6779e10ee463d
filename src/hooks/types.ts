/**
 * The hook contract of SPEC §6, as host projects will see it. Only the types
 * exist so far: usersvc does not load or run hooks yet (USERSVC_HOOKS is not
 * read). Loading, running and the event outbox arrive with the hooks issue.
 */
import type { PublicUser } from "../core/users/user.ts";

export type HookReject = { reject: string };

export interface UserHooks {
  /** Before a user is written: return `{metadata}` to replace it, or `{reject}` to refuse (403 HOOK_REJECTED). */
  beforeRegister?(input: {
    email: string;
    username: string;
    metadata: Record<string, unknown>;
    ip: string | null;
  }): Promise<void | { metadata: Record<string, unknown> } | HookReject>;
  /** Before tokens are issued: return `{reject}` to refuse the login. */
  beforeLogin?(input: { user: PublicUser; ip: string | null }): Promise<void | HookReject>;
  /** Extra claims merged into access tokens; reserved claims cannot be overridden. */
  accessTokenClaims?(input: { user: PublicUser; session: { id: string } }): Promise<Record<string, unknown>>;
}
