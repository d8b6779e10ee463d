import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { calibrateHashing } from "../../src/core/passwords/calibrate.ts";
import { createPasswordHasher } from "../../src/core/passwords/hasher.ts";
import { DEFAULT_HASH_NICENESS } from "../../src/core/passwords/hash-workers.ts";
import { users } from "../../src/core/db/schema.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers and databases, and a test that measures many hashes, on a shared machine.
setDefaultTimeout(60_000);

describe("argon2id cost from the configuration", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ USERSVC_HASH_MEMORY_KIB: "16384", USERSVC_HASH_TIME_COST: "1" });
  });
  afterAll(() => server.stop());

  const storedHash = async (email: string): Promise<string> => {
    const [row] = await server.core.db.select({ hash: users.passwordHash }).from(users).where(eq(users.email, email));
    return row!.hash!;
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

describe("password hashing threads", () => {
  /** This process's threads at `niceness`, by default the hashing threads' priority (Linux /proc). */
  const lowPriorityThreads = (niceness = DEFAULT_HASH_NICENESS): string[] =>
    readdirSync("/proc/self/task").filter((tid) => {
      try {
        return readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ")[16] === String(niceness);
      } catch {
        return false; // a thread that ended while we looked
      }
    });
  const named = (tid: string): string => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim();
    } catch {
      return "";
    }
  };

  test.if(process.platform === "linux")("hashes run on threads of their own at a lower CPU priority than the event loop", async () => {
    const hasher = createPasswordHasher({ memoryKib: 8192, timeCost: 1 }, 2);
    const [first, second] = await Promise.all([hasher.hash("first password"), hasher.hash("second password")]);
    expect(await Promise.all([hasher.verify("first password", first), hasher.verify("second password", first)])).toEqual([true, false]);
    expect(await hasher.verify("second password", second)).toBe(true);
    const low = lowPriorityThreads();
    expect(low.map(named)).toContain("Worker");
    expect(low).not.toContain(String(process.pid)); // the event loop keeps its priority
  });

  test.if(process.platform === "linux")("USERSVC_HASH_NICENESS sets the hashing threads' niceness", async () => {
    const hasher = createPasswordHasher({ memoryKib: 8192, timeCost: 1 }, 1, undefined, { niceness: 13 });
    expect(lowPriorityThreads(13)).toEqual([]);
    await hasher.hash("a password");
    expect(lowPriorityThreads(13).map(named)).toEqual(["Worker"]);
  });

  test.if(process.platform === "linux")("jobs beyond the thread count wait their turn on the same thread, and all finish", async () => {
    const before = lowPriorityThreads().filter((tid) => named(tid) === "Worker").length;
    const hasher = createPasswordHasher({ memoryKib: 8192, timeCost: 1 }, 1);
    const hashes = await Promise.all(["a1 password", "a2 password", "a3 password", "a4 password", "a5 password"].map((p) => hasher.hash(p)));
    expect(new Set(hashes).size).toBe(5);
    expect(await hasher.verify("a3 password", hashes[2]!)).toBe(true);
    expect(lowPriorityThreads().filter((tid) => named(tid) === "Worker").length - before).toBe(1);
  });

  test("a stored hash the hashing thread cannot read verifies as false instead of failing", async () => {
    const hasher = createPasswordHasher({ memoryKib: 8192, timeCost: 1 }, 1);
    expect(await hasher.verify("any password", "$argon2id$v=19$broken")).toBe(false);
    expect(await hasher.verify("any password", "not a hash at all")).toBe(false);
    expect(await hasher.verify("any password", await hasher.hash("any password"))).toBe(true);
  });
});
