/**
 * A typed usersvc client: types generated from /docs/json by
 * openapi-typescript, requests made by openapi-fetch. Every answer is
 * typed from the document: `data` on success, `error.code` (the codes that
 * route can answer with) on failure.
 *
 *   npx openapi-typescript http://127.0.0.1:8000/docs/json -o schema.d.ts
 *   npx tsx client.ts http://127.0.0.1:8000        (or: bun client.ts …)
 *
 * tests/server/openapi.test.ts generates schema.d.ts from a running server,
 * type-checks this file against it and runs signUpAndReadMe.
 */
import { pathToFileURL } from "node:url";
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.d.ts";

export type User = components["schemas"]["User"];
export type Tokens = components["schemas"]["Tokens"];

export interface SignUp {
  email: string;
  username: string;
  password: string;
}

/** Registers, logs in and reads GET /users/me. */
export async function signUpAndReadMe(baseUrl: string, input: SignUp): Promise<{ registered: User; tokens: Tokens; me: User }> {
  const client = createClient<paths>({ baseUrl });

  const registered = await client.POST("/api/v1/users", { body: input });
  // `error` is the failure envelope: its code is one of the codes this route declares.
  if (registered.error) throw new Error(`register: ${registered.error.error.code} ${registered.error.error.message}`);

  const login = await client.POST("/api/v1/auth/login", { body: { email: input.email, password: input.password } });
  if (login.error) throw new Error(`login: ${login.error.error.code}`);
  const session = login.data.data;
  // With two-factor authentication on, login answers a challenge instead of tokens.
  if ("mfa_required" in session) throw new Error("two-factor authentication is on: finish with POST /api/v1/auth/mfa/verify");

  const me = await client.GET("/api/v1/users/me", { headers: { authorization: `Bearer ${session.access_token}` } });
  if (me.error) throw new Error(`users/me: ${me.error.error.code}`);
  return { registered: registered.data.data, tokens: session, me: me.data.data };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const baseUrl = process.argv[2] ?? "http://127.0.0.1:8000";
  const tag = Date.now().toString(36);
  const { me, tokens } = await signUpAndReadMe(baseUrl, {
    email: `typed-${tag}@example.com`,
    username: `typed_${tag}`,
    password: "correct horse battery staple",
  });
  console.log(`signed in as ${me.username} <${me.email}> (roles: ${me.roles.join(", ")}); the access token lasts ${tokens.expires_in} s`);
}
