/**
 * A GitHub stand-in on a loopback port: /login/oauth/authorize (approves at
 * once, as the person `next` names), /login/oauth/access_token (client
 * secret, code, PKCE verifier and redirect URI checked), /user and
 * /user/emails. usersvc reaches it through a github provider's endpoint
 * overrides, the way GitHub Enterprise Server is set up.
 */
import { createHash, randomBytes } from "node:crypto";

export interface GithubPerson {
  id: number;
  login: string;
  emails: { email: string; primary: boolean; verified: boolean }[];
}

export interface GithubStandIn {
  url: string;
  clientId: string;
  clientSecret: string;
  /** Who approves the next authorization. */
  next: GithubPerson;
  overrides: { authorization_url: string; token_url: string; userinfo_url: string };
  stop(): Promise<void>;
}

export function startGithubStandIn(): GithubStandIn {
  const clientId = "Iv1.standin";
  const clientSecret = randomBytes(20).toString("hex");
  const codes = new Map<string, { person: GithubPerson; challenge: string | null; redirectUri: string | null }>();
  const tokens = new Map<string, GithubPerson>();
  const json = (body: unknown, status = 200) => Response.json(body, { status });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      if (url.pathname === "/login/oauth/authorize") {
        const redirect = new URL(url.searchParams.get("redirect_uri") ?? "");
        const code = randomBytes(10).toString("hex");
        codes.set(code, { person: standIn.next, challenge: url.searchParams.get("code_challenge"), redirectUri: url.searchParams.get("redirect_uri") });
        redirect.searchParams.set("code", code);
        redirect.searchParams.set("state", url.searchParams.get("state") ?? "");
        return Response.redirect(redirect.href, 302);
      }
      if (url.pathname === "/login/oauth/access_token" && request.method === "POST") {
        const form = new URLSearchParams(await request.text());
        const grant = codes.get(form.get("code") ?? "");
        codes.delete(form.get("code") ?? "");
        const verifier = form.get("code_verifier") ?? "";
        const challengeOk = grant?.challenge === createHash("sha256").update(verifier).digest("base64url");
        if (form.get("client_id") !== clientId || form.get("client_secret") !== clientSecret) return json({ error: "incorrect_client_credentials" }, 401);
        if (!grant || !challengeOk || grant.redirectUri !== form.get("redirect_uri")) return json({ error: "bad_verification_code" }, 400);
        const token = `gho_${randomBytes(16).toString("hex")}`;
        tokens.set(token, grant.person);
        return json({ access_token: token, token_type: "bearer", scope: "read:user,user:email" });
      }
      const person = tokens.get((request.headers.get("authorization") ?? "").replace(/^Bearer /, ""));
      if (!person) return json({ message: "Bad credentials" }, 401);
      if (url.pathname === "/api/v3/user") return json({ id: person.id, login: person.login });
      if (url.pathname === "/api/v3/user/emails") return json(person.emails.map((e) => ({ ...e, visibility: null })));
      return json({ message: "Not Found" }, 404);
    },
  });
  const base = `http://127.0.0.1:${server.port}`;
  const standIn: GithubStandIn = {
    url: base,
    clientId,
    clientSecret,
    next: { id: 1, login: "octocat", emails: [] },
    overrides: { authorization_url: `${base}/login/oauth/authorize`, token_url: `${base}/login/oauth/access_token`, userinfo_url: `${base}/api/v3/user` },
    stop: async () => server.stop(true),
  };
  return standIn;
}
