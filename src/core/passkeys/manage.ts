/** A user's own passkeys: list, rename, remove (never the last way in). */
import type { Actor } from "../audit/actor.ts";
import type { Core } from "../core.ts";
import { recordChange } from "../events/record.ts";
import { assertAnotherWayIn } from "../users/sign-in-ways.ts";
import type { UserRecord } from "../users/user-record.ts";
import { isUuid } from "../uuid.ts";
import { passkeyName, passkeyNotFound, type PublicPasskey, toPublicPasskey } from "./passkey.ts";
import { deletePasskeyRow, findOwnPasskey, lockUserRow, passkeysOf, renamePasskeyRow } from "./queries.ts";

export async function listPasskeys(core: Core, userId: string): Promise<PublicPasskey[]> {
  return (await passkeysOf(core.db, userId)).map(toPublicPasskey);
}

export async function renamePasskey(core: Core, actor: Actor, user: UserRecord, id: string, name: unknown): Promise<PublicPasskey> {
  const newName = passkeyName(name);
  if (!isUuid(id)) throw passkeyNotFound();
  const row = await renamePasskeyRow(core.db, user.id, id.toLowerCase(), newName);
  if (!row) throw passkeyNotFound();
  return toPublicPasskey(row);
}

/**
 * LAST_SIGN_IN_METHOD when it is the user's only way in; NOT_FOUND when it is
 * not theirs. No step-up: removing a passkey gives nobody a way in, and the
 * user keeps another one.
 */
export async function removePasskey(core: Core, actor: Actor, user: UserRecord, id: string): Promise<PublicPasskey> {
  if (!isUuid(id)) throw passkeyNotFound();
  return core.db.transaction(async (tx) => {
    await lockUserRow(tx, user.id);
    const row = await findOwnPasskey(tx, user.id, id.toLowerCase());
    if (!row) throw passkeyNotFound();
    await assertAnotherWayIn(tx, user.id, "passkey");
    await deletePasskeyRow(tx, user.id, row.id);
    await recordChange(core, tx, { type: "user.passkey_removed", actor, user, data: { passkey_id: row.id } });
    return toPublicPasskey(row);
  });
}
