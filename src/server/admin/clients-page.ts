/**
 * /admin/clients: OpenID Connect clients, as `usersvc clients …` (add, list,
 * show, update, rotate-secret, remove). A secret is on the page that answers
 * the add or the rotation (no-store), never in a URL, and never again.
 */
import { DomainError } from "../../core/errors.ts";
import {
  type ClientView,
  type ClientWithSecret,
  createClient,
  listClients,
  removeClient,
  rotateClientSecret,
  showClient,
  updateClient,
} from "../../core/oidc/client-admin.ts";
import { HTTP_STATUS } from "../errors.ts";
import { type AdminCall, type AdminRouter, askFirst, noticeOf, redirectDone, renderAdmin, renderAdminError } from "./admin-router.ts";
import {
  CLIENT_FORM_CHOICES,
  type ClientFormValues,
  clientInputOf,
  fieldProblems,
  NEW_CLIENT_VALUES,
  storedClientValues,
  typedClientValues,
} from "./client-form.ts";

const PAGE_SIZE = 50;

const NOTICES: Record<string, string> = {
  saved: "Client saved.",
  removed: "Client removed. Every grant it had is revoked.",
};

function clientPath(admin: AdminCall, clientId: string): string {
  return admin.call.url(`/admin/clients/${encodeURIComponent(clientId)}`);
}

function offsetOf(admin: AdminCall): number {
  const offset = Number(admin.call.query.offset ?? 0);
  return Number.isSafeInteger(offset) && offset >= 0 ? offset : 0;
}

/** The list and the add form; after a refused add, the form as typed with its problems. */
async function showClients(admin: AdminCall, refused: DomainError | null = null): Promise<Response> {
  const { call } = admin;
  const offset = offsetOf(admin);
  const page = await listClients(call.pages.core, { limit: PAGE_SIZE, offset });
  const pageHref = (at: number) => `${call.url("/admin/clients")}${at > 0 ? `?offset=${at}` : ""}`;
  return renderAdmin(
    admin,
    "admin-clients",
    "clients",
    {
      clients: page.items.map((client) => ({ ...client, href: clientPath(admin, client.client_id) })),
      total: page.total,
      previousHref: offset > 0 ? pageHref(Math.max(0, offset - PAGE_SIZE)) : null,
      nextHref: offset + page.items.length < page.total ? pageHref(offset + PAGE_SIZE) : null,
      values: refused ? typedClientValues(call) : NEW_CLIENT_VALUES,
      ...formData(refused),
      back: call.url("/admin/clients"),
      notice: refused ? null : noticeOf(call, NOTICES),
      error: refused ? call.errorOf(refused) : null,
    },
    refused ? HTTP_STATUS[refused.code] : 200,
  );
}

function formData(refused: DomainError | null): Record<string, unknown> {
  return { choices: CLIENT_FORM_CHOICES, problems: fieldProblems(refused) };
}

/**
 * One client: details and the edit form; `secret` only on the answer to an
 * add or a rotation; after a refused save, the form as typed.
 */
function renderClient(admin: AdminCall, client: ClientView, options: { secret?: string | null; refused?: DomainError; values?: ClientFormValues } = {}): Response {
  const { call } = admin;
  const { refused = null } = options;
  return renderAdmin(
    admin,
    "admin-client",
    "clients",
    {
      client,
      values: options.values ?? storedClientValues(client),
      ...formData(refused),
      secret: options.secret ?? null,
      // The answer to a POST is at the action's URL: forms on it come back to the client's page.
      back: clientPath(admin, client.client_id),
      notice: refused || options.secret ? null : noticeOf(call, NOTICES),
      error: refused ? call.errorOf(refused) : null,
    },
    refused ? HTTP_STATUS[refused.code] : 200,
  );
}

function renderWithSecret(admin: AdminCall, client: ClientWithSecret): Response {
  const { client_secret: secret, ...view } = client;
  return renderClient(admin, view, { secret });
}

function onClientsError(admin: AdminCall, error: DomainError): Response {
  return renderAdminError(admin, error, "clients");
}

export function clientsRoutes(router: AdminRouter): void {
  router.page("/admin/clients", (admin) => showClients(admin));
  // The add form is on the list; a link or bookmark to a page of its own finds it there.
  router.page("/admin/clients/new", (admin) => showClients(admin));
  router.action(
    "/admin/clients",
    async (admin) => renderWithSecret(admin, await createClient(admin.call.pages.core, admin.actor, clientInputOf(typedClientValues(admin.call)))),
    (admin, error) => (error.code === "VALIDATION_ERROR" ? showClients(admin, error) : onClientsError(admin, error)),
  );
  router.page("/admin/clients/:id", async (admin) => {
    try {
      return renderClient(admin, await showClient(admin.call.pages.core, admin.params.id ?? ""));
    } catch (error) {
      // The 404 of an unknown client within the clients screen (a GET has no error handler of its own).
      if (error instanceof DomainError) return onClientsError(admin, error);
      throw error;
    }
  });
  router.action(
    "/admin/clients/:id",
    async (admin) => {
      const { public: _fixed, ...changes } = clientInputOf(typedClientValues(admin.call));
      const id = admin.params.id ?? "";
      await updateClient(admin.call.pages.core, admin.actor, id, changes);
      return redirectDone(admin.call, clientPath(admin, id), "saved");
    },
    async (admin, error) => {
      if (error.code !== "VALIDATION_ERROR") return onClientsError(admin, error);
      const client = await showClient(admin.call.pages.core, admin.params.id ?? "").catch(() => null);
      if (!client) return onClientsError(admin, error);
      return renderClient(admin, client, { refused: error, values: { ...typedClientValues(admin.call), public: client.public } });
    },
  );
  router.action("/admin/clients/:id/rotate-secret", async (admin) => {
    const client = await showClient(admin.call.pages.core, admin.params.id ?? "");
    if (client.public) throw new DomainError("VALIDATION_ERROR", "A public client has no secret to rotate.", [{ field: "client_id", message: "is a public client" }]);
    const ask = askFirst(
      admin,
      {
        title: `Rotate the secret of ${client.name}?`,
        paragraphs: [
          "A new secret is shown once, on the next page. The current secret stops working at once: the application cannot reach the token endpoint until it has the new one.",
          "Tokens already issued to it keep working until they expire.",
        ],
        confirmLabel: "Rotate the secret",
      },
      "clients",
    );
    if (ask) return ask;
    return renderWithSecret(admin, await rotateClientSecret(admin.call.pages.core, admin.actor, client.client_id));
  }, onClientsError);
  router.action("/admin/clients/:id/remove", async (admin) => {
    const client = await showClient(admin.call.pages.core, admin.params.id ?? "");
    const ask = askFirst(
      admin,
      {
        title: `Remove the client ${client.name}?`,
        paragraphs: [
          "Every token issued to it stops working and its users must sign in to it again; it can no longer sign anyone in.",
          "This cannot be undone: adding it again gives it a new client id and secret.",
        ],
        confirmLabel: "Remove the client",
      },
      "clients",
    );
    if (ask) return ask;
    await removeClient(admin.call.pages.core, admin.actor, client.client_id);
    return redirectDone(admin.call, admin.call.url("/admin/clients"), "removed");
  }, onClientsError);
}
