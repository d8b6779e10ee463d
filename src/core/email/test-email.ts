/** `usersvc email test`: one email through USERSVC_SMTP_URL, and the server's answer. */
import type { Config } from "../../config.ts";
import type { Logger } from "../../logger.ts";
import { loadTheme } from "../theme/theme.ts";
import { assertValidEmail } from "../users/validation.ts";
import { testEmail } from "./emails.ts";
import { createMailer } from "./mailer.ts";

/** Resolves with the server's reply to the message; rejects with its refusal (the SMTP error names it). */
export async function sendTestEmail(config: Config, logger: Logger, to: string): Promise<string> {
  assertValidEmail(to);
  const mailer = createMailer(config, logger);
  if (!mailer) throw new Error("USERSVC_SMTP_URL is not set: usersvc sends no email");
  try {
    return await mailer.send(testEmail(config, loadTheme(config.themeDir), to));
  } finally {
    mailer.close();
  }
}
