/**
 * One request to a page: who is signed in (the browser session), in which
 * language, where to go next, the form's fields and its CSRF check; and the
 * answers a page gives: an HTML page (with the API's error code in
 * `data-error-code`) or a 303 to the next page.
 */
import { Eta } from "eta";
import type { Core } from "../../core/core.ts";
import { DomainError, RateLimitError } from "../../core/errors.ts";
import { browserPrincipal } from "../../core/sessions/browser-sessions.ts";
import type { ClientInfo, Principal } from "../../core/sessions/session-tokens.ts";
import { formatMessage, preferredLocale, type Messages } from "../../core/theme/theme.ts";
import { redirectUriAllowed } from "../../core/oidc/clients.ts";
import { OIDC_PATHS } from "../../core/oidc/discovery.ts";
import { clientInfo } from "../auth.ts";
import { HTTP_STATUS } from "../errors.ts";
import { type PageCookies, pageCookies } from "./cookies.ts";
import { csrfToken, isSameOrigin, isValidCsrfToken, newCsrfSecret } from "./csrf.ts";
import { returnToChecker } from "./return-to.ts";
import { loadPageFiles, type PageFiles, type TemplateName } from "./theme-files.ts";

/** Stands for the CSRF token in a cached page; no token (base64url) or escaped text contains it. */
const CSRF_PLACEHOLDER = "\u0001csrf\u0001";

/**
 * The pages of a first visit (GET /login, /register… without query or
 * session), rendered once per locale and kept with a placeholder for the
 * CSRF token: such a visit costs a string replace, not a template run.
 */
class PageCache {
  private readonly pages = new Map<string, string>();
  get(key: string): string | undefined {
    return this.pages.get(key);
  }
  set(key: string, html: string): void {
    // A handful of templates times the locales; the bound is only a guard.
    if (this.pages.size >= 500) this.pages.clear();
    this.pages.set(key, html);
  }
}

/** What every page shares for the life of the process. */
export interface Pages {
  anonymousPages: PageCache;
  core: Core;
  files: PageFiles;
  eta: Eta;
  cookies: PageCookies;
  checkReturnTo: (raw: string | undefined | null) => string | null;
  /** The public URL's path ("" at the root): pages behind a proxy prefix link under it. */
  basePath: string;
  csp: string;
}

