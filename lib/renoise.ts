/**
 * The stage transition: upsample, rescale and add corrective anti-correlated noise
 * (TPDiff Eqs. 14–16 as corrected in tpdiff-math.md §1.9).
 *
 * Let e be the end of the current stage and s the start of the next. Nearest upsampling copies each
 * coarse element into a group of r fine elements, so Up(x̂_e) has covariance σ_e² 11ᵀ inside a group.
 * The next stage's start must have law N(γ_s U x₀, σ_s² I), which gives
 *
 *   x̂_s = c·Up(x̂_e) + w,   c = γ_s / γ_e,   Cov(w) = σ_s² I − c² σ_e² 11ᵀ (per group).
 *
 * With κ = c²σ_e² and z ~ N(0, I_r) per group, w = σ_s (z − β z̄ 1) with β = 1 − √(1 − rκ/σ_s²)
 * has exactly that covariance. This needs SNR_s ≤ SNR_e / r; at equality (the corrected stage
 * starts of {@link stagePlan}) β = 1, the noise sums to zero in every group, and for pairs it is
 * α·(u, −u) with α = σ_s/√2 (Eq. 16 with ρ = −1). Singleton frames (keep-first layout) get the
 * same formula with r = 1. r = 4 with 2×2 spatial groups is Pyramid Flow's case (ρ = −1/3).
 *
 * The paper prints c = √2γ_s/(σ_s + √2γ_s) (Eq. 15); that is γ_e itself, not the ratio, and fails
 * moment matching. It is kept only as `coefficient: "printed-eq15"` for negative tests.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rectifiedFlow } from "./schedule.ts";
 * import { transitionCoefficients } from "./renoise.ts";
 * const t = transitionCoefficients(rectifiedFlow(), { from: 1 / 3, to: Math.SQRT2 - 1 });
 * assert.deepEqual([t.c.toFixed(8), t.alpha.toFixed(8)], ["0.87867966", "0.29289322"]);
 * ```
 *
 * @module
 */

import { checkAllFinite, checkFinite, checkInteger, checkOneOf } from "./checks.ts";
import type { Schedule } from "./schedule.ts";
import { checkLayout, type FrameLayout, temporalUp, upGroups } from "./temporal.ts";
import { checkVideo, frameSize, newData, Rng, type Video, type VideoData } from "./video.ts";

/** Which mean coefficient a transition uses. */
export type TransitionCoefficient = "corrected" | "printed-eq15";

/** Coefficients of one transition from end time e to start time s. */
export interface TransitionCoefficients {
  /** e: the end of the stage being left. */
  from: number;
  /** s: the start of the next stage (noisier). */
  to: number;
  /** r: copies per group. */
  groupSize: number;
  /** c: the mean coefficient (γ_s/γ_e when corrected). */
  c: number;
  /** α = σ_s √((r − 1)/r): the corrective noise scale at equality (σ_s/√2 for pairs). */
  alpha: number;
  /** κ = c²σ_e²: the within-group covariance that Up(x̂_e) brings and the noise must cancel. */
  kappa: number;
  /** σ_s. */
  sigmaTo: number;
}

/** Options of {@link transitionCoefficients}. */
export interface TransitionOptions {
  /** e, the end time of the stage being left. */
  from: number;
  /** s, the start time of the next stage; must be noisier than `from`. */
  to: number;
  /** r, copies per group (2 temporal, 4 spatial 2×2); default 2. */
  groupSize?: number;
  /** `"corrected"` (default) or the paper's `"printed-eq15"` (wrong; negative tests only). */
  coefficient?: TransitionCoefficient;
}

/**
 * The transition coefficients c, α and κ (tpdiff-math.md §1.9). Throws when s is not noisy enough
 * for groups of r, i.e. SNR_s > SNR_e / r.
 *
 * @param schedule the schedule
 * @param options from e, to s, group size r and the coefficient variant
 */
export function transitionCoefficients(
  schedule: Schedule,
  options: TransitionOptions,
): TransitionCoefficients {
  const e = checkFinite("from (end time e)", options.from, 0, 1);
  const s = checkFinite("to (start time s)", options.to, 0, 1);
  const r = checkInteger("groupSize", options.groupSize ?? 2, 1);
  const variant = checkOneOf(
    "coefficient",
    options.coefficient ?? "corrected",
    [
      "corrected",
      "printed-eq15",
    ] as const,
  );
  if (!(s > e)) {
    throw new RangeError(
      `a transition must go to a noisier time: to = ${s} must exceed from = ${e}`,
    );
  }
  const gs = schedule.gamma(s), ss = schedule.sigma(s);
  const ge = schedule.gamma(e), se = schedule.sigma(e);
  const c = gs / ge, kappa = c * c * se * se;
  if (r * kappa > ss * ss * (1 + 1e-9)) {
    throw new RangeError(
      `the transition from t = ${e} to t = ${s} adds too little noise for groups of ${r}: ` +
        `it needs SNR(s) <= SNR(e) / ${r}; start at correctedStart(schedule, ${e}, ` +
        `{ groupSize: ${r} }) or later`,
    );
  }
  return {
    from: e,
    to: s,
    groupSize: r,
    c: variant === "corrected" ? c : printedEq15Coefficient(schedule, s),
    alpha: ss * Math.sqrt((r - 1) / r),
    kappa,
    sigmaTo: ss,
  };
}

/** The paper's printed Eq. 15 mean coefficient √2γ_s/(σ_s + √2γ_s) (it equals γ_e; wrong). */
export function printedEq15Coefficient(schedule: Schedule, to: number): number {
  const gs = schedule.gamma(to), ss = schedule.sigma(to);
  return (Math.SQRT2 * gs) / (ss + Math.SQRT2 * gs);
}

