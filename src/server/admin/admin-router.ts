/**
 * The admin console's plumbing (SPEC §11): every screen is a hosted page
 * (PageCall: the browser session, CSRF, CSP) that only an admin may open.
 *
 * - `page` (GET): signed in (else to /login and back), role `admin` as stored
 *   now (a demoted or blocked admin is refused on the next request: the
 *   session and its user come through the auth cache, which every role change
 *   and block clears).
 * - `action` (POST): the same, plus the CSRF check, plus a sign-in or password
 *   confirmation within USERSVC_ADMIN_MAX_AGE (else to /admin/confirm and back
 *   to the screen the form was on); the handler gets the admin as the audit
 *   actor, with the client's IP.
 */
import { Elysia } from "elysia";
import { type Actor, adminActor } from "../../core/audit/actor.ts";
import { DomainError } from "../../core/errors.ts";
import { authenticatedWithin } from "../../core/sessions/step-up.ts";
import type { Principal } from "../../core/sessions/session-tokens.ts";
import { HTTP_STATUS } from "../errors.ts";
import { type ElysiaPageContext, PageCall, type Pages } from "../pages/page-call.ts";
import type { TemplateName } from "../pages/theme-files.ts";

/** Pages are HTML, not API: kept out of /docs and the OpenAPI document. */
const HIDDEN = { detail: { hide: true } };

/** The screens of the navigation; `nav` of a rendered page names the current one. */
export const ADMIN_NAV = [
  { id: "overview", path: "/admin", label: "Overview" },
  { id: "users", path: "/admin/users", label: "Users" },
  { id: "audit", path: "/admin/audit", label: "Audit log" },
  { id: "outbox", path: "/admin/outbox", label: "Outbox" },
  { id: "keys", path: "/admin/keys", label: "Signing keys" },
  { id: "clients", path: "/admin/clients", label: "OIDC clients" },
  { id: "providers", path: "/admin/providers", label: "Providers" },
] as const;
export type AdminScreen = (typeof ADMIN_NAV)[number]["id"];

/** One admin request: the page call, the admin, and the actor their actions are audited as. */
export interface AdminCall {
  call: PageCall;
  principal: Principal;
  actor: Actor;
  params: Record<string, string>;
}

export type AdminHandler = (admin: AdminCall) => Response | Promise<Response>;

/** Error pages of a failed action: what the screen shows instead of the generic message page. */
export type AdminErrorHandler = (admin: AdminCall, error: DomainError) => Response | Promise<Response>;

/** The screen a form was on (its hidden `back`), if it is one of the console's; else the overview. */
export function backOf(call: PageCall): string {
  const back = call.pages.checkReturnTo(call.field("back"));
  return back && isConsolePath(call, back) ? back : call.url("/admin");
}

export function isConsolePath(call: PageCall, path: string): boolean {
  const base = call.url("/admin");
  return path === base || path.startsWith(`${base}/`) || path.startsWith(`${base}?`);
}

/** Where the request is, as a console path (for `back` and the sign-in's return_to): under the public URL's path, which a proxy strips before usersvc sees it. */
function herePath(call: PageCall): string {
  const url = new URL(call.request.url);
  return `${call.url(url.pathname)}${url.search}`;
}

/**
 * An admin screen: `data` plus what the console's layout uses (the
 * navigation, the path forms come back to), never cached by the browser.
 */
export function renderAdmin(admin: AdminCall, template: TemplateName, screen: AdminScreen, data: Record<string, unknown> = {}, status = 200, headers: Record<string, string> = {}): Response {
  const { call } = admin;
  const nav = ADMIN_NAV.map((item) => ({ ...item, href: call.url(item.path), current: item.id === screen }));
  return call.render(template, { nav, back: herePath(call), admin: admin.principal.user, ...data }, status, { ...headers, "cache-control": "no-store" });
}

/** The error of a failed action on the console's message page, with a way back to the screen. */
export function renderAdminError(admin: AdminCall, error: DomainError, screen: AdminScreen = "overview"): Response {
  const { call } = admin;
  return renderAdmin(admin, "admin-message", screen, { title: "That did not work", error: call.errorOf(error), backHref: backOf(call) }, HTTP_STATUS[error.code]);
}

