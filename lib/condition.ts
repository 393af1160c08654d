/**
 * Conditioning, as pure functions: classifier-free guidance of a prediction, and given frames seen
 * at each stage's own frame rate (docs/conditioning.md derives both).
 *
 * **Guidance** (Ho & Salimans, 2022) combines a conditional prediction c and an unconditional one u
 * into u + w·(c − u) = (1 − w)·u + w·c. Its weights sum to 1, and at a fixed point x_t every
 * prediction kind is an affine function of the same pair (ε, x̃₀) (Eq. 11; `recoverPair`), so the
 * guided pair, and therefore the sample, is the same whichever kind's space the combination is
 * taken in. It is applied here to the model's own output kind; `tests/condition_test.ts` checks
 * that ε, velocity, x₀ and v guidance agree.
 *
 * **Given frames** are full-rate frames whose values are known. On stage k the network sees the
 * stage's frames D_k(x₀) (`downToStage`); a stage frame is given when the Down operator reads only
 * given frames for it (its one frame for the stride Down, both frames of its pair for the average
 * Down), so a given frame at a position the stage's grid skips is not visible there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { guide } from "./condition.ts";
 * const c = new Float64Array([1, 2]), u = new Float64Array([0, 1]);
 * assert.deepEqual(guide(c, u, 1), c); // scale 1 is the conditional prediction itself
 * assert.deepEqual(guide(c, u, 3), new Float64Array([3, 4])); // u + 3(c − u)
 * ```
 *
 * @module
 */
import { checkAllFinite, checkFinite, checkInteger } from "./checks.ts";
import type { Stage, StagePlan } from "./pyramid.ts";
import type { Predict } from "./samplers.ts";
import { downToStage, framePositions } from "./temporal.ts";
import { newData, type Video, video, type VideoData } from "./video.ts";

/**
 * Classifier-free guidance of one prediction: u + w·(c − u), elementwise. Scale 1 returns the
 * conditional prediction exactly, scale 0 the unconditional one.
 *
 * @param conditional c, the prediction given the condition
 * @param unconditional u, the prediction without it (same length)
 * @param scale w (finite; 1 to about 7 in practice)
 * @returns the guided prediction, in the same precision as `conditional`
 */
export function guide(conditional: VideoData, unconditional: VideoData, scale: number): VideoData {
  checkFinite("guidance scale", scale);
  if (conditional.length !== unconditional.length) {
    throw new RangeError(
      `conditional and unconditional predictions must have one length; got ${conditional.length} and ${unconditional.length}`,
    );
  }
  if (scale === 1) return conditional.slice();
  const out = newData(conditional, conditional.length);
  for (let i = 0; i < out.length; i++) {
    out[i] = unconditional[i] + scale * (conditional[i] - unconditional[i]);
  }
  return out;
}

/**
 * A sampler's `predict` that guides: both predictions at every call, combined by {@link guide}.
 * At scale 1 it returns the conditional prediction unchanged (the unconditional one is not
 * evaluated).
 *
 * @param conditional the predictor given the condition
 * @param unconditional the predictor without it (the null class, no frames)
 * @param scale w
 * @returns the guided predictor
 */
export function guidedPredict(
  conditional: Predict,
  unconditional: Predict,
  scale: number,
): Predict {
  checkFinite("guidance scale", scale);
  if (scale === 1) return conditional;
  return async (x: Video, t: number, stage: Stage) =>
    guide(await conditional(x, t, stage), await unconditional(x, t, stage), scale);
}

/** Given frames of one video: full-rate positions and their values (H·W·C each, in that order). */
export interface GivenFrames {
  /** Full-rate positions, distinct, in [0, F). */
  positions: readonly number[];
  /** The frames' values, positions.length × H·W·C. */
  values: ArrayLike<number>;
}

/** What the network sees of the given frames on one stage, at the stage's frame rate. */
export interface StageCondition {
  /** Per stage frame and slot (frame-major): 1 where given, 0 where not. */
  mask: number[];
  /** The given stage frames (zero where not given): one video of stage frames × slots frames. */
  frames: Video<Float64Array>;
}

