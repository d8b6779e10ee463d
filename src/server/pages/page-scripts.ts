/**
 * Runs at bundle time (imported `with { type: "macro" }`): the pages'
 * scripts as text, carried inside the binary — @simplewebauthn/browser's
 * own bundle (its global SimpleWebAuthnBrowser) and assets/passkeys.js.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export function webauthnBrowserSource(): string {
  return readFileSync(join(import.meta.dir, "../../../node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js"), "utf8");
}

export function passkeysScriptSource(): string {
  return readFileSync(join(import.meta.dir, "assets/passkeys.js"), "utf8");
}
