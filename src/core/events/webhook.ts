/**
 * Standard Webhooks (standardwebhooks.com): the body is signed with
 * HMAC-SHA256 over `${id}.${timestamp}.${body}` using the base64 secret after
 * `whsec_`, sent as `webhook-signature: v1,<base64>`.
 */
import { createHmac } from "node:crypto";

export const WEBHOOK_TIMEOUT_MS = 10_000;

export function webhookSecretBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64");
}

export function signWebhook(secret: Buffer, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac("sha256", secret).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

/** POSTs one event; resolves on a 2xx answer, throws otherwise. */
export async function sendWebhook(url: string, secret: Buffer, id: string, body: string, now: Date): Promise<void> {
  const timestamp = Math.floor(now.getTime() / 1000);
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "usersvc-webhooks",
        "webhook-id": id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signWebhook(secret, id, timestamp, body),
      },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
  } catch (error) {
    throw new Error(`webhook request failed: ${(error as Error).message}`);
  }
  await response.body?.cancel();
  if (response.status < 200 || response.status >= 300) throw new Error(`webhook answered ${response.status}`);
}
