import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";

import { newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: real servers and databases, and a test that measures many hashes, on a shared machine.
setDefaultTimeout(60_000);

const ROUNDS = 15;

let server: TestServer;
beforeAll(async () => {
  // Many failures on purpose: the rate limit must not cut the measurement short.
  server = await startTestServer({ USERSVC_LOGIN_MAX_ATTEMPTS: "1000" });
});
afterAll(() => server.stop());

interface Measurements {
  unknownEmail: number[];
  wrongPassword: number[];
  oneVerification: number;
}
let measured: Promise<Measurements> | null = null;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function timedLogin(body: { email: string; password: string }): Promise<number> {
  const started = performance.now();
  const res = await server.api("POST", "/api/v1/auth/login", { body });
  const elapsed = performance.now() - started;
  expect(res.status).toBe(401);
  expect(res.body.error.code).toBe("INVALID_CREDENTIALS");
  return elapsed;
}

/** Measured once, inside the first test that asks (hooks have a short time limit of their own). */
function measurements(): Promise<Measurements> {
  measured ??= measure();
  return measured;
}

async function measure(): Promise<Measurements> {
  const input = newUser();
  expect((await server.api("POST", "/api/v1/users", { body: input })).status).toBe(201);

  const unknown = () => ({ email: newUser().email, password: input.password });
  const wrong = () => ({ email: input.email, password: `${input.password} but wrong` });
  // Warm-up: the first unknown-email login also builds the dummy hash.
  await timedLogin(unknown());
  await timedLogin(wrong());
  const unknownEmail: number[] = [];
  const wrongPassword: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    unknownEmail.push(await timedLogin(unknown()));
    wrongPassword.push(await timedLogin(wrong()));
  }

  const hash = await server.core.passwords.hash("a reference password");
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await server.core.passwords.verify("not the reference password", hash);
    samples.push(performance.now() - started);
  }
  return { unknownEmail, wrongPassword, oneVerification: median(samples) };
}

describe("login failure timing", () => {
  test("unknown email and wrong password take indistinguishable time (medians within a factor of 2)", async () => {
    const { unknownEmail, wrongPassword } = await measurements();
    const ratio = median(unknownEmail) / median(wrongPassword);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });

  test("an unknown email still costs at least a third of a real password verification", async () => {
    const { unknownEmail, oneVerification } = await measurements();
    expect(oneVerification).toBeGreaterThan(5);
    expect(median(unknownEmail)).toBeGreaterThan(oneVerification / 3);
  });
});
