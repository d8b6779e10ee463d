/**
 * A webhook receiver that checks usersvc's Standard Webhooks signature.
 *   USERSVC_WEBHOOK_SECRET=whsec_… bun examples/hooks/webhook-receiver.ts   (listens on :9000)
 * Point usersvc at it: USERSVC_WEBHOOK_URL=http://127.0.0.1:9000/usersvc and the same secret.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

const secret = process.env.USERSVC_WEBHOOK_SECRET ?? "";
if (!secret.startsWith("whsec_")) throw new Error("set USERSVC_WEBHOOK_SECRET to the same whsec_… value as usersvc");
const key = Buffer.from(secret.slice("whsec_".length), "base64");
const seen = new Set<string>(); // at-least-once delivery: ignore repeats by webhook-id
const TOLERANCE_SECONDS = 5 * 60;

/** True when one of the signatures in the header matches (several are sent while secrets rotate). */
export function verifySignature(id: string, timestamp: string, body: string, header: string): boolean {
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
  return header.split(" ").some((part) => {
    const [version, signature] = part.split(",");
    if (version !== "v1" || !signature) return false;
    const given = Buffer.from(signature, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

const server = Bun.serve({
  port: Number(process.env.PORT ?? 9000),
  hostname: "127.0.0.1",
  async fetch(request) {
    const id = request.headers.get("webhook-id") ?? "";
    const timestamp = request.headers.get("webhook-timestamp") ?? "";
    const signature = request.headers.get("webhook-signature") ?? "";
    const body = await request.text();
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return new Response("stale", { status: 400 });
    if (!verifySignature(id, timestamp, body, signature)) return new Response("bad signature", { status: 401 });
    if (!seen.has(id)) {
      seen.add(id);
      const event = JSON.parse(body);
      console.log(JSON.stringify({ received: event.type, id, user: event.data.user?.email }));
    }
    return new Response(null, { status: 204 });
  },
});
console.log(`webhook receiver on http://127.0.0.1:${server.port}`);
