/**
 * Parts for testing hooks and events with real pieces: hook files written
 * into temporary directories at test time, a webhook receiver on a real port
 * that checks the Standard Webhooks signature itself, and looks into the
 * outbox.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { chmodSync, copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asc } from "drizzle-orm";
import { loadConfig } from "../../src/config.ts";
import { type Core, createCore } from "../../src/core/core.ts";
import { type Db, openDatabase } from "../../src/core/db/client.ts";
import { tryLockDataDir } from "../../src/core/db/data-dir-lock.ts";
import { outboxEvents } from "../../src/core/db/schema.ts";
import { deliverDueEvents } from "../../src/core/events/outbox.ts";
import type { OutboxRow } from "../../src/core/events/outbox-queries.ts";
import type { UsersvcEvent } from "../../src/hooks/types.ts";
import { createLogger } from "../../src/logger.ts";
import type { TestDatabase } from "./database.ts";

/** A new temporary directory for hook files. */
export function hooksDir(prefix = "usersvc-hooks-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a hooks module or script into `dir`; scripts are made executable. */
export function writeHookFile(dir: string, name: string, source: string, options: { executable?: boolean } = {}): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  if (options.executable) chmodSync(path, 0o755);
  return path;
}

/** A Standard Webhooks secret: whsec_ + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`;
}

/**
 * The receiver's own check of a `webhook-signature` header (written from the
 * Standard Webhooks description, not from usersvc's code): HMAC-SHA256 over
 * `${id}.${timestamp}.${body}`, keyed with the bytes after whsec_.
 */
export function isValidSignature(secret: string, id: string, timestamp: string, body: string, header: string): boolean {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
  return header.split(" ").some((part) => {
    const [version, signature] = part.split(",");
    if (version !== "v1" || !signature) return false;
    const given = Buffer.from(signature, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

export interface ReceivedWebhook {
  /** 1-based number of the request, across all events. */
  n: number;
  id: string;
  timestamp: string;
  signature: string;
  contentType: string | null;
  body: string;
  event: UsersvcEvent;
  signatureValid: boolean;
  /** The status the receiver answered. */
  status: number;
}

export interface WebhookReceiver {
  url: string;
  /** Every request, in the order they arrived. */
  requests: ReceivedWebhook[];
  /** The requests that were acknowledged (2xx). */
  delivered(): ReceivedWebhook[];
  /** Decides the status of each request; change it at any time. */
  answer: (request: ReceivedWebhook) => number;
  stop(): Promise<void>;
}

/** A webhook receiver on 127.0.0.1, port 0, that answers 204 unless told otherwise. */
export function startWebhookReceiver(secret: string, answer: (request: ReceivedWebhook) => number = () => 204): WebhookReceiver {
  const requests: ReceivedWebhook[] = [];
  const receiver: WebhookReceiver = {
    url: "",
    requests,
    delivered: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    answer,
    async stop() {
      await server.stop(true);
    },
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const body = await request.text();
      const id = request.headers.get("webhook-id") ?? "";
      const timestamp = request.headers.get("webhook-timestamp") ?? "";
      const signature = request.headers.get("webhook-signature") ?? "";
      const received: ReceivedWebhook = {
        n: requests.length + 1,
        id,
        timestamp,
        signature,
        contentType: request.headers.get("content-type"),
        body,
        event: JSON.parse(body) as UsersvcEvent,
        signatureValid: isValidSignature(secret, id, timestamp, body, signature),
        status: 0,
      };
      received.status = received.signatureValid ? receiver.answer(received) : 401;
      requests.push(received);
      return new Response(received.status === 204 ? null : "receiver says no", { status: received.status });
    },
  });
  receiver.url = `http://127.0.0.1:${server.port}/usersvc`;
  return receiver;
}

/** A port nothing listens on (taken and given back at once). */
export async function closedPort(): Promise<number> {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port!;
  await server.stop(true);
  return port;
}

/** The whole outbox, oldest first. */
export function outboxRows(db: Db): Promise<OutboxRow[]> {
  return db.select().from(outboxEvents).orderBy(asc(outboxEvents.seq));
}

/** Runs delivery passes until nothing more is due (bounded); returns how many rows were claimed in all. */
export async function deliverUntilIdle(core: Core, passes = 200): Promise<number> {
  let total = 0;
  for (let i = 0; i < passes; i++) {
    const claimed = await deliverDueEvents(core);
    if (claimed === 0) return total;
    total += claimed;
  }
  throw new Error(`deliverDueEvents still found due events after ${passes} passes`);
}

/**
 * Polls `check` until it returns a value other than undefined, or gives up
 * with `what` in the error. For processes outside the test's control
 * (a spawned usersvc); waits `intervalMs` between looks.
 */
export async function pollFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(options.intervalMs ?? 100);
  }
}

/**
 * Lets the event loop run until `check` holds, at most `turns` times
 * (setImmediate turns, no timers): for work the server started after it
 * answered, such as forgot-password's lookup.
 */
export async function turnsUntil<T>(what: string, check: () => Promise<T | undefined>, turns = 1000): Promise<T> {
  for (let i = 0; i < turns; i++) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`${what} did not happen within ${turns} event-loop turns`);
}

/** The claims of a JWT, decoded without checking it. */
export function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

const EXAMPLES = join(import.meta.dir, "..", "..", "examples", "hooks");

/** Copies a shipped example hooks file into `target` (scripts executable); returns its path. */
export function copyExample(name: string, target: string): string {
  const path = join(target, name);
  copyFileSync(join(EXAMPLES, name), path);
  if (name !== "hooks.ts") chmodSync(path, 0o755);
  return path;
}

/**
 * Runs `use` with a core of this process on the test database (a clock it
 * may move), as a second usersvc would; on the embedded database it holds
 * the data directory lock meanwhile, so no command or binary opens it at the
 * same time.
 */
export async function withCore<T>(
  database: TestDatabase,
  env: Record<string, string>,
  use: (core: Core, advance: (seconds: number) => void) => Promise<T>,
): Promise<T> {
  const lock = database.kind === "pglite" ? tryLockDataDir(database.env.USERSVC_DATA_DIR) : null;
  if (database.kind === "pglite" && !lock) throw new Error("the data directory is held by a running usersvc");
  const config = loadConfig({ ...database.env, ...env });
  const handle = await openDatabase(config);
  let offsetMs = 0;
  try {
    const core = await createCore({
      config,
      db: handle.db,
      dbKind: handle.kind,
      logger: createLogger("silent", { write: () => {} }),
      now: () => new Date(Date.now() + offsetMs),
    });
    return await use(core, (seconds) => {
      offsetMs += seconds * 1000;
    });
  } finally {
    await handle.close();
    lock?.release();
  }
}