export function createPages(core: Core): Pages {
  const files = loadPageFiles(core.config.themeDir);
  const eta = new Eta({ autoEscape: true });
  for (const [name, text] of Object.entries(files.templates)) eta.loadTemplate(`@${name}`, text);
  const formTargets = core.config.allowedReturnUrls.map((prefix) => new URL(prefix).origin);
  const csp = [
    "default-src 'none'",
    // The passkey scripts, from usersvc's own origin only (never inline), and the options they fetch.
    "script-src 'self'",
    "connect-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    // A sign-in's redirect to an allowed application is part of the form's navigation.
    ["form-action 'self'", ...new Set(formTargets)].join(" "),
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
  return {
    anonymousPages: new PageCache(),
    core,
    files,
    eta,
    cookies: pageCookies(core.config),
    checkReturnTo: returnToChecker(core.config),
    basePath: new URL(core.config.publicUrl).pathname.replace(/\/$/, ""),
    csp,
  };
}

export interface ElysiaPageContext {
  request: Request;
  server: { requestIP(request: Request): { address: string } | null } | null;
  query: Record<string, string | undefined>;
  body?: unknown;
}

/** A field error shown beside its input; the whole error above the form. */
export interface PageError {
  code: string;
  message: string;
  fields: Record<string, string>;
}

export class PageCall {
  private clientOnce: ClientInfo | null = null;
  readonly form: Record<string, string>;
  readonly locale: string;
  readonly messages: Messages;
  readonly returnTo: string | null;
  readonly uiLocales: string | null;
  readonly setCookies: string[] = [];
  private csrfSecret: string;
  /** Origins a form of this page may end at besides usersvc's (an OpenID Connect client's redirect URI). */
  private readonly formTargets: string[] = [];

  private constructor(
    readonly pages: Pages,
    readonly request: Request,
    readonly query: Record<string, string | undefined>,
    form: unknown,
    public principal: Principal | null,
    csrfSecret: string | undefined,
    private readonly server: ElysiaPageContext["server"],
  ) {
    const { core } = pages;
    this.form = form && typeof form === "object" ? (form as Record<string, string>) : {};
    const uiLocales = this.field("ui_locales") ?? query.ui_locales;
    this.uiLocales = uiLocales && /^[A-Za-z0-9 -]{1,100}$/.test(uiLocales) ? uiLocales : null;
    this.locale =
      (this.uiLocales && preferredLocale(this.uiLocales.split(" ").join(","), core.theme.locales)) ||
      preferredLocale(request.headers.get("accept-language"), core.theme.locales) ||
      "en";
    this.messages = core.theme.messages(this.locale);
    this.returnTo = pages.checkReturnTo(this.field("return_to") ?? query.return_to);
    if (csrfSecret && /^[A-Za-z0-9_-]{43}$/.test(csrfSecret)) {
      this.csrfSecret = csrfSecret;
    } else {
      this.csrfSecret = newCsrfSecret();
      this.setCookies.push(pages.cookies.set("csrf", this.csrfSecret));
    }
  }

  static async open(pages: Pages, context: ElysiaPageContext): Promise<PageCall> {
    const { core, cookies } = pages;
    const header = context.request.headers.get("cookie");
    const principal = await browserPrincipal(core, cookies.read(header, "session"));
    const call = new PageCall(pages, context.request, context.query ?? {}, context.body, principal, cookies.read(header, "csrf"), context.server);
    // A cookie naming a session that ended is dropped, so the browser stops sending it (not when two were
    // sent: the clear would hit ours and leave the planted one).
    if (!principal && cookies.count(header, "session") === 1) call.setCookies.push(cookies.clear("session"));
    // A sign-in on the way to a client ends at the client's redirect URI, within the form's navigation.
    if (call.returnTo?.startsWith(`${pages.basePath}${OIDC_PATHS.authorization}?`)) {
      const params = new URLSearchParams(call.returnTo.slice(call.returnTo.indexOf("?") + 1));
      await call.allowClientRedirect(params.get("client_id"), params.get("redirect_uri"));
    }
    return call;
  }

  /**
   * Lets this page's forms end at `redirectUri` when it is registered for
   * the client (CSP form-action governs the redirects a form submission
   * follows, so the default `'self'` would stop the last one).
   */
  async allowClientRedirect(clientId: string | null, redirectUri: string | null): Promise<void> {
    if (!clientId || !redirectUri) return;
    const client = await this.pages.core.oidcClients.get(clientId);
    const allowed = client !== null && (redirectUriAllowed(client.redirectUris, redirectUri) || client.postLogoutRedirectUris.includes(redirectUri));
    if (!allowed) return;
    // A native app's private-use scheme (com.example.app:/cb) has no origin: CSP names it as a scheme.
    const url = new URL(redirectUri);
    this.formTargets.push(url.origin === "null" ? url.protocol : url.origin);
  }

  /** The caller's IP and user agent, for the use cases (read when first needed: a page view needs neither). */
  get client(): ClientInfo {
    this.clientOnce ??= clientInfo(this.request, this.server, this.pages.core.config.trustProxy);
    return this.clientOnce;
  }

  field(name: string): string | undefined {
    const value = this.form[name];
    return typeof value === "string" ? value : undefined;
  }

  t(key: string, values?: Record<string, string>): string {
    const template = this.messages[key] ?? key;
    // Most messages have no placeholder: nothing to fill in (the pages call this a few dozen times each).
    if (!template.includes("{")) return template;
    return formatMessage(template, { product: this.messages.product ?? "usersvc", ...values });
  }

  /** A path of the pages, under the public URL's path. */
  url(path: string): string {
    return `${this.pages.basePath}${path}`;
  }

  /** A link to another page that keeps where to go next and the language asked for. */
  link(path: string, extra?: Record<string, string>): string {
    if (!extra && !this.returnTo && !this.uiLocales) return this.url(path);
    const params = new URLSearchParams(extra);
    if (this.returnTo) params.set("return_to", this.returnTo);
    if (this.uiLocales) params.set("ui_locales", this.uiLocales);
    const query = params.toString();
    return `${this.url(path)}${query ? `?${query}` : ""}`;
  }

  /** Where a finished sign-in goes: return_to when allowed, else the account page. */
  next(): string {
    return this.returnTo ?? this.url("/account");
  }

  /** The binding of this call's forms: the browser session, or none yet. */
  private binding(): string {
    return this.principal ? this.principal.session.id : "anonymous";
  }

  /** Refuses a post without this browser's CSRF token, or from another origin (FORBIDDEN). */
  checkForm(): void {
    const { publicUrl } = this.pages.core.config;
    if (!isSameOrigin(this.request, publicUrl) || !isValidCsrfToken(this.csrfSecret, this.binding(), this.field("csrf_token"))) {
      throw new DomainError("FORBIDDEN", this.t("error.csrf"));
    }
  }

  signedIn(principal: Principal, cookie: string): void {
    this.principal = principal;
    this.setCookies.push(this.pages.cookies.set("session", cookie, this.pages.core.config.sessionMaxAge));
    this.renewCsrfSecret();
  }

  signedOut(): void {
    this.principal = null;
    this.setCookies.push(this.pages.cookies.clear("session"));
    this.renewCsrfSecret();
  }

  /** Whoever knew this browser's CSRF secret before a sign-in or sign-out knows nothing after it. */
  private renewCsrfSecret(): void {
    this.csrfSecret = newCsrfSecret();
    this.setCookies.push(this.pages.cookies.set("csrf", this.csrfSecret));
  }

  errorOf(error: DomainError): PageError {
    const fields: Record<string, string> = {};
    for (const problem of error.details ?? []) fields[problem.field] ??= problem.message;
    const known = this.messages[`error.${error.code}`];
    // A hook's refusal and a CSRF refusal carry their own words.
    const message = error.code === "FORBIDDEN" || error.code === "HOOK_REJECTED" || !known ? error.message : known;
    return { code: error.code, message, fields };
  }

  /** An HTML page: `data` plus what every template may use. */
  render(template: TemplateName, data: Record<string, unknown> = {}, status = 200, headers: Record<string, string> = {}): Response {
    const csrf = csrfToken(this.csrfSecret, this.binding());
    // A first visit (a GET without query or session) differs between visitors only by its CSRF token.
    const shared = this.principal === null && status === 200 && this.request.method === "GET" && !this.request.url.includes("?");
    const key = shared ? `${template}\n${this.locale}\n${JSON.stringify(data)}` : null;
    let html = key === null ? undefined : this.pages.anonymousPages.get(key);
    if (html === undefined) {
      html = this.renderTemplate(template, data, shared ? CSRF_PLACEHOLDER : csrf);
      if (key !== null) this.pages.anonymousPages.set(key, html);
    }
    if (shared) html = html.replaceAll(CSRF_PLACEHOLDER, csrf);
    return new Response(html, { status, headers: this.headers({ "content-type": "text/html; charset=utf-8", ...headers }) });
  }

  private renderTemplate(template: TemplateName, data: Record<string, unknown>, csrf: string): string {
    const hidden: Record<string, string> = {};
    if (this.returnTo) hidden.return_to = this.returnTo;
    if (this.uiLocales) hidden.ui_locales = this.uiLocales;
    return this.pages.eta.render(`@${template}`, {
      lang: this.locale,
      t: (key: string, values?: Record<string, string>) => this.t(key, values),
      url: (path: string) => this.url(path),
      link: (path: string, extra?: Record<string, string>) => this.link(path, extra),
      csrf,
      hidden,
      user: this.principal?.user ?? null,
      error: null,
      notice: null,
      values: {},
      ...data,
    });
  }

  /** The page again with the error shown, and the API's status for its code. */
  renderError(template: TemplateName, error: unknown, data: Record<string, unknown> = {}): Response {
    if (!(error instanceof DomainError)) throw error;
    const headers: Record<string, string> = error instanceof RateLimitError ? { "retry-after": String(error.retryAfterSeconds) } : {};
    return this.render(template, { ...data, error: this.errorOf(error) }, HTTP_STATUS[error.code], headers);
  }

  redirect(location: string): Response {
    return new Response(null, { status: 303, headers: this.headers({ location }) });
  }

  private headers(extra: Record<string, string>): [string, string][] {
    const csp = this.formTargets.length === 0 ? this.pages.csp : this.pages.csp.replace("form-action 'self'", `form-action 'self' ${this.formTargets.join(" ")}`);
    const headers: [string, string][] = [["content-security-policy", csp]];
    for (const name in extra) headers.push([name, extra[name]!]);
    for (const cookie of this.setCookies) headers.push(["set-cookie", cookie]);
    return headers;
  }
}
