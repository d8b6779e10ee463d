/** A user's own passkeys: list, rename, remove (never the last way in). */
import type { Actor } from "../audit/actor.ts";
import type { Core } from "../core.ts";
import { recordChange } from "../events/record.ts";
import { requirePrivileged } from "../sessions/step-up.ts";
import { assertAnotherWayIn } from "../users/sign-in-ways.ts";
import type { UserRecord } from "../users/user-record.ts";
import { isUuid } from "../uuid.ts";
import { passkeyName, passkeyNotFound, type PublicPasskey, toPublicPasskey } from "./passkey.ts";
import { lockUserRow } from "../users/queries.ts";
import { deletePasskeyRow, findOwnPasskey, passkeysOf, renamePasskeyRow } from "./queries.ts";

export async function listPasskeys(core: Core, userId: string): Promise<PublicPasskey[]> {
  return (await passkeysOf(core.db, userId)).map(toPublicPasskey);
}

/** What every change to a user's passkeys is asked first (SPEC §10): the password, or a recent sign-in. */
export interface PasskeyChange {
  user: UserRecord;
  session: { createdAt: Date };
  password: string | undefined;
}

export async function renamePasskey(core: Core, actor: Actor, change: PasskeyChange, id: string, name: unknown): Promise<PublicPasskey> {
  const { user } = change;
  const newName = passkeyName(name);
  if (!isUuid(id)) throw passkeyNotFound();
  await requirePrivileged(core, user, change.session, change.password, actor.ip);
  const row = await renamePasskeyRow(core.db, user.id, id.toLowerCase(), newName);
  if (!row) throw passkeyNotFound();
  return toPublicPasskey(row);
}

/** LAST_SIGN_IN_METHOD when it is the user's only way in; NOT_FOUND when it is not theirs. */
export async function removePasskey(core: Core, actor: Actor, change: PasskeyChange, id: string): Promise<PublicPasskey> {
  if (!isUuid(id)) throw passkeyNotFound();
  await requirePrivileged(core, change.user, change.session, change.password, actor.ip);
  return deletePasskey(core, actor, change.user, id);
}

/** An admin removing a user's passkey: no step-up of the user's, but still never their last way in. */
export async function adminRemovePasskey(core: Core, actor: Actor, user: UserRecord, id: string): Promise<PublicPasskey> {
  if (!isUuid(id)) throw passkeyNotFound();
  return deletePasskey(core, actor, user, id);
}

async function deletePasskey(core: Core, actor: Actor, user: UserRecord, id: string): Promise<PublicPasskey> {
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
