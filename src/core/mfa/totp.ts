/** TOTP (RFC 6238, through otpauth): six digits every 30 seconds, each step accepted once. */
import { and, eq, isNull, lt, or } from "drizzle-orm";
import { Secret, TOTP } from "otpauth";
import type { Core } from "../core.ts";
import { mfaFactors } from "../db/schema.ts";
import type { UserRecord } from "../users/user-record.ts";

const PERIOD = 30;

export function totpFor(core: Core, user: UserRecord, secret: string): TOTP {
  return new TOTP({ issuer: core.config.issuer, label: user.email, algorithm: "SHA1", digits: 6, period: PERIOD, secret: Secret.fromBase32(secret) });
}

/** A TOTP code of this step or the one before/after, not older than the last one accepted. */
export async function acceptTotp(core: Core, user: UserRecord, secret: string, code: string): Promise<boolean> {
  if (!/^\d{6}$/.test(code)) return false;
  const now = core.now().getTime();
  const delta = totpFor(core, user, secret).validate({ token: code, timestamp: now, window: 1 });
  if (delta === null) return false;
  const step = Math.floor(now / 1000 / PERIOD) + delta;
  // Conditional update: of two requests with one code, one wins; a replay never does.
  const claimed = await core.db
    .update(mfaFactors)
    .set({ lastUsedStep: step })
    .where(and(eq(mfaFactors.userId, user.id), or(isNull(mfaFactors.lastUsedStep), lt(mfaFactors.lastUsedStep, step))))
    .returning({ userId: mfaFactors.userId });
  return claimed.length > 0;
}
