/**
 * The control socket: while `serve` holds the embedded data directory, CLI
 * commands are carried out by that server (SPEC §2). A Unix socket in the
 * data directory, owner-only; one JSON request line in, JSON lines out:
 * `{stream, text}` for each line of output, then `{exit}`.
 */
import { createHmac, randomBytes } from "node:crypto";
import { chmodSync, existsSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { type Config, defaultEmailFrom, defaultPublicUrl, ENV_NAMES } from "../config.ts";
import type { Core } from "../core/core.ts";
import type { Logger } from "../logger.ts";
import type { CoreCommand } from "./types.ts";
import { type CliIO, OperationalError, type Output } from "./io.ts";
import { type LineReader, type LineWriter, lineReader, lineWriter } from "./socket-lines.ts";

export function controlSocketPath(dataDir: string): string {
  return join(dataDir, "usersvc.sock");
}

interface ControlRequest {
  command: string;
  args: unknown;
  /** Random, per request: the server answers its settings as HMACs keyed with it, never in clear. */
  nonce?: string;
}

type ControlMessage =
  | { stream: "stdout" | "stderr"; text: string }
  | { exit: number }
  | { server: { pid: number; settings: Record<string, string> } };

/** Settings that cannot differ (the same data directory) or do not matter to a command. */
const NOT_COMPARED = new Set<keyof Config>(["dataDir", "host", "port", "logLevel"]);

/**
 * Settings left unset whose defaults follow HOST and PORT (which may differ):
 * compared as "unset", so only a value someone chose can differ.
 */
function chosenSettings(config: Config): Config {
  const publicUrl = config.publicUrl === defaultPublicUrl(config.host, config.port) ? "(default)" : config.publicUrl;
  const emailFrom = config.emailFrom === defaultEmailFrom(config.publicUrl) ? "(default)" : config.emailFrom;
  return { ...config, publicUrl, emailFrom };
}

/** Each compared setting as an HMAC keyed with the request's nonce: comparable, and secrets never cross the socket. */
function settingDigests(config: Config, nonce: string): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const [key, value] of Object.entries(chosenSettings(config))) {
    if (NOT_COMPARED.has(key as keyof Config)) continue;
    digests[key] = createHmac("sha256", nonce).update(JSON.stringify(value ?? null)).digest("base64url");
  }
  return digests;
}

/** The line a forwarded command adds when the caller's settings differ: who carried it out, and what it did not use. */
export function carriedOutLine(pid: number, differing: string[]): string {
  return `usersvc: warning: carried out by the running server (pid ${pid}) with its own settings; yours differ and were not used: ${differing.join(", ")}`;
}

export interface ControlServer {
  stop(): void;
}

export function startControlServer(
  dataDir: string,
  commands: ReadonlyMap<string, CoreCommand<unknown>>,
  core: Core,
  logger: Logger,
  reportError: (error: unknown, out: Output) => number,
): ControlServer {
  const path = controlSocketPath(dataDir);
  // We hold the data directory lock, so a socket file here is a dead server's leftover.
  if (existsSync(path)) unlinkSync(path);
  const connections = new WeakMap<object, { reader: LineReader; writer: LineWriter }>();

  const listener = Bun.listen<undefined>({
    unix: path,
    socket: {
      open(socket) {
        const writer = lineWriter(socket);
        let handled = false;
        const reader = lineReader((line) => {
          // One request per connection: whatever follows its line is ignored.
          if (handled) return;
          handled = true;
          const send = (message: ControlMessage): void => writer.write(JSON.stringify(message));
          const out: Output & { server(info: { pid: number; settings: Record<string, string> }): void } = {
            stdout: (text) => send({ stream: "stdout", text }),
            stderr: (text) => send({ stream: "stderr", text }),
            server: (info) => send({ server: info }),
          };
          void handle(line, out).then((exit) => {
            send({ exit });
            writer.end();
          });
        });
        connections.set(socket, { reader, writer });
      },
      data(socket, chunk) {
        connections.get(socket)?.reader.push(chunk);
      },
      drain(socket) {
        connections.get(socket)?.writer.drain();
      },
    },
  });
  chmodSync(path, 0o600);

  async function handle(line: string, out: Output & { server(info: { pid: number; settings: Record<string, string> }): void }): Promise<number> {
    try {
      const request = JSON.parse(line) as ControlRequest;
      if (typeof request.nonce === "string") {
        out.server({ pid: process.pid, settings: settingDigests(core.config, request.nonce) });
      }
      const command = commands.get(request.command);
      if (!command?.allowedViaServer) throw new OperationalError(`command not available through the server: ${request.command}`);
      logger.info({ command: request.command }, "control socket command");
      return await command.run({ db: core.db, core: async () => core, out, viaServer: true }, request.args);
    } catch (error) {
      return reportError(error, out);
    }
  }

  return {
    stop(): void {
      listener.stop(true);
      if (existsSync(path)) unlinkSync(path);
    },
  };
}

/** Sends a gathered command to the running server and relays its output; returns its exit code. */
export async function forwardToServer(dataDir: string, command: string, args: unknown, io: CliIO, config?: Config): Promise<number> {
  const path = controlSocketPath(dataDir);
  const nonce = randomBytes(16).toString("base64url");
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  let exitCode: number | null = null;

  const relay = (line: string): void => {
    if (!line) return;
    const message = JSON.parse(line) as ControlMessage;
    if ("server" in message) {
      const ours = config ? settingDigests(config, nonce) : {};
      const differing = config
        ? Object.keys(ours)
            .filter((key) => ours[key] !== message.server.settings[key])
            .map((key) => ENV_NAMES[key as keyof Config] ?? key)
        : [];
      // Only then: with the same settings, the output is the same as when run directly (scripts compare it).
      if (differing.length > 0) io.stderr(carriedOutLine(message.server.pid, differing));
    } else if ("exit" in message) exitCode = message.exit;
    else if (message.stream === "stdout") io.stdout(message.text);
    else io.stderr(message.text);
  };

  try {
    const reader = lineReader(relay);
    let writer: LineWriter | null = null;
    await Bun.connect<undefined>({
      unix: path,
      socket: {
        open(socket) {
          writer = lineWriter(socket);
          writer.write(JSON.stringify({ command, args, nonce } satisfies ControlRequest));
        },
        data(_socket, chunk) {
          reader.push(chunk);
        },
        drain() {
          writer?.drain();
        },
        close() {
          relay(reader.rest());
          if (exitCode === null) reject(new OperationalError("the running server closed the control socket without an answer"));
          else resolve(exitCode);
        },
        error(_socket, error) {
          reject(error);
        },
      },
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new OperationalError(`${dataDir} is locked by a running usersvc, but its control socket does not answer (${reason})`);
  }
  return promise;
}
