/**
 * Cross-site request forgery on the hosted pages (SPEC §7: every
 * state-changing POST checks the CSRF token and the Origin header). Each
 * state-changing page form is posted the ways an attacker could post it:
 * without the token, with a made-up one, with a token of another browser,
 * with the pre-sign-in ("anonymous") token on a signed-in form, from another
 * site's Origin, from `Origin: null`, and with no Origin but a cross-site
 * Referer. Each is refused with 403 FORBIDDEN and the database shows nothing
 * changed; the very same post with this browser's token and no Origin or
 * Referer at all (a script) then does what it says, which shows the refusals
 * were the CSRF check and nothing else.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { Secret, TOTP } from "otpauth";
import { mfaFactors, mfaRecoveryCodes, oneTimeTokens, sessions, users } from "../../src/core/db/schema.ts";
import { sha256Hex } from "../../src/core/digest.ts";
import { updateUser } from "../../src/core/users/queries.ts";
import { csrfToken } from "../../src/server/pages/csrf.ts";
import { turnsUntil } from "../support/hooks.ts";
import { Browserless, errorCodeOf, formOf, type PageResponse } from "../support/browserless.ts";
import { issueResetToken, newUser, startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: a real server on a real database, and many sign-ups (password hashing) per test.
setDefaultTimeout(60_000);

let server: TestServer;
beforeAll(async () => {
  // No cooldown between emails: a refused post that had asked for one would show as an extra token.
  server = await startTestServer({ USERSVC_EMAIL_COOLDOWN: "0" });
});
afterAll(() => server.stop());

// --- the database, read directly: what a refused post must not have changed ---

async function userRow(email: string) {
  const [row] = await server.core.db.select().from(users).where(eq(users.email, email));
  return row;
}

async function sessionRows(userId: string) {
  return server.core.db.select().from(sessions).where(eq(sessions.userId, userId));
}

async function tokenRows(userId: string, purpose: "verify_email" | "reset_password" | "change_email") {
  return server.core.db
    .select()
    .from(oneTimeTokens)
    .where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, purpose)));
}

async function factorRow(userId: string) {
  const [row] = await server.core.db.select().from(mfaFactors).where(eq(mfaFactors.userId, userId));
  return row;
}

async function recoveryHashes(userId: string): Promise<string[]> {
  const rows = await server.core.db.select().from(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
  return rows.map((row) => row.codeHash).sort();
}

async function eventLoopTurns(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

function totp(secret: string, offsetSteps = 0): string {
  const generator = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" });
  return generator.generate({ timestamp: server.clock.now().getTime() + offsetSteps * 30_000 });
}

// --- people ---

/** A user created through the API (no session), for the sign-in forms. */
async function apiUser() {
  const input = newUser();
  const res = await server.api("POST", "/api/v1/users", { body: input });
  expect(res.status).toBe(201);
  return { input, id: res.body.data.id as string };
}

interface SignedIn {
  browser: Browserless;
  input: ReturnType<typeof newUser>;
  id: string;
  /** The csrf_token this browser's forms carried before it signed in (bound to "anonymous"). */
  anonymousToken: string;
}

/** A person who signed up on /register in their own browser, and is signed in there. */
async function signedInBrowser(options: { verified?: boolean } = {}): Promise<SignedIn> {
  const browser = new Browserless(server.url);
  const page = await browser.get("/register");
  const anonymousToken = formOf(page.html, "/register").fields.csrf_token!;
  const input = newUser();
  const res = await browser.submit(page, "/register", input);
  expect(res.status).toBe(303);
  const row = await userRow(input.email);
  // As following the emailed link would (two-factor needs a verified address).
  if (options.verified) await updateUser(server.core.db, row!.id, { isVerified: true }, server.clock.now());
  return { browser, input, id: row!.id, anonymousToken };
}

