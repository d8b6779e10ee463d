/**
 * The attacker review of passkeys (SPEC §10), driven with a software
 * authenticator written here (ES256, attestation "none", real signatures
 * over real clientDataJSON), against a real server on a real port:
 * cross-purpose and cross-user challenges, a credential id registered by a
 * second user, a user handle that is not the credential's, user presence and
 * verification flags, origin and relying party id, counters (0 and going
 * back), concurrent replays and concurrent removals of the last ways in,
 * and what a passkey's name can do to the pages.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { isoCBOR } from "@simplewebauthn/server/helpers";
import { eq } from "drizzle-orm";
import { identityProviders, passkeys, userIdentities } from "../../src/core/db/schema.ts";
import { updateUser } from "../../src/core/users/queries.ts";
import { Browserless, formOf } from "../support/browserless.ts";
import { freePort } from "../support/oidc.ts";
import { newUser, registerVerified, startTestServer, type TestServer } from "../support/server.ts";

setDefaultTimeout(60_000);

let server: TestServer;
/** http://localhost:PORT: the public URL, the origin the authenticator signs for. */
let base: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://localhost:${port}`;
  server = await startTestServer({ USERSVC_PUBLIC_URL: base, USERSVC_PRIVILEGED_MAX_AGE: "600" }, { port });
});
afterAll(async () => {
  await server?.stop();
});

const b64u = (bytes: Uint8Array | Buffer) => Buffer.from(bytes).toString("base64url");
const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest();

/** One resident ES256 credential, as a platform authenticator would keep it. */
class SoftKey {
  readonly privateKey: KeyObject;
  readonly x: Buffer;
  readonly y: Buffer;
  userHandle: string | undefined;
  constructor(
    readonly credentialId: Buffer = randomBytes(16),
    public counter = 0,
  ) {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.privateKey = privateKey;
    const jwk = privateKey.export({ format: "jwk" });
    this.x = Buffer.from(jwk.x!, "base64url");
    this.y = Buffer.from(jwk.y!, "base64url");
  }

  get id(): string {
    return b64u(this.credentialId);
  }

  private cose(): Uint8Array {
    return isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, new Uint8Array(this.x)],
        [-3, new Uint8Array(this.y)],
      ]),
    );
  }

  private authData(rpId: string, flags: number, attested: boolean): Buffer {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(this.counter);
    const parts: Uint8Array[] = [sha256(rpId), Buffer.from([flags | (attested ? 0x40 : 0)]), counter];
    if (attested) {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(this.credentialId.length);
      parts.push(Buffer.alloc(16), length, this.credentialId, Buffer.from(this.cose()));
    }
    return Buffer.concat(parts);
  }

  /** navigator.credentials.create's answer as @simplewebauthn/browser sends it. */
  register(options: any, over: Partial<{ origin: string; rpId: string; flags: number; type: string; challenge: string }> = {}) {
    this.userHandle = options.user?.id;
    const clientData = Buffer.from(
      JSON.stringify({ type: over.type ?? "webauthn.create", challenge: over.challenge ?? options.challenge, origin: over.origin ?? base, crossOrigin: false }),
    );
    const authData = this.authData(over.rpId ?? options.rp.id, over.flags ?? 0x05, true);
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([["fmt", "none"], ["attStmt", new Map()], ["authData", new Uint8Array(authData)]]) as never);
    return {
      id: this.id,
      rawId: this.id,
      type: "public-key",
      response: { clientDataJSON: b64u(clientData), attestationObject: b64u(attestationObject), transports: ["internal"] },
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }

  /** navigator.credentials.get's answer; the counter moves on first unless `keepCounter`. */
  assert(
    options: any,
    over: Partial<{ origin: string; rpId: string; flags: number; userHandle: string | null; keepCounter: boolean; crossOrigin: boolean }> = {},
  ) {
    if (!over.keepCounter && this.counter > 0) this.counter += 1;
    const clientData = Buffer.from(
      JSON.stringify({ type: "webauthn.get", challenge: options.challenge, origin: over.origin ?? base, crossOrigin: over.crossOrigin ?? false }),
    );
    const authData = this.authData(over.rpId ?? options.rpId, over.flags ?? 0x05, false);
    const signature = sign("sha256", Buffer.concat([authData, sha256(clientData)]), this.privateKey);
    const userHandle = over.userHandle === undefined ? this.userHandle : over.userHandle;
    return {
      id: this.id,
      rawId: this.id,
      type: "public-key",
      response: {
        clientDataJSON: b64u(clientData),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        ...(userHandle === null ? {} : { userHandle }),
      },
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }
}

