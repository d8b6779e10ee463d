import { Command } from "commander";
import { calibrateHashing } from "../../core/passwords/calibrate.ts";
import type { ProgramContext } from "../context.ts";
import { UsageError } from "../io.ts";

export function hashCommand(ctx: ProgramContext): Command {
  const calibrate = new Command("calibrate")
    .description("measure argon2id on this machine and print the cost settings whose hash takes about --target-ms")
    .option("--target-ms <ms>", "the time one hash (and so one login) may take", "250")
    .option("--memory-kib <kib>", "memory cost to start from (lowered if one pass is already too slow)", "65536")
    .option("--json", "print {memory_kib, time_cost, measured_ms} as JSON")
    .action(async (options: { targetMs: string; memoryKib: string; json?: boolean }) => {
      const target = Number(options.targetMs);
      const memory = Number(options.memoryKib);
      if (!Number.isFinite(target) || target < 1 || target > 60_000) throw new UsageError("--target-ms takes 1-60000");
      if (!Number.isInteger(memory) || memory < 8192 || memory > 4_194_304) throw new UsageError("--memory-kib takes 8192-4194304");
      ctx.io.stderr(`Measuring argon2id (target ${target} ms per hash)…`);
      const result = await calibrateHashing(target, memory);
      if (options.json) {
        ctx.io.stdout(JSON.stringify({ memory_kib: result.memoryKib, time_cost: result.timeCost, measured_ms: result.measuredMs }));
      }
      else {
        ctx.io.stdout(`USERSVC_HASH_MEMORY_KIB=${result.memoryKib}`);
        ctx.io.stdout(`USERSVC_HASH_TIME_COST=${result.timeCost}`);
        ctx.io.stderr(`One hash takes ${result.measuredMs} ms with these settings here; existing hashes are upgraded at each user's next login.`);
      }
      ctx.finish(0);
    });
  return new Command("hash").description("password hashing").addCommand(calibrate);
}