/** A signed-in person whose two-factor sign-in is on (enrolled and confirmed on /account); the clock is past the confirming code. */
async function signedInWithMfa(): Promise<SignedIn> {
  const person = await signedInBrowser({ verified: true });
  // The enrolment's answer shows the secret and the confirm form (which carries it).
  const enroll = await person.browser.submit(await person.browser.get("/account"), "/account/mfa/enroll", { password: person.input.password });
  expect(enroll.status).toBe(200);
  const secret = (await factorRow(person.id))!.secret;
  const confirm = await person.browser.submit(enroll, "/account/mfa/confirm", { code: totp(secret) });
  expect(confirm.status).toBe(200);
  expect((await factorRow(person.id))!.confirmedAt).not.toBeNull();
  server.clock.advance(30);
  return person;
}

// --- the attacks ---

/** One state-changing form, ready to post from the victim's browser, with what it changes. */
interface Target {
  browser: Browserless;
  action: string;
  /** The form's fields as the victim's page has them (csrf_token included), filled in. */
  fields: Record<string, string>;
  /** A csrf_token another browser got for the same form (its own csrf cookie and binding). */
  foreignToken: string;
  /** The victim's own pre-sign-in token; only for forms of a signed-in person. */
  anonymousToken?: string;
  /** Passes while the post has changed nothing. */
  unchanged(): Promise<void>;
  /** Passes once the post has done what the form is for. */
  changed(response: PageResponse): Promise<void>;
}

interface Delivery {
  /** undefined: the browser's own origin; null: no Origin header; else this Origin. */
  origin?: string | null;
  referer?: string;
  /** The csrf_token to send: the form's own unless set; null leaves it out. */
  token?: (target: Target) => string | null;
}

async function deliver(target: Target, how: Delivery): Promise<PageResponse> {
  const fields = { ...target.fields };
  const token = how.token ? how.token(target) : fields.csrf_token!;
  if (token === null) delete fields.csrf_token;
  else fields.csrf_token = token;
  const { browser } = target;
  const saved = browser.origin;
  if (how.origin !== undefined) browser.origin = how.origin;
  try {
    return await browser.post(target.action, fields, how.referer ? { referer: how.referer } : {});
  } finally {
    browser.origin = saved;
  }
}

const ATTACKS: { name: string; how: Delivery; signedInOnly?: boolean }[] = [
  { name: "without csrf_token", how: { token: () => null } },
  { name: "with an empty csrf_token", how: { token: () => "" } },
  { name: "with a made-up csrf_token", how: { token: () => "A".repeat(43) } },
  { name: "with a csrf_token from another browser's page (another csrf cookie)", how: { token: (t) => t.foreignToken } },
  { name: "with this browser's pre-sign-in (anonymous) token after sign-in", how: { token: (t) => t.anonymousToken! }, signedInOnly: true },
  { name: "with a valid token but Origin: https://evil.test", how: { origin: "https://evil.test" } },
  { name: "with a valid token but Origin: null", how: { origin: "null" } },
  { name: "with a valid token but the Origin of another port of the same host", how: { origin: "http://127.0.0.1:1" } },
  { name: "with a valid token, no Origin and a cross-site Referer", how: { origin: null, referer: "https://evil.test/attack.html" } },
  { name: "with a valid token, no Origin and an unparsable Referer", how: { origin: null, referer: "::not a url::" } },
];

/**
 * Every attack on one form, then the honest post: a script's (no Origin, no
 * Referer, this browser's token), which must be accepted.
 */
