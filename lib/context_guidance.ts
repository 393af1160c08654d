/**
 * Temporal context guidance: classifier-free guidance whose condition is a frame's own video.
 *
 * A video model's prediction for frame f at x_t reads both x_t,f and the other frames x_t,−f. The
 * same network, shown x_t,f among frames of _other_ videos at the same noise level (same marginal
 * law, no shared content), gives a prediction that uses the frame almost alone. Guidance then
 * moves the prediction away from the "alone" one, as classifier-free guidance moves away from the
 * unconditional one (Ho & Salimans, 2022):
 *
 *   p̂ = a + w·(c − a),    c = prediction in context,  a = prediction with unrelated neighbours.
 *
 * Read as scores, it samples from p(x_f)·p(x_−f | x_f)^w: w > 1 sharpens how strongly each frame
 * must agree with the others, which is the property an object that never vanishes needs. At a
 * fixed x_t every prediction kind is affine in the same (ε, x̃₀) pair (Eq. 11), so the combination
 * is the same whichever kind it is taken in (see `guide`).
 *
 * The unrelated neighbours come from the batch itself: {@link rotateFrames} puts frame f of video
 * (b + f) mod B into slot (b, f), so one extra network call on the rotated batch gives every frame's
 * "alone" prediction, read back by {@link unrotateFrames}. Two frames d apart then come from videos
 * d apart, so no two frames of one slot share a video while d < B (a batch at least as large as the
 * stage's frame count keeps every frame apart).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rotateFrames, unrotateFrames } from "./context_guidance.ts";
 * import { video } from "./video.ts";
 * const x = video({ batch: 3, frames: 2 }, Float32Array.from([0, 1, 10, 11, 20, 21]));
 * const r = rotateFrames(x);
 * assert.deepEqual([...r.data], [0, 11, 10, 21, 20, 1]); // slot (b, 1) holds video b + 1's frame 1
 * assert.deepEqual([...unrotateFrames(r).data], [...x.data]);
 * ```
 *
 * @module
 */
import { checkFinite, show } from "./checks.ts";
import { guide } from "./condition.ts";
import type { Stage } from "./pyramid.ts";
import type { Predict } from "./samplers.ts";
import { checkVideo, frameSize, newData, type Video, type VideoData, videoLike } from "./video.ts";

/** Moves frame f of video (b + shift·f) mod B into slot (b, f): each frame among other videos. */
function rotate(x: Video, data: VideoData, shift: 1 | -1): VideoData {
  const per = frameSize(x), B = x.batch, F = x.frames;
  const out = newData(data, data.length);
  for (let b = 0; b < B; b++) {
    for (let f = 0; f < F; f++) {
      const from = (((b + shift * f) % B) + B) % B;
      out.set(data.subarray((from * F + f) * per, (from * F + f + 1) * per), (b * F + f) * per);
    }
  }
  return out;
}

/**
 * The batch with frame f of video (b + f) mod B in slot (b, f): every frame keeps its position
 * and its noise level, but its neighbours come from other videos of the batch.
 *
 * @param x a batch of videos (B ≥ 2)
 * @returns the rotated batch, same shape
 */
export function rotateFrames<D extends VideoData>(x: Video<D>): Video<D> {
  checkVideo("x", x);
  if (x.batch < 2) {
    throw new RangeError(
      `context guidance needs a batch of at least 2 videos to find unrelated neighbours; got ${x.batch}`,
    );
  }
  return videoLike(x, rotate(x, x.data, 1) as D);
}

/**
 * The inverse of {@link rotateFrames}: slot (b, f) goes back to video (b + f) mod B, frame f.
 *
 * @param x a rotated batch (or a prediction made on one)
 * @returns the batch in the original order
 */
export function unrotateFrames<D extends VideoData>(x: Video<D>): Video<D> {
  checkVideo("x", x);
  return videoLike(x, rotate(x, x.data, -1) as D);
}

/** Options of {@link contextGuidedPredict}. */
export interface ContextGuidance {
  /** w: 1 is the model unchanged; above 1 the frames are pushed to agree. */
  scale: number;
  /** The stages (by k) guided; default every stage. */
  stages?: readonly number[];
  /** Guide only at global times t with lo ≤ t ≤ hi (default [0, 1]). */
  interval?: readonly [number, number];
}

/**
 * A sampler's `predict` with temporal context guidance: on the guided stages, the prediction in
 * context c and the prediction with unrelated neighbours a (on the rotated batch) combine into
 * a + w·(c − a). Other stages, and every stage at scale 1, call the model once as before.
 *
 * The model must treat every video of the batch alike (no per-video label or given frames), since
 * the rotated batch mixes videos across slots. A model that keeps state between calls (a
 * self-conditioning one reads its previous estimate) needs a second instance for the rotated
 * batch: `alone`.
 *
 * @param predict the model
 * @param options scale w, the guided stages and the guided interval of t
 * @param alone the model for the rotated batch (default `predict` itself)
 * @returns the guided predictor
 */
export function contextGuidedPredict(
  predict: Predict,
  options: ContextGuidance,
  alone: Predict = predict,
): Predict {
  checkFinite("context guidance scale", options?.scale);
  const stages = options.stages;
  if (stages !== undefined && !(Array.isArray(stages) && stages.every(Number.isInteger))) {
    throw new TypeError(`context guidance stages must be stage numbers k; got ${show(stages)}`);
  }
  const interval = options.interval;
  if (
    interval !== undefined &&
    !(Array.isArray(interval) && interval.length === 2 && interval[0] >= 0 &&
      interval[0] <= interval[1] && interval[1] <= 1)
  ) {
    throw new RangeError(
      `context guidance interval must be [lo, hi] with 0 ≤ lo ≤ hi ≤ 1; got ${show(interval)}`,
    );
  }
  if (options.scale === 1) return predict;
  return async (x: Video, t: number, stage: Stage) => {
    const context = await predict(x, t, stage);
    if (stages !== undefined && !stages.includes(stage.k)) return context;
    const [lo, hi] = interval ?? [0, 1];
    if (t < lo || t > hi) return context;
    const rotated = rotateFrames(x);
    const a = unrotateFrames(videoLike(x, await alone(rotated, t, stage)));
    return guide(context, a.data, options.scale);
  };
}
