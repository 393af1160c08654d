/**
 * Sampling a trained model: the staged sampler driven by a denoiser, with sample 0's trajectory.
 *
 * @module
 */
import { toPixels } from "../data/mod.ts";
import {
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
 * Draws videos with the staged sampler and records sample 0's trajectory.
 *
 * @param model the denoiser (EMA weights)
 * @param options plan, prediction kind, count, seed, solver and which snapshots to keep
 * @returns the samples
 */
export async function drawSamples(model: Denoiser, options: {
  plan: StagePlan;
  prediction: PredictionKind;
  count: number;
  seed: number;
  solver?: Solver;
  keep?: "none" | "stage-ends" | "every-step";
}): Promise<Samples> {
  const { plan, prediction, count, seed } = options;
  const recorder = trajectoryRecorder(plan, { keep: options.keep ?? "stage-ends" });
  const t0 = performance.now();
  const out = await sampleStaged(plan, modelPredict(model, plan), {
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
