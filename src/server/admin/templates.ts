/** The admin console's templates and stylesheet, embedded in the binary. Not overridable by a theme: the console is usersvc's own screen, not the users' (its looks follow theme.css, which a theme may change). */
import adminAreYouSure from "./templates/admin-are-you-sure.eta" with { type: "text" };
import adminAudit from "./templates/admin-audit.eta" with { type: "text" };
import adminClient from "./templates/admin-client.eta" with { type: "text" };
import adminClientFields from "./templates/admin-client-fields.eta" with { type: "text" };
import adminClients from "./templates/admin-clients.eta" with { type: "text" };
import adminConfirm from "./templates/admin-confirm.eta" with { type: "text" };
import adminHidden from "./templates/admin-hidden.eta" with { type: "text" };
import adminKeys from "./templates/admin-keys.eta" with { type: "text" };
import adminLayout from "./templates/admin-layout.eta" with { type: "text" };
import adminMessage from "./templates/admin-message.eta" with { type: "text" };
import adminOutbox from "./templates/admin-outbox.eta" with { type: "text" };
import adminOverview from "./templates/admin-overview.eta" with { type: "text" };
import adminProviders from "./templates/admin-providers.eta" with { type: "text" };
import adminUser from "./templates/admin-user.eta" with { type: "text" };
import adminUsers from "./templates/admin-users.eta" with { type: "text" };
import adminCssText from "./admin.css" with { type: "text" };

export const ADMIN_TEMPLATES = {
  "admin-are-you-sure": adminAreYouSure,
  "admin-audit": adminAudit,
  "admin-client": adminClient,
  "admin-client-fields": adminClientFields,
  "admin-clients": adminClients,
  "admin-confirm": adminConfirm,
  "admin-hidden": adminHidden,
  "admin-keys": adminKeys,
  "admin-layout": adminLayout,
  "admin-message": adminMessage,
  "admin-outbox": adminOutbox,
  "admin-overview": adminOverview,
  "admin-providers": adminProviders,
  "admin-user": adminUser,
  "admin-users": adminUsers,
};
export type AdminTemplateName = keyof typeof ADMIN_TEMPLATES;
export const adminCss: string = adminCssText;
