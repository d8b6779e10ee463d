/**
 * An example hooks module for usersvc (USERSVC_HOOKS=examples/hooks/hooks.ts).
 * Types: `usersvc hooks types > usersvc-hooks.d.ts` next to this file.
 */
import type { UsersvcHooks } from "./usersvc-hooks";

const CLOSED_DOMAINS = ["spam.example", "mailinator.com"];

export default {
  beforeRegister({ email }) {
    const domain = email.split("@")[1] ?? "";
    if (CLOSED_DOMAINS.includes(domain)) return { reject: `Sign-ups from ${domain} are closed` };
    // Everyone starts in a tenant. app_metadata, because only admins and hooks can change it:
    // a tenant in metadata would be the user's to pick.
    return { app_metadata: { tenant: "default" } };
  },

  accessTokenClaims({ user }) {
    return { tenant: String(user.app_metadata.tenant ?? "default") };
  },

  async "user.verification_requested"(event, ctx) {
    const link = `https://app.example/verify?token=${event.data.token}`;
    // Send `link` to event.data.user.email with your mailer here. Never log the token.
    ctx.log("verification email to send", { to: event.data.user?.email, link_length: link.length });
  },

  on(event, ctx) {
    ctx.log("usersvc event", { type: event.type, id: event.id });
  },
} satisfies UsersvcHooks;
