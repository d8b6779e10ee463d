/**
 * What a route answers, declared once: the success envelope around its
 * `data`, and for each error status the envelope with the codes the route
 * can produce. Elysia validates every success body against it; the error
 * handler checks error codes against it (strictly in tests, see app.ts);
 * /docs/json is generated from it.
 */
import { type TSchema, t } from "elysia";
import type { ErrorCode } from "../core/errors.ts";
import { HTTP_STATUS } from "./errors.ts";

const strict = { additionalProperties: false } as const;

/** Any route: a NUL in the URL (422) and the unexpected (500). */
const ALWAYS: readonly ErrorCode[] = ["VALIDATION_ERROR", "INTERNAL_ERROR"];
/** Any POST, PUT, PATCH or DELETE: the body reader's refusals (body.ts). */
export const BODY_ERRORS: readonly ErrorCode[] = ["PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"];
/** `{ auth: true }`: what authenticate() refuses. */
export const AUTH_ERRORS: readonly ErrorCode[] = [
  "UNAUTHENTICATED",
  "INVALID_TOKEN",
  "TOKEN_EXPIRED",
  "INVALID_TOKEN_TYPE",
  "SESSION_REVOKED",
  "ACCOUNT_BLOCKED",
];
/** `{ admin: true }`: the above, and a caller without the admin role. */
export const ADMIN_ERRORS: readonly ErrorCode[] = [...AUTH_ERRORS, "FORBIDDEN"];

const FieldProblem = t.Object({ field: t.String(), message: t.String() }, { ...strict, $id: "FieldProblem" });

export type SuccessStatus = 200 | 201 | 202;

export interface ResponseSpec<Data extends TSchema, Status extends SuccessStatus> {
  /** 200 unless given. */
  status?: Status;
  data: Data;
  description: string;
  /** Codes the route can answer with, besides VALIDATION_ERROR and INTERNAL_ERROR; grouped by status here. */
  errors: readonly ErrorCode[];
}

export function responses<Data extends TSchema, Status extends SuccessStatus = 200>(spec: ResponseSpec<Data, Status>) {
  const success = successEnvelope(spec.data, spec.description);
  return { ...errorResponses(spec.errors), [spec.status ?? 200]: success } as unknown as Declared<Record<Status, typeof success>>;
}

/** Routes outside /api/v1 (probes, JWKS) answer their own shapes, `{status: schema}` with descriptions; errors are still the envelope. */
export function plainResponses<Answers extends Record<number, TSchema>>(answers: Answers) {
  return { ...errorResponses([]), ...answers } as unknown as Declared<Answers>;
}

type ErrorResponses = Record<number, ReturnType<typeof errorEnvelope>>;
/**
 * For Elysia's types, only the answers a handler returns: errors are thrown
 * (DomainError) and answered by the error handler, never returned.
 */
type Declared<Answers> = Answers;

function errorResponses(codes: readonly ErrorCode[]): ErrorResponses {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set([...ALWAYS, ...codes])) {
    const status = HTTP_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const errors: ErrorResponses = {};
  for (const [status, grouped] of [...byStatus].sort(([a], [b]) => a - b)) errors[status] = errorEnvelope(grouped);
  return errors;
}

function successEnvelope<Data extends TSchema>(data: Data, description: string) {
  return t.Object({ success: t.Literal(true), data, error: t.Null() }, { ...strict, description });
}

/** The failure envelope with `error.code` one of `codes`; `details` accompanies VALIDATION_ERROR. */
export function errorEnvelope(codes: readonly ErrorCode[]) {
  const details: Record<string, TSchema> = codes.includes("VALIDATION_ERROR")
    ? { details: t.Optional(t.Array(FieldProblem, { description: "With VALIDATION_ERROR: one entry per bad field" })) }
    : {};
  return t.Object(
    {
      success: t.Literal(false),
      data: t.Null(),
      error: t.Object(
        {
          // A string with `enum`, not a union of literals: one enum in the document and in generated clients.
          // Never validated (errors are not returned by handlers); the error handler checks the code itself.
          code: t.String({ enum: [...codes] }),
          message: t.String({ description: "For people; match on code" }),
          ...details,
        },
        strict,
      ),
    },
    { ...strict, description: `error.code: ${codes.join(" | ")}` },
  );
}

/** The codes an error envelope of `responses()` declares, for the error handler's check. */
export function declaredCodes(schema: unknown): readonly string[] | null {
  const code = (schema as { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } })?.properties?.error
    ?.properties?.code;
  return code?.enum ?? null;
}
