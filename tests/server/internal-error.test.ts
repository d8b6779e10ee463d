import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "drizzle-orm";
import { registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

test("an unexpected failure answers 500 INTERNAL_ERROR in the envelope, with no SQL, and is logged once", async () => {
  const { tokens } = await registerAndLogin(server.api);
  // Break the database under the running server: the session lookup now fails.
  await server.core.db.execute(sql`alter table sessions rename to sessions_gone`);
  try {
    const res = await server.api("GET", "/api/v1/users/me", { token: tokens.access_token });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ success: false, data: null, error: { code: "INTERNAL_ERROR", message: "Internal error" } });
    expect(JSON.stringify(res.body)).not.toMatch(/select|sessions|relation/i);
    const errors = server.logs.filter((line) => line.includes('"unhandled error"'));
    expect(errors).toHaveLength(1);
  } finally {
    await server.core.db.execute(sql`alter table sessions_gone rename to sessions`);
  }
});
