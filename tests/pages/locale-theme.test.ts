/**
 * SPEC §7: the pages' language follows `ui_locales`, then Accept-Language,
 * else English; the locale of a sign-up on /register is stored and its
 * emails follow it (§8). USERSVC_THEME_DIR overrides a page template, the
 * stylesheet, the logo and messages, file by file. The catalogues' page
 * messages are complete in both shipped languages, and every message a page
 * asks for exists.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import de from "../../src/core/messages/de.json";
import en from "../../src/core/messages/en.json";
import { Browserless, errorCodeOf, formOf, headingOf } from "../support/browserless.ts";
import { deliverUntilIdle } from "../support/hooks.ts";
import { newUser, registerAndLogin, startTestServer, type TestServer } from "../support/server.ts";
import { type SmtpReceiver, startSmtpReceiver } from "../support/smtp.ts";

// More than bun's 5 s default: a real server on a real database and an SMTP server.
setDefaultTimeout(30_000);

const PAGES_DIR = join(import.meta.dir, "..", "..", "src", "server", "pages");
const THEME_CSS = ":root { --brand: #c0ffee; } /* acme theme */\n";
const THEME_LOGO = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><title>acme logo</title></svg>\n';
/** A login template of the theme's own: its words, the catalogue's title, the same form fields. */
const THEME_LOGIN = `<% it.title = it.t("login.title") %>
<% layout("@layout") %>
<h1><%= it.title %></h1>
<p class="acme-welcome">Welcome to the Acme staff portal</p>
<%~ include("@error", it) %>
<form method="post" action="<%= it.url('/login') %>">
<%~ include("@hidden", it) %>
<label for="i">Who</label><input id="i" name="identifier" value="<%= it.values.identifier %>">
<label for="p">Secret</label><input id="p" name="password" type="password">
<button type="submit"><%= it.t("login.submit") %></button>
</form>
`;

let smtp: SmtpReceiver;
let server: TestServer;
let themeDir: string;
beforeAll(async () => {
  smtp = await startSmtpReceiver();
  themeDir = mkdtempSync(join(tmpdir(), "usersvc-pages-theme-"));
  mkdirSync(join(themeDir, "pages"));
  mkdirSync(join(themeDir, "messages"));
  writeFileSync(join(themeDir, "pages", "login.eta"), THEME_LOGIN);
  writeFileSync(join(themeDir, "theme.css"), THEME_CSS);
  writeFileSync(join(themeDir, "logo.svg"), THEME_LOGO);
  writeFileSync(join(themeDir, "messages", "en.json"), JSON.stringify({ "login.title": "Sign in to Acme" }));
  server = await startTestServer({
    USERSVC_PUBLIC_URL: "https://id.example.test",
    USERSVC_SMTP_URL: smtp.url,
    USERSVC_EMAIL_COOLDOWN: "0",
    USERSVC_THEME_DIR: themeDir,
  });
});
afterAll(async () => {
  await server.stop();
  await smtp.stop();
  rmSync(themeDir, { recursive: true, force: true });
});

const langOf = (html: string) => /<html lang="([^"]+)">/.exec(html)?.[1] ?? null;

function browser(acceptLanguage: string | null = null): Browserless {
  const b = new Browserless(server.url);
  b.acceptLanguage = acceptLanguage;
  return b;
}

describe("the pages' language", () => {
  test("Accept-Language: de gives German pages", async () => {
    const b = browser("de-DE,de;q=0.9,en;q=0.5");
    const login = await b.get("/login");
    expect(langOf(login.html)).toBe("de");
    expect(headingOf(login.html)).toBe("Anmelden");
    const register = await b.get("/register");
    expect(langOf(register.html)).toBe("de");
    expect(headingOf(register.html)).toBe("Konto erstellen");
    // Errors too: the German text beside the same code.
    const wrong = await b.submit(login, "/login", { identifier: newUser().email, password: "not the password at all" });
    expect(errorCodeOf(wrong.html)).toBe("INVALID_CREDENTIALS");
    expect(wrong.html).toContain("Die Anmeldedaten stimmen nicht.");
  });

  test("?ui_locales=de wins over Accept-Language en, and is carried through the form and its links", async () => {
    const b = browser("en");
    const page = await b.get("/register?ui_locales=de");
    expect(langOf(page.html)).toBe("de");
    expect(headingOf(page.html)).toBe("Konto erstellen");
    expect(formOf(page.html, "/register").fields.ui_locales).toBe("de");
    expect(page.html).toContain('href="/login?ui_locales=de"');
    const taken = await registerAndLogin(server.api);
    const again = await b.submit(page, "/register", { email: taken.input.email, username: newUser().username, password: "correct horse battery staple" });
    expect(errorCodeOf(again.html)).toBe("EMAIL_TAKEN");
    expect(langOf(again.html)).toBe("de");
    expect(again.html).toContain("Diese E-Mail-Adresse wird schon verwendet.");
  });

  test("an unknown locale falls back to English", async () => {
    for (const [path, acceptLanguage] of [["/register", "fr-FR, ja;q=0.5"], ["/register?ui_locales=xx", null]] as const) {
      const page = await browser(acceptLanguage).get(path);
      expect({ path, lang: langOf(page.html), heading: headingOf(page.html) }).toEqual({ path, lang: "en", heading: "Create your account" });
    }
  });

  test("the locale chosen at /register is stored: the verification email arrives in German", async () => {
    for (const [path, acceptLanguage] of [["/register", "de"], ["/register?ui_locales=de", "en"]] as const) {
      const b = browser(acceptLanguage);
      const input = newUser();
      const done = await b.submit(await b.get(path), "/register", input);
      expect(done.status).toBe(303);
      await deliverUntilIdle(server.core);
      const mail = await smtp.waitFor(input.email);
      expect({ path, subject: mail.subject }).toEqual({ path, subject: "Bestätigen Sie Ihre E-Mail-Adresse" });
      expect(mail.text).toMatch(/^Hallo /);
    }
    // An English sign-up, for contrast.
    const b = browser("en");
    const input = newUser();
    await b.submit(await b.get("/register"), "/register", input);
    await deliverUntilIdle(server.core);
    expect((await smtp.waitFor(input.email)).subject).toBe("Confirm your email address");
  });
});

