/**
 * The control socket: while `serve` holds the embedded data directory, CLI
 * commands are carried out by that server (SPEC §2). A Unix socket in the
 * data directory, owner-only; one JSON request line in, JSON lines out:
 * `{stream, text}` for each line of output, then `{exit}`.
 */
import { createHmac, randomBytes } from "node:crypto";
import { chmodSync, existsSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { type Config, ENV_NAMES } from "../config.ts";
import type { Core } from "../core/core.ts";
import type { Logger } from "../logger.ts";
import type { CoreCommand } from "./types.ts";
import { type CliIO, OperationalError, type Output } from "./io.ts";

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

/** Each compared setting as an HMAC keyed with the request's nonce: comparable, and secrets never cross the socket. */
function settingDigests(config: Config, nonce: string): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
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
  const buffers = new WeakMap<object, string>();

  const listener = Bun.listen<undefined>({
    unix: path,
    socket: {
      data(socket, chunk) {
        const text = (buffers.get(socket) ?? "") + chunk.toString();
        const newline = text.indexOf("\n");
        if (newline === -1) {
          buffers.set(socket, text);
          return;
        }
        buffers.delete(socket);
        const send = (message: ControlMessage): void => {
          socket.write(`${JSON.stringify(message)}\n`);
        };
        const out: Output & { server(info: { pid: number; settings: Record<string, string> }): void } = {
          stdout: (line) => send({ stream: "stdout", text: line }),
          stderr: (line) => send({ stream: "stderr", text: line }),
          server: (info) => send({ server: info }),
        };
        void handle(text.slice(0, newline), out).then((exit) => {
          send({ exit });
          socket.end();
        });
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
  let pending = "";
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
    await Bun.connect<undefined>({
      unix: path,
      socket: {
        open(socket) {
          socket.write(`${JSON.stringify({ command, args, nonce } satisfies ControlRequest)}\n`);
        },
        data(_socket, chunk) {
          pending += chunk.toString();
          let newline = pending.indexOf("\n");
          while (newline !== -1) {
            relay(pending.slice(0, newline));
            pending = pending.slice(newline + 1);
            newline = pending.indexOf("\n");
          }
        },
        close() {
          relay(pending);
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
