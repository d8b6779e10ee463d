/**
 * Issue 12 §4 for email: one catalogue per locale (en and de embedded, more
 * from USERSVC_THEME_DIR); a user's emails follow the locale their sign-up
 * asked for (Accept-Language), English when none matches.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import de from "../../src/core/messages/de.json";
import en from "../../src/core/messages/en.json";
import { preferredLocale } from "../../src/core/theme/theme.ts";
import { CLI_ACTOR } from "../../src/core/audit/actor.ts";
import { exportUsers, importUsers } from "../../src/core/users/transfer.ts";
import { deliverUntilIdle } from "../support/hooks.ts";
import { newUser, startTestServer, type TestServer } from "../support/server.ts";
import { type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// More than bun's 5 s default: real servers on real databases, on a shared machine.
setDefaultTimeout(30_000);

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe("the catalogues", () => {
  test("de has every key of en, none empty, each with the same placeholders", () => {
    expect(Object.keys(de).sort()).toEqual(Object.keys(en).sort());
    for (const [key, text] of Object.entries(en)) {
      const translated = (de as Record<string, string>)[key]!;
      expect({ key, text: translated.trim().length > 0 }).toEqual({ key, text: true });
      expect({ key, placeholders: placeholders(translated) }).toEqual({ key, placeholders: placeholders(text) });
    }
  });

  test("Accept-Language picks by q-value, an exact tag before its language, and nothing when none matches", () => {
    const available = ["en", "de", "pt-BR"];
    expect(preferredLocale("de-CH, en;q=0.5", available)).toBe("de");
    expect(preferredLocale("fr, en;q=0.1", available)).toBe("en");
    expect(preferredLocale("en;q=0.2, de;q=0.9", available)).toBe("de");
    expect(preferredLocale("pt-br", available)).toBe("pt-BR");
    expect(preferredLocale("de;q=0, en", available)).toBe("en");
    expect(preferredLocale("fr-FR, *;q=0.1", available)).toBeNull();
    expect(preferredLocale("", available)).toBeNull();
    expect(preferredLocale(null, available)).toBeNull();
  });
});

describe("emails in the user's locale", () => {
  let smtp: SmtpReceiver;
  let server: TestServer;
  let themeDir: string;
  beforeAll(async () => {
    smtp = await startSmtpReceiver();
    themeDir = mkdtempSync(join(tmpdir(), "usersvc-theme-locale-"));
    mkdirSync(join(themeDir, "messages"));
    // A locale usersvc does not ship: only the subject is translated, the rest falls back to English.
    writeFileSync(join(themeDir, "messages", "fr.json"), JSON.stringify({ "email.verify.subject": "Confirmez votre adresse" }));
    server = await startTestServer({ USERSVC_SMTP_URL: smtp.url, USERSVC_PUBLIC_URL: "https://id.example.test", USERSVC_THEME_DIR: themeDir });
  });
  afterAll(async () => {
    await server.stop();
    await smtp.stop();
    rmSync(themeDir, { recursive: true, force: true });
  });

  async function signUpWith(acceptLanguage: string | null) {
    const input = newUser();
    const headers: Record<string, string> = acceptLanguage === null ? {} : { "accept-language": acceptLanguage };
    expect((await server.api("POST", "/api/v1/users", { body: input, headers })).status).toBe(201);
    await deliverUntilIdle(server.core);
    return smtp.waitFor(input.email);
  }

  test("a German sign-up gets its verification email in German, dates included", async () => {
    const mail = await signUpWith("de-CH,de;q=0.9,en;q=0.8");
    expect(mail.subject).toBe("Bestätigen Sie Ihre E-Mail-Adresse");
    expect(mail.text).toMatch(/^Hallo /);
    expect(mail.text).toMatch(/bis \d{1,2}\. \p{L}+ \d{4} um \d\d:\d\d UTC/u);
    expect(mail.html).toContain('<html lang="de">');
  });

  test("a language usersvc has no catalogue for, or no header, gets English", async () => {
    for (const header of ["ja-JP", null]) expect((await signUpWith(header)).subject).toBe("Confirm your email address");
  });

  test("export carries the locale and import restores it; a tag that is not one is refused with the line", async () => {
    const mail = await signUpWith("de");
    const lines: string[] = [];
    await exportUsers(server.core, (line) => void lines.push(line));
    const record = lines.map((line) => JSON.parse(line)).find((r) => r.email === mail.to)!;
    expect(record.locale).toBe("de");
    const copy = { ...record, id: crypto.randomUUID(), email: `copy-${record.email}`, username: `c${record.username}`.slice(0, 32) };
    const bad = { ...copy, id: crypto.randomUUID(), email: `bad-${record.email}`, username: `b${record.username}`.slice(0, 32), locale: "<de>" };
    const outcomes = await importUsers(server.core, CLI_ACTOR, [JSON.stringify(copy), JSON.stringify(bad)], { dryRun: false });
    expect(outcomes.map((o) => o.result)).toEqual(["created", "invalid"]);
    expect(outcomes[1]).toEqual(expect.objectContaining({ message: expect.stringContaining("locale: must be a language tag") }));
    const again: string[] = [];
    await exportUsers(server.core, (line) => void again.push(line));
    expect(again.map((line) => JSON.parse(line)).find((r) => r.email === copy.email).locale).toBe("de");
  });

  test("a theme's catalogue adds a locale, merged over English key by key", async () => {
    const mail = await signUpWith("fr-FR");
    expect(mail.subject).toBe("Confirmez votre adresse");
    expect(mail.text).toContain("Confirm email address");
  });
});
