import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

describe("the /api/v1 envelope", () => {
  test("an unknown route answers 404 NOT_FOUND in the envelope", async () => {
    const res = await server.api("GET", "/api/v1/nope");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ success: false, data: null, error: { code: "NOT_FOUND", message: expect.any(String) } });
  });

  test("a known route with the wrong method answers 405 with an Allow header", async () => {
    const res = await server.api("GET", "/api/v1/auth/login");
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(res.body.error.code).toBe("METHOD_NOT_ALLOWED");
  });

  test("malformed JSON answers 422 VALIDATION_ERROR with details", async () => {
    const res = await server.api("POST", "/api/v1/auth/login", { body: "{not json" });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({
      code: "VALIDATION_ERROR",
      message: expect.any(String),
      details: [{ field: "body", message: expect.any(String) }],
    });
  });

  test("validation details are worded for people, never in the validator's words", async () => {
    const notAnObject = await server.api("POST", "/api/v1/auth/login", { body: [1, 2] });
    const missing = await server.api("POST", "/api/v1/users", { body: { username: "missing_email", password: "whatever-it-is" } });
    const wrongType = await server.api("POST", "/api/v1/users", { body: { email: 42, username: "wrong_type", password: "whatever-it-is" } });
    expect(notAnObject.body.error.details).toEqual([{ field: "body", message: "must be a JSON object" }]);
    expect(missing.body.error.details).toEqual([{ field: "email", message: "is required" }]);
    expect(wrongType.body.error.details).toEqual([{ field: "email", message: "must be a string" }]);
    for (const res of [notAnObject, missing, wrongType]) expect(JSON.stringify(res.body)).not.toContain("Expected");
  });

  test("a body that is not JSON answers 415", async () => {
    const res = await server.api("POST", "/api/v1/auth/login", { body: "a=1", headers: { "content-type": "text/plain" } });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  test("a body over 64 KiB answers 413", async () => {
    const res = await server.api("POST", "/api/v1/auth/login", { body: { email: "a@b.co", password: "x".repeat(70_000) } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("PAYLOAD_TOO_LARGE");
  });
});
