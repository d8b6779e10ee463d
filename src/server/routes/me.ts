import { Elysia, t } from "elysia";
import type { Core } from "../../core/core.ts";
import { listSessions, revokeOwnSession } from "../../core/sessions/sessions.ts";
import { toPublicUser } from "../../core/users/user.ts";
import { updateProfile } from "../../core/users/users.ts";
import { authMacro, BEARER_SECURITY } from "../auth.ts";
import { ok } from "../envelope.ts";

const ProfileBody = t.Object(
  {
    username: t.Optional(t.String()),
    metadata: t.Optional(t.Record(t.String(), t.Unknown(), { description: "JSON object, at most 8 KiB" })),
  },
  { additionalProperties: false },
);

export function meRoutes(core: Core) {
  const detail = (summary: string) => ({ tags: ["current user"], summary, security: BEARER_SECURITY });
  const update = async ({ principal, body }: { principal: { user: { id: string } }; body: typeof ProfileBody.static }) =>
    ok(toPublicUser(await updateProfile(core, principal.user.id, body)));

  return new Elysia({ name: "routes/me", prefix: "/users/me" })
    .use(authMacro(core))
    .get("", ({ principal }) => ok(toPublicUser(principal.user)), { auth: true, detail: detail("The current user") })
    .patch("", update, { auth: true, body: ProfileBody, detail: detail("Update username or metadata") })
    .put("", update, { auth: true, body: ProfileBody, detail: detail("Update username or metadata (same as PATCH)") })
    .get("/sessions", async ({ principal }) => ok(await listSessions(core, principal)), {
      auth: true,
      detail: detail("Active sessions of the current user"),
    })
    .delete("/sessions/:id", async ({ principal, params }) => ok(await revokeOwnSession(core, principal, params.id)), {
      auth: true,
      detail: detail("Revoke one of your sessions"),
    });
}
