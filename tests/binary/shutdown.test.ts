/**
 * SPEC §5: SIGTERM/SIGINT make `serve` drain the requests in flight and
 * exit 0.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { callApi, createMigratedTestDatabase, run, startServe } from "../support/binary.ts";
import type { TestDatabase } from "../support/database.ts";

// Each test spawns the binary (and most start serve): on the embedded database one can pass 5 s.
setDefaultTimeout(60_000);

const ADMIN = { email: "drain@example.com", username: "drain", password: "a long operator passphrase 7" };

describe("graceful shutdown of serve", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    const created = await run(["create-admin", "--email", ADMIN.email, "--username", ADMIN.username, "--password-stdin"], {
      env: database.env,
      stdin: ADMIN.password,
    });
    if (created.exitCode !== 0) throw new Error(`create-admin failed: ${created.stderr}`);
  });
  afterAll(() => database.drop());

  test("SIGTERM sent while logins are in flight lets every one of them finish with 200, then exits 0", async () => {
    await using serve = await startServe({ env: database.env });
    const logins = Array.from({ length: 6 }, () =>
      callApi(serve.url, "POST", "/api/v1/auth/login", { body: { email: ADMIN.email, password: ADMIN.password } }),
    );
    // The logins went out first; once this cheap request has its answer the server
    // has read them too, and each still has ~100 ms of password hashing ahead.
    expect((await callApi(serve.url, "GET", "/healthz")).status).toBe(200);
    serve.kill("SIGTERM");

    const answers = await Promise.all(logins);
    expect(answers.map((a) => [a.status, typeof a.body?.data?.access_token])).toEqual(Array(6).fill([200, "string"]));

    const result = await serve.exited;
    expect({ exitCode: result.exitCode, signalCode: result.signalCode, stderr: result.stderr }).toEqual({
      exitCode: 0,
      signalCode: null,
      stderr: "",
    });
    const messages = result.logs.map((l) => (l.msg === "request" ? `${l.route} ${l.status}` : l.msg));
    const shutdownAt = messages.indexOf("shutting down: draining in-flight requests");
    expect(shutdownAt).toBeGreaterThan(-1);
    // At least one login was answered after the signal arrived: it really was in flight.
    expect(messages.slice(shutdownAt)).toContain("/api/v1/auth/login 200");
    expect(messages.filter((m) => m === "/api/v1/auth/login 200")).toHaveLength(6);
    expect(messages.at(-1)).toBe("stopped");
  });

  test("SIGINT stops an idle serve with exit code 0 and a stopped log line", async () => {
    await using serve = await startServe({ env: database.env });
    const result = await serve.stop("SIGINT");
    expect({ exitCode: result.exitCode, signalCode: result.signalCode, stderr: result.stderr }).toEqual({
      exitCode: 0,
      signalCode: null,
      stderr: "",
    });
    expect(result.logs.map((l) => [l.msg, l.signal])).toEqual(
      expect.arrayContaining([
        ["shutting down: draining in-flight requests", "SIGINT"],
        ["stopped", undefined],
      ]),
    );
  });

  test("after SIGTERM the port no longer accepts connections", async () => {
    await using serve = await startServe({ env: database.env });
    expect((await callApi(serve.url, "GET", "/healthz")).status).toBe(200);
    expect((await serve.stop("SIGTERM")).exitCode).toBe(0);
    expect(callApi(serve.url, "GET", "/healthz")).rejects.toThrow();
  });
});
