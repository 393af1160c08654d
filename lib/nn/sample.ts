/**
 * Sampling a trained model: the staged sampler driven by a denoiser, with sample 0's trajectory.
 *
 * @module
 */
import { toPixels } from "../data/mod.ts";
import {
  guidedPredict,
  type Predict,
  type PredictionKind,
  sampleStaged,
  type Solver,
  type StagePlan,
  type Trajectory,
  trajectoryRecorder,
} from "../mod.ts";
import type { Denoiser } from "./denoiser.ts";
import { modelPredict } from "./predict.ts";

/** Samples drawn by {@link drawSamples}. */
export interface Samples {
  /** Bytes 0–255, [count, frames, height, width]. */
  pixels: Uint8Array;
  /** Videos. */
  count: number;
  /** Wall-clock of the sampler, ms. */
  ms: number;
  /** The recorded trajectory of sample 0. */
  trajectory: Trajectory;
}

/**
 * Draws videos with the staged sampler and records sample 0's trajectory. A class-conditional
 * model draws `label` (by default the null class: unconditional), guided with scale `guidance`
 * (default 1: the conditional prediction itself; `guidedPredict`).
 *
 * @param model the denoiser (EMA weights)
 * @param options plan, prediction kind, count, seed, solver, which snapshots to keep, and the class
 *   and guidance scale of a class-conditional model
 * @returns the samples
 */
export async function drawSamples(model: Denoiser, options: {
  plan: StagePlan;
  prediction: PredictionKind;
  count: number;
  seed: number;
  solver?: Solver;
  keep?: "none" | "stage-ends" | "every-step";
  label?: number | readonly number[];
  guidance?: number;
}): Promise<Samples> {
  const { plan, prediction, count, seed } = options;
  const recorder = trajectoryRecorder(plan, { keep: options.keep ?? "stage-ends" });
  const t0 = performance.now();
  const out = await sampleStaged(plan, samplingPredict(model, plan, options), {
    prediction,
    solver: options.solver,
    start: {
      batch: count,
      height: model.config.height,
      width: model.config.width,
      channels: model.config.channels,
    },
    seed,
    ...recorder.hooks,
  });
  const ms = performance.now() - t0;
  recorder.finish(out);
  return { pixels: toPixels(out.data), count, ms, trajectory: recorder.trajectory };
}

/** The model as the sampler's callback: conditioned on a class and guided, where asked. */
function samplingPredict(
  model: Denoiser,
  plan: StagePlan,
  options: { label?: number | readonly number[]; guidance?: number },
): Predict {
  const { classes } = model.config;
  if (options.label === undefined && options.guidance === undefined) {
    return modelPredict(model, plan);
  }
  if (classes === 0) {
    throw new RangeError(
      "this model is not class-conditional (classes 0): give no label or guidance",
    );
  }
  const label = options.label ?? classes;
  for (const l of typeof label === "number" ? [label] : label) {
    if (!Number.isInteger(l) || l < 0 || l > classes) {
      throw new RangeError(
        `label must be an integer in [0, ${classes}] (${classes}: none); got ${l}`,
      );
    }
  }
  return guidedPredict(
    modelPredict(model, plan, { labels: label }),
    modelPredict(model, plan, { labels: classes }),
    options.guidance ?? 1,
  );
}
