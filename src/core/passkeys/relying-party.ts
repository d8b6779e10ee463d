/**
 * The WebAuthn relying party usersvc is: its id is the public URL's host
 * name, the origin its origin (SPEC §10). A passkey is bound to the id it
 * was made for, so a new host in USERSVC_PUBLIC_URL leaves every passkey behind.
 */
import type { Core } from "../core.ts";

export interface RelyingParty {
  id: string;
  origin: string;
  name: string;
}

export function relyingParty(core: Core): RelyingParty {
  const url = new URL(core.config.publicUrl);
  return { id: url.hostname, origin: url.origin, name: core.theme.messages("en").product ?? "usersvc" };
}

/** WebAuthn's user handle for a user: the 16 bytes of its UUID (never the email, which changes and says who it is). */
export function userHandle(userId: string): Uint8Array<ArrayBuffer> {
  const hex = userId.replaceAll("-", "");
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

export function userHandleBase64url(userId: string): string {
  return Buffer.from(userHandle(userId)).toString("base64url");
}
