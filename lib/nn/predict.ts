/**
 * The adapter from a tfjs denoiser to the samplers' `predict(x, t, stage)` callback of
 * `samplers.ts`; the stage maths stays in `lib`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Stage, StagePlan } from "../pyramid.ts";
import { stageCondition } from "../condition.ts";
import type { Predict } from "../samplers.ts";
import { type PredictionKind, recoverPair } from "../stagewise.ts";
import { framePositions } from "../temporal.ts";
import { type Denoiser, selfConditioned } from "./denoiser.ts";

/**
 * Wraps a denoiser as a sampler callback: one forward pass per call, read back with
 * `await t.data()` (which works on every backend), no tensors left behind. A self-conditioning
 * model is fed the x̃₀ of its previous call in the same stage, so use one callback per sampler run.
 *
 * @param model the denoiser
 * @param plan the plan the sampler runs (for each stage's frame positions)
 * @param options a class-conditional model's label per video, or one for all (the null class,
 *   `model.config.classes`, for the unconditional prediction); a frame-conditioned model's given
 *   frames (their full-rate positions and, per video, their values); the model's prediction kind
 *   (`predictionFor(form)`), which a self-conditioning model needs to recover x̃₀ for its next call
 * @returns the callback
 */
export function modelPredict(
  model: Denoiser,
  plan: StagePlan,
  options: {
    labels?: number | ArrayLike<number>;
    given?: { positions: readonly number[]; values: Float32Array };
    prediction?: PredictionKind;
  } = {},
): Predict {
  const { labels } = options;
  if (model.config.selfCondition.length && options.prediction === undefined) {
    throw new TypeError(
      "this model self-conditions: give modelPredict its prediction kind (predictionFor(form))",
    );
  }
  // A self-conditioning model reads the estimate x̃₀ of its previous call in the same stage (none
  // at a stage's first call; a call at a larger t than the last starts a new pass of the sampler).
  let previous: { stage: number; t: number; x0: Float32Array } | undefined;
  const seen = new Map<number, { frames: Float32Array; mask: Float32Array }>();
  const givenAt = (stage: Stage, batch: number) => {
    if (!options.given) return undefined;
    if (!seen.has(stage.index)) {
      seen.set(
        stage.index,
        stageGiven(options.given, plan, stage, batch, model.config.givenSlots),
      );
    }
    return seen.get(stage.index)!;
  };
  return async (x, t, stage) => {
    const positions = framePositions(plan.frames, stage.k, { layout: plan.temporal.layout });
    const out = tf.tidy(() => {
      const input = tf.tensor(
        x.data instanceof Float32Array ? x.data : Float32Array.from(x.data),
        [x.batch, x.frames, x.height, x.width, x.channels],
      );
      const given = givenAt(stage, x.batch);
      const perVideo = {
        ...(labels === undefined
          ? {}
          : { labels: typeof labels === "number" ? new Array(x.batch).fill(labels) : labels }),
        ...(given ? { given } : {}),
      };
      const estimate = previous?.stage === stage.index && t <= previous.t &&
          previous.x0.length === x.data.length
        ? { selfCondition: tf.tensor(previous.x0, input.shape) }
        : {};
      return model.apply(input, {
        t: new Array(x.batch).fill(t),
        k: stage.k,
        positions,
        ...perVideo,
        ...estimate,
      });
    });
    const data = (await out.data()) as Float32Array;
    out.dispose();
    if (selfConditioned(model.config, stage.k)) {
      const { x0 } = recoverPair(x, data, {
        prediction: options.prediction!,
        stage,
        t,
        schedule: plan.schedule,
      });
      previous = { stage: stage.index, t, x0: Float32Array.from(x0.data) };
    }
    return data;
  };
}

/** Every video's given frames as the stage sees them, stacked: [batch, stage frames, …] and mask. */
function stageGiven(
  given: { positions: readonly number[]; values: Float32Array },
  plan: StagePlan,
  stage: Stage,
  batch: number,
  slots: number,
): { frames: Float32Array; mask: Float32Array } {
  const per = given.values.length / (batch * given.positions.length);
  if (!Number.isInteger(per)) {
    throw new RangeError(
      `given values must hold ${batch} videos × ${given.positions.length} frames; got ${given.values.length} values`,
    );
  }
  const size = stage.frames * slots * per;
  const frames = new Float32Array(batch * size),
    mask = new Float32Array(batch * stage.frames * slots);
  const each = given.positions.length * per;
  for (let b = 0; b < batch; b++) {
    const one = stageCondition(
      { positions: given.positions, values: given.values.subarray(b * each, (b + 1) * each) },
      { plan, stage, slots },
    );
    frames.set(one.frames.data, b * size);
    mask.set(one.mask, b * stage.frames * slots);
  }
  return { frames, mask };
}
