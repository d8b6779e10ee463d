/**
 * The OIDC client form of the console (add and edit): the fields as typed,
 * read into the core's NewClient, and a client's settings written back into
 * the form. URI lists are one entry a line, scopes separated by spaces (as
 * the protocol writes them), grants one checkbox each (a field name of their
 * own, so a form body never repeats a key).
 */
import type { ClientView, NewClient } from "../../core/oidc/client-admin.ts";
import { GRANT_TYPES, ID_TOKEN_ALGS, SCOPES } from "../../core/oidc/clients.ts";
import type { DomainError } from "../../core/errors.ts";
import type { PageCall } from "../pages/page-call.ts";

/** What the form shows: its text as typed or stored. */
export interface ClientFormValues {
  name: string;
  public: boolean;
  redirect_uris: string;
  post_logout_redirect_uris: string;
  grant_types: string[];
  scopes: string;
  audience: string;
  cors_origins: string;
  skip_consent: boolean;
  id_token_alg: string;
}

export const GRANT_LABELS: Record<(typeof GRANT_TYPES)[number], string> = {
  authorization_code: "authorization_code (users sign in)",
  refresh_token: "refresh_token (needs authorization_code)",
  client_credentials: "client_credentials (the client itself, confidential only)",
};

/** What the form's choices are, for the template. */
export const CLIENT_FORM_CHOICES = {
  grants: GRANT_TYPES.map((value) => ({ value, label: GRANT_LABELS[value] })),
  scopes: SCOPES.join(" "),
  algs: [...ID_TOKEN_ALGS],
};

export const NEW_CLIENT_VALUES: ClientFormValues = {
  name: "",
  public: false,
  redirect_uris: "",
  post_logout_redirect_uris: "",
  grant_types: ["authorization_code", "refresh_token"],
  scopes: SCOPES.join(" "),
  audience: "",
  cors_origins: "",
  skip_consent: false,
  id_token_alg: "RS256",
};

function lines(text: string | undefined): string[] {
  return (text ?? "")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
}

/** The form as typed (for showing it again after a refusal). */
export function typedClientValues(call: PageCall): ClientFormValues {
  return {
    name: call.field("name") ?? "",
    public: call.field("type") === "public",
    redirect_uris: call.field("redirect_uris") ?? "",
    post_logout_redirect_uris: call.field("post_logout_redirect_uris") ?? "",
    grant_types: GRANT_TYPES.filter((grant) => call.field(`grant_${grant}`) === "on"),
    scopes: call.field("scopes") ?? "",
    audience: call.field("audience") ?? "",
    cors_origins: call.field("cors_origins") ?? "",
    skip_consent: call.field("skip_consent") === "on",
    id_token_alg: call.field("id_token_alg") ?? "RS256",
  };
}

/** The typed form as the core's input: every setting given (the edit form replaces them all); a blank audience is the client id. */
export function clientInputOf(values: ClientFormValues): Required<NewClient> {
  return {
    name: values.name,
    public: values.public,
    redirect_uris: lines(values.redirect_uris),
    post_logout_redirect_uris: lines(values.post_logout_redirect_uris),
    grant_types: values.grant_types,
    scopes: values.scopes.split(/[\s,]+/).filter(Boolean),
    audience: values.audience.trim() === "" ? null : values.audience,
    cors_origins: lines(values.cors_origins),
    skip_consent: values.skip_consent,
    id_token_alg: values.id_token_alg,
  };
}

/** A stored client in the form; an audience that is the client id shows blank (the default). */
export function storedClientValues(client: ClientView): ClientFormValues {
  return {
    name: client.name,
    public: client.public,
    redirect_uris: client.redirect_uris.join("\n"),
    post_logout_redirect_uris: client.post_logout_redirect_uris.join("\n"),
    grant_types: client.grant_types,
    scopes: client.scopes.join(" "),
    audience: client.audience === client.client_id ? "" : client.audience,
    cors_origins: client.cors_origins.join("\n"),
    skip_consent: client.skip_consent,
    id_token_alg: client.id_token_alg,
  };
}

/** Each field's problems in one sentence: `redirect_uris.2` is told beside the redirect URIs. */
export function fieldProblems(error: DomainError | null): Record<string, string> {
  const problems: Record<string, string[]> = {};
  for (const problem of error?.details ?? []) (problems[problem.field.split(".")[0]!] ??= []).push(problem.message);
  return Object.fromEntries(Object.entries(problems).map(([field, messages]) => [field, messages.join("; ")]));
}
