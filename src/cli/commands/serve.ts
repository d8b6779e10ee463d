import { Command } from "commander";
import { readLockHolder, tryLockDataDir, type DataDirLock } from "../../core/db/data-dir-lock.ts";
import { openUsersvc, type Usersvc } from "../../core/start-up.ts";
import { createApp } from "../../server/app.ts";
import { startGarbageGuard } from "../../server/garbage-guard.ts";
import { serveMetricsOnPort } from "../../server/metrics.ts";
import type { ProgramContext } from "../context.ts";
import { asOperational } from "../run-command.ts";
import type { Runtime } from "../types.ts";
import { type ControlServer, startControlServer } from "../control-socket.ts";
import { OperationalError } from "../io.ts";
import { reportError } from "../exit-codes.ts";

export function serveCommand(ctx: ProgramContext): Command {
  return new Command("serve")
    .description("apply migrations, then serve the HTTP API; SIGTERM/SIGINT drain in-flight requests and exit 0")
    .option("--host <address>", "listen address (env HOST, default 127.0.0.1)")
    .option("--port <port>", "listen port, 0 for any free one (env PORT, default 8000)")
    .option("--no-docs", "do not serve /docs and /docs/json")
    .action(async (options: { host?: string; port?: string; docs: boolean }) => {
      const runtime = ctx.runtime({ HOST: options.host, PORT: options.port }, { logTo: "stdout" });
      ctx.finish(await serve(runtime, { docs: options.docs, coreCommands: ctx.coreCommands }));
    });
}

async function serve(runtime: Runtime, options: { docs: boolean; coreCommands: ProgramContext["coreCommands"] }): Promise<number> {
  const { config, logger } = runtime;
  const resources: { lock?: DataDirLock; usersvc?: Usersvc; control?: ControlServer; metricsServer?: { stop(): void }; stopGarbageGuard?: () => void } = {};
  const release = async (): Promise<void> => {
    resources.stopGarbageGuard?.();
    resources.control?.stop();
    resources.metricsServer?.stop();
    await resources.usersvc?.close();
    resources.lock?.release();
  };

  try {
    if (!config.databaseUrl) {
      const lock = tryLockDataDir(config.dataDir);
      if (!lock) {
        const holder = readLockHolder(config.dataDir);
        throw new OperationalError(`USERSVC_DATA_DIR: ${config.dataDir} is already in use by usersvc pid ${holder ?? "unknown"}`);
      }
      resources.lock = lock;
    }
    const usersvc = await openUsersvc(config, logger, { migrate: true, watchKeys: true, background: true }).catch(asOperational);
    resources.usersvc = usersvc;
    const core = await usersvc.core();
    const app = createApp(core, { docs: options.docs });
    resources.stopGarbageGuard = startGarbageGuard();
    if (typeof config.metrics === "number") {
      resources.metricsServer = serveMetricsOnPort(core.metrics, config.host, config.metrics, config.metricsToken);
    }
    try {
      app.listen({ hostname: config.host, port: config.port });
    } catch (error) {
      throw new OperationalError(`PORT: cannot listen on ${config.host}:${config.port} (${(error as Error).message})`);
    }
    const server = app.server!;
    if (resources.lock) {
      resources.control = startControlServer(config.dataDir, options.coreCommands, core, logger, reportError);
    }
    // Handlers first: a supervisor may send SIGTERM the moment it reads the "listening" line.
    const shutdown = nextShutdownSignal();
    const url = `http://${server.hostname}:${server.port}`;
    logger.info({ url, docs: options.docs ? `${url}/docs` : null, database: usersvc.dbKind }, "usersvc listening");

    const signal = await shutdown;
    logger.info({ signal }, "shutting down: draining in-flight requests");
    await server.stop(false);
    // Elysia runs onAfterResponse (the request log) in a setImmediate queued before stop()
    // resolved; one more turn lets those run, else the last drained requests go unlogged.
    await new Promise((resolve) => setImmediate(resolve));
    await release();
    logger.info("stopped");
    return 0;
  } catch (error) {
    await release().catch(() => {});
    throw error;
  }
}

function nextShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => () => {
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
      resolve(signal);
    };
    const onTerm = on("SIGTERM");
    const onInt = on("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
  });
}
