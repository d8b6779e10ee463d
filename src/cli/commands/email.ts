import { Command } from "commander";
import { sendTestEmail } from "../../core/email/test-email.ts";
import type { ProgramContext } from "../context.ts";
import { OperationalError } from "../io.ts";

export function emailCommand(ctx: ProgramContext): Command {
  const test = new Command("test")
    .description("send one test email through USERSVC_SMTP_URL and print the mail server's answer (exit 1 with its reply when it refuses)")
    .argument("<address>", "where to send it")
    .option("--json", 'print {sent, to, reply} as JSON')
    .action(async (address: string, options: { json?: boolean }) => {
      const { config, logger } = ctx.runtime();
      if (!config.smtpUrl) throw new OperationalError("USERSVC_SMTP_URL is not set: usersvc sends no email (set smtp://host:port, smtps://…, or log)");
      let reply: string;
      try {
        reply = await sendTestEmail(config, logger, address);
      } catch (error) {
        if (error instanceof Error && "response" in error && typeof error.response === "string") {
          throw new OperationalError(`the mail server refused the email: ${error.response}`);
        }
        if (error instanceof Error && "code" in error && typeof error.code === "string" && /^E[A-Z]+$/.test(error.code)) {
          throw new OperationalError(`could not send through ${describeServer(config.smtpUrl)}: ${error.message}`);
        }
        throw error;
      }
      if (options.json) ctx.io.stdout(JSON.stringify({ sent: true, to: address, reply }));
      else ctx.io.stdout(`sent to ${address}; the server answered: ${reply}`);
      ctx.finish(0);
    });
  return new Command("email").description("usersvc's own email (USERSVC_SMTP_URL)").addCommand(test);
}

/** The server of an SMTP URL without its credentials. */
function describeServer(smtpUrl: string): string {
  if (smtpUrl === "log") return "the log";
  const url = new URL(smtpUrl);
  return `${url.protocol}//${url.host}`;
}
