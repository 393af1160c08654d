/**
 * The adapter from a tfjs denoiser to the samplers' `predict(x, t, stage)` callback of
 * `samplers.ts`; the stage maths stays in `lib`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { StagePlan } from "../pyramid.ts";
import type { Predict } from "../samplers.ts";
import { framePositions } from "../temporal.ts";
import type { Denoiser } from "./denoiser.ts";

/**
 * Wraps a denoiser as a sampler callback: one forward pass per call, read back with
 * `await t.data()` (which works on every backend), no tensors left behind.
 *
 * @param model the denoiser
 * @param plan the plan the sampler runs (for each stage's frame positions)
 * @param options a class-conditional model's label per video, or one for all (the null class,
 *   `model.config.classes`, for the unconditional prediction)
 * @returns the callback
 */
export function modelPredict(
  model: Denoiser,
  plan: StagePlan,
  options: { labels?: number | ArrayLike<number> } = {},
): Predict {
  const { labels } = options;
  return async (x, t, stage) => {
    const positions = framePositions(plan.frames, stage.k, { layout: plan.temporal.layout });
    const out = tf.tidy(() => {
      const input = tf.tensor(
        x.data instanceof Float32Array ? x.data : Float32Array.from(x.data),
        [x.batch, x.frames, x.height, x.width, x.channels],
      );
      const perVideo = labels === undefined
        ? {}
        : { labels: typeof labels === "number" ? new Array(x.batch).fill(labels) : labels };
      return model.apply(input, {
        t: new Array(x.batch).fill(t),
        k: stage.k,
        positions,
        ...perVideo,
      });
    });
    const data = (await out.data()) as Float32Array;
    out.dispose();
    return data;
  };
}
