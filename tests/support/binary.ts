/**
 * The compiled dist/usersvc, driven as a user would: built once per test
 * run (again whenever src/ or migrations/ changed after it), spawned with a
 * minimal, explicit environment, its stdout, stderr and exit code captured
 * together.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/core/db/client.ts";
import { migrateDatabase } from "../../src/core/db/migrate.ts";
import { createTestDatabase, SERVER_URL, type TestDatabase } from "./database.ts";

const ROOT = join(import.meta.dir, "..", "..");
export const BINARY_PATH = join(ROOT, "dist", "usersvc");

/** The inputs of the binary: when any of them is newer, it is rebuilt. */
const SOURCES = ["src", "migrations", "scripts/build.ts", "package.json", "package-lock.json"].map((p) => join(ROOT, p));

let built: Promise<string> | null = null;

/** Builds dist/usersvc if it is missing or stale (once per test run) and returns its path. */
export function buildBinary(): Promise<string> {
  built ??= (async () => {
    if (existsSync(BINARY_PATH) && statSync(BINARY_PATH).mtimeMs >= newestMtime(SOURCES)) return BINARY_PATH;
    // Build beside the target and rename over it: a usersvc still running from
    // the old file (another test run) keeps its inode, and nobody sees half a file.
    // The file is named usersvc there too, as that name shows in stack traces.
    mkdirSync(join(ROOT, "dist"), { recursive: true });
    const buildDir = mkdtempSync(join(ROOT, "dist", ".build-"));
    const outfile = join(buildDir, "usersvc");
    try {
      const proc = Bun.spawn([process.execPath, join(ROOT, "scripts", "build.ts")], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", USERSVC_BUILD_OUTFILE: outfile },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      if (exitCode !== 0 || !existsSync(outfile)) throw new Error(`npm run build failed (exit ${exitCode}):\n${stdout}\n${stderr}`);
      renameSync(outfile, BINARY_PATH);
      if (existsSync(`${outfile}.map`)) renameSync(`${outfile}.map`, `${BINARY_PATH}.map`);
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
    return BINARY_PATH;
  })();
  return built;
}

function newestMtime(paths: string[]): number {
  let newest = 0;
  for (const path of paths) {
    if (!existsSync(path)) continue;
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path, { recursive: true, withFileTypes: true })) {
        if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
      }
    } else {
      newest = Math.max(newest, stat.mtimeMs);
    }
  }
  return newest;
}

/**
 * The whole environment a spawned usersvc sees: PATH and HOME, plus what the
 * test passes. Nothing else is inherited, DATABASE_URL least of all.
 */
export function binaryEnv(env: Record<string, string | undefined> = {}): Record<string, string> {
  const base: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    // Tests drive many logins and sign-ups from one IP; the rate-limit tests set their own limits.
    USERSVC_LOGIN_MAX_ATTEMPTS: "100000",
    USERSVC_RATE_LIMIT_PER_IP: "100000",
    ...env,
  };
  return Object.fromEntries(Object.entries(base).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  /**
   * Standard input: a string is piped in and then closed; "devnull" is
   * /dev/null; "closed" is a pipe closed before anything is written.
   * Never the test runner's own stdin (it may be a terminal).
   */
  stdin?: string | "devnull" | "closed";
  cwd?: string;
  /** Which binary to run (a copy elsewhere); defaults to dist/usersvc. */
  binary?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  /** Set when the process did not exit on its own (killed after HANG_LIMIT_MS). */
  signalCode: string | null;
}

/**
 * A command that never finishes is killed after this long, so a hang shows
 * up as a failed assertion (exitCode null, signalCode SIGKILL) instead of a
 * stuck suite. Far above any command's real run time.
 */
const HANG_LIMIT_MS = 60_000;

export async function run(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const binary = options.binary ?? (await buildBinary());
  const input = options.stdin ?? "devnull";
  await using proc = Bun.spawn([binary, ...args], {
    cwd: options.cwd,
    env: binaryEnv(options.env),
    stdin: input === "devnull" ? "ignore" : input === "closed" ? "pipe" : Buffer.from(input),
    stdout: "pipe",
    stderr: "pipe",
    timeout: HANG_LIMIT_MS,
    killSignal: "SIGKILL",
  });
  if (input === "closed") await (proc.stdin as import("bun").FileSink).end();
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, exitCode: proc.signalCode ? null : exitCode, signalCode: signalName(proc.signalCode) };
}

function signalName(signal: number | string | null): string | null {
  return signal === null ? null : String(signal);
}

/** The non-empty lines of a stream. */
export function linesOf(text: string): string[] {
  return text.split("\n").filter((line) => line.length > 0);
}

export interface ServeOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Extra arguments after `serve --port 0`. */
  args?: string[];
  binary?: string;
}

export interface ServeResult {
  exitCode: number | null;
  signalCode: string | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON log lines (a line that is not JSON is kept as {raw}). */
  logs: Record<string, unknown>[];
}

