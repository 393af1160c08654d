/**
 * Inference: staged sampling with K = 2, 3, 4 and three step splits against vanilla sampling at
 * the same total steps, on train-small's network, interleaved round by round (medians).
 *
 * @module
 */
import { createDenoiser, modelPredict, scheduleFor, trainSmallModel } from "../../lib/nn/mod.ts";
import { createRng, sampleStaged, splitSteps, type StagePlan, stagePlan } from "../../lib/mod.ts";
import { median, type Progress } from "./util.ts";

/** Settings of the inference part. */
export interface InferenceSettings {
  /** Videos per sampling call. */
  batch: number;
  /** Total steps to compare at. */
  totals: number[];
  /** Timed rounds (each runs every configuration once). */
  rounds: number;
}

/** One measured configuration. */
export interface InferenceRow {
  /** Stages (1 = vanilla). */
  K: number;
  /** The step split's weights, coarsest stage first ("–" for vanilla). */
  split: string;
  /** Total steps. */
  total: number;
  /** Steps per stage, coarsest first. */
  steps: number[];
  /** Every round's wall-clock, ms. */
  ms: number[];
  /** Median, ms. */
  median: number;
  /** Vanilla's median at the same total over this one's. */
  speedup: number;
  /** The plan's bound for this network: vanilla's denoiser FLOPs over the staged plan's. */
  bound: number;
}

/** The splits measured for K stages: uniform, coarse-heavy, fine-heavy. */
export function splitsFor(K: number): number[][] {
  if (K === 1) return [[1]];
  const uniform = Array(K).fill(1);
  return [uniform, [2, ...uniform.slice(1)], [...uniform.slice(1), 2]];
}

/**
 * Runs the inference part.
 *
 * @param s settings
 * @param progress progress printer
 * @returns one row per configuration
 */
export async function runInference(
  s: InferenceSettings,
  progress: Progress,
): Promise<InferenceRow[]> {
  const config = trainSmallModel();
  const model = createDenoiser(config, createRng(3));
  const schedule = scheduleFor("flow-matching");
  const F = 16;
  const work = (plan: StagePlan) =>
    plan.stages.reduce((a, st) => a + st.steps * st.frames * model.flopsPerFrame(st.frames), 0);
  const configs: { K: number; split: number[]; total: number; plan: StagePlan }[] = [];
  for (const total of s.totals) {
    for (const K of [1, 2, 3, 4]) {
      for (const split of splitsFor(K)) {
        const plan = stagePlan({
          schedule,
          frames: F,
          stages: K,
          steps: K === 1 ? total : splitSteps(total, split),
        });
        configs.push({ K, split, total, plan });
      }
    }
  }
  const draw = (plan: StagePlan) =>
    sampleStaged(plan, modelPredict(model, plan), {
      prediction: "stage-velocity",
      start: { batch: s.batch, height: config.height, width: config.width },
      seed: 1,
    });
  for (const c of configs) await draw(c.plan); // warm-up: kernels and shapes
  const times = configs.map(() => [] as number[]);
  for (let r = 0; r < s.rounds; r++) {
    for (const [i, c] of configs.entries()) {
      const t0 = performance.now();
      await draw(c.plan);
      times[i].push(performance.now() - t0);
    }
    progress(`inference round ${r + 1}/${s.rounds}`);
  }
  const rows = configs.map((c, i) => ({ ...c, ms: times[i], median: median(times[i]) }));
  return rows.map((row) => {
    const vanilla = rows.find((v) => v.K === 1 && v.total === row.total)!;
    return {
      K: row.K,
      split: row.K === 1 ? "–" : row.split.join("-"),
      total: row.total,
      steps: row.plan.stages.map((st) => st.steps),
      ms: row.ms.map((v) => Number(v.toFixed(2))),
      median: row.median,
      speedup: vanilla.median / row.median,
      bound: work(vanilla.plan) / work(row.plan),
    };
  });
}