function attackForm(route: string, setup: () => Promise<Target>, options: { signedIn: boolean; refusal?: (res: PageResponse) => void }) {
  describe(`POST ${route}`, () => {
    let target: Target;
    beforeAll(async () => {
      target = await setup();
    });

    for (const attack of ATTACKS) {
      if (attack.signedInOnly && !options.signedIn) continue;
      test(`${attack.name}: refused and nothing changed`, async () => {
        const res = await deliver(target, attack.how);
        if (options.refusal) options.refusal(res);
        else {
          expect(res.status).toBe(403);
          expect(errorCodeOf(res.html)).toBe("FORBIDDEN");
        }
        // A refused post never hands out a session.
        expect(res.cookies.some((line) => /usersvc_session=[^;]/.test(line))).toBe(false);
        await target.unchanged();
      });
    }

    test("with this browser's token and neither Origin nor Referer (a script): accepted", async () => {
      const res = await deliver(target, { origin: null });
      expect(res.status).not.toBe(403);
      expect(errorCodeOf(res.html)).toBeNull();
      await target.changed(res);
    });
  });
}

// --- the forms of someone not signed in ---

attackForm(
  "/login",
  async () => {
    const { input, id } = await apiUser();
    const browser = new Browserless(server.url);
    const page = await browser.get("/login");
    const foreign = await new Browserless(server.url).get("/login");
    return {
      browser,
      action: "/login",
      fields: { ...formOf(page.html, "/login").fields, identifier: input.email, password: input.password },
      foreignToken: formOf(foreign.html, "/login").fields.csrf_token!,
      unchanged: async () => {
        expect(await sessionRows(id)).toHaveLength(0);
        expect(browser.cookie("usersvc_session")).toBeUndefined();
      },
      changed: async (res) => {
        expect(res.status).toBe(303);
        expect(await sessionRows(id)).toHaveLength(1);
        expect((await browser.get("/account")).status).toBe(200);
      },
    };
  },
  { signedIn: false },
);

attackForm(
  "/register",
  async () => {
    const input = newUser();
    const browser = new Browserless(server.url);
    const page = await browser.get("/register");
    const foreign = await new Browserless(server.url).get("/register");
    return {
      browser,
      action: "/register",
      fields: { ...formOf(page.html, "/register").fields, ...input },
      foreignToken: formOf(foreign.html, "/register").fields.csrf_token!,
      unchanged: async () => {
        expect(await userRow(input.email)).toBeUndefined();
      },
      changed: async (res) => {
        expect(res.status).toBe(303);
        expect((await userRow(input.email))?.username).toBe(input.username);
      },
    };
  },
  { signedIn: false },
);

attackForm(
  "/forgot-password",
  async () => {
    const { input, id } = await apiUser();
    const browser = new Browserless(server.url);
    const page = await browser.get("/forgot-password");
    const foreign = await new Browserless(server.url).get("/forgot-password");
    return {
      browser,
      action: "/forgot-password",
      fields: { ...formOf(page.html, "/forgot-password").fields, email: input.email },
      foreignToken: formOf(foreign.html, "/forgot-password").fields.csrf_token!,
      unchanged: async () => {
        // The reset is issued after the answer (the same answer for any address): let that work run first.
        await eventLoopTurns(50);
        expect(await tokenRows(id, "reset_password")).toHaveLength(0);
      },
      changed: async (res) => {
        expect(res.status).toBe(200);
        await turnsUntil("the reset token", async () => ((await tokenRows(id, "reset_password")).length > 0 ? true : undefined));
        expect(await tokenRows(id, "reset_password")).toHaveLength(1);
      },
    };
  },
  { signedIn: false },
);

attackForm(
  "/reset-password",
  async () => {
    const { input, id } = await apiUser();
    const token = await issueResetToken(server, id);
    const hashBefore = (await userRow(input.email))!.passwordHash;
    const browser = new Browserless(server.url);
    const page = await browser.get(`/reset-password?token=${token}`);
    const foreign = await new Browserless(server.url).get(`/reset-password?token=${token}`);
    return {
      browser,
      action: "/reset-password",
      fields: { ...formOf(page.html, "/reset-password").fields, new_password: "a brand new passphrase" },
      foreignToken: formOf(foreign.html, "/reset-password").fields.csrf_token!,
      unchanged: async () => {
        expect((await userRow(input.email))!.passwordHash).toBe(hashBefore);
        expect((await tokenRows(id, "reset_password"))[0]!.usedAt).toBeNull();
      },
      changed: async (res) => {
        expect(res.status).toBe(200);
        expect((await userRow(input.email))!.passwordHash).not.toBe(hashBefore);
        expect((await tokenRows(id, "reset_password"))[0]!.usedAt).not.toBeNull();
      },
    };
  },
  { signedIn: false },
);

