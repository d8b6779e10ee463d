/** Recovery codes: ten single-use xxxxx-xxxxx codes per user, stored as SHA-256 digests. */
import { randomBytes } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
import type { Core } from "../core.ts";
import type { Db } from "../db/client.ts";
import { mfaRecoveryCodes } from "../db/schema.ts";
import { sha256Hex } from "../digest.ts";

const RECOVERY_CODES = 10;

export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODES }, () => {
    const raw = randomBytes(5).toString("hex");
    return `${raw.slice(0, 5)}-${raw.slice(5)}`;
  });
}

export async function replaceRecoveryCodes(tx: Db, userId: string, codes: string[]): Promise<void> {
  await tx.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
  await tx.insert(mfaRecoveryCodes).values(codes.map((c) => ({ codeHash: sha256Hex(c), userId })));
}

/** `normalized` is the xxxxx-xxxxx form of normalizeMfaCode. */
export async function spendRecoveryCode(core: Core, userId: string, normalized: string): Promise<boolean> {
  const spent = await core.db
    .update(mfaRecoveryCodes)
    .set({ usedAt: core.now() })
    .where(and(eq(mfaRecoveryCodes.codeHash, sha256Hex(normalized)), eq(mfaRecoveryCodes.userId, userId), isNull(mfaRecoveryCodes.usedAt)))
    .returning({ codeHash: mfaRecoveryCodes.codeHash });
  return spent.length > 0;
}
