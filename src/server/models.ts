import { t } from "elysia";

/** limit/offset query parameters, as numbers with the spec's bounds. */
export const Page = t.Object(
  {
    limit: t.Optional(t.Numeric({ minimum: 1, maximum: 200, multipleOf: 1, description: "1-200, default 50" })),
    offset: t.Optional(t.Numeric({ minimum: 0, multipleOf: 1, description: "default 0" })),
  },
  { additionalProperties: false },
);
