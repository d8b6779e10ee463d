import pino, { type Logger } from "pino";
import type { LogLevel } from "./config.ts";

export type { Logger };

/** Paths that must never reach a log line, whatever a caller passes in. */
const REDACT = [
  "password",
  "*.password",
  "new_password",
  "*.new_password",
  "current_password",
  "*.current_password",
  "passwordHash",
  "*.passwordHash",
  "password_hash",
  "*.password_hash",
  "token",
  "*.token",
  "access_token",
  "*.access_token",
  "refresh_token",
  "*.refresh_token",
  "authorization",
  "*.authorization",
  "headers.authorization",
];

export function createLogger(level: LogLevel, destination: pino.DestinationStream = pino.destination(1)): Logger {
  return pino(
    {
      level,
      base: { service: "usersvc" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: "[redacted]" },
    },
    destination,
  );
}
