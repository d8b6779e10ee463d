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
import de from "../messages/de.json";
import en from "../messages/en.json";

export type Messages = Readonly<Record<string, string>>;
export type EmailLayout = "email.txt.eta" | "email.html.eta";

export interface Theme {
  /** The locales with a catalogue, embedded or the theme's; "en" first. */
  locales: readonly string[];
  messages(locale: string): Messages;
  emailLayout(name: EmailLayout): string;
}

const EMBEDDED_MESSAGES: Record<string, Messages> = { en, de };
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
    locales: ["en", ...[...messages.keys()].filter((locale) => locale !== "en").sort()],
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

/**
 * The best of `available` for an Accept-Language header (RFC 9110 §12.5.4):
 * by q-value, an exact tag first, then its primary language ("de-CH" → "de");
 * null when none matches (the caller's default applies).
 */
export function preferredLocale(header: string | null, available: readonly string[]): string | null {
  if (!header) return null;
  const ranges = header
    .split(",")
    .slice(0, 32)
    .map((part, index) => {
      const [tag = "", ...params] = part.trim().split(";");
      const q = params.map((p) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { tag: tag.trim().toLowerCase(), q: q === undefined ? 1 : Number(q), index };
    })
    .filter((range) => range.tag !== "" && range.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  const lower = new Map(available.map((locale) => [locale.toLowerCase(), locale]));
  for (const { tag } of ranges) {
    const match = lower.get(tag) ?? lower.get(tag.split("-")[0]!);
    if (match) return match;
  }
  return null;
}
