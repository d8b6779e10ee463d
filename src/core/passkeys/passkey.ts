/** A passkey as the API, the pages and events show it: never its public key or credential id. */
import { DomainError, validationError } from "../errors.ts";
import type { PasskeyRow } from "./queries.ts";

export interface PublicPasskey {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  /** `multiDevice` (synced by its provider) or `singleDevice`. */
  device_type: string;
  backed_up: boolean;
  transports: string[];
}

export function toPublicPasskey(row: PasskeyRow): PublicPasskey {
  return {
    id: row.id,
    name: row.name,
    created_at: row.createdAt.toISOString(),
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
    device_type: row.deviceType,
    backed_up: row.backedUp,
    transports: row.transports,
  };
}

export const MAX_NAME_LENGTH = 64;

/** A passkey's name: trimmed, 1-64 characters, no control characters. */
export function passkeyName(raw: unknown): string {
  const name = typeof raw === "string" ? raw.trim() : "";
  if (name === "") throw validationError([{ field: "name", message: "is required" }]);
  if ([...name].length > MAX_NAME_LENGTH) throw validationError([{ field: "name", message: `must be at most ${MAX_NAME_LENGTH} characters` }]);
  if (/[\u0000-\u001f\u007f]/.test(name)) throw validationError([{ field: "name", message: "must not contain control characters" }]);
  return name;
}

export const passkeyNotFound = () => new DomainError("NOT_FOUND", "No such passkey");
