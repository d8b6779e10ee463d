/**
 * The control socket carries a command's arguments in and its output out as
 * JSON lines, in chunks the kernel cuts anywhere: a character of several
 * bytes cut in two must arrive whole both ways (an export's usernames and
 * metadata, an import's lines), and a long request must not be rescanned
 * from its start at every chunk.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { forwardToServer, startControlServer } from "../../src/cli/control-socket.ts";
import { reportError } from "../../src/cli/exit-codes.ts";
import type { CliIO } from "../../src/cli/io.ts";
import type { CoreCommand } from "../../src/cli/types.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

// More than bun's 5 s default: a real server on a real database, on a shared machine.
setDefaultTimeout(30_000);

/** Prints each argument back, and one long line of multi-byte characters. */
const echo: CoreCommand<{ lines: string[] }> = {
  name: "echo",
  allowedViaServer: true,
  async run(ctx, args) {
    for (const line of args.lines) ctx.out.stdout(line);
    ctx.out.stderr("é€😀".repeat(50_000));
    return 0;
  },
};

let server: TestServer;
let dataDir: string;
let control: { stop(): void };
beforeAll(async () => {
  server = await startTestServer();
  dataDir = mkdtempSync(join(tmpdir(), "usersvc-control-"));
  control = startControlServer(dataDir, new Map([["echo", echo as CoreCommand<unknown>]]), server.core, server.core.logger, reportError);
});
afterAll(async () => {
  control.stop();
  rmSync(dataDir, { recursive: true, force: true });
  await server.stop();
});

test("multi-byte characters cut across chunks arrive whole, both ways", async () => {
  const lines = Array.from({ length: 40 }, (_, i) => `${i} ${"ünïcödé 漢字 🎉".repeat(3000)}`);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CliIO = { env: {}, stdinIsTTY: false, isTTY: () => false, stdout: (l) => void stdout.push(l), stderr: (l) => void stderr.push(l), readStdin: async () => "" };
  const exit = await forwardToServer(dataDir, "echo", { lines }, io);
  expect(exit).toBe(0);
  expect(stdout).toEqual(lines);
  expect(stderr).toEqual(["é€😀".repeat(50_000)]);
});
