/**
 * What an operator may override from USERSVC_THEME_DIR, file by file: the
 * message catalogue of a locale (`messages/<locale>.json`, merged key by
 * key over the embedded one) and the email layouts (`emails/email.txt.eta`,
 * `emails/email.html.eta`). Read once at start-up, so a broken file stops
 * the start with its name rather than a later email.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import htmlLayout from "../email/templates/email.html.eta" with { type: "text" };
import textLayout from "../email/templates/email.txt.eta" with { type: "text" };
import en from "../messages/en.json";

export type Messages = Readonly<Record<string, string>>;
export type EmailLayout = "email.txt.eta" | "email.html.eta";

export interface Theme {
  messages(locale: string): Messages;
  emailLayout(name: EmailLayout): string;
}

const EMBEDDED_MESSAGES: Record<string, Messages> = { en };
const EMBEDDED_LAYOUTS: Record<EmailLayout, string> = { "email.txt.eta": textLayout, "email.html.eta": htmlLayout };

export class ThemeError extends Error {
  override name = "ThemeError";
}

export function loadTheme(themeDir: string | null): Theme {
  const messages = new Map<string, Messages>(Object.entries(EMBEDDED_MESSAGES));
  const layouts = { ...EMBEDDED_LAYOUTS };
  if (themeDir !== null) {
    if (!existsSync(themeDir)) throw new ThemeError(`USERSVC_THEME_DIR: ${themeDir} does not exist`);
    const messagesDir = join(themeDir, "messages");
    if (existsSync(messagesDir)) {
      for (const file of readdirSync(messagesDir).filter((f) => f.endsWith(".json"))) {
        const locale = file.slice(0, -".json".length);
        messages.set(locale, { ...(messages.get(locale) ?? en), ...readCatalogue(join(messagesDir, file)) });
      }
    }
    for (const name of Object.keys(layouts) as EmailLayout[]) {
      const path = join(themeDir, "emails", name);
      if (existsSync(path)) layouts[name] = readFileSync(path, "utf8");
    }
  }
  const fallback = messages.get("en")!;
  return {
    messages: (locale) => messages.get(locale) ?? fallback,
    emailLayout: (name) => layouts[name],
  };
}

function readCatalogue(path: string): Messages {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ThemeError(`USERSVC_THEME_DIR: ${path} is not valid JSON (${(error as Error).message})`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== "string")) {
    throw new ThemeError(`USERSVC_THEME_DIR: ${path} must be one JSON object of message names to strings`);
  }
  return parsed as Messages;
}

/** A message with its `{name}` placeholders filled in; an unknown placeholder stays as written. */
export function formatMessage(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}
