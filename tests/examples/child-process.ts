/**
 * An example application as a real child process: started with its
 * settings in the environment, ready once it prints "listening on" and
 * answers HTTP, its output kept (both pipes drained, so a chatty child never
 * blocks on a full pipe) for the message of a failing test.
 */

export interface ExampleProcess {
  url: string;
  /** Everything it wrote so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves once it has written `text` (its pipes are read as it writes, so a line may arrive after the response); fails, showing what it wrote, if that takes 10 s. */
  printed(text: string): Promise<void>;
  stop(): Promise<void>;
}

const READY_LINE = "listening on";
const START_LIMIT_MS = 20_000;

export async function startExample(name: string, cmd: string[], options: { port: number; env: Record<string, string>; cwd?: string }): Promise<ExampleProcess> {
  const url = `http://127.0.0.1:${options.port}`;
  const proc = Bun.spawn({
    cmd,
    cwd: options.cwd,
    // Only what a runtime needs, not the test run's DATABASE_URL and the like.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", TMPDIR: process.env.TMPDIR ?? "/tmp", PORT: String(options.port), ...options.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  const failed = (why: string) => new Error(`${name} ${why}; its output:\n${output || "(none)"}`);
  const waiting: { text: string; resolve: () => void }[] = [];
  const printed = (text: string, limitMs = 10_000): Promise<void> => {
    if (output.includes(text)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(failed(`did not print ${JSON.stringify(text)} within ${limitMs / 1000} s`)), limitMs);
      waiting.push({
        text,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  };
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
      for (const waiter of waiting.filter((w) => output.includes(w.text))) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  const drained = Promise.all([drain(proc.stdout), drain(proc.stderr)]);
  const stop = async () => {
    proc.kill("SIGTERM");
    await proc.exited;
    await drained;
  };

  const outcome = await Promise.race([
    printed(READY_LINE, START_LIMIT_MS).then(
      () => "ready" as const,
      () => "slow" as const,
    ),
    proc.exited.then(() => "exited" as const),
  ]);
  if (outcome === "exited") {
    await drained;
    throw failed(`exited with ${proc.exitCode} before it listened`);
  }
  if (outcome === "slow") {
    await stop();
    throw failed(`did not print "${READY_LINE}" within ${START_LIMIT_MS / 1000} s`);
  }
  try {
    await fetch(url, { redirect: "manual" });
  } catch (error) {
    await stop();
    throw failed(`printed "${READY_LINE}" but ${url} does not answer (${String(error)})`);
  }
  return { url, output: () => output, printed, stop };
}
