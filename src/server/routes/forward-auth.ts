/**
 * GET /api/v1/auth/forward (SPEC §12): what nginx `auth_request`, Traefik
 * `ForwardAuth` and Caddy `forward_auth` ask before each request to an
 * application they protect. The decision is core's (sessions/forward-auth.ts);
 * this reads the request's headers for it and writes the answer.
 * Configurations for each proxy: docs/forward-auth.md.
 */
import { Elysia, t } from "elysia";
import type { Core } from "../../core/core.ts";
import { decideForwardAuth, originalUrlOf, signInUrl, wantsSignInPage } from "../../core/sessions/forward-auth.ts";
import { BEARER, BEARER_SECURITY } from "../auth.ts";
import { failure, ok } from "../envelope.ts";
import { User } from "../models.ts";
import { pageCookies } from "../pages/cookies.ts";
import { returnToChecker } from "../pages/return-to.ts";
import { errorEnvelope, responses } from "../responses.ts";

// Unknown parameters are refused (422): a mistyped `?rol=admin` in a proxy's configuration must fail, not let everyone in.
const Query = t.Object(
  {
    role: t.Optional(t.String({ description: "A role the user must have; signed in without it → 403 FORBIDDEN" })),
    redirect: t.Optional(
      t.Union([t.Literal("1"), t.Literal("0")], {
        description: "1: answer a caller who is not signed in with a 302 to the sign-in page; 0: never (nginx auth_request); absent: only when Accept names text/html",
      }),
    ),
  },
  { additionalProperties: false },
);

const ForwardIdentity = t.Object(
  { id: User.properties.id, email: User.properties.email, username: User.properties.username, roles: User.properties.roles },
  { additionalProperties: false, $id: "ForwardIdentity" },
);

/** What an access token or a browser session can be refused with; all 401. */
const SIGN_IN_ERRORS = ["UNAUTHENTICATED", "INVALID_TOKEN", "TOKEN_EXPIRED", "INVALID_TOKEN_TYPE", "SESSION_REVOKED"] as const;
const Responses = {
  forward: {
    ...responses({
      data: ForwardIdentity,
      description:
        "Signed in. The same values are in the headers X-Usersvc-User-Id, X-Usersvc-Email, X-Usersvc-Username and X-Usersvc-Roles (comma-separated), percent-encoded outside printable ASCII, for the proxy to copy onto the request",
      errors: [...SIGN_IN_ERRORS, "FORBIDDEN"],
    }),
    302: {
      ...errorEnvelope(SIGN_IN_ERRORS),
      description: "Not signed in, and a redirect asked for (?redirect=1, or Accept: text/html): Location is /login under the public URL, with return_to when §7 allows the original URL",
    },
  },
};

export function forwardAuthRoutes(core: Core) {
  const cookies = pageCookies(core.config);
  const checkReturnTo = returnToChecker(core.config);
  const { publicUrl } = core.config;

  return new Elysia({ name: "routes/forward-auth" }).get(
    "/auth/forward",
    async ({ request, query, set, status }) => {
      const { headers } = request;
      const accessToken = BEARER.exec(headers.get("authorization") ?? "")?.[1] ?? null;
      const decision = await decideForwardAuth(core, { accessToken, sessionCookie: cookies.read(headers.get("cookie"), "session") }, query.role ?? null);
      if (decision.outcome === "allow") {
        Object.assign(set.headers, decision.headers);
        return ok(decision.identity);
      }
      if (decision.outcome === "sign-in" && wantsSignInPage(query.redirect, headers.get("accept"))) {
        const original = originalUrlOf({
          proto: headers.get("x-forwarded-proto"),
          host: headers.get("x-forwarded-host"),
          uri: headers.get("x-forwarded-uri"),
          originalUrl: headers.get("x-original-url"),
        });
        set.headers.location = signInUrl(publicUrl, original, checkReturnTo);
        return status(302, failure(decision.error.code, decision.error.message));
      }
      throw decision.error;
    },
    {
      query: Query,
      response: Responses.forward,
      detail: {
        tags: ["auth"],
        summary: "Forward auth for a reverse proxy (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth)",
        description:
          "Who is signed in: a live browser session cookie (the hosted pages' `usersvc_session`) or a bearer access token. " +
          "200 with the headers `X-Usersvc-User-Id`, `X-Usersvc-Email`, `X-Usersvc-Username`, `X-Usersvc-Roles` (comma-separated; " +
          "values percent-encoded as UTF-8 outside printable ASCII and for `%`, `,` and space). Not signed in: 401, or with `?redirect=1` " +
          "(or `Accept: text/html` without `?redirect=0`) a 302 to `/login?return_to=<original URL>`, the original URL read from " +
          "X-Forwarded-Proto + X-Forwarded-Host + X-Forwarded-Uri, else X-Original-URL, and kept only where `return_to` may lead (the public URL, " +
          "USERSVC_ALLOWED_RETURN_URLS). `?role=R`: 403 to a signed-in user without role R. Configurations: docs/forward-auth.md.",
        security: [...BEARER_SECURITY, {}],
      },
    },
  );
}
