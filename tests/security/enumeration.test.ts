/**
 * No user enumeration beyond what the spec requires. Login, forgot-password,
 * the login limiter and the single-use token routes answer the same bytes —
 * status, body and headers — whether or not an account exists (or is
 * deleted, or blocked), and in indistinguishable time. What the spec does
 * disclose is named as such: sign-up answers 409 EMAIL_TAKEN / USERNAME_TAKEN,
 * bounded by the per-IP sign-up limit. tests/server/timing.test.ts compares
 * unknown-email and wrong-password logins; this file adds the deleted and
 * blocked cases and forgot-password.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { oneTimeTokens } from "../../src/core/db/schema.ts";
import { blockUser, softDeleteUser } from "../../src/core/users/lifecycle.ts";
import { createUser } from "../../src/core/users/users.ts";
import { createPlainUser, failureOf, type LoggedIn } from "../support/admin.ts";
import { newUser, startTestServer, type ApiResponse, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers and databases, and a test that measures many hashes, on a shared machine.
setDefaultTimeout(60_000);

/** Headers that differ on every response by design. */
const PER_RESPONSE_HEADERS = new Set(["date", "x-request-id"]);

/** Everything a client can observe of an answer except its timing. */
function observable(res: ApiResponse): { status: number; body: unknown; headers: [string, string][] } {
  const headers = [...res.headers.entries()].filter(([name]) => !PER_RESPONSE_HEADERS.has(name)).sort();
  return { status: res.status, body: res.body, headers };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Runs each case `rounds` times, alternating, and answers the median time of
 * each. Alternating spreads any slowdown of the shared machine over all cases.
 */
async function alternatingMedians(rounds: number, cases: (() => Promise<unknown>)[]): Promise<number[]> {
  const times: number[][] = cases.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < cases.length; i++) {
      const index = (i + round) % cases.length;
      const started = performance.now();
      await cases[index]!();
      times[index]!.push(performance.now() - started);
    }
  }
  return times.map(median);
}

/** Medians within a factor of 2 of each other (generous: the machine is shared). */
function expectIndistinguishable(medians: number[], labels: string[]): void {
  const fastest = Math.min(...medians);
  const slowest = Math.max(...medians);
  expect({ medians: Object.fromEntries(labels.map((l, i) => [l, Math.round(medians[i]! * 10) / 10])), ratioBelow2: slowest / fastest < 2 }).toEqual({
    medians: expect.any(Object),
    ratioBelow2: true,
  });
}

describe("login", () => {
  let server: TestServer;
  let active: LoggedIn;
  let deleted: LoggedIn;
  let blocked: LoggedIn;
  beforeAll(async () => {
    server = await startTestServer();
    active = await createPlainUser(server);
    deleted = await createPlainUser(server);
    blocked = await createPlainUser(server);
    await softDeleteUser(server.core, CLI_ACTOR, deleted.id);
    await blockUser(server.core, CLI_ACTOR, blocked.id, { reason: "testing" });
  });
  afterAll(() => server.stop());

  function login(body: Record<string, string>): Promise<ApiResponse> {
    return server.api("POST", "/api/v1/auth/login", { body });
  }

  const failures = () =>
    ({
      "unknown email": { email: newUser().email, password: active.input.password },
      "unknown username": { username: newUser().username, password: active.input.password },
      "wrong password (by email)": { email: active.input.email, password: "not the password at all" },
      "wrong password (by username)": { username: active.input.username, password: "not the password at all" },
      "deleted account, right password": { email: deleted.input.email, password: deleted.input.password },
      "deleted account, wrong password": { email: deleted.input.email, password: "not the password at all" },
      "blocked account, wrong password": { email: blocked.input.email, password: "not the password at all" },
    }) as Record<string, Record<string, string>>;

  test("unknown account, wrong password and deleted account answer the same status, body and headers", async () => {
    const answers = await Promise.all(Object.values(failures()).map(async (body) => observable(await login(body))));
    const expected = answers[0]!;
    expect(expected.status).toBe(401);
    expect(expected.body).toEqual(failureOf("INVALID_CREDENTIALS"));
    for (const [i, label] of Object.keys(failures()).entries()) expect({ label, ...answers[i]! }).toEqual({ label, ...expected });
  });

  test("a blocked account answers 403 ACCOUNT_BLOCKED only after the right password (SPEC §4)", async () => {
    const res = await login({ email: blocked.input.email, password: blocked.input.password });
    expect({ status: res.status, body: res.body }).toEqual({ status: 403, body: failureOf("ACCOUNT_BLOCKED") });
  });

  test("unknown account, deleted account and wrong password take indistinguishable time (medians within a factor of 2)", async () => {
    const cases = {
      "unknown email": () => login({ email: newUser().email, password: active.input.password }),
      "wrong password": () => login({ email: active.input.email, password: "not the password at all" }),
      "deleted account": () => login({ email: deleted.input.email, password: deleted.input.password }),
      "blocked, wrong password": () => login({ email: blocked.input.email, password: "not the password at all" }),
    };
    // Warm-up: the first unknown-account login also builds the dummy hash.
    for (const run of Object.values(cases)) await run();
    expectIndistinguishable(await alternatingMedians(12, Object.values(cases)), Object.keys(cases));
  });
});

