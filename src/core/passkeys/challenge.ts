/** The challenge a WebAuthn answer signed, read from its clientDataJSON (before anything is verified). */
import { decodeClientDataJSON } from "@simplewebauthn/server/helpers";
import { validationError } from "../errors.ts";

export const CHALLENGE_TTL_MS = 5 * 60_000;

export function challengeOf(response: unknown): string {
  const clientData = (response as { response?: { clientDataJSON?: unknown } } | null)?.response?.clientDataJSON;
  if (typeof clientData !== "string" || clientData.length > 4096) throw validationError([{ field: "response", message: "is not a WebAuthn credential (response.clientDataJSON)" }]);
  let challenge: unknown;
  try {
    challenge = decodeClientDataJSON(clientData).challenge;
  } catch {
    challenge = undefined;
  }
  if (typeof challenge !== "string" || !/^[A-Za-z0-9_-]{16,128}$/.test(challenge)) {
    throw validationError([{ field: "response", message: "has no readable challenge in response.clientDataJSON" }]);
  }
  return challenge;
}

/**
 * Whether the ceremony ran in a frame of another site (clientData.crossOrigin).
 * usersvc's pages are never framed (frame-ancestors 'none'), so such an answer
 * is refused: the library would take it whenever no topOrigin is given.
 */
export function isCrossOrigin(response: unknown): boolean {
  const clientData = (response as { response?: { clientDataJSON?: unknown } } | null)?.response?.clientDataJSON;
  try {
    const data = decodeClientDataJSON(String(clientData)) as { crossOrigin?: unknown; topOrigin?: unknown };
    return data.crossOrigin !== undefined && data.crossOrigin !== false ? true : data.topOrigin !== undefined;
  } catch {
    return true;
  }
}