/** A user with a verified email (set in the database) and a fresh token. */
async function verifiedUser() {
  const { input, id } = await registerVerified(server);
  const login = await server.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } });
  expect(login.status).toBe(200);
  return { input, id, token: login.body.data.access_token as string };
}

async function registrationOptions(token: string) {
  const answer = await server.api("POST", "/api/v1/users/me/passkeys/registration/options", { token, body: {} });
  expect(answer.status).toBe(200);
  return answer.body.data.options;
}

async function addKey(token: string, key = new SoftKey(), name?: string) {
  const options = await registrationOptions(token);
  const added = await server.api("POST", "/api/v1/users/me/passkeys", { token, body: { response: key.register(options), ...(name ? { name } : {}) } });
  expect(added.status).toBe(201);
  return { key, passkey: added.body.data };
}

async function signInOptions() {
  const answer = await server.api("POST", "/api/v1/auth/passkeys/options");
  expect(answer.status).toBe(200);
  return answer.body.data.options;
}

const verify = (response: unknown) => server.api("POST", "/api/v1/auth/passkeys/verify", { body: { response } });
const payloadOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8"));

describe("the software authenticator is a fair stand-in", () => {
  test("register and sign in with it: a token pair for its user, amr hwk + user + mfa", async () => {
    const { id, token } = await verifiedUser();
    const { key } = await addKey(token);
    const signedIn = await verify(key.assert(await signInOptions()));
    expect(signedIn.status).toBe(200);
    expect(payloadOf(signedIn.body.data.access_token)).toMatchObject({ sub: id, amr: ["hwk", "user", "mfa"] });
  });
});

describe("challenges", () => {
  test("a registration challenge does not sign anyone in, and a sign-in challenge registers nothing", async () => {
    const { token } = await verifiedUser();
    const { key } = await addKey(token);
    // A registration challenge answered as an assertion.
    const registration = await registrationOptions(token);
    const asAssertion = await verify(key.assert({ challenge: registration.challenge, rpId: registration.rp.id }));
    expect(asAssertion.status).toBe(401);
    expect(asAssertion.body.error.code).toBe("INVALID_CREDENTIALS");
    // A sign-in challenge answered as a registration.
    const signIn = await signInOptions();
    const other = new SoftKey();
    const asRegistration = await server.api("POST", "/api/v1/users/me/passkeys", {
      token,
      body: { response: other.register({ ...registration, challenge: signIn.challenge }) },
    });
    expect(asRegistration.status).toBe(422);
    expect(await server.core.db.select().from(passkeys).where(eq(passkeys.credentialId, other.id))).toHaveLength(0);
  });

  test("a registration answer of the wrong ceremony type (webauthn.get) is refused", async () => {
    const { token } = await verifiedUser();
    const key = new SoftKey();
    const added = await server.api("POST", "/api/v1/users/me/passkeys", { token, body: { response: key.register(await registrationOptions(token), { type: "webauthn.get" }) } });
    expect(added.status).toBe(422);
  });

  test("an expired sign-in challenge is refused", async () => {
    const { token } = await verifiedUser();
    const { key } = await addKey(token);
    const options = await signInOptions();
    server.clock.advance(5 * 60 + 1);
    const late = await verify(key.assert(options));
    expect(late.status).toBe(401);
  });

  test("the same assertion sent twice at once signs in once", async () => {
    const { token } = await verifiedUser();
    const { key } = await addKey(token);
    const assertion = key.assert(await signInOptions());
    const answers = await Promise.all([verify(assertion), verify(assertion), verify(assertion)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 401, 401]);
  });
});

