/**
 * Which events usersvc answers with an email of its own (SPEC §8), and what
 * each says: a link to the hosted pages for verification and reset, a notice
 * for a changed or reset password, for two-factor turned on or off and for
 * a new passkey.
 * Written from the event alone, so a retry sends the same email.
 */
import { Eta } from "eta";
import type { EventType, UsersvcEvent } from "../../hooks/types.ts";
import type { Config } from "../../config.ts";
import { formatMessage, type Messages, type Theme } from "../theme/theme.ts";
import type { Email } from "./mailer.ts";

type EmailKind = "verify" | "reset" | "change_email" | "email_changed" | "password_changed" | "password_reset" | "mfa_enabled" | "mfa_disabled" | "passkey_added";

/** The kind of email an event calls for, or null. Reads only what enqueueing has too: the type and data. */
export function emailKindOf(type: EventType, data: UsersvcEvent["data"]): EmailKind | null {
  switch (type) {
    case "user.verification_requested":
      return "verify";
    case "user.password_reset_requested":
      return "reset";
    case "user.email_change_requested":
      return "change_email";
    case "user.email_changed":
      return "email_changed";
    case "user.password_changed":
      return "password_changed";
    case "user.password_reset":
      return "password_reset";
    case "user.updated":
      return data.mfa === "enabled" ? "mfa_enabled" : data.mfa === "disabled" ? "mfa_disabled" : null;
    case "user.passkey_added":
      return "passkey_added";
    default:
      return null;
  }
}

/** What the layouts render: plain strings, escaped by the HTML layout. */
export interface EmailContent {
  locale: string;
  subject: string;
  greeting: string;
  paragraphs: string[];
  action: { label: string; url: string } | null;
  /** A one-time code to type, with the sentence that introduces it. */
  code: { intro: string; value: string } | null;
  after: string[];
  linkFallback: string;
  footer: string;
}

const eta = new Eta({ autoEscape: true, autoTrim: false });

export function renderEmail(theme: Theme, to: string, content: EmailContent): Email {
  return {
    to,
    subject: content.subject,
    text: eta.renderString(theme.emailLayout("email.txt.eta"), content),
    html: eta.renderString(theme.emailLayout("email.html.eta"), content),
  };
}

/** Messages of one locale with the values their placeholders take, and the parts every email shares. */
function composer(theme: Theme, locale: string, values: Record<string, string>) {
  const messages: Messages = theme.messages(locale);
  const say = (key: string): string => formatMessage(messages[key] ?? key, { product: messages.product ?? "usersvc", ...values });
  const content = (
    subjectKey: string,
    paragraphs: string[],
    action: EmailContent["action"],
    after: string[],
    code: EmailContent["code"] = null,
  ): EmailContent => ({
    locale,
    subject: say(subjectKey),
    greeting: say("email.greeting"),
    paragraphs,
    action,
    code,
    after,
    linkFallback: say("email.link_fallback"),
    footer: say("email.footer"),
  });
  return { say, content };
}

/** The email for an event delivered to the `email` target; throws if the event cannot make one (a bug, retried then dead). */
export function emailForEvent(config: Config, theme: Theme, event: UsersvcEvent, locale: string): Email {
  const kind = emailKindOf(event.type, event.data);
  const user = event.data.user;
  if (!kind || !user) throw new Error(`event ${event.type} has no email`);
  const values: Record<string, string> = {
    username: user.username,
    email: user.email,
    public_url: config.publicUrl,
    occurred_at: formatTime(event.occurred_at, locale),
    expires_at: typeof event.data.expires_at === "string" ? formatTime(event.data.expires_at, locale) : "",
    new_email: typeof event.data.new_email === "string" ? event.data.new_email : "",
    previous_email: typeof event.data.previous_email === "string" ? event.data.previous_email : "",
  };
  const { say, content: compose } = composer(theme, locale, values);
  const content = (paragraphs: string[], action: EmailContent["action"], after: string[], code: EmailContent["code"] = null) =>
    compose(`email.${kind}.subject`, paragraphs, action, after, code);
  const token = typeof event.data.token === "string" ? event.data.token : null;
  const link = (page: string) => {
    if (!token) throw new Error(`event ${event.type} has no token (delivered already?)`);
    return `${config.publicUrl}${page}?token=${encodeURIComponent(token)}`;
  };
  switch (kind) {
    case "verify": {
      const code = typeof event.data.code === "string" ? { intro: say("email.verify.code"), value: event.data.code } : null;
      const action = { label: say("email.verify.action"), url: link("/verify-email") };
      return renderEmail(theme, user.email, content([say("email.verify.body")], action, [say("email.verify.expiry")], code));
    }
    case "reset":
      return renderEmail(theme, user.email, content([say("email.reset.body")], { label: say("email.reset.action"), url: link("/reset-password") }, [say("email.reset.expiry")]));
    case "change_email": {
      // To the address asked for: following the link proves it.
      const action = { label: say("email.change_email.action"), url: link("/verify-email") };
      return renderEmail(theme, required(values.new_email, event), content([say("email.change_email.body")], action, [say("email.change_email.expiry")]));
    }
    case "email_changed":
      // To the address given up: its owner learns of the change even if it was not them.
      return renderEmail(theme, required(values.previous_email, event), content([say("email.email_changed.body")], null, [say("email.email_changed.not_you")]));
    default:
      return renderEmail(theme, user.email, content([say(`email.${kind}.body`)], null, [say("email.not_you")]));
  }
}

function required(address: string | undefined, event: UsersvcEvent): string {
  if (!address) throw new Error(`event ${event.type} names no address`);
  return address;
}

/** The email of `usersvc email test`. */
export function testEmail(config: Config, theme: Theme, to: string): Email {
  const { say, content } = composer(theme, "en", { email: to, username: to, public_url: config.publicUrl });
  return renderEmail(theme, to, content("email.test.subject", [say("email.test.body")], null, []));
}

function formatTime(iso: string, locale: string): string {
  const format = new Intl.DateTimeFormat(locale, { dateStyle: "long", timeStyle: "short", timeZone: "UTC" });
  return `${format.format(new Date(iso))} UTC`;
}