describe("the login rate limiter", () => {
  let server: TestServer;
  beforeAll(async () => {
    // Trusting X-Forwarded-For lets each attempt come from its own IP, so only the account's count trips.
    server = await startTestServer({ USERSVC_LOGIN_MAX_ATTEMPTS: "3", USERSVC_TRUST_PROXY: "true" });
  });
  afterAll(() => server.stop());

  let nextIp = 0;
  async function attempts(email: string, password: string, count: number): Promise<ReturnType<typeof observable>[]> {
    const answers = [];
    for (let i = 0; i < count; i++) {
      nextIp += 1;
      const res = await server.api("POST", "/api/v1/auth/login", {
        body: { email, password },
        headers: { "x-forwarded-for": `198.51.${Math.floor(nextIp / 250)}.${(nextIp % 250) + 1}` },
      });
      answers.push(observable(res));
    }
    return answers;
  }

  test("counts unknown accounts exactly like known ones: the same answers, 429 at the same attempt", async () => {
    const known = await createPlainUser(server);
    const knownAnswers = await attempts(known.input.email, "not the password at all", 5);
    const unknownAnswers = await attempts(newUser().email, "not the password at all", 5);
    expect(knownAnswers.map((a) => a.status)).toEqual([401, 401, 401, 429, 429]);
    // Retry-After counts down with the clock: compare it by presence, everything else byte for byte.
    const comparable = (answers: ReturnType<typeof observable>[]) =>
      answers.map((a) => ({ ...a, headers: a.headers.map(([n, v]) => [n, n === "retry-after" ? "<seconds>" : v]) }));
    expect(comparable(unknownAnswers)).toEqual(comparable(knownAnswers));
    expect(knownAnswers[3]!.headers.some(([name]) => name === "retry-after")).toBe(true);
  });

  test("a limited known account refuses even its right password with the same 429 as an unknown one", async () => {
    const known = await createPlainUser(server);
    const ghost = newUser().email;
    await attempts(known.input.email, "not the password at all", 3);
    await attempts(ghost, "not the password at all", 3);
    const [right] = await attempts(known.input.email, known.input.password, 1);
    const [unknown] = await attempts(ghost, known.input.password, 1);
    expect(right!.status).toBe(429);
    expect(right!.body).toEqual(unknown!.body);
  });
});