attackForm(
  "/verify-email",
  async () => {
    const { input, id } = await apiUser();
    // The emailed link's token, written as the verification email's issuer writes it.
    const token = `verify-${crypto.randomUUID()}`;
    await server.core.db.insert(oneTimeTokens).values({
      tokenHash: sha256Hex(token),
      userId: id,
      purpose: "verify_email",
      expiresAt: new Date(server.clock.now().getTime() + 3_600_000),
      createdAt: server.clock.now(),
    });
    const browser = new Browserless(server.url);
    const page = await browser.get(`/verify-email?token=${token}`);
    const foreign = await new Browserless(server.url).get(`/verify-email?token=${token}`);
    return {
      browser,
      action: "/verify-email",
      fields: formOf(page.html, "/verify-email").fields,
      foreignToken: formOf(foreign.html, "/verify-email").fields.csrf_token!,
      unchanged: async () => {
        expect((await userRow(input.email))!.isVerified).toBe(false);
      },
      changed: async (res) => {
        expect(res.status).toBe(200);
        expect((await userRow(input.email))!.isVerified).toBe(true);
      },
    };
  },
  { signedIn: false },
);

attackForm(
  "/login/mfa",
  async () => {
    const person = await signedInWithMfa();
    const secret = (await factorRow(person.id))!.secret;
    const browser = new Browserless(server.url);
    const password = await browser.submit(await browser.get("/login"), "/login", { identifier: person.input.email, password: person.input.password });
    expect(password.status).toBe(303);
    expect(password.location).toContain("/login/mfa");
    const page = await browser.get("/login/mfa");
    const sessionsBefore = (await sessionRows(person.id)).length;
    const foreign = await new Browserless(server.url).get("/login");
    return {
      browser,
      action: "/login/mfa",
      fields: { ...formOf(page.html, "/login/mfa").fields, code: totp(secret) },
      foreignToken: formOf(foreign.html, "/login").fields.csrf_token!,
      unchanged: async () => {
        expect(await sessionRows(person.id)).toHaveLength(sessionsBefore);
        // The challenge is still this browser's to complete.
        expect(browser.cookie("usersvc_mfa")).toBeString();
      },
      changed: async (res) => {
        expect(res.status).toBe(303);
        expect(await sessionRows(person.id)).toHaveLength(sessionsBefore + 1);
        expect((await browser.get("/account")).status).toBe(200);
      },
    };
  },
  { signedIn: false },
);

// --- the forms of someone signed in ---

/** Another person signed in in their own browser, whose /account page lends its tokens (the verified one shows the two-factor forms, the other the resend form). */
let attacker: SignedIn;
let unverifiedAttacker: SignedIn;
beforeAll(async () => {
  attacker = await signedInBrowser({ verified: true });
  unverifiedAttacker = await signedInBrowser();
});

/** A form of the victim's /account page (or of a page a signed-in person sees). */
async function accountTarget(
  person: SignedIn,
  action: string,
  fill: Record<string, string>,
  checks: Pick<Target, "unchanged" | "changed">,
  foreign: SignedIn = attacker,
  shown?: PageResponse,
): Promise<Target> {
  const page = shown ?? (await person.browser.get("/account"));
  expect(page.status).toBe(200);
  const foreignPage = (await foreign.browser.get("/account")).html;
  return {
    browser: person.browser,
    action,
    fields: { ...formOf(page.html, action).fields, ...fill },
    // One token serves every form of a session: the attacker's own form of this action, else their sign-out form's.
    foreignToken: formOf(foreignPage, foreignPage.includes(`action="${action}"`) ? action : "/logout").fields.csrf_token!,
    anonymousToken: person.anonymousToken,
    ...checks,
  };
}

