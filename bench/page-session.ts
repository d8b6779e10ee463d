/** A browser's cookie jar against a usersvc server: sign in on /login's form, then fetch with its cookies. */
export class PageSession {
  private readonly jar = new Map<string, string>();

  constructor(private readonly base: string) {}

  async get(path: string, init: RequestInit = {}): Promise<Response> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const response = await fetch(`${this.base}${path}`, { redirect: "manual", ...init, headers: { cookie, ...(init.headers ?? {}) } });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      this.jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return response;
  }

  /** GET /login for its CSRF cookie and token, then POST the form as a browser does. */
  async signIn(identifier: string, password: string): Promise<void> {
    const html = await (await this.get("/login")).text();
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(html)?.[1] ?? "";
    const response = await this.get("/login", {
      method: "POST",
      body: new URLSearchParams({ csrf_token: csrf, identifier, password }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded", origin: this.base },
    });
    if (response.status !== 303) throw new Error(`the sign-in on /login answered ${response.status}`);
  }
}