describe("forgot-password", () => {
  let server: TestServer;
  let known: LoggedIn;
  let deleted: LoggedIn;
  let blocked: LoggedIn;
  beforeAll(async () => {
    server = await startTestServer();
    known = await createPlainUser(server);
    deleted = await createPlainUser(server);
    blocked = await createPlainUser(server);
    await softDeleteUser(server.core, CLI_ACTOR, deleted.id);
    await blockUser(server.core, CLI_ACTOR, blocked.id, {});
  });
  afterAll(() => server.stop());

  function forgot(email: string): Promise<ApiResponse> {
    return server.api("POST", "/api/v1/auth/forgot-password", { body: { email } });
  }

  async function resetTokensOf(userId: string): Promise<number> {
    const rows = await server.core.db
      .select()
      .from(oneTimeTokens)
      .where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, "reset_password")));
    return rows.length;
  }

  test("known, unknown, deleted and blocked emails answer the same 202, body and headers", async () => {
    const emails = [known.input.email, newUser().email, deleted.input.email, blocked.input.email, known.input.email.toUpperCase()];
    const answers = [];
    for (const email of emails) answers.push(observable(await forgot(email)));
    expect(answers[0]!.status).toBe(202);
    expect(answers[0]!.body).toEqual({ success: true, data: { accepted: true }, error: null });
    for (const answer of answers) expect(answer).toEqual(answers[0]!);
  });

  test("only the known, active account gets a reset token (the answers above hid real work)", async () => {
    const fresh = await createPlainUser(server);
    for (const email of [fresh.input.email, deleted.input.email, blocked.input.email]) expect((await forgot(email)).status).toBe(202);
    // The work runs after the answer: wait for its row, bounded.
    for (let i = 0; i < 200 && (await resetTokensOf(fresh.id)) === 0; i++) await Bun.sleep(10);
    expect(await resetTokensOf(fresh.id)).toBe(1);
    expect([await resetTokensOf(deleted.id), await resetTokensOf(blocked.id)]).toEqual([0, 0]);
  });

  test("known and unknown emails take indistinguishable time over 20 alternating runs (medians within a factor of 2)", async () => {
    const cases = {
      known: () => forgot(known.input.email),
      unknown: () => forgot(newUser().email),
    };
    for (const run of Object.values(cases)) await run();
    expectIndistinguishable(await alternatingMedians(20, Object.values(cases)), Object.keys(cases));
  });

  test("the answer does not wait for the work: with the reset work slowed by 300 ms, a known email answers as fast as an unknown one", async () => {
    // Only a known, active account's reset opens a transaction; slowing every transaction amplifies any wait for it.
    const db = server.core.db as unknown as { transaction: (...args: unknown[]) => Promise<unknown> };
    const original = db.transaction;
    db.transaction = async (...args: unknown[]) => {
      await Bun.sleep(300);
      return original.apply(server.core.db, args);
    };
    try {
      const [knownMedian, unknownMedian] = await alternatingMedians(5, [() => forgot(known.input.email), () => forgot(newUser().email)]);
      expect({ knownUnder300ms: knownMedian! < 300, unknownUnder300ms: unknownMedian! < 300 }).toEqual({
        knownUnder300ms: true,
        unknownUnder300ms: true,
      });
    } finally {
      // Let the slowed background work finish before the next test reads the database.
      await Bun.sleep(400);
      db.transaction = original;
    }
  });

  test("a malformed email answers 422 whatever it is: the check is on its shape, not on the accounts", async () => {
    const res = await forgot("not-an-email");
    expect([res.status, res.body.error.code]).toEqual([422, "VALIDATION_ERROR"]);
  });
});