/** The victim's browser still opens /account as the victim. */
async function stillSignedIn(person: SignedIn): Promise<void> {
  const page = await person.browser.get("/account");
  expect(page.status).toBe(200);
  expect(page.html).toContain(person.input.email);
}

attackForm(
  "/logout",
  async () => {
    const person = await signedInBrowser();
    const target = await accountTarget(person, "/logout", {}, {
      unchanged: async () => {
        expect((await sessionRows(person.id)).every((row) => row.revokedAt === null)).toBe(true);
        await stillSignedIn(person);
      },
      changed: async (res) => {
        expect(res.status).toBe(303);
        expect((await sessionRows(person.id))[0]!.revokedAt).not.toBeNull();
        expect((await person.browser.get("/account")).status).toBe(303);
      },
    });
    return target;
  },
  {
    signedIn: true,
    // A refused logout of a signed-in browser goes back to /account (never to return_to), signed in as before.
    refusal: (res) => {
      expect(res.status).toBe(303);
      expect(res.location).toBe("/account");
    },
  },
);

attackForm(
  "/account/profile",
  async () => {
    const person = await signedInBrowser();
    const renamed = `renamed${Date.now().toString(36)}`;
    return accountTarget(person, "/account/profile", { username: renamed }, {
      unchanged: async () => {
        expect((await userRow(person.input.email))!.username).toBe(person.input.username);
      },
      changed: async (res) => {
        expect(res.status).toBe(303);
        expect((await userRow(person.input.email))!.username).toBe(renamed);
      },
    });
  },
  { signedIn: true },
);

attackForm(
  "/account/verify-email",
  async () => {
    const person = await signedInBrowser();
    const before = (await tokenRows(person.id, "verify_email")).length;
    return accountTarget(person, "/account/verify-email", {}, {
      unchanged: async () => {
        expect(await tokenRows(person.id, "verify_email")).toHaveLength(before);
      },
      changed: async (res) => {
        expect(res.status).toBe(303);
        expect(await tokenRows(person.id, "verify_email")).toHaveLength(before + 1);
      },
    }, unverifiedAttacker);
  },
  { signedIn: true },
);

attackForm(
  "/account/email",
  async () => {
    const person = await signedInBrowser();
    return accountTarget(person, "/account/email", { new_email: `moved${Date.now().toString(36)}@example.com`, password: person.input.password }, {
      unchanged: async () => {
        expect(await tokenRows(person.id, "change_email")).toHaveLength(0);
      },
      changed: async (res) => {
        expect(res.status).toBe(303);
        expect(await tokenRows(person.id, "change_email")).toHaveLength(1);
      },
    });
  },
  { signedIn: true },
);

attackForm(
  "/account/password",
  async () => {
    const person = await signedInBrowser();
    const hashBefore = (await userRow(person.input.email))!.passwordHash;
    return accountTarget(person, "/account/password", { current_password: person.input.password, new_password: "an attacker's passphrase" }, {
      unchanged: async () => {
        expect((await userRow(person.input.email))!.passwordHash).toBe(hashBefore);
      },
      changed: async (res) => {
        expect(res.status).toBe(303);
        expect((await userRow(person.input.email))!.passwordHash).not.toBe(hashBefore);
      },
    });
  },
  { signedIn: true },
);

