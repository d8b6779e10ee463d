/** The usersvc command line: commander wiring only; each command lives in commands/. */
import { Command, CommanderError } from "commander";
import pino from "pino";
import { loadConfig } from "../config.ts";
import { createLogger, prettyDestination } from "../logger.ts";
import { VERSION } from "../version.ts";
import { COMMANDS, CORE_COMMANDS } from "./commands/index.ts";
import type { ProgramContext } from "./context.ts";
import { executeCoreCommand } from "./run-command.ts";
import type { Runtime } from "./types.ts";
import type { CliIO } from "./io.ts";
import { reportError } from "./exit-codes.ts";

const ENVIRONMENT_HELP = `
Configuration comes from the environment (no .env file is read); flags override it.
  DATABASE_URL            postgres://… of a PostgreSQL server; unset: embedded database
  USERSVC_DATA_DIR        embedded database directory (default ./usersvc-data)
  HOST, PORT              listen address (default 127.0.0.1:8000)
  LOG_LEVEL               fatal|error|warn|info|debug|trace|silent (default info)
  USERSVC_JWT_SECRET      HS256 secret (>= 32 bytes); unset: EdDSA keys kept in the database
  USERSVC_ISSUER, USERSVC_AUDIENCE, USERSVC_ACCESS_TTL, USERSVC_REFRESH_TTL,
  USERSVC_REFRESH_GRACE, USERSVC_SESSION_MAX_AGE, USERSVC_PRIVILEGED_MAX_AGE,
  USERSVC_ADMIN_MAX_AGE, USERSVC_PURGE_AFTER, USERSVC_TRUST_PROXY,
  USERSVC_REQUIRE_VERIFIED_EMAIL          see docs/configuration.md
  USERSVC_HOOKS, USERSVC_HOOK_TIMEOUT_MS  hooks module or script (docs/hooks.md)
  USERSVC_WEBHOOK_URL, USERSVC_WEBHOOK_SECRET   signed event webhooks
  USERSVC_CORS_ORIGINS    origins allowed by CORS (unset: none)
  USERSVC_METRICS         GET /metrics: on (default), off, or a port of its own
  USERSVC_METRICS_TOKEN   bearer token GET /metrics then requires (unset: none)
  USERSVC_AUTH_CACHE_MS   ms an instance reuses a session check (default 1000, 0: never)
  USERSVC_LOGIN_MAX_ATTEMPTS, USERSVC_LOGIN_WINDOW, USERSVC_RATE_LIMIT_PER_IP,
  USERSVC_EMAIL_COOLDOWN  rate limits
  USERSVC_HOOK_ENV, USERSVC_BREACHED_PASSWORDS   see docs/configuration.md
  USERSVC_HASH_MEMORY_KIB, USERSVC_HASH_TIME_COST, USERSVC_HASH_CONCURRENCY       argon2id cost (hash calibrate)

While \`usersvc serve\` holds the embedded database, the other commands are
carried out by that server through its control socket.

Exit codes: 0 success, 1 operational failure, 2 usage error, 130 cancelled.`;

export async function runCli(argv: string[], io: CliIO): Promise<number> {
  let exitCode = 0;
  const ctx: ProgramContext = {
    io,
    coreCommands: CORE_COMMANDS,
    runtime(overrides = {}, options = {}): Runtime {
      const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
      const config = loadConfig({ ...io.env, ...defined });
      // Commands other than serve keep stdout for data and stay quiet unless LOG_LEVEL asks otherwise.
      const toStdout = options.logTo === "stdout";
      const level = toStdout || io.env.LOG_LEVEL ? config.logLevel : "warn";
      // sync: main.ts calls process.exit as soon as a command returns, which drops an async
      // write still in flight (serve's final "stopped" line went missing that way).
      const fd = toStdout ? 1 : 2;
      const destination = io.isTTY(fd) ? prettyDestination(fd) : pino.destination({ dest: fd, sync: true });
      return { config, io, logger: createLogger(level, destination) };
    },
    async execute(command, args, options = {}) {
      const runtime = ctx.runtime();
      const io = options.stdout ? { ...runtime.io, stdout: options.stdout } : runtime.io;
      exitCode = await executeCoreCommand(command, args, { ...runtime, io });
    },
    finish(code) {
      exitCode = code;
    },
  };

  const program = new Command("usersvc")
    .description("Self-hosted user management and authentication: HTTP API, operator CLI and lifecycle hooks.")
    .version(VERSION, "-V, --version")
    .addHelpText("after", ENVIRONMENT_HELP);
  for (const command of COMMANDS.flatMap(({ build }) => build(ctx))) program.addCommand(command);

  for (const command of allCommands(program)) {
    command
      .exitOverride()
      .configureOutput({
        writeOut: (text) => io.stdout(text.trimEnd()),
        writeErr: (text) => io.stderr(text.trimEnd()),
        // SPEC §5: one plain line, e.g. "usersvc: unknown option '--nope' (see usersvc serve --help)".
        outputError: (text, write) => {
          const help = ["usersvc", ...commandPath(command).slice(1), "--help"].join(" ");
          write(`usersvc: ${text.replace(/^error: /, "").trim().replace(/\s*\n\s*/g, " ")} (see ${help})`);
        },
      });
  }

  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      const success = ["commander.helpDisplayed", "commander.version", "commander.help"].includes(error.code);
      return success ? 0 : 2;
    }
    return reportError(error, io);
  }
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

function commandPath(command: Command): string[] {
  return command.parent ? [...commandPath(command.parent), command.name()] : [command.name()];
}