/**
 * The given frames as stage k sees them: D_k applied to the given video, kept where D_k read only
 * given frames (the mask), zero elsewhere.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stageCondition } from "./condition.ts";
 * import { stagePlan } from "./pyramid.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 8, stages: 3 });
 * const given = { positions: [0, 7], values: [0.5, -0.5] }; // first and last frame, one pixel each
 * assert.deepEqual(stageCondition(given, { plan, stage: plan.stages[0] }).mask, [1, 0]); // k = 3: frames 0, 4
 * assert.deepEqual(stageCondition(given, { plan, stage: plan.stages[2] }).mask, [1, 0, 0, 0, 0, 0, 0, 1]);
 * ```
 *
 * With `slots` S > 1 the stage sees every given frame instead, folded into its own frame rate:
 * stage frame j covers the full-rate frames from its position up to the next stage frame's
 * (`framePositions`), and slot r of frame j holds the r-th of them (mask 1 where given). With
 * S ≥ 2^{k−1} nothing is lost at any stage: the coarsest stage sees a prefix's velocity and the last
 * keyframe (docs/conditioning.md §4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stageCondition } from "./condition.ts";
 * import { stagePlan } from "./pyramid.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 8, stages: 3 });
 * const given = { positions: [0, 7], values: [0.5, -0.5] };
 * // k = 3 has frames 0 and 4; frame 4 covers 4–7, so slot 3 holds frame 7.
 * const seen = stageCondition(given, { plan, stage: plan.stages[0], slots: 4 });
 * assert.deepEqual(seen.mask, [1, 0, 0, 0, 0, 0, 0, 1]);
 * assert.deepEqual([...seen.frames.data], [0.5, 0, 0, 0, 0, 0, 0, -0.5]);
 * ```
 *
 * @param given the given frames
 * @param options the plan, the stage, and the slots per stage frame (default 1: the stage's own
 *   frames only)
 * @returns the stage's mask and given frames
 */
export function stageCondition(
  given: GivenFrames,
  options: { plan: StagePlan; stage: Stage; slots?: number },
): StageCondition {
  const { plan, stage } = options, F = plan.frames;
  const slots = options.slots ?? 1;
  checkInteger("slots", slots, 1, 64);
  const positions = [...given.positions];
  positions.forEach((p, i) => checkInteger(`given.positions[${i}]`, p, 0, F - 1));
  if (new Set(positions).size !== positions.length) {
    throw new RangeError(`given.positions must be distinct; got [${positions}]`);
  }
  const perFrame = positions.length === 0 ? 1 : given.values.length / positions.length;
  if (!Number.isInteger(perFrame) || perFrame < 1) {
    throw new RangeError(
      `given.values must hold ${positions.length} frames of equal size; got ${given.values.length} values`,
    );
  }
  checkAllFinite("given.values", given.values);
  if (slots > 1) return stageWindows(given, positions, perFrame, { plan, stage, slots });
  const full = video<Float64Array>({ frames: F, height: perFrame }, "float64");
  const indicator = video<Float64Array>({ frames: F }, "float64");
  positions.forEach((p, i) => {
    indicator.data[p] = 1;
    for (let e = 0; e < perFrame; e++) full.data[p * perFrame + e] = given.values[i * perFrame + e];
  });
  const temporal = { layout: plan.temporal.layout, down: plan.temporal.down };
  const seen = downToStage(indicator, stage.k, temporal);
  const mask = Array.from(seen.data, (v) => (Math.abs(v - 1) < 1e-12 ? 1 : 0));
  const frames = downToStage(full, stage.k, temporal);
  mask.forEach((m, j) => {
    if (!m) frames.data.fill(0, j * perFrame, (j + 1) * perFrame);
  });
  return { mask, frames };
}

