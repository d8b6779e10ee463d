/**
 * Browser sessions (SPEC §7): a usersvc session whose credential is a cookie
 * instead of a token pair. The cookie holds `<session id>.<secret>`: the id
 * finds the session through the same auth cache as access tokens (so logout,
 * block, deletion and password reset end it on the next request, on every
 * instance), the 256-bit secret proves it, and only the secret's SHA-256 is
 * stored. The session's idle end moves on with use, never past
 * USERSVC_SESSION_MAX_AGE after the sign-in.
 */
import { randomBytes } from "node:crypto";
import type { Core } from "../core.ts";
import { sameSecret, sha256Hex } from "../digest.ts";
import { isBlocked, type UserRecord } from "../users/user-record.ts";
import { isUuid } from "../uuid.ts";
import { findSessionWithUser, touchSession } from "./queries.ts";
import { type ClientInfo, openSession, PASSWORD_AMR, type Principal, sessionExpiry } from "./session-tokens.ts";

export interface BrowserSession {
  /** The cookie's value: shown to the browser once, never stored. */
  cookie: string;
  principal: Principal;
}

/** Touching a session writes; once a minute per session is enough to keep its idle end moving. */
const TOUCH_EVERY_MS = 60_000;

/** A SessionStarter (login.ts): the sign-in ends in a browser session. */
export async function startBrowserSession(core: Core, user: UserRecord, client: ClientInfo, amr: string[] = PASSWORD_AMR): Promise<BrowserSession> {
  const secret = randomBytes(32).toString("base64url");
  const session = await openSession(core, user, client, sha256Hex(secret), amr);
  return { cookie: `${session.id}.${secret}`, principal: { user, session } };
}

/** The live session behind a cookie value, or null (malformed, unknown, ended, or its user blocked or deleted). */
export async function browserPrincipal(core: Core, cookie: string | undefined): Promise<Principal | null> {
  const dot = cookie?.indexOf(".") ?? -1;
  if (!cookie || dot !== 36 || cookie.length > 100) return null;
  // Lower-cased: the auth cache is keyed by the id as PostgreSQL prints it, and a logout drops that key.
  const sessionId = cookie.slice(0, dot).toLowerCase();
  if (!isUuid(sessionId)) return null;
  const found = await core.authCache.sessionWithUser(sessionId, () => findSessionWithUser(core.db, sessionId));
  if (!found?.session.cookieHash || !sameSecret(sha256Hex(cookie.slice(dot + 1)), found.session.cookieHash)) return null;
  const { session, user } = found;
  const now = core.now();
  if (session.revokedAt || session.expiresAt <= now || user.status === "deleted" || isBlocked(user, now)) return null;
  if (now.getTime() - session.lastUsedAt.getTime() > TOUCH_EVERY_MS) {
    await touchSession(core.db, session.id, now, sessionExpiry(core, session.createdAt, now));
  }
  return { user, session };
}