/** `?done=` of a redirect after an action, looked up in the screen's own list (the query never puts words on the page). */
export function noticeOf(call: PageCall, notices: Record<string, string>): string | null {
  const done = call.query.done;
  return done && Object.hasOwn(notices, done) ? notices[done]! : null;
}

/** A 303 to `path` (a console path) with `?done=` for its notice. */
export function redirectDone(call: PageCall, path: string, done: string): Response {
  const [base, hash] = path.split("#", 2) as [string, string | undefined];
  const url = new URL(base, "http://x");
  url.searchParams.set("done", done);
  return call.redirect(`${url.pathname}${url.search}${hash ? `#${hash}` : ""}`);
}

export class AdminRouter {
  readonly app: Elysia;
  constructor(readonly pages: Pages) {
    this.app = new Elysia({ name: "admin-console" });
  }

  /** A GET screen. */
  page(path: string, handler: AdminHandler): this {
    this.app.get(path, (context: ElysiaPageContext & { params: Record<string, string> }) => this.run(context, false, handler), HIDDEN);
    return this;
  }

  /** A POST action: CSRF, then step-up, then the handler. A DomainError it throws goes to `onError`, else the message page. */
  action(path: string, handler: AdminHandler, onError?: AdminErrorHandler): this {
    this.app.post(path, (context: ElysiaPageContext & { params: Record<string, string> }) => this.run(context, true, handler, onError), HIDDEN);
    return this;
  }

  /** A POST that needs no step-up (the step-up's own form). */
  unguardedAction(path: string, handler: AdminHandler): this {
    this.app.post(path, (context: ElysiaPageContext & { params: Record<string, string> }) => this.run(context, "csrf-only", handler), HIDDEN);
    return this;
  }

  private async run(context: ElysiaPageContext & { params: Record<string, string> }, guard: boolean | "csrf-only", handler: AdminHandler, onError?: AdminErrorHandler): Promise<Response> {
    const { request, server, query, body, params } = context;
    const call = await PageCall.open(this.pages, { request, server, query, body });
    const principal = call.principal;
    if (!principal) {
      // A form posted after the session ended goes back to its screen, not to the action's URL.
      const back = guard ? backOf(call) : herePath(call);
      return call.redirect(call.link("/login", { return_to: back }));
    }
    const admin: AdminCall = { call, principal, actor: adminActor(principal.user.id, call.client.ip), params: params ?? {} };
    try {
      if (!principal.user.roles.includes("admin")) throw new DomainError("FORBIDDEN", "Only an admin may use the admin console.");
      if (guard) call.checkForm();
      if (guard === true && !authenticatedWithin(this.pages.core, principal.session, this.pages.core.config.adminMaxAge)) {
        return call.redirect(`${call.url("/admin/confirm")}?${new URLSearchParams({ return_to: backOf(call) })}`);
      }
      return await handler(admin);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      if (error.code === "FORBIDDEN" && !principal.user.roles.includes("admin")) return forbidden(call, error);
      if (onError) return onError(admin, error);
      return renderAdminError(admin, error);
    }
  }
}

/** A signed-in user who is not an admin: the plain message page, without the console's navigation. */
function forbidden(call: PageCall, error: DomainError): Response {
  return call.render("message", { title: "Admins only", error: call.errorOf(error), paragraphs: [] }, 403, { "cache-control": "no-store" });
}

/**
 * "Are you sure?" before a destructive action: null once the admin has
 * confirmed (the form's `confirmed=yes`), else the question, whose form
 * posts the same action again with the same fields.
 */
export function askFirst(
  admin: AdminCall,
  question: { title: string; paragraphs?: string[]; confirmLabel: string; fields?: Record<string, string> },
  screen: AdminScreen,
): Response | null {
  const { call } = admin;
  if (call.field("confirmed") === "yes") return null;
  const actionUrl = call.url(new URL(call.request.url).pathname);
  return renderAdmin(admin, "admin-are-you-sure", screen, {
    question: question.title,
    paragraphs: question.paragraphs ?? [],
    confirmLabel: question.confirmLabel,
    fields: question.fields ?? {},
    actionUrl,
    backHref: backOf(call),
  });
}
