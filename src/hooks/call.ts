/**
 * Calling a host project's hook, module or script, under a time limit. Each
 * call ends in one of three answers: a value, a rejection with a message,
 * or a failure (thrown HookFailure) — a crash, a timeout, a bad answer.
 */
import { errorMessage, type Logger } from "../logger.ts";
import type { HookContext } from "./types.ts";

export type HookAnswer = { kind: "value"; value: unknown } | { kind: "reject"; message: string };

export class HookFailure extends Error {
  override readonly name = "HookFailure";
}

export interface HookCaller {
  /** Names this caller answers to; a script answers to every name. */
  has(name: string): boolean;
  call(name: string, payload: unknown): Promise<HookAnswer>;
  names(): string[];
}

/** Runs `work` but gives up after `ms`: the hook's own work cannot be stopped, only ignored. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HookFailure(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function moduleCaller(hooks: Record<string, unknown>, timeoutMs: number, logger: Logger): HookCaller {
  return {
    has: (name) => typeof hooks[name] === "function",
    names: () => Object.keys(hooks).filter((k) => typeof hooks[k] === "function"),
    async call(name, payload) {
      const fn = hooks[name] as (input: unknown, ctx: HookContext) => unknown;
      const ctx: HookContext = { log: (message, data) => logger.info({ hook: name, ...data }, message) };
      let value: unknown;
      try {
        value = await withTimeout(Promise.resolve().then(() => fn.call(hooks, payload, ctx)), timeoutMs, `hook ${name}`);
      } catch (error) {
        if (error instanceof HookFailure) throw error;
        // Not a database error's message: it quotes the statement's parameters (a token the hook was given).
        throw new HookFailure(`hook ${name} threw: ${errorMessage(error)}`);
      }
      if (value && typeof value === "object" && "reject" in value) {
        return { kind: "reject", message: String((value as { reject: unknown }).reject) };
      }
      return { kind: "value", value };
    },
  };
}

/** What a script hook inherits from usersvc's environment without being named in USERSVC_HOOK_ENV. */
const SCRIPT_ENV_BASE = /^(PATH|HOME|LANG|TZ|LC_[A-Z_]+)$/;

/**
 * The environment of a script hook: an allow-list, so usersvc's secrets
 * (USERSVC_JWT_SECRET, DATABASE_URL, USERSVC_WEBHOOK_SECRET…) stay out of it
 * unless the operator names them.
 */
export function scriptEnvironment(names: readonly string[], source: Record<string, string | undefined> = process.env): Record<string, string> {
  const allowed = new Set(names);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value !== undefined && (SCRIPT_ENV_BASE.test(name) || allowed.has(name))) env[name] = value;
  }
  return env;
}

/** How long output is still read after the script's group was killed, for pipes someone outside it holds. */
const DRAIN_MS = 100;

/** Reads a pipe in the background; `settle` returns what came, once it closed or soon after the call ended. */
function collect(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  const closed = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        chunks.push(value);
      }
    } catch {
      // Cancelled by settle(), or the pipe broke: what was read is kept.
    }
  })();
  return {
    async settle(): Promise<string> {
      let timer: Timer | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, DRAIN_MS);
      });
      await Promise.race([closed, late]);
      clearTimeout(timer);
      reader.cancel().catch(() => {});
      return Buffer.concat(chunks).toString("utf8");
    },
  };
}

/** SIGKILL to every process of the group the script leads; the group may be empty already. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // ESRCH: nothing is left of it.
  }
}

export interface ScriptOptions {
  timeoutMs: number;
  /** The script's whole environment (see scriptEnvironment). */
  env: Record<string, string>;
}

/**
 * SPEC §6 script contract: the hook or event name as the one argument, the
 * JSON payload on stdin; exit 0 allows (stdout may hold a JSON object), exit
 * 1 rejects with stdout's first line, anything else or a timeout fails.
 *
 * Each call runs in a process group of its own (setsid). The call ends when
 * the script process exits — not when its stdout closes, which a background
 * child may keep open — and then the whole group is killed, on a timeout as
 * after a normal exit: nothing a call started outlives it.
 */
export function scriptCaller(path: string, options: ScriptOptions): HookCaller {
  const { timeoutMs, env } = options;
  return {
    has: () => true,
    names: () => ["*"],
    async call(name, payload) {
      let proc: ReturnType<typeof Bun.spawn>;
      try {
        proc = Bun.spawn({ cmd: [path, name], env, detached: true, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
      } catch (error) {
        throw new HookFailure(`cannot run ${path}: ${(error as Error).message}`);
      }
      const stdout = collect(proc.stdout as ReadableStream<Uint8Array>);
      const stderr = collect(proc.stderr as ReadableStream<Uint8Array>);
      const run = (async () => {
        const stdin = proc.stdin as import("bun").FileSink;
        try {
          stdin.write(JSON.stringify(payload));
          await stdin.end();
        } catch {
          // A script may exit without reading its input; its exit code tells.
        }
        return await proc.exited;
      })();
      let code: number;
      try {
        code = await withTimeout(run, timeoutMs, `hook script ${name}`);
      } catch (error) {
        killGroup(proc.pid);
        void stdout.settle();
        void stderr.settle();
        throw error;
      }
      killGroup(proc.pid);
      const out = await stdout.settle();
      if (code === 1) return { kind: "reject", message: out.split("\n")[0]?.trim() || "rejected by hook script" };
      if (code !== 0) {
        const err = (await stderr.settle()).trim().split("\n")[0];
        throw new HookFailure(`hook script ${name} exited ${code}${err ? `: ${err}` : ""}`);
      }
      void stderr.settle();
      const text = out.trim();
      if (!text) return { kind: "value", value: undefined };
      try {
        return { kind: "value", value: JSON.parse(text) };
      } catch {
        throw new HookFailure(`hook script ${name} printed something that is not JSON`);
      }
    },
  };
}
