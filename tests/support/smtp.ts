/**
 * A real SMTP server on a loopback port (the npm smtp-server package), whose
 * messages are parsed with mailparser. `refuseNext(n, code)` makes the next
 * n messages fail with that reply (e.g. 451, a temporary failure).
 */
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The first http(s) link in the text part. */
  link: string | null;
}

export interface SmtpReceiver {
  url: string;
  port: number;
  messages: ReceivedMail[];
  /** Messages refused so far (each refusal counts one). */
  refused: number;
  refuseNext(count: number, reply?: { code: number; message: string }): void;
  /** Waits until a message to `to` (and matching `subject`, if given) has arrived; returns it. */
  waitFor(to: string, subject?: RegExp, timeoutMs?: number): Promise<ReceivedMail>;
  to(address: string): ReceivedMail[];
  stop(): Promise<void>;
}

export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const messages: ReceivedMail[] = [];
  let refusals = 0;
  let refusal = { code: 451, message: "4.3.0 try again later" };
  const receiver: SmtpReceiver = {
    url: "",
    port: 0,
    messages,
    refused: 0,
    refuseNext(count, reply) {
      refusals = count;
      if (reply) refusal = reply;
    },
    async waitFor(to, subject, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find((m) => m.to === to && (!subject || subject.test(m.subject)));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no email to ${to}${subject ? ` matching ${subject}` : ""} within ${timeoutMs} ms`);
        await Bun.sleep(20);
      }
    },
    to: (address) => messages.filter((m) => m.to === address),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, _session, callback) {
      if (refusals > 0) {
        refusals -= 1;
        receiver.refused += 1;
        stream.resume();
        stream.on("end", () => callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code })));
        return;
      }
      simpleParser(stream).then(
        (mail: ParsedMail) => {
          const text = mail.text ?? "";
          messages.push({
            from: mail.from?.text ?? "",
            to: (Array.isArray(mail.to) ? mail.to[0] : mail.to)?.value[0]?.address ?? "",
            subject: mail.subject ?? "",
            text,
            html: typeof mail.html === "string" ? mail.html : "",
            link: /https?:\/\/\S+/.exec(text)?.[0] ?? null,
          });
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  receiver.port = (server.server.address() as { port: number }).port;
  receiver.url = `smtp://127.0.0.1:${receiver.port}`;
  return receiver;
}
