/**
 * Request bodies: JSON only, at most 64 KiB, refused before they are read
 * when the declared length is already too large, and counted while reading
 * when no length is declared (chunked uploads).
 */
import { Elysia } from "elysia";
import { DomainError } from "../core/errors.ts";
import { malformedBody } from "./errors.ts";

export const MAX_BODY_BYTES = 64 * 1024;
const METHODS_WITH_BODY = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function jsonBodies() {
  return new Elysia({ name: "json-bodies" })
    .onRequest(({ request }) => {
      if (!METHODS_WITH_BODY.has(request.method)) return;
      const length = Number(request.headers.get("content-length") ?? "0");
      // Thrown, not returned: a Response returned from onRequest skips the error handler and the request log.
      if (length > MAX_BODY_BYTES) throw new DomainError("PAYLOAD_TOO_LARGE");
      const hasBody = length > 0 || request.headers.has("transfer-encoding");
      if (hasBody && !isJson(request.headers.get("content-type"))) {
        throw new DomainError("UNSUPPORTED_MEDIA_TYPE");
      }
    })
    .onParse({ as: "global" }, async ({ request }) => {
      const text = await readLimited(request);
      if (text.trim() === "") return undefined;
      try {
        return JSON.parse(text);
      } catch {
        throw malformedBody();
      }
    });
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
