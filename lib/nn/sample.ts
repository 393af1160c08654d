/**
 * Sampling a trained model: the staged sampler driven by a denoiser, with sample 0's trajectory.
 *
 * @module
 */
import { toPixels } from "../data/mod.ts";
import {
  type ContextGuidance,
  contextGuidedPredict,
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
 * (default 1: the conditional prediction itself; `guidedPredict`). `contextGuidance` guides each
 * frame toward its own video (`contextGuidedPredict`); it needs one label for the whole batch and
 * no given frames, since it mixes videos across the batch.
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
  given?: { positions: readonly number[]; values: Float32Array };
  contextGuidance?: ContextGuidance;
}): Promise<Samples> {
  const { plan, prediction, count, seed } = options;
  const context = options.contextGuidance;
  if (context && (Array.isArray(options.label) || options.given)) {
    throw new RangeError(
      "context guidance mixes the batch's videos: give one label for all videos and no given frames",
    );
  }
  const predict = context
    ? contextGuidedPredict(
      samplingPredict(model, plan, options),
      context,
      samplingPredict(model, plan, options),
    )
    : samplingPredict(model, plan, options);
  const recorder = trajectoryRecorder(plan, { keep: options.keep ?? "stage-ends" });
  const t0 = performance.now();
  const out = await sampleStaged(plan, predict, {
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

/**
 * The model as the sampler's callback: given frames and a class where asked, guided against the
 * prediction with neither (the null class, no frames) where the scale is not 1.
 */
function samplingPredict(
  model: Denoiser,
  plan: StagePlan,
  options: {
    label?: number | readonly number[];
    guidance?: number;
    given?: { positions: readonly number[]; values: Float32Array };
    prediction: PredictionKind;
  },
): Predict {
  const { prediction } = options;
  const { classes, frameCondition } = model.config;
  if (options.given && !frameCondition) {
    throw new RangeError("this model reads no given frames (frameCondition false); give none");
  }
  if (
    (options.label !== undefined || options.guidance !== undefined) && classes === 0 &&
    !options.given
  ) {
    throw new RangeError(
      "this model is not class-conditional (classes 0): give no label or guidance",
    );
  }
  const label = options.label ?? (classes > 0 ? classes : undefined);
  for (const l of label === undefined ? [] : typeof label === "number" ? [label] : label) {
    if (!Number.isInteger(l) || l < 0 || l > classes) {
      throw new RangeError(
        `label must be an integer in [0, ${classes}] (${classes}: none); got ${l}`,
      );
    }
  }
  const conditional = modelPredict(model, plan, {
    prediction,
    ...(label === undefined ? {} : { labels: label }),
    ...(options.given ? { given: options.given } : {}),
  });
  if ((options.guidance ?? 1) === 1) return conditional;
  const unconditional = modelPredict(model, plan, {
    prediction,
    ...(classes > 0 ? { labels: classes } : {}),
  });
  return guidedPredict(conditional, unconditional, options.guidance!);
}
