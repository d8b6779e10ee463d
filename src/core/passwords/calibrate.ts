/**
 * Finds argon2id costs for this machine: the largest time cost (passes)
 * whose hash takes at most the target at the given memory, lowering memory
 * when even one pass is too slow.
 */
import type { HashCost } from "./hasher.ts";

export interface Calibration extends HashCost {
  measuredMs: number;
}

const MIN_MEMORY_KIB = 8192;
const MAX_TIME_COST = 20;

export async function calibrateHashing(targetMs: number, memoryKib: number): Promise<Calibration> {
  let memory = memoryKib;
  for (;;) {
    let best: Calibration | null = null;
    for (let timeCost = 1; timeCost <= MAX_TIME_COST; timeCost++) {
      const ms = await medianHashMs({ memoryKib: memory, timeCost });
      if (ms > targetMs) break;
      best = { memoryKib: memory, timeCost, measuredMs: ms };
    }
    if (best) return best;
    if (memory <= MIN_MEMORY_KIB) return { memoryKib: memory, timeCost: 1, measuredMs: await medianHashMs({ memoryKib: memory, timeCost: 1 }) };
    memory = Math.max(MIN_MEMORY_KIB, Math.floor(memory / 2));
  }
}

async function medianHashMs(cost: HashCost): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    await Bun.password.hash("calibration password", { algorithm: "argon2id", memoryCost: cost.memoryKib, timeCost: cost.timeCost });
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return Math.round(samples[1]! * 10) / 10;
}
