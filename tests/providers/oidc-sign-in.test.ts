/**
 * Signing in with an OpenID Connect issuer (SPEC §10), against a real one:
 * the npm oidc-provider on a loopback port, walked through its development
 * login and consent forms. First sign-in creates the user (beforeRegister
 * sees the provider); a verified email equal to a verified local email
 * links; anything less never links; key rotation at the issuer; return_to.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { eq } from "drizzle-orm";
import { users } from "../../src/core/db/schema.ts";
import { Browserless, errorCodeOf, formOf } from "../support/browserless.ts";
import { hooksDir, writeHookFile } from "../support/hooks.ts";
import { registerAndLogin } from "../support/server.ts";
import { auditEvents, identitiesOf, type ProviderKit, sessionAmrs, signInWith, startProviderKit, userByEmail } from "./support.ts";

setDefaultTimeout(30_000);

const HOOKS = `
export default {
  beforeRegister(input) {
    if (input.provider?.name === "corp" && input.email.endsWith("@refused.example")) return { reject: "corp sign-ups from refused.example are closed" };
    if (input.provider) return { metadata: { signed_up_with: input.provider.name + ":" + input.provider.type } };
  },
};
`;

let kit: ProviderKit;
let dir: string;
beforeAll(async () => {
  dir = hooksDir("usersvc-provider-hooks-");
  kit = await startProviderKit({ USERSVC_HOOKS: writeHookFile(dir, "hooks.ts", HOOKS) });
});
afterAll(async () => {
  await kit.stop();
  rmSync(dir, { recursive: true, force: true });
});

const browser = () => new Browserless(kit.server.url);
let n = 0;
const person = (email: string, email_verified: boolean, extra: Record<string, unknown> = {}) => {
  const login = `person${++n}`;
  kit.upstream.accounts.set(login, { email, email_verified, ...extra });
  return login;
};

describe("the first sign-in with a provider", () => {
  test("shows the provider's button on /login and /register, keeping return_to", async () => {
    const b = browser();
    const login = await b.get("/login?return_to=%2Faccount%3Ftab%3D1");
    expect(login.html).toContain('href="/login/provider/corp?return_to=%2Faccount%3Ftab%3D1"');
    expect(login.html).toContain("Continue with Corp SSO");
    expect(login.html).toContain("Continue with GitHub");
    const register = await b.get("/register");
    expect(register.html).toContain('href="/login/provider/corp"');
  });

  test("creates a user without a password, verified as the provider says, signed in with amr fed", async () => {
    const b = browser();
    const login = person("new.person@example.com", true, { preferred_username: "new person!" });
    const done = await signInWith(kit, b, "corp", login);
    expect(done.status).toBe(303);
    expect(done.location).toBe("/account");
    expect(b.cookie("usersvc_session")).toBeDefined();
    const user = (await userByEmail(kit.server, "new.person@example.com"))!;
    expect({ hash: user.passwordHash, verified: user.isVerified, username: user.username, metadata: user.metadata }).toEqual({
      hash: null,
      verified: true,
      username: "newperson",
      metadata: { signed_up_with: "corp:oidc" },
    });
    const [identity] = await identitiesOf(kit.server, user.id);
    expect({ provider: identity!.providerId, subject: identity!.subject, emailVerified: identity!.emailVerified }).toEqual({ provider: "corp", subject: login, emailVerified: true });
    expect(await sessionAmrs(kit.server, user.id)).toEqual([["fed"]]);
    expect((await auditEvents(kit.server, "user.identity_linked", user.id)).length).toBe(1);
    // The account page shows the identity, and that there is no password to change.
    const account = await b.get("/account");
    expect(account.html).toContain("Linked accounts");
    expect(account.html).toContain("new.person@example.com");
    expect(account.html).toContain("Your account has no password");
    expect(account.html).not.toContain('name="current_password"');
    // Neither the client secret nor the state or code reached the log.
    const log = kit.server.logs.join("\n");
    expect(log).not.toContain(kit.upstream.clientSecret);
    expect(log).not.toContain("code=");
    expect(log).not.toContain("state=");
    // Signing in again finds the same user through the identity.
    const again = browser();
    expect((await signInWith(kit, again, "corp", login)).location).toBe("/account");
    expect((await identitiesOf(kit.server, user.id)).length).toBe(1);
  });

  test("a provider's unverified email signs nobody up (tests/security/providers-review.test.ts: pre-account takeover)", async () => {
    const b = browser();
    const done = await signInWith(kit, b, "corp", person("unverified.new@example.com", false));
    expect(errorCodeOf(done.html)).toBe("EMAIL_NOT_VERIFIED");
    expect(await userByEmail(kit.server, "unverified.new@example.com")).toBeNull();
  });

  test("beforeRegister sees the provider and may refuse: no user, no session", async () => {
    const b = browser();
    const done = await signInWith(kit, b, "corp", person("someone@refused.example", true));
    expect(done.status).toBe(403);
    expect(errorCodeOf(done.html)).toBe("HOOK_REJECTED");
    expect(done.html).toContain("corp sign-ups from refused.example are closed");
    expect(await userByEmail(kit.server, "someone@refused.example")).toBeNull();
    expect(b.cookie("usersvc_session")).toBeUndefined();
  });

  test("goes to the return_to given at the start, never to another origin", async () => {
    const login = person("returns@example.com", true);
    const b = browser();
    expect((await signInWith(kit, b, "corp", login, "?return_to=%2Faccount%23sessions")).location).toBe("/account#sessions");
    const evil = browser();
    expect((await signInWith(kit, evil, "corp", login, "?return_to=https%3A%2F%2Fevil.example%2Fsteal")).location).toBe("/account");
  });

  test("an open redirect through the callback's own query is not followed", async () => {
    const login = person("callback.query@example.com", true);
    const b = browser();
    const { startAt, providerAnswer } = await import("./support.ts");
    const answer = await providerAnswer(kit, "corp", await startAt(b, "corp"), login);
    answer.searchParams.set("return_to", "https://evil.example/");
    const done = await b.get(answer.pathname + answer.search);
    expect(done.location).toBe("/account");
  });
});

describe("linking to an existing user on sign-in", () => {
  test("links when the provider's verified email is the user's verified email", async () => {
    const { user } = await registerAndLogin(kit.server.api, { email: "verified.local@example.com" });
    await kit.server.core.db.update(users).set({ isVerified: true }).where(eq(users.id, user.id));
    const b = browser();
    const done = await signInWith(kit, b, "corp", person("Verified.Local@example.com", true));
    expect(done.location).toBe("/account");
    expect((await identitiesOf(kit.server, user.id)).map((i) => i.providerId)).toEqual(["corp"]);
    expect((await auditEvents(kit.server, "user.identity_linked", user.id)).length).toBe(1);
    expect(await sessionAmrs(kit.server, user.id)).toContainEqual(["fed"]);
  });

  test("never links when the provider says email_verified false: the person is asked to sign in first", async () => {
    const { user } = await registerAndLogin(kit.server.api, { email: "claimed@example.com" });
    await kit.server.core.db.update(users).set({ isVerified: true }).where(eq(users.id, user.id));
    const b = browser();
    const done = await signInWith(kit, b, "corp", person("claimed@example.com", false));
    expect(done.status).toBe(409);
    expect(errorCodeOf(done.html)).toBe("EMAIL_TAKEN");
    expect(done.html).toContain("then link Corp SSO on your account page");
    expect(b.cookie("usersvc_session")).toBeUndefined();
    expect(await identitiesOf(kit.server, user.id)).toEqual([]);
  });

  test("never links when the local email is not verified, even if the provider's is", async () => {
    const { user } = await registerAndLogin(kit.server.api, { email: "local.unverified@example.com" });
    const b = browser();
    const done = await signInWith(kit, b, "corp", person("local.unverified@example.com", true));
    expect(errorCodeOf(done.html)).toBe("EMAIL_TAKEN");
    expect(await identitiesOf(kit.server, user.id)).toEqual([]);
  });

  test("a provider without an email claim at all is refused", async () => {
    kit.upstream.accounts.set("no-email", {});
    const b = browser();
    const done = await signInWith(kit, b, "corp", "no-email");
    expect(errorCodeOf(done.html)).toBe("EMAIL_NOT_VERIFIED");
    expect(b.cookie("usersvc_session")).toBeUndefined();
  });

  test("a blocked user linked to the identity is refused like a password login", async () => {
    const login = person("to.block@example.com", true);
    await signInWith(kit, browser(), "corp", login);
    const user = (await userByEmail(kit.server, "to.block@example.com"))!;
    await kit.server.core.db.update(users).set({ status: "blocked" }).where(eq(users.id, user.id));
    const b = browser();
    const done = await signInWith(kit, b, "corp", login);
    expect(errorCodeOf(done.html)).toBe("ACCOUNT_BLOCKED");
    expect(b.cookie("usersvc_session")).toBeUndefined();
  });

  test("a blocked user whose verified email matches is refused, and nothing is linked", async () => {
    const { user } = await registerAndLogin(kit.server.api, { email: "blocked.match@example.com" });
    await kit.server.core.db.update(users).set({ isVerified: true, status: "blocked" }).where(eq(users.id, user.id));
    const b = browser();
    const done = await signInWith(kit, b, "corp", person("blocked.match@example.com", true));
    expect(errorCodeOf(done.html)).toBe("ACCOUNT_BLOCKED");
    expect(b.cookie("usersvc_session")).toBeUndefined();
    expect(await identitiesOf(kit.server, user.id)).toEqual([]);
  });
});

describe("the issuer's keys", () => {
  test("rotated at the issuer: the next sign-in still works (the new JWKS is fetched)", async () => {
    const login = person("rotation@example.com", true);
    expect((await signInWith(kit, browser(), "corp", login)).location).toBe("/account");
    const before = kit.upstream.kid();
    await kit.upstream.rotateKeys();
    expect(kit.upstream.kid()).not.toBe(before);
    const b = browser();
    const done = await signInWith(kit, b, "corp", login);
    expect(done.location).toBe("/account");
    expect(b.cookie("usersvc_session")).toBeDefined();
  });
});

test("the account page's link form carries the step-up and CSRF fields", async () => {
  const { input } = await registerAndLogin(kit.server.api);
  const b = browser();
  const page = await b.get("/login");
  await b.submit(page, "/login", { identifier: input.email, password: input.password });
  const account = await b.get("/account");
  const form = formOf(account.html, "/account/identities/link");
  expect(Object.keys(form.fields).sort()).toEqual(["csrf_token", "password"]);
});