/** Every given frame folded into the stage's frame rate: stage frame j's window, slot by slot. */
function stageWindows(
  given: GivenFrames,
  positions: number[],
  perFrame: number,
  options: { plan: StagePlan; stage: Stage; slots: number },
): StageCondition {
  const { plan, stage, slots } = options, F = plan.frames;
  const starts = framePositions(F, stage.k, { layout: plan.temporal.layout });
  const mask = new Array<number>(starts.length * slots).fill(0);
  const frames = video<Float64Array>(
    { frames: starts.length * slots, height: perFrame },
    "float64",
  );
  starts.forEach((start, j) => {
    const end = j + 1 < starts.length ? starts[j + 1] : F;
    for (let r = 0; r < slots && start + r < end; r++) {
      const i = positions.indexOf(start + r);
      if (i < 0) continue;
      mask[j * slots + r] = 1;
      for (let e = 0; e < perFrame; e++) {
        frames.data[(j * slots + r) * perFrame + e] = given.values[i * perFrame + e];
      }
    }
  });
  return { mask, frames };
}

/** How training or sampling chooses given frames: the first frame (image-to-video), the first N
 * (prediction), or the first and the last (interpolation). */
export type GivenMode = "first-frame" | `prefix:${number}` | "keyframes";

/**
 * The full-rate positions a mode gives, for videos of F frames.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { givenPositions } from "./condition.ts";
 * assert.deepEqual(givenPositions("keyframes", 16), [0, 15]);
 * assert.deepEqual(givenPositions("prefix:4", 16), [0, 1, 2, 3]);
 * ```
 *
 * @param mode the mode
 * @param frames F
 * @returns the positions, ascending
 */
export function givenPositions(mode: GivenMode, frames: number): number[] {
  checkInteger("frames", frames, 2);
  if (mode === "first-frame") return [0];
  if (mode === "keyframes") return [0, frames - 1];
  const match = /^prefix:(\d+)$/.exec(String(mode));
  const n = match ? Number(match[1]) : NaN;
  if (!(n >= 1 && n < frames)) {
    throw new RangeError(
      `given mode must be first-frame, keyframes or prefix:N with 1 ≤ N < ${frames}; got ${
        JSON.stringify(mode)
      }`,
    );
  }
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * The given frames of a batch of videos, in the layout samplers and models take
 * (`given.values`): for each video in turn, its frames at `positions`, each `frameSize` values.
 * Video b of the result is video `b mod videos` of the input, so a few videos can condition many
 * samples.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { givenValues } from "./condition.ts";
 * // Two videos of 3 one-value frames: [0, 1, 2] and [10, 11, 12]; frames 0 and 2 of three samples.
 * const values = givenValues(Float32Array.of(0, 1, 2, 10, 11, 12), {
 *   frames: 3, frameSize: 1, positions: [0, 2], count: 3,
 * });
 * assert.deepEqual([...values], [0, 2, 10, 12, 0, 2]);
 * ```
 *
 * @param videos videos × frames × frameSize values
 * @param options frames per video, values per frame, the positions and how many samples
 * @returns count × positions.length × frameSize values
 */
export function givenValues(
  videos: ArrayLike<number>,
  options: { frames: number; frameSize: number; positions: readonly number[]; count: number },
): Float32Array {
  const { frames: F, frameSize: per, positions, count } = options;
  checkInteger("frames", F, 1);
  checkInteger("frameSize", per, 1);
  checkInteger("count", count, 1);
  const n = Math.floor(videos.length / (F * per));
  if (n < 1 || n * F * per !== videos.length) {
    throw new RangeError(
      `videos must hold whole videos of ${F} frames × ${per} values; got ${videos.length} values`,
    );
  }
  positions.forEach((p, i) => checkInteger(`positions[${i}]`, p, 0, F - 1));
  const out = new Float32Array(count * positions.length * per);
  for (let b = 0; b < count; b++) {
    const v = b % n;
    positions.forEach((p, i) => {
      const from = (v * F + p) * per, to = (b * positions.length + i) * per;
      for (let e = 0; e < per; e++) out[to + e] = videos[from + e];
    });
  }
  return out;
}