/** Options of {@link renoise}. */
export interface RenoiseOptions extends TransitionOptions {
  /** The schedule. */
  schedule: Schedule;
  /**
   * Standard normal draws z, one per fine element (deterministic), or a generator to draw them.
   */
  noise: Rng | VideoData;
  /** `"time"` (default): temporal ×2 with the layout's groups; `"space"`: 2×2 spatial, r = 4. */
  axis?: "time" | "space";
  /** Frame layout for the temporal axis (default `"plain"`). */
  layout?: FrameLayout;
}

/**
 * Renoises the end of a stage into the start of the next: x̂_s = c·Up(x̂_e) + w with group noise
 * w = σ_s (z − β z̄ 1) (see the module doc). Nothing is random beyond `noise`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renoise } from "./renoise.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * import { createRng, video } from "./video.ts";
 * const end = video({ frames: 2 }, new Float64Array([0.3, -0.1]));
 * const start = renoise(end, { schedule: rectifiedFlow(), from: 0.5, to: 2 - Math.SQRT2, noise: createRng(1) });
 * assert.equal(start.frames, 4); // upsampled ×2 along time, then renoised
 * ```
 *
 * @param x x̂_e, the end point of the coarser stage
 * @param options schedule, from, to, noise, axis, layout, coefficient
 * @returns x̂_s at the finer resolution
 */
export function renoise<D extends VideoData>(x: Video<D>, options: RenoiseOptions): Video<D> {
  const axis = checkOneOf("axis", options.axis ?? "time", ["time", "space"] as const);
  const layout = checkLayout(options.layout);
  const groupSize = axis === "space" ? 4 : (options.groupSize ?? 2);
  if (axis === "time" && groupSize !== 2) {
    throw new RangeError(`a temporal ×2 transition has groups of 2; got groupSize ${groupSize}`);
  }
  const coef = transitionCoefficients(options.schedule, { ...options, groupSize });
  const fine = axis === "time" ? temporalUp(x, { layout }) : spatialUpNearest(x);
  const z = drawNoise(options.noise, fine.data.length);
  const out = fine.data;
  for (let i = 0; i < out.length; i++) out[i] *= coef.c;
  const sigma = coef.sigmaTo;
  // β depends only on the group size r (1, 2 or 4). At equality rκ/σ_s² = 1 up to rounding, and
  // √ would turn a 1e-16 residue into 1e-8: snap it so that the noise is exactly zero-sum there.
  const betas = [0, 1, 2, 3, 4].map((r) => {
    const slack = 1 - (r * coef.kappa) / (sigma * sigma);
    return slack < 1e-12 ? 1 : 1 - Math.sqrt(slack);
  });
  const addGroup = (members: number[]) => {
    const r = members.length, beta = betas[r];
    let mean = 0;
    for (const m of members) mean += z[m];
    mean /= r;
    for (const m of members) out[m] += sigma * (z[m] - beta * mean);
  };
  forEachGroup(x, axis, layout, addGroup);
  return fine;
}

function drawNoise(noise: Rng | VideoData, length: number): VideoData {
  if (noise instanceof Rng) return noise.fillNormal(new Float64Array(length));
  if (!(noise instanceof Float32Array || noise instanceof Float64Array)) {
    throw new TypeError("noise must be an Rng or a Float32Array/Float64Array of N(0, 1) draws");
  }
  if (noise.length !== length) {
    throw new RangeError(
      `noise must hold one draw per upsampled element (${length}); got ${noise.length}`,
    );
  }
  checkAllFinite("noise", noise);
  return noise;
}

/** Calls `visit` with the fine element indices of every group of the upsampled video. */
function forEachGroup(
  coarse: Video,
  axis: "time" | "space",
  layout: FrameLayout,
  visit: (members: number[]) => void,
): void {
  const n = frameSize(coarse);
  if (axis === "time") {
    const groups = upGroups(coarse.frames, layout);
    const fineFrames = groups.reduce((a, g) => a + g.length, 0);
    for (let b = 0; b < coarse.batch; b++) {
      for (const group of groups) {
        for (let i = 0; i < n; i++) visit(group.map((f) => (b * fineFrames + f) * n + i));
      }
    }
    return;
  }
  const { height: h, width: w, channels: ch } = coarse;
  for (let bf = 0; bf < coarse.batch * coarse.frames; bf++) {
    const base = bf * 4 * n;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < ch; c++) {
          const at = (yy: number, xx: number) => base + (yy * 2 * w + xx) * ch + c;
          visit([
            at(2 * y, 2 * x),
            at(2 * y, 2 * x + 1),
            at(2 * y + 1, 2 * x),
            at(2 * y + 1, 2 * x + 1),
          ]);
        }
      }
    }
  }
}

/**
 * Nearest 2×2 spatial upsampling (Pyramid Flow's `Up` for its r = 4 transition).
 *
 * @param x the video
 * @returns the video at twice the height and width
 */
export function spatialUpNearest<D extends VideoData>(x: Video<D>): Video<D> {
  checkVideo("x", x);
  const { height: h, width: w, channels: ch } = x;
  const out = newData(x.data, x.data.length * 4);
  for (let bf = 0; bf < x.batch * x.frames; bf++) {
    for (let y = 0; y < 2 * h; y++) {
      for (let xx = 0; xx < 2 * w; xx++) {
        const src = ((bf * h + (y >> 1)) * w + (xx >> 1)) * ch;
        const dst = ((bf * 2 * h + y) * 2 * w + xx) * ch;
        for (let c = 0; c < ch; c++) out[dst + c] = x.data[src + c];
      }
    }
  }
  return { ...x, height: 2 * h, width: 2 * w, data: out };
}