describe("credentials and users", () => {
  test("a credential id registered to one user cannot be registered by another (their key or their own)", async () => {
    const alice = await verifiedUser();
    const { key, passkey } = await addKey(alice.token);
    const mallory = await verifiedUser();
    // Mallory's own key pair under Alice's credential id.
    const forged = new SoftKey(key.credentialId);
    const answer = await server.api("POST", "/api/v1/users/me/passkeys", { token: mallory.token, body: { response: forged.register(await registrationOptions(mallory.token)) } });
    expect(answer.status).toBe(422);
    const rows = await server.core.db.select().from(passkeys).where(eq(passkeys.credentialId, key.id));
    expect(rows.map((r) => [r.id, r.userId])).toEqual([[passkey.id, alice.id]]);
    // Alice's key still signs Alice in; Mallory's forged one does not.
    expect((await verify(key.assert(await signInOptions()))).status).toBe(200);
    expect((await verify(forged.assert(await signInOptions()))).status).toBe(401);
  });

  test("an assertion carrying another user's handle is refused", async () => {
    const alice = await verifiedUser();
    const bob = await verifiedUser();
    const { key } = await addKey(alice.token);
    const { key: bobKey } = await addKey(bob.token);
    const answer = await verify(key.assert(await signInOptions(), { userHandle: bobKey.userHandle! }));
    expect(answer.status).toBe(401);
  });

  test("an assertion with no user handle is refused (a discoverable credential always has one)", async () => {
    const { token } = await verifiedUser();
    const { key } = await addKey(token);
    expect((await verify(key.assert(await signInOptions(), { userHandle: null }))).status).toBe(401);
    expect((await verify(key.assert(await signInOptions()))).status).toBe(200);
  });

  test("a registration's transports keep only the names WebAuthn defines", async () => {
    const { token } = await verifiedUser();
    const key = new SoftKey();
    const response = key.register(await registrationOptions(token));
    (response.response as { transports: string[] }).transports = ["internal", "x".repeat(30_000), "<b>", "hybrid", "internal"];
    const added = await server.api("POST", "/api/v1/users/me/passkeys", { token, body: { response } });
    expect(added.status).toBe(201);
    expect(added.body.data.transports).toEqual(["internal", "hybrid"]);
  });

  test("without user verification, or without user presence, a registration is refused", async () => {
    const { token } = await verifiedUser();
    for (const flags of [0x01, 0x04, 0x00]) {
      const key = new SoftKey();
      const added = await server.api("POST", "/api/v1/users/me/passkeys", { token, body: { response: key.register(await registrationOptions(token), { flags }) } });
      expect(added.status).toBe(422);
    }
  });

  test("an assertion without user presence is refused", async () => {
    const { token } = await verifiedUser();
    const { key } = await addKey(token);
    expect((await verify(key.assert(await signInOptions(), { flags: 0x04 }))).status).toBe(401);
  });
});

describe("origin and relying party id", () => {
  test("another origin, another port, another relying party id: refused, both ways", async () => {
    const { token } = await verifiedUser();
    const port = new URL(base).port;
    for (const over of [{ origin: "http://evil.test" }, { origin: `http://localhost:${Number(port) + 1}` }, { origin: `https://localhost:${port}` }, { rpId: "evil.test" }]) {
      const key = new SoftKey();
      const added = await server.api("POST", "/api/v1/users/me/passkeys", { token, body: { response: key.register(await registrationOptions(token), over) } });
      expect(added.status).toBe(422);
    }
    const { key } = await addKey(token);
    for (const over of [{ origin: "http://evil.test" }, { origin: `http://localhost:${Number(port) + 1}` }, { rpId: "evil.test" }]) {
      expect((await verify(key.assert(await signInOptions(), over))).status).toBe(401);
    }
    expect((await verify(key.assert(await signInOptions()))).status).toBe(200);
  });
});

describe("a ceremony in a frame of another site (clientData.crossOrigin)", () => {
  // The pages are never framed (frame-ancestors 'none'); @simplewebauthn accepts crossOrigin: true when no topOrigin is expected.
  test("a registration or an assertion made in a cross-origin frame is refused", async () => {
    const { token } = await verifiedUser();
    const framed = new SoftKey();
    const options = await registrationOptions(token);
    const response = framed.register(options);
    const clientData = JSON.parse(Buffer.from(response.response.clientDataJSON, "base64url").toString());
    response.response.clientDataJSON = b64u(Buffer.from(JSON.stringify({ ...clientData, crossOrigin: true, topOrigin: "https://evil.test" })));
    expect((await server.api("POST", "/api/v1/users/me/passkeys", { token, body: { response } })).status).toBe(422);
    const { key } = await addKey(token);
    expect((await verify(key.assert(await signInOptions(), { crossOrigin: true }))).status).toBe(401);
    expect((await verify(key.assert(await signInOptions()))).status).toBe(200);
  });
});