attackForm(
  "/account/sessions/revoke",
  async () => {
    const person = await signedInBrowser();
    const other = await server.api("POST", "/api/v1/auth/login", { body: { email: person.input.email, password: person.input.password } });
    expect(other.status).toBe(200);
    const browserSession = person.browser.cookie("usersvc_session")!.split(".")[0]!;
    const otherId = (await sessionRows(person.id)).find((row) => row.id !== browserSession)!.id;
    const revoked = async () => (await sessionRows(person.id)).find((row) => row.id === otherId)!.revokedAt;
    return accountTarget(person, "/account/sessions/revoke", { session_id: otherId }, {
      unchanged: async () => {
        expect(await revoked()).toBeNull();
      },
      changed: async (res) => {
        expect(res.status).toBe(303);
        expect(await revoked()).not.toBeNull();
      },
    });
  },
  { signedIn: true },
);

attackForm(
  "/account/logout-all",
  async () => {
    const person = await signedInBrowser();
    const other = await server.api("POST", "/api/v1/auth/login", { body: { email: person.input.email, password: person.input.password } });
    expect(other.status).toBe(200);
    return accountTarget(person, "/account/logout-all", {}, {
      unchanged: async () => {
        const rows = await sessionRows(person.id);
        expect(rows).toHaveLength(2);
        expect(rows.every((row) => row.revokedAt === null)).toBe(true);
        await stillSignedIn(person);
      },
      changed: async (res) => {
        expect(res.status).toBe(303);
        expect((await sessionRows(person.id)).every((row) => row.revokedAt !== null)).toBe(true);
      },
    });
  },
  { signedIn: true },
);

attackForm(
  "/account/mfa/enroll",
  async () => {
    const person = await signedInBrowser({ verified: true });
    return accountTarget(person, "/account/mfa/enroll", { password: person.input.password }, {
      unchanged: async () => {
        expect(await factorRow(person.id)).toBeUndefined();
      },
      changed: async (res) => {
        // The answer is the page with the new secret (shown there only).
        expect(res.status).toBe(200);
        expect(res.html).toContain((await factorRow(person.id))!.secret);
      },
    });
  },
  { signedIn: true },
);

attackForm(
  "/account/mfa/confirm",
  async () => {
    const person = await signedInBrowser({ verified: true });
    const enroll = await person.browser.submit(await person.browser.get("/account"), "/account/mfa/enroll", { password: person.input.password });
    expect(enroll.status).toBe(200);
    const secret = (await factorRow(person.id))!.secret;
    return accountTarget(person, "/account/mfa/confirm", { code: totp(secret) }, {
      unchanged: async () => {
        expect((await factorRow(person.id))!.confirmedAt).toBeNull();
        expect(await recoveryHashes(person.id)).toHaveLength(0);
      },
      changed: async (res) => {
        expect(res.status).toBe(200);
        expect((await factorRow(person.id))!.confirmedAt).not.toBeNull();
      },
    }, attacker, enroll);
  },
  { signedIn: true },
);

describe("forms of a person whose two-factor sign-in is on", () => {
  let attackerWithMfa: SignedIn;
  beforeAll(async () => {
    attackerWithMfa = await signedInWithMfa();
  });

  attackForm(
    "/account/mfa/recovery-codes",
    async () => {
      const person = await signedInWithMfa();
      const before = await recoveryHashes(person.id);
      const target = await accountTarget(person, "/account/mfa/recovery-codes", { password: person.input.password }, {
        unchanged: async () => {
          expect(await recoveryHashes(person.id)).toEqual(before);
        },
        changed: async (res) => {
          expect(res.status).toBe(200);
          expect(await recoveryHashes(person.id)).not.toEqual(before);
        },
      }, attackerWithMfa);
      return target;
    },
    { signedIn: true },
  );

  attackForm(
    "/account/mfa/disable",
    async () => {
      const person = await signedInWithMfa();
      const target = await accountTarget(person, "/account/mfa/disable", { password: person.input.password }, {
        unchanged: async () => {
          expect((await factorRow(person.id))?.confirmedAt).toBeInstanceOf(Date);
        },
        changed: async (res) => {
          expect(res.status).toBe(303);
          expect(await factorRow(person.id)).toBeUndefined();
        },
      }, attackerWithMfa);
      return target;
    },
    { signedIn: true },
  );
});

