/**
 * Calling a host project's hook, module or script, under a time limit. Each
 * call ends in one of three answers: a value, a rejection with a message,
 * or a failure (thrown HookFailure) — a crash, a timeout, a bad answer.
 */
import type { Logger } from "../logger.ts";
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
        throw new HookFailure(`hook ${name} threw: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (value && typeof value === "object" && "reject" in value) {
        return { kind: "reject", message: String((value as { reject: unknown }).reject) };
      }
      return { kind: "value", value };
    },
  };
}

/**
 * SPEC §6 script contract: the hook or event name as the one argument, the
 * JSON payload on stdin; exit 0 allows (stdout may hold a JSON object), exit
 * 1 rejects with stdout's first line, anything else or a timeout fails.
 */
export function scriptCaller(path: string, timeoutMs: number): HookCaller {
  return {
    has: () => true,
    names: () => ["*"],
    async call(name, payload) {
      let proc: ReturnType<typeof Bun.spawn>;
      try {
        proc = Bun.spawn({ cmd: [path, name], stdin: "pipe", stdout: "pipe", stderr: "pipe" });
      } catch (error) {
        throw new HookFailure(`cannot run ${path}: ${(error as Error).message}`);
      }
      const stdin = proc.stdin as import("bun").FileSink;
      stdin.write(JSON.stringify(payload));
      await stdin.end();
      const outcome = Promise.all([new Response(proc.stdout as ReadableStream).text(), proc.exited]);
      let stdout: string;
      let code: number;
      try {
        [stdout, code] = await withTimeout(outcome, timeoutMs, `hook script ${name}`);
      } catch (error) {
        proc.kill("SIGKILL");
        throw error;
      }
      if (code === 1) return { kind: "reject", message: stdout.split("\n")[0]?.trim() || "rejected by hook script" };
      if (code !== 0) {
        const stderr = await new Response(proc.stderr as ReadableStream).text();
        throw new HookFailure(`hook script ${name} exited ${code}${stderr ? `: ${stderr.trim().split("\n")[0]}` : ""}`);
      }
      const text = stdout.trim();
      if (!text) return { kind: "value", value: undefined };
      try {
        return { kind: "value", value: JSON.parse(text) };
      } catch {
        throw new HookFailure(`hook script ${name} printed something that is not JSON`);
      }
    },
  };
}