export interface ServeProcess extends AsyncDisposable {
  url: string;
  pid: number;
  /** Log lines written to stdout so far, parsed. */
  logs(): Record<string, unknown>[];
  /** Sends a signal without waiting (e.g. to overlap with requests). */
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the process has exited, with everything it wrote. */
  exited: Promise<ServeResult>;
  /** Sends the signal (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ServeResult>;
}

/**
 * Spawns `usersvc serve --port 0` and resolves once it logged "usersvc
 * listening", with the URL from that line. Rejects, with all its output, if
 * it exits first. `await using` kills it (SIGKILL) if the test did not stop it.
 */
export async function startServe(options: ServeOptions = {}): Promise<ServeProcess> {
  const binary = options.binary ?? (await buildBinary());
  const proc = Bun.spawn([binary, "serve", "--port", "0", ...(options.args ?? [])], {
    cwd: options.cwd,
    env: binaryEnv(options.env),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });

  let stdout = "";
  const listening = Promise.withResolvers<string>();
  const readStdout = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      const before = stdout.length;
      stdout += decoder.decode(chunk, { stream: true });
      // Only lines completed by this chunk need a look.
      const start = stdout.lastIndexOf("\n", before - 1) + 1;
      for (const line of stdout.slice(start).split("\n").slice(0, -1)) {
        const entry = parseLogLine(line);
        if (entry.msg === "usersvc listening" && typeof entry.url === "string") listening.resolve(entry.url);
      }
    }
    stdout += decoder.decode();
  })();
  const readStderr = new Response(proc.stderr).text();

  const exited: Promise<ServeResult> = (async () => {
    const [exitCode, , stderr] = await Promise.all([proc.exited, readStdout, readStderr]);
    return {
      exitCode: proc.signalCode ? null : exitCode,
      signalCode: signalName(proc.signalCode),
      stdout,
      stderr,
      logs: linesOf(stdout).map(parseLogLine),
    };
  })();
  void exited.then((result) =>
    listening.reject(new Error(`usersvc serve exited before listening (exit ${result.exitCode ?? result.signalCode}):\n${result.stdout}\n${result.stderr}`)),
  );

  const url = await listening.promise;
  const kill = (signal: NodeJS.Signals): void => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
  };
  return {
    url,
    pid: proc.pid,
    logs: () => linesOf(stdout).map(parseLogLine),
    kill,
    exited,
    async stop(signal = "SIGTERM") {
      kill(signal);
      return exited;
    },
    async [Symbol.asyncDispose]() {
      kill("SIGKILL");
      await exited;
    },
  };
}

export function parseLogLine(line: string): Record<string, unknown> {
  try {
    const value = JSON.parse(line) as unknown;
    return value && typeof value === "object" ? (value as Record<string, unknown>) : { raw: line };
  } catch {
    return { raw: line };
  }
}

/** JSON over HTTP against a running serve: {status, body}. */
export async function callApi(
  baseUrl: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers["content-type"] = "application/json";
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(baseUrl + path, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, body };
}

/** Logs in and returns the current user as GET /users/me shows it (throws on a failed login). */
export async function loginAndFetchMe(
  baseUrl: string,
  credentials: { email?: string; username?: string; password: string },
): Promise<{ login: { status: number; body: any }; me: { status: number; body: any } }> {
  const login = await callApi(baseUrl, "POST", "/api/v1/auth/login", { body: credentials });
  const token = login.body?.data?.access_token as string | undefined;
  const me = token ? await callApi(baseUrl, "GET", "/api/v1/users/me", { token }) : { status: 0, body: null };
  return { login, me };
}

/**
 * createTestDatabase(), with the schema in place on PostgreSQL too (its
 * PGlite directories are copies of a migrated template already).
 */
export async function createMigratedTestDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  if (database.kind === "postgres") {
    const handle = await openDatabase({ databaseUrl: database.env.DATABASE_URL!, dataDir: database.env.USERSVC_DATA_DIR, poolSize: 1 });
    try {
      await migrateDatabase(handle.db);
    } finally {
      await handle.close();
    }
  }
  return database;
}

/** A copy of the binary alone in an empty directory and, on a PostgreSQL run, a database of its own. */
export interface BinaryAlone {
  dir: string;
  binary: string;
  database: TestDatabase | null;
}

export async function binaryAlone(prefix: string): Promise<BinaryAlone> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const binary = join(dir, "usersvc");
  copyFileSync(await buildBinary(), binary);
  // PGlite: no USERSVC_DATA_DIR, so the default ./usersvc-data of the directory is used.
  const database = SERVER_URL ? await createTestDatabase() : null;
  return { dir, binary, database };
}

export async function removeBinaryAlone(alone: Pick<BinaryAlone, "dir" | "database">): Promise<void> {
  await alone.database?.drop();
  rmSync(alone.dir, { recursive: true, force: true });
}
