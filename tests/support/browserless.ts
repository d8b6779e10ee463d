/**
 * A browser without a browser: fetch with a cookie jar, no redirects followed
 * unless asked, and the pages' forms read from their HTML (action, hidden
 * fields such as csrf_token) so a test posts what a person's browser would.
 * Browser-level behaviour (JavaScript off, layout, axe) is tests/browser/.
 */

export interface PageResponse {
  status: number;
  headers: Headers;
  html: string;
  /** Set-Cookie lines of this response. */
  cookies: string[];
  location: string | null;
}

export interface FormOnPage {
  action: string;
  fields: Record<string, string>;
}

export class Browserless {
  readonly jar = new Map<string, string>();
  /** Sent as Origin on every POST; null sends none (a script), a string pretends another site. */
  origin: string | null;
  acceptLanguage: string | null = null;

  constructor(readonly base: string) {
    this.origin = base;
  }

  cookie(name: string): string | undefined {
    return this.jar.get(name);
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<PageResponse> {
    return this.request("GET", path, undefined, headers);
  }

  /** POST `fields` as a form; the csrf_token of `from` (a page's HTML) is added unless given. */
  async post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<PageResponse> {
    return this.request("POST", path, new URLSearchParams(fields).toString(), {
      "content-type": "application/x-www-form-urlencoded",
      ...(this.origin === null ? {} : { origin: this.origin }),
      ...headers,
    });
  }

  /** Fills in and posts the form of `page` whose action ends with `action`, as a browser would. */
  async submit(page: PageResponse, action: string, fields: Record<string, string> = {}): Promise<PageResponse> {
    const form = formOf(page.html, action);
    return this.post(form.action, { ...form.fields, ...fields });
  }

  /** GET, then every redirect after it (as a browser does), answering the last page. */
  async follow(response: PageResponse, max = 5): Promise<PageResponse> {
    let current = response;
    for (let i = 0; i < max && current.location; i++) current = await this.get(current.location);
    return current;
  }

  private async request(method: string, path: string, body: string | undefined, headers: Record<string, string>): Promise<PageResponse> {
    const url = new URL(path, this.base);
    const cookieHeader = [...this.jar].map(([name, value]) => `${name}=${value}`).join("; ");
    const response = await fetch(url, {
      method,
      body,
      redirect: "manual",
      headers: {
        ...(cookieHeader ? { cookie: cookieHeader } : {}),
        ...(this.acceptLanguage ? { "accept-language": this.acceptLanguage } : {}),
        ...headers,
      },
    });
    const cookies = response.headers.getSetCookie();
    for (const line of cookies) {
      const [pair = "", ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === "") this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return { status: response.status, headers: response.headers, html: await response.text(), cookies, location: response.headers.get("location") };
  }
}

/** The form whose action ends with `action`, with what a browser would submit of it: inputs (checked boxes only), textareas, selects. */
export function formOf(html: string, action: string): FormOnPage {
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const formAction = attribute(match[1]!, "action") ?? "";
    if (!formAction.endsWith(action)) continue;
    const fields: Record<string, string> = {};
    const body = match[2]!;
    const put = (name: string | undefined, value: string) => {
      if (name && !(name in fields)) fields[name] = value;
    };
    for (const input of body.matchAll(/<input\b([^>]*)>/g)) {
      const tag = input[1]!;
      const type = attribute(tag, "type") ?? "text";
      // As a browser submits: a checkbox or radio only when checked ("on" without a value).
      if ((type === "checkbox" || type === "radio") && !/\schecked\b/.test(tag)) continue;
      put(attribute(tag, "name"), attribute(tag, "value") ?? (type === "checkbox" || type === "radio" ? "on" : ""));
    }
    for (const area of body.matchAll(/<textarea\b([^>]*)>([\s\S]*?)<\/textarea>/g)) put(attribute(area[1]!, "name"), decodeEntities(area[2]!));
    for (const select of body.matchAll(/<select\b([^>]*)>([\s\S]*?)<\/select>/g)) {
      const options = [...select[2]!.matchAll(/<option\b([^>]*)>/g)].map((o) => o[1]!);
      const chosen = options.find((o) => /\sselected\b/.test(o)) ?? options[0];
      if (chosen !== undefined) put(attribute(select[1]!, "name"), attribute(chosen, "value") ?? "");
    }
    return { action: decodeEntities(formAction), fields };
  }
  throw new Error(`no form with action ending in ${action} on the page:\n${html.slice(0, 2000)}`);
}

/** The value of `data-error-code` on the page, or null when it shows no error. */
export function errorCodeOf(html: string): string | null {
  return /data-error-code="([A-Z_]+)"/.exec(html)?.[1] ?? null;
}

/** The text of the page's <h1>. */
export function headingOf(html: string): string {
  return decodeEntities(/<h1[^>]*>([\s\S]*?)<\/h1>/.exec(html)?.[1]?.trim() ?? "");
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return match ? decodeEntities(match[1]!) : undefined;
}

export function decodeEntities(text: string): string {
  return text
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}
