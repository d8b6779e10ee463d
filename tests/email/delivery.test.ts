/**
 * SPEC §8: with USERSVC_SMTP_URL set, usersvc sends its own emails through
 * the outbox to a real SMTP server on a loopback port. Delivery passes are
 * direct calls to deliverDueEvents through deliverUntilIdle (what serve's worker runs), so retries
 * are driven by moving the clock, not by waiting.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { Secret, TOTP } from "otpauth";
import { loadConfig } from "../../src/config.ts";
import { createMailer } from "../../src/core/email/mailer.ts";
import { createLogger } from "../../src/logger.ts";
import { StartUpError } from "../../src/core/start-up.ts";
import { deliverUntilIdle, outboxRows } from "../support/hooks.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";
import { type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const PUBLIC_URL = "https://id.example.test";

let smtp: SmtpReceiver;
let server: TestServer;
beforeAll(async () => {
  smtp = await startSmtpReceiver();
  server = await startTestServer({ USERSVC_SMTP_URL: smtp.url, USERSVC_PUBLIC_URL: PUBLIC_URL, USERSVC_EMAIL_COOLDOWN: "0" });
});
afterAll(async () => {
  await server.stop();
  await smtp.stop();
});


function tokenOf(link: string | null, page: string): string {
  expect(link).toStartWith(`${PUBLIC_URL}${page}?token=`);
  return new URL(link!).searchParams.get("token")!;
}

describe("emails usersvc sends itself", () => {
  test("sign-up sends a verification email whose link's token verifies the address", async () => {
    const input = newUser();
    const registered = await server.api("POST", "/api/v1/users", { body: input });
    expect(registered.status).toBe(201);
    await deliverUntilIdle(server.core);
    const mail = await smtp.waitFor(input.email, /Confirm your email/);
    expect(mail.from).toBe('"usersvc" <no-reply@id.example.test>');
    expect(mail.text).toStartWith(`Hello ${input.username},\n\n`);
    const token = tokenOf(mail.link, "/verify-email");
    // The HTML part carries the same link, as a button and written out.
    expect(mail.html).toContain(`href="${PUBLIC_URL}/verify-email?token=${token}"`);
    const verified = await server.api("POST", "/api/v1/auth/verify-email", { body: { token } });
    expect(verified.status).toBe(200);
    expect(verified.body.data.is_verified).toBe(true);
  });

  test("forgot-password sends a reset email whose token sets a new password; the reset itself sends a notice", async () => {
    const { input } = await registerAndLogin(server.api);
    await deliverUntilIdle(server.core);
    const accepted = await server.api("POST", "/api/v1/auth/forgot-password", { body: { email: input.email } });
    expect(accepted.status).toBe(202);
    // The reset request is written after the answer (timing safety): wait for its row.
    for (let i = 0; i < 100 && smtp.to(input.email).every((m) => !/Reset your password/.test(m.subject)); i++) {
      await deliverUntilIdle(server.core);
      await Bun.sleep(20);
    }
    const mail = await smtp.waitFor(input.email, /Reset your password/);
    const token = tokenOf(mail.link, "/reset-password");
    const reset = await server.api("POST", "/api/v1/auth/reset-password", { body: { token, new_password: "another horse battery staple" } });
    expect(reset.status).toBe(200);
    await deliverUntilIdle(server.core);
    const notice = await smtp.waitFor(input.email, /Your password was reset/);
    expect(notice.link).toBe(`${PUBLIC_URL}/forgot-password`);
  });

  test("a password change and two-factor turned on and off each send a notice to the account's address", async () => {
    const { input, tokens } = await registerAndLogin(server.api);
    const changed = await server.api("POST", "/api/v1/auth/change-password", {
      token: tokens.access_token,
      body: { current_password: input.password, new_password: "a brand new horse battery" },
    });
    expect(changed.status).toBe(200);
    await deliverUntilIdle(server.core);
    expect((await smtp.waitFor(input.email, /Your password was changed/)).text).toContain("Your other sessions were signed out.");

    // Two-factor needs a verified address: verify it with the emailed link first.
    const verification = await smtp.waitFor(input.email, /Confirm your email/);
    await server.api("POST", "/api/v1/auth/verify-email", { body: { token: tokenOf(verification.link, "/verify-email") } });
    const access = changed.body.data.access_token;
    const enrolled = await server.api("POST", "/api/v1/users/me/mfa/enroll", { token: access, body: {} });
    expect(enrolled.status).toBe(200);
    const totp = new TOTP({ secret: Secret.fromBase32(enrolled.body.data.secret), digits: 6, period: 30, algorithm: "SHA1" });
    const confirmed = await server.api("POST", "/api/v1/users/me/mfa/confirm", {
      token: access,
      body: { code: totp.generate({ timestamp: server.clock.now().getTime() }) },
    });
    expect(confirmed.status).toBe(200);
    await deliverUntilIdle(server.core);
    await smtp.waitFor(input.email, /Two-factor authentication is on/);
    const disabled = await server.api("DELETE", "/api/v1/users/me/mfa", { token: access, body: { password: "a brand new horse battery" } });
    expect(disabled.status).toBe(200);
    await deliverUntilIdle(server.core);
    await smtp.waitFor(input.email, /Two-factor authentication is off/);
    // Regenerating recovery codes or other profile changes send nothing.
    const subjects = smtp.to(input.email).map((m) => m.subject);
    expect(subjects).toEqual([
      "Confirm your email address",
      "Your password was changed",
      "Two-factor authentication is on",
      "Two-factor authentication is off",
    ]);
  });

  test("a mail server answering 451 gets the email exactly once, later; the request that caused it answered at once", async () => {
    smtp.refuseNext(1, { code: 451, message: "4.3.0 try again later" });
    const input = newUser();
    const registered = await server.api("POST", "/api/v1/users", { body: input });
    expect(registered.status).toBe(201);
    await deliverUntilIdle(server.core);
    expect(smtp.refused).toBeGreaterThanOrEqual(1);
    expect(smtp.to(input.email)).toHaveLength(0);
    const [row] = (await outboxRows(server.core.db)).filter((r) => r.userId === registered.body.data.id && r.target === "email");
    expect(row).toEqual(expect.objectContaining({ status: "pending", attempts: 1 }));
    expect(row!.lastError).toContain("451");
    server.clock.advance((row!.nextAttemptAt.getTime() - server.clock.now().getTime()) / 1000 + 1);
    await deliverUntilIdle(server.core);
    await deliverUntilIdle(server.core);
    expect(smtp.to(input.email)).toHaveLength(1);
    const [after] = (await outboxRows(server.core.db)).filter((r) => r.userId === registered.body.data.id && r.target === "email");
    expect(after!.status).toBe("delivered");
    // Once delivered, the plain token no longer sits in the outbox.
    expect(JSON.stringify(after!.payload)).not.toContain(tokenOf(smtp.to(input.email)[0]!.link, "/verify-email"));
  });
});

describe("a mail server that never finishes its answer", () => {
  test("is given up on at the send deadline, with its connection closed, though every line kept the socket busy", async () => {
    // Greets, then answers EHLO one "250-" continuation line every 200 ms, for ever: the idle timeout never fires.
    const sockets = new Set<Socket>();
    let closed = 0;
    const trickler = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => (closed += 1));
      socket.write("220 slow.example.test ESMTP\r\n");
      socket.once("data", () => {
        const timer = setInterval(() => socket.destroyed || socket.write("250-still thinking\r\n"), 200);
        socket.on("close", () => clearInterval(timer));
      });
    });
    await new Promise<void>((resolve) => trickler.listen(0, "127.0.0.1", () => resolve()));
    const config = loadConfig({ USERSVC_PUBLIC_URL: "https://id.example.test", USERSVC_SMTP_URL: `smtp://127.0.0.1:${(trickler.address() as AddressInfo).port}` });
    const mailer = createMailer(config, createLogger("silent", { write: () => {} }), { connectionMs: 1000, greetingMs: 1000, socketMs: 1000, sendMs: 1500 })!;
    try {
      const started = Date.now();
      const outcome = await Promise.race([
        mailer.send({ to: "someone@example.com", subject: "s", text: "t", html: "<p>t</p>" }).then(() => "sent", (error: Error) => error.message),
        Bun.sleep(6000).then(() => "still waiting"),
      ]);
      expect(outcome).toMatch(/did not finish within 1.5 s/);
      expect(Date.now() - started).toBeLessThan(4000);
      for (let i = 0; i < 50 && closed === 0; i++) await Bun.sleep(20);
      expect(closed).toBe(1);
    } finally {
      mailer.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => trickler.close(() => resolve()));
    }
  });
});

describe("the recipient", () => {
  test("is the stored address as one addr-spec: one that reads as a display name or a list is refused, not sent elsewhere", async () => {
    const mailer = createMailer(loadConfig({ USERSVC_PUBLIC_URL: "https://id.example.test", USERSVC_SMTP_URL: smtp.url }), createLogger("silent", { write: () => {} }))!;
    try {
      for (const to of ['"ceo"<attacker@evil.example>', "attacker@evil.example,corp.example"]) {
        const outcome = await mailer.send({ to, subject: "s", text: "t", html: "<p>t</p>" }).then(() => "sent", (error: Error) => error.message);
        expect(outcome).toMatch(/recipients were rejected/);
      }
      await Bun.sleep(200);
      expect(smtp.to("attacker@evil.example")).toEqual([]);
    } finally {
      mailer.close();
    }
  });
});

describe("without USERSVC_SMTP_URL", () => {
  test("no email row is written: the host's hooks may send their own", async () => {
    const quiet = await startTestServer();
    try {
      const registered = await quiet.api("POST", "/api/v1/users", { body: newUser() });
      expect(registered.status).toBe(201);
      expect((await outboxRows(quiet.core.db)).filter((r) => r.target === "email")).toEqual([]);
    } finally {
      await quiet.stop();
    }
  });
});

describe("USERSVC_SMTP_URL=log", () => {
  test("each email is written to the log with its link, and nothing is sent", async () => {
    const logged = await startTestServer({ USERSVC_SMTP_URL: "log", USERSVC_PUBLIC_URL: PUBLIC_URL });
    try {
      const input = newUser();
      await logged.api("POST", "/api/v1/users", { body: input });
      await deliverUntilIdle(logged.core);
      const line = logged.logs.map((l) => JSON.parse(l)).find((entry) => entry.module === "email");
      expect(line).toEqual(expect.objectContaining({ to: input.email, subject: "Confirm your email address" }));
      expect(line.text).toContain(`${PUBLIC_URL}/verify-email?token=`);
      expect(smtp.to(input.email)).toEqual([]);
    } finally {
      await logged.stop();
    }
  });
});

describe("a theme directory", () => {
  let themeDir: string;
  let themed: TestServer;
  beforeAll(async () => {
    themeDir = mkdtempSync(join(tmpdir(), "usersvc-theme-"));
    mkdirSync(join(themeDir, "messages"));
    writeFileSync(
      join(themeDir, "messages", "en.json"),
      JSON.stringify({ product: "Example", "email.verify.subject": "Welcome to Example", "email.verify.body": "<b>Hi</b> {email} & co" }),
    );
    themed = await startTestServer({ USERSVC_SMTP_URL: smtp.url, USERSVC_PUBLIC_URL: PUBLIC_URL, USERSVC_THEME_DIR: themeDir });
  });
  afterAll(async () => {
    await themed.stop();
    rmSync(themeDir, { recursive: true, force: true });
  });

  test("a catalogue that is not a JSON object of strings stops the start, naming the file", async () => {
    const broken = mkdtempSync(join(tmpdir(), "usersvc-theme-broken-"));
    mkdirSync(join(broken, "messages"));
    try {
      for (const content of ["{not json", JSON.stringify({ "email.verify.subject": 42 })]) {
        writeFileSync(join(broken, "messages", "en.json"), content);
        const error = await startTestServer({ USERSVC_THEME_DIR: broken }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StartUpError);
        expect((error as Error).message).toStartWith(`USERSVC_THEME_DIR: ${join(broken, "messages", "en.json")} `);
      }
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });

  test("overrides messages key by key, and what it says is escaped in the HTML part", async () => {
    const input = newUser();
    await themed.api("POST", "/api/v1/users", { body: input });
    await deliverUntilIdle(themed.core);
    const mail = await smtp.waitFor(input.email, /Welcome to Example/);
    expect(mail.text).toContain(`<b>Hi</b> ${input.email} & co`);
    expect(mail.html).toContain(`&lt;b&gt;Hi&lt;/b&gt; ${input.email} &amp; co`);
    expect(mail.html).not.toContain("<b>Hi</b>");
    // Keys the theme does not name keep the embedded text.
    expect(mail.text).toContain("Confirm email address");
    expect(mail.text).toContain("This email was sent by Example to");
  });
});
