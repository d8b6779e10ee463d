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

/**
 * Connection, greeting and socket (idle) timeouts, and a deadline for the
 * whole send. The idle timeout alone does not bound a send: a server that
 * answers one line of a multi-line reply every few seconds keeps the socket
 * busy for ever. The deadline aborts the connection, well inside the
 * outbox's 60 s lease, so a slow server can neither stall the worker nor let
 * a second instance claim and send the same email meanwhile.
 */
export interface MailTimeouts {
  connectionMs: number;
  greetingMs: number;
  socketMs: number;
  sendMs: number;
}
export const MAIL_TIMEOUTS: MailTimeouts = { connectionMs: 10_000, greetingMs: 10_000, socketMs: 30_000, sendMs: 40_000 };

/** Null when USERSVC_SMTP_URL is unset: usersvc sends no email, the host's hooks may. */
export function createMailer(config: Config, logger: Logger, timeouts: MailTimeouts = MAIL_TIMEOUTS): Mailer | null {
  if (config.smtpUrl === null) return null;
  if (config.smtpUrl === "log") {
    const log = logger.child({ module: "email" });
    return {
      async send(email) {
        // The links first, so a person reading the terminal finds them without reading the whole text.
        const links = email.text.match(/https?:\/\/\S+/g) ?? [];
        log.info({ to: email.to, subject: email.subject, links, text: email.text }, "email written to the log (USERSVC_SMTP_URL=log), not sent");
        return "written to the log";
      },
      close() {},
    };
  }
  const transport = nodemailer.createTransport({
    url: config.smtpUrl,
    connectionTimeout: timeouts.connectionMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: timeouts.socketMs,
  });
  return {
    async send(email) {
      const signal = AbortSignal.timeout(timeouts.sendMs);
      try {
        // The account's address as one addr-spec, never parsed as an address list: a stored
        // `"x"<a@evil.example>` (from before validation refused it) is refused, not sent to a@evil.example.
        const info = await transport.sendMail({ from: config.emailFrom, ...email, to: { name: "", address: email.to }, signal });
        return String(info.response);
      } catch (error) {
        // ETIMEDOUT like nodemailer's own timeouts, so `usersvc email test` names the server.
        if (signal.aborted) throw Object.assign(new Error(`the mail server did not finish within ${timeouts.sendMs / 1000} s; connection closed`), { code: "ETIMEDOUT" });
        throw error;
      }
    },
    close: () => transport.close(),
  };
}