describe("verification and reset tokens", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  /** Stores a reset token in the state given, as users/email-tokens.ts would (only its SHA-256). */
  async function storedToken(userId: string, state: { usedAt?: Date; expiresAt?: Date }): Promise<string> {
    const token = crypto.randomUUID();
    const now = server.clock.now();
    await server.core.db.insert(oneTimeTokens).values({
      tokenHash: createHash("sha256").update(token).digest("hex"),
      userId,
      purpose: "reset_password",
      expiresAt: state.expiresAt ?? new Date(now.getTime() + 3_600_000),
      usedAt: state.usedAt ?? null,
      createdAt: now,
    });
    return token;
  }

  test("a never-issued, a spent, an expired and a deleted user's reset token answer the same 400", async () => {
    const alive = await createPlainUser(server);
    const gone = await createPlainUser(server);
    const now = server.clock.now();
    const tokens = {
      "never issued": crypto.randomUUID(),
      spent: await storedToken(alive.id, { usedAt: now }),
      expired: await storedToken(alive.id, { expiresAt: new Date(now.getTime() - 1000) }),
      "of a deleted user": await storedToken(gone.id, {}),
    };
    await softDeleteUser(server.core, CLI_ACTOR, gone.id);
    const answers: Record<string, unknown> = {};
    for (const [label, token] of Object.entries(tokens)) {
      const res = await server.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: "a brand new passphrase 77" } });
      answers[label] = observable(res);
    }
    const first = Object.values(answers)[0] as ReturnType<typeof observable>;
    expect(first.status).toBe(400);
    expect(first.body).toEqual(failureOf("INVALID_OR_EXPIRED_TOKEN"));
    for (const [label, answer] of Object.entries(answers)) expect({ label, answer }).toEqual({ label, answer: first });
    // Control: a live token of the same kind works.
    const live = await storedToken(alive.id, {});
    expect((await server.api("POST", "/api/v1/auth/reset-password", { body: { token: live, new_password: "a brand new passphrase 77" } })).status).toBe(200);
  });

  test("resend-verification requires an access token: without one it answers 401 whatever email is named", async () => {
    const someone = await createPlainUser(server);
    const answers = [];
    for (const body of [undefined, { email: someone.input.email }, { email: newUser().email }]) {
      answers.push(observable(await server.api("POST", "/api/v1/auth/verify-email/resend", { body })));
    }
    expect(answers[0]!.status).toBe(401);
    expect(answers[0]!.body).toEqual(failureOf("UNAUTHENTICATED"));
    for (const answer of answers) expect(answer).toEqual(answers[0]!);
  });

  test("resend-verification with a token only ever sends to the caller, never to an email in the body", async () => {
    const caller = await createPlainUser(server);
    const other = await createPlainUser(server);
    const tokensOf = async (userId: string) =>
      (await server.core.db.select().from(oneTimeTokens).where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, "verify_email")))).length;
    const otherBefore = await tokensOf(other.id);
    const res = await server.api("POST", "/api/v1/auth/verify-email/resend", { token: caller.token, body: { email: other.input.email } });
    expect([202, 422]).toContain(res.status);
    expect(await tokensOf(other.id)).toBe(otherBefore);
  });
});

describe("sign-up conflicts (disclosed by the spec)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  test("a taken email answers 409 EMAIL_TAKEN and a taken username 409 USERNAME_TAKEN, as SPEC §4 requires", async () => {
    const taken = newUser();
    expect((await server.api("POST", "/api/v1/users", { body: taken })).status).toBe(201);
    const byEmail = await server.api("POST", "/api/v1/users", { body: newUser({ email: taken.email.toUpperCase() }) });
    const byUsername = await server.api("POST", "/api/v1/users", { body: newUser({ username: taken.username.toUpperCase() }) });
    expect({ status: byEmail.status, body: byEmail.body }).toEqual({ status: 409, body: failureOf("EMAIL_TAKEN") });
    expect({ status: byUsername.status, body: byUsername.body }).toEqual({ status: 409, body: failureOf("USERNAME_TAKEN") });
  });

  test("the conflict says nothing about the account's state: active, blocked and deleted emails answer alike", async () => {
    const states = [newUser(), newUser(), newUser()];
    const created = await Promise.all(states.map((input) => createUser(server.core, input, { actor: CLI_ACTOR })));
    await blockUser(server.core, CLI_ACTOR, created[1]!.id, {});
    await softDeleteUser(server.core, CLI_ACTOR, created[2]!.id);
    const answers = [];
    for (const input of states) answers.push(observable(await server.api("POST", "/api/v1/users", { body: newUser({ email: input.email }) })));
    expect(answers[0]!.status).toBe(409);
    for (const answer of answers) expect(answer).toEqual(answers[0]!);
  });

  test("probing sign-ups is bounded by the per-IP limit: past it, taken and free emails both answer 429", async () => {
    const limited = await startTestServer({ USERSVC_RATE_LIMIT_PER_IP: "2" });
    try {
      const existing = newUser();
      await createUser(limited.core, existing, { actor: CLI_ACTOR });
      const probe = (email: string) => limited.api("POST", "/api/v1/users", { body: newUser({ email }) });
      expect((await probe(existing.email)).status).toBe(409);
      expect((await probe(newUser().email)).status).toBe(201);
      const [taken, free] = [observable(await probe(existing.email)), observable(await probe(newUser().email))];
      expect(taken.status).toBe(429);
      expect(taken.body).toEqual(failureOf("RATE_LIMITED"));
      expect(taken.body).toEqual(free.body);
    } finally {
      await limited.stop();
    }
  });
});
