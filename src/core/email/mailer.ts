/**
 * The way out for email (USERSVC_SMTP_URL): nodemailer over SMTP (STARTTLS
 * when the server offers it, or smtps://), or `log`, which writes each email
 * to the log instead (development: the log then holds single-use links).
 */
import nodemailer from "nodemailer";
import type { Config } from "../../config.ts";
import type { Logger } from "../../logger.ts";

export interface Email {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  /** Sends one email; resolves with the server's reply, rejects with it (e.g. "451 …"). */
  send(email: Email): Promise<string>;
  close(): void;
}

/** Null when USERSVC_SMTP_URL is unset: usersvc sends no email, the host's hooks may. */
export function createMailer(config: Config, logger: Logger): Mailer | null {
  if (config.smtpUrl === null) return null;
  if (config.smtpUrl === "log") {
    const log = logger.child({ module: "email" });
    return {
      async send(email) {
        log.info({ to: email.to, subject: email.subject, text: email.text }, "email written to the log (USERSVC_SMTP_URL=log), not sent");
        return "written to the log";
      },
      close() {},
    };
  }
  // Well inside the outbox's 60 s lease, so a slow server cannot make two instances send one email.
  const transport = nodemailer.createTransport({ url: config.smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 });
  return {
    async send(email) {
      const info = await transport.sendMail({ from: config.emailFrom, ...email });
      return String(info.response);
    },
    close: () => transport.close(),
  };
}
