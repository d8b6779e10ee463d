/**
 * The GitHub preset through its endpoint overrides (as for GitHub Enterprise
 * Server), against a stand-in on a loopback port: only a verified primary
 * email counts; the numeric id is the subject; PKCE and the client secret
 * reach the token endpoint.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { users } from "../../src/core/db/schema.ts";
import { errorCodeOf } from "../support/browserless.ts";
import { registerAndLogin } from "../support/server.ts";
import { identitiesOf, type ProviderKit, sessionAmrs, signInWith, shareProviderKit, userByEmail } from "./support.ts";

setDefaultTimeout(30_000);

let kit: ProviderKit;
const browser = shareProviderKit((started) => (kit = started));

test("a verified primary email signs up a new user named after the GitHub login, the numeric id as subject", async () => {
  kit.github.next = {
    id: 583231,
    login: "octocat",
    emails: [
      { email: "octo.secondary@example.com", primary: false, verified: true },
      { email: "octo@example.com", primary: true, verified: true },
    ],
  };
  const b = browser();
  const done = await signInWith(kit, b, "github", "");
  expect(done.location).toBe("/account");
  const user = (await userByEmail(kit.server, "octo@example.com"))!;
  expect({ username: user.username, verified: user.isVerified, hash: user.passwordHash }).toEqual({ username: "octocat", verified: true, hash: null });
  const [identity] = await identitiesOf(kit.server, user.id);
  expect({ provider: identity!.providerId, subject: identity!.subject }).toEqual({ provider: "github", subject: "583231" });
  expect(await sessionAmrs(kit.server, user.id)).toEqual([["fed"]]);
});

test("a taken username gets a suffix", async () => {
  kit.github.next = { id: 99, login: "octocat", emails: [{ email: "second.octo@example.com", primary: true, verified: true }] };
  await signInWith(kit, browser(), "github", "");
  expect((await userByEmail(kit.server, "second.octo@example.com"))!.username).toBe("octocat2");
});

test("an unverified primary email is never linked to the local user who has it, and signs nobody up", async () => {
  const { user } = await registerAndLogin(kit.server.api, { email: "victim@example.com" });
  await kit.server.core.db.update(users).set({ isVerified: true }).where(eq(users.id, user.id));
  kit.github.next = {
    id: 31337,
    login: "attacker",
    emails: [
      { email: "victim@example.com", primary: true, verified: false },
      { email: "attacker.other@example.com", primary: false, verified: true },
    ],
  };
  const b = browser();
  const done = await signInWith(kit, b, "github", "");
  expect({ status: done.status, code: errorCodeOf(done.html) }).toEqual({ status: 403, code: "EMAIL_NOT_VERIFIED" });
  expect(done.html).toContain("GitHub did not share a verified email address");
  expect(b.cookie("usersvc_session")).toBeUndefined();
  expect(await identitiesOf(kit.server, user.id)).toEqual([]);
  expect(await userByEmail(kit.server, "attacker.other@example.com")).toBeNull();
});

test("a verified primary email equal to a verified local email links", async () => {
  const { user } = await registerAndLogin(kit.server.api, { email: "linkme@example.com" });
  await kit.server.core.db.update(users).set({ isVerified: true }).where(eq(users.id, user.id));
  kit.github.next = { id: 777, login: "linkme", emails: [{ email: "linkme@example.com", primary: true, verified: true }] };
  expect((await signInWith(kit, browser(), "github", "")).location).toBe("/account");
  expect((await identitiesOf(kit.server, user.id)).map((i) => i.subject)).toEqual(["777"]);
});
