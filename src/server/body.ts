/**
 * Request bodies: JSON for the API and HTML form posts
 * (application/x-www-form-urlencoded) for the hosted pages, at most 64 KiB, refused before they are read
 * when the declared length is already too large, and counted while reading
 * when no length is declared (chunked uploads); nested at most 64 deep, and
 * with no NUL or unpaired surrogate in any key or string (nor a NUL in the URL).
 */
import { Elysia } from "elysia";
import { DomainError } from "../core/errors.ts";
import { findUnstorableText, isStorableText, UNSTORABLE_TEXT } from "../core/storable-text.ts";
import { malformedBody } from "./errors.ts";
import { isOAuthApiPath, isPagePath, pathOf } from "./paths.ts";

export const MAX_BODY_BYTES = 64 * 1024;
const METHODS_WITH_BODY = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function jsonBodies() {
  return new Elysia({ name: "json-bodies" })
    .onRequest(({ request }) => {
      // A NUL in the path or query would reach the database as text it cannot store.
      if (request.url.includes("%00")) throw invalidBody("url", UNSTORABLE_TEXT);
      if (!METHODS_WITH_BODY.has(request.method)) return;
      const length = Number(request.headers.get("content-length") ?? "0");
      // Thrown, not returned: a Response returned from onRequest skips the error handler and the request log.
      if (length > MAX_BODY_BYTES) throw new DomainError("PAYLOAD_TOO_LARGE");
      const hasBody = length > 0 || request.headers.has("transfer-encoding");
      const type = request.headers.get("content-type");
      const path = pathOf(request.url);
      const page = isPagePath(path) || isOAuthApiPath(path);
      if (hasBody && !(page ? isForm(type) : isJson(type))) {
        throw new DomainError("UNSUPPORTED_MEDIA_TYPE", page ? "Content-Type must be application/x-www-form-urlencoded" : undefined);
      }
    })
    .onParse({ as: "global" }, async ({ request }) => {
      const text = await readLimited(request);
      if (isForm(request.headers.get("content-type"))) return formFields(text);
      if (text.trim() === "") return undefined;
      // Before validation: Elysia's error report recurses through the value and overflows on deep nesting.
      if (exceedsDepth(text, MAX_BODY_DEPTH)) throw invalidBody("body", `must not nest deeper than ${MAX_BODY_DEPTH} levels`);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw malformedBody();
      }
      const unstorable = findUnstorableText(body, "");
      if (unstorable !== null) throw invalidBody(unstorable || "body", UNSTORABLE_TEXT);
      return body;
    });
}

/** JSON nested deeper than this is refused (422) before it is parsed. */
export const MAX_BODY_DEPTH = 64;

function invalidBody(field: string, message: string): DomainError {
  return new DomainError("VALIDATION_ERROR", `${field}: ${message}`, [{ field, message }]);
}

/** Bracket depth of JSON text, ignoring brackets inside strings; stops counting past `max`. */
function exceedsDepth(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * A form's fields as strings; a repeated name keeps its first value. The same
 * refusal of unstorable text as JSON, so a page's error names the field.
 */
function formFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    if (!isStorableText(name) || !isStorableText(value)) throw invalidBody(isStorableText(name) ? name : "body", UNSTORABLE_TEXT);
    if (!Object.hasOwn(fields, name)) fields[name] = value;
  }
  return fields;
}

function isForm(contentType: string | null): boolean {
  return contentType?.split(";")[0]!.trim().toLowerCase() === "application/x-www-form-urlencoded";
}

function isJson(contentType: string | null): boolean {
  if (!contentType) return false;
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

async function readLimited(request: Request): Promise<string> {
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new DomainError("PAYLOAD_TOO_LARGE");
    }
    chunks.push(value);
  }
  return new TextDecoder("utf-8", { fatal: false }).decode(Buffer.concat(chunks));
}
