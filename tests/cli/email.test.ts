/**
 * SPEC §8: `usersvc email test <address>` sends one email through
 * USERSVC_SMTP_URL to a real SMTP server on a loopback port and reports the
 * server's answer; a refusal exits 1 naming the server's reply.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { cliText } from "../support/cli.ts";
import { type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

let smtp: SmtpReceiver;
beforeAll(async () => {
  smtp = await startSmtpReceiver();
});
afterAll(() => smtp.stop());

describe("usersvc email test", () => {
  test("sends one email and prints the server's answer; --json prints {sent, to, reply}", async () => {
    const env = { USERSVC_PUBLIC_URL: "https://id.example.test", USERSVC_SMTP_URL: smtp.url, USERSVC_EMAIL_FROM: "Ops <ops@example.com>" };
    const result = await cliText(["email", "test", "first@example.com"], { env });
    expect(result).toEqual(expect.objectContaining({ exitCode: 0, stderr: "" }));
    expect(result.stdout).toMatch(/^sent to first@example\.com; the server answered: 250 /);
    const mail = await smtp.waitFor("first@example.com");
    expect(mail).toEqual(expect.objectContaining({ from: '"Ops" <ops@example.com>', subject: "usersvc test email" }));
    expect(mail.text).toContain("the SMTP settings work");

    const json = await cliText(["email", "test", "second@example.com", "--json"], { env });
    expect(json.exitCode).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ sent: true, to: "second@example.com", reply: expect.stringMatching(/^250 /) });
  });

  test("a refusal exits 1 naming the server's reply, and nothing is delivered", async () => {
    smtp.refuseNext(1, { code: 550, message: "5.7.1 relaying denied" });
    const result = await cliText(["email", "test", "refused@example.com"], { env: { USERSVC_PUBLIC_URL: "https://id.example.test", USERSVC_SMTP_URL: smtp.url } });
    expect(result).toEqual({ exitCode: 1, stdout: "", stderr: "usersvc: the mail server refused the email: 550 5.7.1 relaying denied\n" });
    expect(smtp.to("refused@example.com")).toEqual([]);
  });

  test("a server that does not answer exits 1 naming it, without the credentials in the URL", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", () => resolve()));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await cliText(["email", "test", "nobody@example.com"], { env: { USERSVC_PUBLIC_URL: "https://id.example.test", USERSVC_SMTP_URL: `smtp://ops:s3cret@127.0.0.1:${port}` } });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toStartWith(`usersvc: could not send through smtp://127.0.0.1:${port}: `);
    expect(result.stderr).not.toContain("s3cret");
  });

  test("without USERSVC_SMTP_URL it exits 1 saying so; a malformed address is a usage error (exit 2)", async () => {
    const unset = await cliText(["email", "test", "a@example.com"]);
    expect(unset.exitCode).toBe(1);
    expect(unset.stderr).toStartWith("usersvc: USERSVC_SMTP_URL is not set");
    const bad = await cliText(["email", "test", "not-an-address"], { env: { USERSVC_PUBLIC_URL: "https://id.example.test", USERSVC_SMTP_URL: smtp.url } });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("email");
  });
});