describe("signature counters", () => {
  test("an authenticator without a counter (always 0) signs in again and again", async () => {
    const { token } = await verifiedUser();
    const { key } = await addKey(token, new SoftKey(randomBytes(16), 0));
    for (let i = 0; i < 3; i++) expect((await verify(key.assert(await signInOptions()))).status).toBe(200);
  });

  test("a counter that stands still or falls back to 0 once it has counted is refused", async () => {
    const { token } = await verifiedUser();
    const { key, passkey } = await addKey(token, new SoftKey(randomBytes(16), 7));
    expect((await verify(key.assert(await signInOptions()))).status).toBe(200);
    expect((await verify(key.assert(await signInOptions(), { keepCounter: true }))).status).toBe(401);
    key.counter = 0;
    expect((await verify(key.assert(await signInOptions(), { keepCounter: true }))).status).toBe(401);
    const [row] = await server.core.db.select().from(passkeys).where(eq(passkeys.id, passkey.id));
    expect(row!.counter).toBe(8);
  });
});

describe("the last ways in", () => {
  test("a user without a password removing both passkeys at once keeps one", async () => {
    const { id, token } = await verifiedUser();
    const first = await addKey(token);
    const second = await addKey(token);
    await updateUser(server.core.db, id, { passwordHash: null }, server.clock.now());
    const answers = await Promise.all([
      server.api("DELETE", `/api/v1/users/me/passkeys/${first.passkey.id}`, { token }),
      server.api("DELETE", `/api/v1/users/me/passkeys/${second.passkey.id}`, { token }),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(await server.core.db.select().from(passkeys).where(eq(passkeys.userId, id))).toHaveLength(1);
  });

  test("the last passkey and the last identity removed at once: one of them stays", async () => {
    const { id, token } = await verifiedUser();
    const { passkey } = await addKey(token);
    const now = server.clock.now();
    const provider = `review${Date.now().toString(36)}`;
    await server.core.db.insert(identityProviders).values({ id: provider, type: "oidc", displayName: "Review", clientId: "c", clientSecret: "s", issuer: "https://issuer.example.test", scopes: ["openid"], createdAt: now, updatedAt: now });
    await server.core.db.insert(userIdentities).values({ providerId: provider, subject: "sub-1", userId: id, email: null, emailVerified: false, createdAt: now });
    await updateUser(server.core.db, id, { passwordHash: null }, now);
    const answers = await Promise.all([
      server.api("DELETE", `/api/v1/users/me/passkeys/${passkey.id}`, { token }),
      server.api("DELETE", `/api/v1/users/me/identities/${provider}`, { token }),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const left = (await server.core.db.select().from(passkeys).where(eq(passkeys.userId, id))).length + (await server.core.db.select().from(userIdentities).where(eq(userIdentities.userId, id))).length;
    expect(left).toBe(1);
  });
});

describe("another user's passkey", () => {
  test("renaming it through the API or the pages is 404 and changes nothing", async () => {
    const alice = await verifiedUser();
    const { passkey } = await addKey(alice.token, new SoftKey(), "Alice's key");
    const mallory = await verifiedUser();
    const renamed = await server.api("PATCH", `/api/v1/users/me/passkeys/${passkey.id}`, { token: mallory.token, body: { name: "mine now" } });
    expect(renamed.status).toBe(404);
    const b = new Browserless(server.url);
    const done = await b.submit(await b.get("/login"), "/login", { identifier: mallory.input.email, password: mallory.input.password });
    expect(done.location).toBe("/account");
    const account = await b.get("/account");
    const page = await b.post("/account/passkeys/rename", { ...formOf(account.html, "/account/profile").fields, passkey_id: passkey.id, name: "mine now" });
    expect(page.status).toBe(404);
    const [row] = await server.core.db.select().from(passkeys).where(eq(passkeys.id, passkey.id));
    expect(row!.name).toBe("Alice's key");
  });
});

describe("a passkey's name on the pages", () => {
  test("markup in a name is shown as text on /account, and the creation page's JSON cannot end its script element", async () => {
    const { input, token } = await verifiedUser();
    const name = `</script><script>alert(1)</script><img src=x onerror=alert(1)>"'`;
    await addKey(token, new SoftKey(), name.slice(0, 64));
    const b = new Browserless(server.url);
    await b.submit(await b.get("/login"), "/login", { identifier: input.email, password: input.password });
    const account = await b.get("/account");
    expect(account.html).not.toContain("<script>alert(1)");
    expect(account.html).not.toContain("<img src=x");
    expect(account.html).toContain("&lt;/script&gt;");
    // The creation page: the options in <script type="application/json">, the name typed beside them.
    const started = await b.post("/account/passkeys/start", { ...formOf(account.html, "/account/passkeys/start").fields, password: input.password, name });
    expect(started.status).toBe(200);
    const scripts = started.html.match(/<script\b[^>]*>/g) ?? [];
    // The JSON element and the two external scripts: nothing inline was opened.
    expect(scripts).toEqual([`<script type="application/json" id="passkey-options">`, expect.stringContaining("/assets/webauthn.js"), expect.stringContaining("/assets/passkeys.js")]);
    const json = /<script type="application\/json" id="passkey-options">([^<]*)<\/script>/.exec(started.html)?.[1];
    expect(JSON.parse(json!).challenge).toMatch(/^[A-Za-z0-9_-]{16,}$/);
  });
});

describe("login CSRF with a passkey", () => {
  test("the attacker's own valid assertion posted to /login/passkey without the browser's token or from another origin signs nobody in", async () => {
    const attacker = await verifiedUser();
    const { key } = await addKey(attacker.token);
    const victim = new Browserless(server.url);
    const login = await victim.get("/login");
    const fields = formOf(login.html, "/login/passkey").fields;
    const noToken = await victim.post("/login/passkey", { response: JSON.stringify(key.assert(await signInOptions())) });
    expect(noToken.status).toBe(403);
    const foreign = await victim.post("/login/passkey", { ...fields, response: JSON.stringify(key.assert(await signInOptions())) }, { origin: "https://evil.test" });
    expect(foreign.status).toBe(403);
    expect(victim.cookie("usersvc_session")).toBeUndefined();
    // The same post from the page itself does sign in (the test is not refusing everything).
    const own = await victim.post("/login/passkey", { ...fields, response: JSON.stringify(key.assert(await signInOptions())) });
    expect(own.location).toBe("/account");
    expect(victim.cookie("usersvc_session")).toBeDefined();
  });
});

describe("adding a passkey on the pages", () => {
  test("an old session without the password gets no creation options; a post of the add form without the token adds nothing", async () => {
    const { input, id, token } = await verifiedUser();
    const b = new Browserless(server.url);
    await b.submit(await b.get("/login"), "/login", { identifier: input.email, password: input.password });
    server.clock.advance(601);
    const account = await b.get("/account");
    const started = await b.post("/account/passkeys/start", { ...formOf(account.html, "/account/passkeys/start").fields, password: "" });
    expect(started.html).toContain('data-error-code="REAUTHENTICATION_REQUIRED"');
    expect(started.html).not.toContain("passkey-options");
    // A challenge of this user's (from the API, with the password), answered through a form without the CSRF token.
    const options = (await server.api("POST", "/api/v1/users/me/passkeys/registration/options", { token, body: { password: input.password } })).body.data.options;
    const forged = await b.post("/account/passkeys/add", { response: JSON.stringify(new SoftKey().register(options)) });
    expect(forged.status).toBe(403);
    expect(await server.core.db.select().from(passkeys).where(eq(passkeys.userId, id))).toHaveLength(0);
  });
});

describe("a deleted user's passkey", () => {
  test("signs nobody in", async () => {
    const { input, token } = await verifiedUser();
    const { key } = await addKey(token);
    expect((await server.api("DELETE", "/api/v1/users/me", { token, body: { password: input.password } })).status).toBe(200);
    const answer = await verify(key.assert(await signInOptions()));
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe("INVALID_CREDENTIALS");
  });
});

describe("provider names and identity emails on the pages", () => {
  test("markup in a provider's display name or an identity's email is text on /login, /register and /account", async () => {
    const { input, id } = await verifiedUser();
    const now = server.clock.now();
    const provider = `xss${Date.now().toString(36)}`;
    const markup = `</script><img src=x onerror=alert(1)>"'`;
    await server.core.db.insert(identityProviders).values({ id: provider, type: "oidc", displayName: markup, clientId: "c", clientSecret: "s", issuer: "https://issuer.example.test", scopes: ["openid"], createdAt: now, updatedAt: now });
    await server.core.db.insert(userIdentities).values({ providerId: provider, subject: "sub-x", userId: id, email: `a${markup}@example.com`, emailVerified: true, createdAt: now });
    try {
      const b = new Browserless(server.url);
      for (const path of ["/login", "/register"]) {
        const page = await b.get(path);
        expect(page.html).toContain("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;");
        expect(page.html).not.toContain("<img src=x");
      }
      await b.submit(await b.get("/login"), "/login", { identifier: input.email, password: input.password });
      const account = await b.get("/account");
      expect(account.status).toBe(200);
      expect(account.html).not.toContain("<img src=x");
      expect(account.html).not.toContain("</script><");
    } finally {
      await server.core.db.delete(identityProviders).where(eq(identityProviders.id, provider));
    }
  });
});

describe("passkey sign-in limits", () => {
  test("options are limited per client IP, and a body far larger than an assertion is refused", async () => {
    const limited = await startTestServer({ USERSVC_RATE_LIMIT_PER_IP: "3" });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await limited.api("POST", "/api/v1/auth/passkeys/options")).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await limited.stop();
    }
    const huge = await server.api("POST", "/api/v1/auth/passkeys/verify", { body: { response: { id: "a", response: { clientDataJSON: "x".repeat(200_000) } } } });
    expect(huge.status).toBe(413);
  });
});

describe("a public URL with a path and a port", () => {
  test("the relying party id is its host name and the origin its scheme, host and port: the path is no part of either", async () => {
    const port = await freePort();
    const prefixed = await startTestServer({ USERSVC_PUBLIC_URL: `http://localhost:${port}/auth/` }, { port });
    try {
      const input = newUser();
      const registered = await prefixed.api("POST", "/api/v1/users", { body: input });
      await updateUser(prefixed.core.db, registered.body.data.id, { isVerified: true }, prefixed.clock.now());
      const token = (await prefixed.api("POST", "/api/v1/auth/login", { body: { email: input.email, password: input.password } })).body.data.access_token;
      const options = (await prefixed.api("POST", "/api/v1/users/me/passkeys/registration/options", { token, body: {} })).body.data.options;
      expect(options.rp.id).toBe("localhost");
      const withPath = await prefixed.api("POST", "/api/v1/users/me/passkeys", { token, body: { response: new SoftKey().register(options, { origin: `http://localhost:${port}/auth` }) } });
      expect(withPath.status).toBe(422);
      const again = (await prefixed.api("POST", "/api/v1/users/me/passkeys/registration/options", { token, body: {} })).body.data.options;
      const key = new SoftKey();
      const added = await prefixed.api("POST", "/api/v1/users/me/passkeys", { token, body: { response: key.register(again, { origin: `http://localhost:${port}` }) } });
      expect(added.status).toBe(201);
      const signIn = (await prefixed.api("POST", "/api/v1/auth/passkeys/options")).body.data.options;
      const signedIn = await prefixed.api("POST", "/api/v1/auth/passkeys/verify", { body: { response: key.assert(signIn, { origin: `http://localhost:${port}` }) } });
      expect(signedIn.status).toBe(200);
    } finally {
      await prefixed.stop();
    }
  });
});

describe("what a refused passkey sign-in tells", () => {
  test("an unknown credential, a wrong signature and a spent challenge get the same answer", async () => {
    const { token } = await verifiedUser();
    const { key } = await addKey(token);
    const unknown = await verify(new SoftKey().assert(await signInOptions()));
    const badSignature = key.assert(await signInOptions());
    badSignature.response.signature = b64u(Buffer.from(badSignature.response.signature, "base64url").reverse());
    const wrong = await verify(badSignature);
    const spent = await verify(badSignature);
    const shape = (a: { status: number; body: any }) => ({ status: a.status, code: a.body.error?.code, message: a.body.error?.message });
    expect(shape(unknown)).toEqual({ status: 401, code: "INVALID_CREDENTIALS", message: "The passkey could not be verified" });
    expect(shape(wrong)).toEqual(shape(unknown));
    expect(shape(spent)).toEqual(shape(unknown));
  });
});