describe("USERSVC_THEME_DIR", () => {
  test("its pages/login.eta replaces the login page, with its en.json's login.title; the form still signs in", async () => {
    const { input } = await registerAndLogin(server.api);
    const b = browser();
    const page = await b.get("/login");
    expect(page.status).toBe(200);
    expect(page.html).toContain('<p class="acme-welcome">Welcome to the Acme staff portal</p>');
    expect(headingOf(page.html)).toBe("Sign in to Acme");
    expect(page.html).toContain("<title>Sign in to Acme · usersvc</title>");
    // The theme's message replaces one key only; German keeps its own.
    expect(headingOf((await browser("de").get("/login")).html)).toBe("Anmelden");
    expect(headingOf((await b.get("/register")).html)).toBe("Create your account");
    const done = await b.submit(page, "/login", { identifier: input.username, password: input.password });
    expect({ status: done.status, location: done.location }).toEqual({ status: 303, location: "/account" });
  });

  test("its theme.css and logo.svg are served at /assets, and the pages point to them", async () => {
    const b = browser();
    const css = await b.get("/assets/theme.css");
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(css.html).toBe(THEME_CSS);
    const logo = await b.get("/assets/logo.svg");
    expect(logo.status).toBe(200);
    expect(logo.headers.get("content-type")).toBe("image/svg+xml");
    expect(logo.html).toBe(THEME_LOGO);
    const page = await b.get("/register");
    expect(page.html).toContain('<link rel="stylesheet" href="/assets/theme.css">');
    expect(page.html).toContain('src="/assets/logo.svg"');
  });
});

describe("the page messages", () => {
  const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  const pageKeys = (catalogue: Record<string, string>) => Object.keys(catalogue).filter((key) => !key.startsWith("email.")).sort();

  test("en and de have exactly the same page keys, none empty, each with the same {placeholders}", () => {
    const english = en as Record<string, string>;
    const german = de as Record<string, string>;
    expect(pageKeys(german)).toEqual(pageKeys(english));
    expect(pageKeys(english).length).toBeGreaterThan(100);
    for (const key of pageKeys(english)) {
      expect({ key, empty: german[key]!.trim() === "" }).toEqual({ key, empty: false });
      expect({ key, placeholders: placeholders(german[key]!) }).toEqual({ key, placeholders: placeholders(english[key]!) });
    }
  });

  test("every message a template or page asks for is in both catalogues, the account notices included", () => {
    const sources = [
      ...readdirSync(join(PAGES_DIR, "templates")).map((file) => readFileSync(join(PAGES_DIR, "templates", file), "utf8")),
      ...readdirSync(PAGES_DIR)
        .filter((file) => file.endsWith(".ts"))
        .map((file) => readFileSync(join(PAGES_DIR, file), "utf8")),
    ].join("\n");
    const used = new Set([...sources.matchAll(/\bt\(\s*["']([\w.]+)["']/g)].map((m) => m[1]!));
    const notices = /const NOTICES = \[([^\]]*)\]/.exec(readFileSync(join(PAGES_DIR, "account.ts"), "utf8"))![1]!;
    for (const notice of notices.matchAll(/"(\w+)"/g)) used.add(`account.done.${notice[1]}`);
    expect(used.size).toBeGreaterThan(80);
    const missing = [...used].filter((key) => !(key in en) || !(key in de)).sort();
    expect(missing).toEqual([]);
  });
});
