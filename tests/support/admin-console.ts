/**
 * The admin console from a cookie-jar browser: an admin made through the core
 * (as `usersvc create-admin` does), signed in on /login, and helpers to post
 * the console's forms as a browser would (csrf_token and back from the page).
 */
import { expect } from "bun:test";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { createUser } from "../../src/core/users/users.ts";
import { Browserless, formOf, type PageResponse } from "./browserless.ts";
import { newUser, type TestServer } from "./server.ts";

export interface ConsoleAdmin {
  id: string;
  email: string;
  password: string;
  b: Browserless;
}

/** A browser signed in at /login as `email` / `password`; throws unless the sign-in ends in a redirect. */
export async function signInBrowser(server: TestServer, email: string, password: string): Promise<Browserless> {
  const b = new Browserless(server.url);
  const done = await b.submit(await b.get("/login"), "/login", { identifier: email, password });
  if (done.status !== 303) throw new Error(`sign-in failed: ${done.status} ${done.html.slice(0, 500)}`);
  return b;
}

/** A new admin (roles user + admin, verified), signed in on a browser of its own. */
export async function consoleAdmin(server: TestServer, overrides: Parameters<typeof newUser>[0] = {}): Promise<ConsoleAdmin> {
  const input = newUser(overrides);
  const record = await createUser(server.core, input, { actor: CLI_ACTOR, roles: ["user", "admin"], isVerified: true });
  const b = await signInBrowser(server, input.email, input.password);
  return { id: record.id, email: input.email, password: input.password, b };
}

/** GET a console screen, expecting 200. */
export async function screen(b: Browserless, path: string): Promise<PageResponse> {
  const page = await b.get(path);
  expect(page.status).toBe(200);
  return page;
}

/** Opens `path` and submits its form whose action ends with `action`, with `fields` over the form's own. */
export async function act(b: Browserless, path: string, action: string, fields: Record<string, string> = {}): Promise<PageResponse> {
  const page = await screen(b, path);
  return b.post(formOf(page.html, action).action, { ...formOf(page.html, action).fields, ...fields });
}
