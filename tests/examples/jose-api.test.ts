/**
 * examples/apps/jose-api/server.ts under Bun, against a usersvc issuer:
 * the token rules of tests/examples/api-contract.ts.
 */
import { setDefaultTimeout } from "bun:test";
import { resolve } from "node:path";
import { describeTokenApi } from "./api-contract.ts";
import { startExample } from "./child-process.ts";

// More than bun's 5 s default: usersvc on a real database and two Bun processes start first, and every sign-in hashes a password.
setDefaultTimeout(60_000);

const SERVER = resolve(import.meta.dir, "../../examples/apps/jose-api/server.ts");
const BUN = resolve(import.meta.dir, "../../node_modules/.bin/bun");

describeTokenApi({
  name: "examples/apps/jose-api",
  skip: null,
  start: (env, port) => startExample("jose-api", [BUN, "--no-env-file", SERVER], { port, env }),
});
