/**
 * The control socket: while `serve` holds the embedded data directory, CLI
 * commands are carried out by that server (SPEC §2). A Unix socket in the
 * data directory, owner-only; one JSON request line in, JSON lines out:
 * `{stream, text}` for each line of output, then `{exit}`.
 */
import { chmodSync, existsSync, unlinkSync } from "node:fs";
import { join } from "node:path";
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
}

type ControlMessage = { stream: "stdout" | "stderr"; text: string } | { exit: number };

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
        const out: Output = {
          stdout: (line) => send({ stream: "stdout", text: line }),
          stderr: (line) => send({ stream: "stderr", text: line }),
        };
        void handle(text.slice(0, newline), out).then((exit) => {
          send({ exit });
          socket.end();
        });
      },
    },
  });
  chmodSync(path, 0o600);

  async function handle(line: string, out: Output): Promise<number> {
    try {
      const request = JSON.parse(line) as ControlRequest;
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
export async function forwardToServer(dataDir: string, command: string, args: unknown, io: CliIO): Promise<number> {
  const path = controlSocketPath(dataDir);
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  let pending = "";
  let exitCode: number | null = null;

  const relay = (line: string): void => {
    if (!line) return;
    const message = JSON.parse(line) as ControlMessage;
    if ("exit" in message) exitCode = message.exit;
    else if (message.stream === "stdout") io.stdout(message.text);
    else io.stderr(message.text);
  };

  try {
    await Bun.connect<undefined>({
      unix: path,
      socket: {
        open(socket) {
          socket.write(`${JSON.stringify({ command, args } satisfies ControlRequest)}\n`);
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
