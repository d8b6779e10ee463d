import pino, { type Logger } from "pino";
import type { LogLevel } from "./config.ts";
import pretty from "pino-pretty";

export type { Logger };

/** Fields that must never reach a log line, at the top or one level down, whatever a caller passes in. */
const SECRET_FIELDS = [
  "password",
  "new_password",
  "current_password",
  "passwordHash",
  "password_hash",
  "token",
  "access_token",
  "refresh_token",
  "mfa_token",
  "secret",
  "otpauth_uri",
  "recovery_codes",
  "authorization",
];
const REDACT = [...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]), "headers.authorization"];

/**
 * Log lines for people, for a terminal: time, level, message, then the
 * fields. Synchronous, like the JSON destination (no worker thread, which
 * the compiled binary would have to ship separately).
 */
export function prettyDestination(fd: 1 | 2): pino.DestinationStream {
  return pretty({ destination: fd, sync: true, colorize: true, singleLine: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,service" });
}

export function createLogger(level: LogLevel, destination: pino.DestinationStream = pino.destination(1)): Logger {
  return pino(
    {
      level,
      base: { service: "usersvc" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: "[redacted]" },
      serializers: { err: serializeError, error: serializeError },
    },
    destination,
  );
}

/** Fields of a PostgreSQL error (postgres.js and PGlite) that name what failed without quoting any value. */
interface DatabaseErrorFields {
  code?: unknown;
  severity?: unknown;
  constraint_name?: unknown;
  constraint?: unknown;
  table_name?: unknown;
  table?: unknown;
  column_name?: unknown;
  column?: unknown;
  routine?: unknown;
}

/**
 * pino's error serializer, except for database errors: drizzle's message
 * quotes the statement and its parameters (a password hash, a TOTP secret, a
 * plain reset token), and the server's message and detail quote values too
 * ("Key (email)=(…) already exists"). Of those only the SQL state, the
 * constraint, the table and the column are kept; the stack keeps its frames
 * without the message line.
 */
export function serializeError(error: unknown): unknown {
  const database = databaseErrorIn(error);
  if (!database) return pino.stdSerializers.err(error as Error);
  const pick = (...values: unknown[]) => values.find((v) => typeof v === "string" && v !== "") as string | undefined;
  const frames = error instanceof Error && error.stack ? error.stack.split("\n").filter((line) => /^\s+at /.test(line)).join("\n") : undefined;
  return {
    type: error instanceof Error ? error.constructor.name : "DatabaseError",
    message: "database error (statement, parameters and server message withheld)",
    code: pick(database.code),
    severity: pick(database.severity),
    constraint: pick(database.constraint_name, database.constraint),
    table: pick(database.table_name, database.table),
    column: pick(database.column_name, database.column),
    routine: pick(database.routine),
    stack: frames,
  };
}

/** An error's message for a log line or a stored reason: a database error's says only its SQL state. */
export function errorMessage(error: unknown): string {
  const database = databaseErrorIn(error);
  if (database) return `database error${typeof database.code === "string" ? ` ${database.code}` : ""} (statement, parameters and server message withheld)`;
  return error instanceof Error ? error.message : String(error);
}

/** The driver's error in `error`'s cause chain: the one with a 5-character SQLSTATE and a severity. */
function databaseErrorIn(error: unknown): DatabaseErrorFields | null {
  let current = error;
  let wrapped = false;
  for (let depth = 0; current && typeof current === "object" && depth < 5; depth++) {
    const fields = current as DatabaseErrorFields & { cause?: unknown; query?: unknown; params?: unknown };
    if (typeof fields.code === "string" && /^[0-9A-Z]{5}$/.test(fields.code) && typeof fields.severity === "string") return fields;
    if ("query" in fields && "params" in fields) wrapped = true;
    current = fields.cause;
  }
  // A drizzle query error without a server error below it (a connection lost mid-query): still withheld.
  return wrapped ? {} : null;
}
