/**
 * The OpenAPI 3.1 document of /docs/json, built from the app's own route
 * table: the TypeBox schemas Elysia validates with (params, query, body,
 * response) are the ones documented, so the document cannot say one thing
 * while the code checks another. OpenAPI 3.1 because its schemas are JSON
 * Schema, as TypeBox's are (`type: "null"`, `const`, `patternProperties`).
 */

export interface RouteLike {
  method: string;
  path: string;
  hooks: unknown;
}

interface Hooks {
  detail?: { hide?: boolean; tags?: string[]; summary?: string; description?: string; security?: unknown; operationId?: string };
  params?: Schema;
  query?: Schema;
  body?: Schema;
  response?: Record<string, Schema>;
}

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; required?: string[]; description?: string };

export interface DocumentInfo {
  version: string;
  /** Routes whose path matches are left out (the docs themselves). */
  exclude: RegExp;
}

const OPTIONAL = Symbol.for("TypeBox.Optional");
const METHODS = new Set(["GET", "PUT", "POST", "DELETE", "PATCH"]);

export function openApiDocument(routes: readonly RouteLike[], info: DocumentInfo): Record<string, unknown> {
  const components: Record<string, unknown> = {};
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const hooks = (route.hooks ?? {}) as Hooks;
    if (!METHODS.has(route.method) || hooks.detail?.hide || info.exclude.test(route.path)) continue;
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(route, hooks, components) };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "usersvc",
      version: info.version,
      description:
        "User management and authentication. Every /api/v1 answer is the envelope `{success, data, error}`: " +
        "`data` on success, `error.code` (one of the codes each response lists) on failure. " +
        "Use **Authorize** with an access token from `POST /api/v1/auth/login`.",
      license: { name: "MIT", identifier: "MIT" },
    },
    servers: [{ url: "/", description: "This server" }],
    tags: [
      { name: "auth", description: "Registration, login, tokens" },
      { name: "current user", description: "The user behind the access token" },
      { name: "admin", description: "User administration (role admin)" },
      { name: "system", description: "Probes and keys" },
    ],
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "An access token" } },
      schemas: Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))),
    },
  };
}

function operation(route: RouteLike, hooks: Hooks, components: Record<string, unknown>): Record<string, unknown> {
  const { hide: _, ...detail } = hooks.detail ?? {};
  const parameters = [...parametersOf("path", hooks.params, components), ...parametersOf("query", hooks.query, components)];
  for (const name of route.path.match(/:(\w+)/g) ?? []) {
    if (!parameters.some((p) => p.in === "path" && p.name === name.slice(1))) {
      parameters.unshift({ name: name.slice(1), in: "path", required: true, schema: { type: "string" } });
    }
  }
  const responses: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(hooks.response ?? {})) {
    responses[status] = {
      description: schema.description ?? `HTTP ${status}`,
      content: { "application/json": { schema: toJsonSchema(schema, components, true) } },
    };
  }
  return {
    operationId: detail.operationId ?? operationId(route.method, route.path),
    // Routes that need a token say so (BEARER_SECURITY); the others are public, and say that.
    security: [],
    ...detail,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(hooks.body
      ? {
          requestBody: {
            required: !(OPTIONAL in hooks.body),
            content: { "application/json": { schema: toJsonSchema(hooks.body, components, false) } },
          },
        }
      : {}),
    responses,
  };
}

interface Parameter {
  name: string;
  in: string;
  required: boolean;
  description?: string;
  schema: unknown;
}

function parametersOf(where: "path" | "query", schema: Schema | undefined, components: Record<string, unknown>): Parameter[] {
  return Object.entries(schema?.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = toJsonSchema(property, components, false) as Schema;
    return {
      name,
      in: where,
      required: where === "path" || (schema?.required ?? []).includes(name),
      ...(typeof description === "string" ? { description } : {}),
      schema: rest,
    };
  });
}

/**
 * A TypeBox schema as plain JSON Schema: symbols dropped, each `$id` schema
 * moved to components and referenced, and Elysia's string-or-number query
 * types (t.Numeric) shown as the number they are.
 */
function toJsonSchema(schema: unknown, components: Record<string, unknown>, top: boolean): unknown {
  if (Array.isArray(schema)) return schema.map((item) => toJsonSchema(item, components, false));
  if (schema === null || typeof schema !== "object") return schema;
  const source = schema as Schema;
  const numeric = numericBranch(source);
  if (numeric) return toJsonSchema({ ...numeric, ...(source.description ? { description: source.description } : {}) }, components, false);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (key === "$id" || key === "nullable" || (top && key === "description")) continue;
    out[key] = key === "properties" || key === "patternProperties" ? mapValues(value, components) : toJsonSchema(value, components, false);
  }
  if (typeof source.$id === "string") {
    components[source.$id] = out;
    return { $ref: `#/components/schemas/${source.$id}` };
  }
  return out;
}

function mapValues(value: unknown, components: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toJsonSchema(v, components, false)]));
}

/** t.Numeric / t.Integer: `anyOf [string with format numeric|integer, the number]` → the number. */
function numericBranch(schema: Schema): Schema | null {
  const branches = schema.anyOf;
  if (!Array.isArray(branches) || branches.length !== 2) return null;
  const [text, number] = branches as Schema[];
  if (text?.type !== "string" || (text.format !== "numeric" && text.format !== "integer")) return null;
  return number ?? null;
}

/** `POST /api/v1/users/:id/block` → `postUsersByIdBlock`: stable, and the name a generated client's method gets. */
function operationId(method: string, path: string): string {
  const words = path
    .replace(/^\/api\/v1/, "")
    .split(/[/.-]/)
    .filter(Boolean)
    .map((part) => (part.startsWith(":") ? `By${capitalize(part.slice(1))}` : capitalize(part)));
  return method.toLowerCase() + words.join("");
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