attackForm(
  "/account/delete",
  async () => {
    const person = await signedInBrowser();
    return accountTarget(person, "/account/delete", { password: person.input.password }, {
      unchanged: async () => {
        expect((await userRow(person.input.email))!.status).toBe("active");
        await stillSignedIn(person);
      },
      changed: async (res) => {
        expect(res.status).toBe(200);
        expect((await userRow(person.input.email))!.status).toBe("deleted");
      },
    });
  },
  { signedIn: true },
);

describe("login CSRF", () => {
  test("an attacker's page posting the attacker's own credentials (with the attacker's own valid token) into the victim's browser signs the victim into nothing", async () => {
    const { input: attackerAccount, id: attackerId } = await apiUser();
    // The attacker fetches /login in their own browser: a token valid for their own csrf cookie.
    const attackerBrowser = new Browserless(server.url);
    const attackerToken = formOf((await attackerBrowser.get("/login")).html, "/login").fields.csrf_token!;
    const victim = new Browserless(server.url);
    await victim.get("/login");
    for (const origin of ["https://evil.test", null]) {
      victim.origin = origin;
      const res = await victim.post("/login", { identifier: attackerAccount.email, password: attackerAccount.password, csrf_token: attackerToken });
      expect(res.status).toBe(403);
      expect(errorCodeOf(res.html)).toBe("FORBIDDEN");
    }
    // Even without any csrf cookie in the victim's browser (a first visit), the attacker's token is worthless.
    const fresh = new Browserless(server.url);
    fresh.origin = null;
    const firstVisit = await fresh.post("/login", { identifier: attackerAccount.email, password: attackerAccount.password, csrf_token: attackerToken });
    expect(firstVisit.status).toBe(403);
    expect(victim.cookie("usersvc_session")).toBeUndefined();
    expect(fresh.cookie("usersvc_session")).toBeUndefined();
    expect(await sessionRows(attackerId)).toHaveLength(0);
  });

  test("a csrf cookie planted by another host of the site (no __Host- on http) and a token computed for it: still refused for its Origin", async () => {
    const { input, id } = await apiUser();
    const victim = new Browserless(server.url);
    const planted = "P".repeat(43);
    victim.jar.set("usersvc_csrf", planted);
    victim.origin = "http://sibling.example.test";
    const res = await victim.post("/login", { identifier: input.email, password: input.password, csrf_token: csrfToken(planted, "anonymous") });
    expect(res.status).toBe(403);
    expect(errorCodeOf(res.html)).toBe("FORBIDDEN");
    expect(await sessionRows(id)).toHaveLength(0);
  });
});

describe("a signed-in person's forms after signing out", () => {
  test("a token of an ended session, and the pre-sign-in token, are refused on the sign-in form; a fresh page's token works", async () => {
    const person = await signedInBrowser();
    const accountPage = await person.browser.get("/account");
    const sessionToken = formOf(accountPage.html, "/account/profile").fields.csrf_token!;
    const out = await person.browser.submit(accountPage, "/logout");
    expect(out.status).toBe(303);
    const res = await person.browser.post("/login", { identifier: person.input.email, password: person.input.password, csrf_token: sessionToken });
    expect(res.status).toBe(403);
    expect(errorCodeOf(res.html)).toBe("FORBIDDEN");
    // The sign-out renewed the browser's CSRF secret: even its own pre-sign-in token is spent.
    const old = await person.browser.post("/login", { identifier: person.input.email, password: person.input.password, csrf_token: person.anonymousToken });
    expect(old.status).toBe(403);
    // A fresh sign-in page's token works.
    const again = await person.browser.submit(await person.browser.get("/login"), "/login", { identifier: person.input.email, password: person.input.password });
    expect(again.status).toBe(303);
  });
});
