import { afterAll, expect, test } from "bun:test";
import { Elysia, t } from "elysia";
import { createLogger } from "../../src/logger.ts";
import { errorHandler } from "../../src/server/errors.ts";

// The real error handler behind a route whose answer breaks its declared
// schema, as a handler that returned an internal field by mistake would.
const logs: string[] = [];
const logger = createLogger("info", { write: (line: string) => void logs.push(line) });
const app = new Elysia({ normalize: false })
  .use(errorHandler(logger, { allowedMethods: () => [], declaredErrors: () => null, strictErrors: true }))
  .get("/leaky", () => ({ id: "u1", password_hash: "$argon2id$v=19$m=65536,t=2,p=1$c2VjcmV0LXNhbHQ$SECRETHASH" }), {
    response: { 200: t.Object({ id: t.String() }, { additionalProperties: false }) },
  })
  .listen({ hostname: "127.0.0.1", port: 0 });
afterAll(() => app.stop());

test("an answer that breaks its declared schema is a 500, and neither the answer nor the log line quotes it", async () => {
  const res = await fetch(`http://127.0.0.1:${app.server!.port}/leaky`);
  expect(res.status).toBe(500);
  const text = await res.text();
  expect(JSON.parse(text)).toEqual({ success: false, data: null, error: { code: "INTERNAL_ERROR", message: "Internal error" } });
  const line = logs.find((l) => l.includes("does not match its declared schema"));
  expect(line).toBeDefined();
  expect(line).not.toContain("SECRETHASH");
  // What the fix needs: which field broke the schema.
  expect(JSON.parse(line!).problems).toEqual([expect.objectContaining({ path: "/password_hash" })]);
});
