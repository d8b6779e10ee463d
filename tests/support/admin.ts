/**
 * Admins and plain users for the admin-route tests: admins are made through
 * the core (as `usersvc create-admin` does), everyone logs in through the API.
 */
import { expect } from "bun:test";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { createUser } from "../../src/core/users/users.ts";
import { type Api, newUser, registerAndLogin, type TestServer, type TokenPairBody } from "./server.ts";

export interface Credentials {
  email: string;
  username: string;
  password: string;
}

export interface LoggedIn {
  id: string;
  input: Credentials;
  tokens: TokenPairBody;
  /** The access token. */
  token: string;
}

/** Logs in through the API; throws unless it answers 200. */
export async function loginAs(api: Api, input: { email: string; password: string }): Promise<TokenPairBody> {
  const res = await api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data;
}

/** An admin created through the core, logged in through the API. */
export async function createAdmin(server: TestServer, overrides: Partial<Credentials> = {}): Promise<LoggedIn> {
  const input = newUser(overrides);
  const record = await createUser(server.core, input, { actor: CLI_ACTOR, roles: ["user", "admin"] });
  const tokens = await loginAs(server.api, input);
  return { id: record.id, input, tokens, token: tokens.access_token };
}

/** A plain user registered and logged in through the API. */
export async function createPlainUser(server: TestServer, overrides: Partial<Credentials> = {}): Promise<LoggedIn> {
  const { input, user, tokens } = await registerAndLogin(server.api, overrides);
  return { id: user.id, input, tokens, token: tokens.access_token };
}

/** A whole failure envelope with this code, for `toEqual`. */
export function failureOf(code: string) {
  const error =
    code === "VALIDATION_ERROR"
      ? { code, message: expect.any(String), details: expect.any(Array) }
      : { code, message: expect.any(String) };
  return { success: false, data: null, error };
}
