import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

describe("GET /docs/assets/:name", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  test("serves the embedded Swagger UI files", async () => {
    const res = await fetch(`${server.url}/docs/assets/swagger-ui.css`);
    expect([res.status, res.headers.get("content-type")]).toEqual([200, "text/css; charset=utf-8"]);
  });

  test("answers 404 for any other name, the names of Object.prototype's members included", async () => {
    const names = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf", "missing.js"];
    const statuses = await Promise.all(names.map(async (name) => (await fetch(`${server.url}/docs/assets/${name}`)).status));
    expect(statuses).toEqual(names.map(() => 404));
  });
});
