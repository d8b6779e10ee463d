import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { calibrateHashing } from "../../src/core/auth/calibrate.ts";
import { createPasswordHasher } from "../../src/core/auth/password.ts";
import { users } from "../../src/core/db/schema.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

describe("argon2id cost from the configuration", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ USERSVC_HASH_MEMORY_KIB: "16384", USERSVC_HASH_TIME_COST: "1" });
  });
  afterAll(() => server.stop());

  const storedHash = async (email: string): Promise<string> => {
    const [row] = await server.core.db.select({ hash: users.passwordHash }).from(users).where(eq(users.email, email));
    return row!.hash;
  };

  test("new passwords are hashed with the configured memory and time cost", async () => {
    const input = newUser();
    expect((await server.api("POST", "/api/v1/users", { body: input })).status).toBe(201);
    expect(await storedHash(input.email)).toStartWith("$argon2id$v=19$m=16384,t=1,p=1$");
  });

  test("a hash made with older costs is replaced at the next successful login, and still logs in after", async () => {
    const input = newUser();
    await server.api("POST", "/api/v1/users", { body: input });
    const older = await createPasswordHasher({ memoryKib: 65536, timeCost: 2 }).hash(input.password);
    await server.core.db.update(users).set({ passwordHash: older }).where(eq(users.email, input.email));

    const wrong = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: "not it at all" } });
    expect(wrong.status).toBe(401);
    expect(await storedHash(input.email)).toBe(older); // a failed login changes nothing

    const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
    expect(login.status).toBe(200);
    expect(await storedHash(input.email)).toStartWith("$argon2id$v=19$m=16384,t=1,p=1$");
    expect((await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } })).status).toBe(200);
  });
});

test("calibration returns costs whose measured hash fits the target", async () => {
  const result = await calibrateHashing(300, 16384);
  expect(result.memoryKib).toBe(16384);
  expect(result.timeCost).toBeGreaterThanOrEqual(1);
  expect(result.measuredMs).toBeLessThanOrEqual(300);
});
