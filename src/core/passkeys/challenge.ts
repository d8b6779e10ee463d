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
