/**
 * An example hooks module for usersvc (USERSVC_HOOKS=examples/hooks/hooks.ts).
 * Types: `usersvc hooks types > usersvc-hooks.d.ts` next to this file.
 */
import type { UsersvcHooks } from "./usersvc-hooks";

const CLOSED_DOMAINS = ["spam.example", "mailinator.com"];

export default {
  beforeRegister({ email, metadata }) {
    const domain = email.split("@")[1] ?? "";
    if (CLOSED_DOMAINS.includes(domain)) return { reject: `Sign-ups from ${domain} are closed` };
    // Everyone starts in a tenant; keep what the caller sent otherwise.
    return { metadata: { tenant: "default", ...metadata } };
  },

  accessTokenClaims({ user }) {
    return { tenant: String(user.metadata.tenant ?? "default") };
  },

  "user.verification_requested"(event, ctx) {
    // Send the email here (your mailer); this example only logs the link.
    ctx.log("verification link", { to: event.data.user?.email, link: `https://app.example/verify?token=${event.data.token}` });
  },

  on(event, ctx) {
    ctx.log("usersvc event", { type: event.type, id: event.id });
  },
} satisfies UsersvcHooks;
