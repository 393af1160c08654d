/**
 * The partitioned probability-flow ODE of stage-wise diffusion (TPDiff §3.3–3.4;
 * tpdiff-math.md §1.4–§1.7).
 *
 * Inside stage k the path runs from the start point x̂_s = γ_s U_k(x₀) + σ_s ε (Eq. 7, corrected
 * indexing) to the end point x̂_e = γ_e D_k(x₀) + σ_e ε (Eq. 8). Treating ε as constant on the stage
 * (Eq. 10) makes the stage path a vanilla path with its own "data" x̃₀,k and "noise" ε_k, the
 * solution of the 2×2 system
 *
 *   γ_s x̃₀,k + σ_s ε_k = x̂_s,   γ_e x̃₀,k + σ_e ε_k = x̂_e,
 *
 * so that x_t = γ_t x̃₀,k + σ_t ε_k for every t in [e_k, s_k]. Every training target is a fixed
 * combination a·x̃₀,k + b·ε_k ({@link predictionCoefficients}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRng, gaussianVideo, maxAbsDiff } from "./video.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * import { stageByIndex, stagePlan } from "./pyramid.ts";
 * import { stageEndpoints, stageNoise, solveStagePair, stagePoint } from "./stagewise.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 8, stages: 3 });
 * const rng = createRng(0);
 * const x0 = gaussianVideo({ frames: 8 }, rng, "float64");
 * const stage = stageByIndex(plan, 2);
 * const noise = stageNoise(gaussianVideo({ frames: 8 }, rng, "float64"), { plan, stage });
 * const endpoints = stageEndpoints(x0, noise, { plan, stage });
 * const pair = solveStagePair(endpoints, { stage, schedule: plan.schedule });
 * const back = stagePoint(pair, { t: stage.end, schedule: plan.schedule });
 * assert.ok(maxAbsDiff(back, endpoints.end) < 1e-12); // the path ends where it should
 * ```
 *
 * @module
 */

import { checkAllFinite, checkFinite, checkOneOf, show } from "./checks.ts";
import type { Schedule } from "./schedule.ts";
import type { Stage, StagePlan } from "./pyramid.ts";
import { axpby } from "./linear.ts";
import { downToStage, upFromCoarser } from "./temporal.ts";
import {
  checkSameShape,
  checkVideo,
  combine,
  describeShape,
  newData,
  type Rng,
  type Video,
  type VideoData,
  videoLike,
} from "./video.ts";

/**
 * What a model predicts, and so what it is trained on:
 * - `"velocity"`: dx_t/dt in global time, γ̇_t x̃₀,k + σ̇_t ε_k;
 * - `"stage-velocity"`: dx_t/dt′ in the stage's local time t′ = (t − e_k)/(s_k − e_k), which for
 *   flow matching is Eq. 13's x̂_s − x̂_e;
 * - `"epsilon"`: ε_k (Eq. 11, the DDIM target);
 * - `"x0"`: x̃₀,k;
 * - `"v"`: γ_t ε_k − σ_t x̃₀,k.
 */
export type PredictionKind = "velocity" | "stage-velocity" | "epsilon" | "x0" | "v";

/** All prediction kinds, for validation and menus. */
export const PREDICTION_KINDS: readonly PredictionKind[] = [
  "velocity",
  "stage-velocity",
  "epsilon",
  "x0",
  "v",
];

/** A stage's start and end points. */
export interface StageEndpoints<D extends VideoData = VideoData> {
  /** x̂_{s_k} = γ_s U_k(x₀) + σ_s ε. */
  start: Video<D>;
  /** x̂_{e_k} = γ_e D_k(x₀) + σ_e ε. */
  end: Video<D>;
}

/** The stage path's own data and noise: x_t = γ_t·x0 + σ_t·epsilon on the whole stage. */
export interface StagePair<D extends VideoData = VideoData> {
  /** ε_k (Eq. 11). */
  epsilon: Video<D>;
  /** x̃₀,k; it overshoots D_k(x₀) by ν_s/(ν_s − ν_e)·Δ_k. */
  x0: Video<D>;
}

/** Which stage of which plan (the options of the functions that need the temporal operators). */
export interface PlanStage {
  /** The plan: schedule, frame count, layout and Down method. */
  plan: StagePlan;
  /** One of `plan.stages`. */
  stage: Stage;
}

/** A time on a stage path: the stage interval, the global time t in [e_k, s_k] and the schedule. */
export interface StageTime {
  /** The stage, or any interval `{ start, end }` with start > end. */
  stage: Pick<Stage, "start" | "end">;
  /** The global time t. */
  t: number;
  /** The noise schedule. */
  schedule: Schedule;
}

/**
 * The stage-k noise from full-rate noise by the stage's own temporal operator (D_k, with the
 * √2-per-level scaling for the average Down), so that it stays exactly N(0, I) (tpdiff-math.md §1.8).
 *
 * @param noise full-rate noise (F frames)
 * @param options the plan (whose layout and Down method apply) and the stage
 */
export function stageNoise<D extends VideoData>(noise: Video<D>, options: PlanStage): Video<D> {
  const { plan, stage } = options;
  checkFullRate("noise", noise, plan);
  return downToStage(noise, stage.k, { ...plan.temporal, noise: true });
}

function checkFullRate(name: string, x: Video, plan: StagePlan): void {
  checkVideo(name, x);
  if (x.frames !== plan.frames) {
    throw new RangeError(
      `${name} must be a full-rate video of ${plan.frames} frames; got ${x.frames} (${
        describeShape(x)
      })`,
    );
  }
}

function checkStageNoise(noise: Video, x0: Video, stage: Stage): void {
  checkVideo("noise", noise);
  const expected = { ...x0, frames: stage.frames };
  checkSameShape(`stage-${stage.k} noise (${stage.frames} frames)`, expected, "noise", noise);
}

/** Validates (x₀, stage noise) and returns the stage's clean signals D_k(x₀) and U_k(x₀). */
function stageSignals<D extends VideoData>(
  x0: Video<D>,
  noise: Video,
  { plan, stage }: PlanStage,
): { d: Video<D>; u: Video<D> } {
  checkFullRate("x0", x0, plan);
  checkStageNoise(noise, x0, stage);
  return {
    d: downToStage(x0, stage.k, plan.temporal),
    u: upFromCoarser(x0, stage.k, { ...plan.temporal, stages: plan.stageCount }),
  };
}

/**
 * Stage endpoints from clean data and stage noise (TPDiff Eqs. 7–8 in the corrected indexing of
 * tpdiff-math.md §1.4): x̂_s = γ_s U_k(x₀) + σ_s ε, x̂_e = γ_e D_k(x₀) + σ_e ε, with the same ε.
 *
 * @param x0 full-rate clean videos
 * @param noise stage-rate noise (F_k frames), e.g. from {@link stageNoise}
 * @param options the plan and the stage
 */
export function stageEndpoints<D extends VideoData>(
  x0: Video<D>,
  noise: Video,
  options: PlanStage,
): StageEndpoints<D> {
  const { d, u } = stageSignals(x0, noise, options);
  const { plan: { schedule }, stage } = options;
  return {
    start: axpby(schedule.gamma(stage.start), u, schedule.sigma(stage.start), noise),
    end: axpby(schedule.gamma(stage.end), d, schedule.sigma(stage.end), noise),
  };
}

/**
 * Solves the 2×2 system of the stage path (Eq. 11 and its x̃₀ companion):
 * ε_k = (γ_s x̂_e − γ_e x̂_s)/(γ_s σ_e − γ_e σ_s), x̃₀,k = (σ_e x̂_s − σ_s x̂_e)/(γ_s σ_e − γ_e σ_s).
 *
 * @param endpoints x̂_{s_k} and x̂_{e_k}
 * @param options the stage (its start and end times) and the schedule
 */
export function solveStagePair<D extends VideoData>(
  endpoints: StageEndpoints<D>,
  options: Omit<StageTime, "t">,
): StagePair<D> {
  const { start, end } = endpoints ?? {};
  const { stage, schedule } = options;
  checkVideo("start", start);
  checkVideo("end", end);
  checkSameShape("start", start, "end", end);
  const s = schedule.at(stage.start), e = schedule.at(stage.end);
  const det = s.gamma * e.sigma - e.gamma * s.sigma;
  if (!(Math.abs(det) > 0)) {
    throw new RangeError(
      `the stage interval [${stage.end}, ${stage.start}] is degenerate: γ_s σ_e − γ_e σ_s = ${det}`,
    );
  }
  return {
    epsilon: axpby(-e.gamma / det, start, s.gamma / det, end),
    x0: axpby(e.sigma / det, start, -s.sigma / det, end),
  };
}

/**
 * The closed forms of the stage pair in terms of (x₀, ε) (tpdiff-math.md §1.5):
 * ε_k = ε − Δ_k/(ν_s − ν_e) and x̃₀,k = U_k + ν_s/(ν_s − ν_e)·Δ_k.
 *
 * @param x0 full-rate clean videos
 * @param noise stage-rate noise
 * @param options the plan and the stage
 */
export function stagePairClosedForm<D extends VideoData>(
  x0: Video<D>,
  noise: Video,
  options: PlanStage,
): StagePair<D> {
  const { d, u } = stageSignals(x0, noise, options);
  const { plan: { schedule }, stage } = options;
  const nuS = schedule.nu(stage.start), nuE = schedule.nu(stage.end);
  const detail = axpby(1, d, -1, u);
  // ν_s = ∞ (γ_s = 0) only happens for the first stage, where Δ_K = 0; take the limits.
  const inv = nuS === Infinity ? 0 : 1 / (nuS - nuE);
  const overshoot = nuS === Infinity ? 1 : nuS / (nuS - nuE);
  return {
    epsilon: axpby(-inv, detail, 1, noise),
    x0: axpby(1, u, overshoot, detail),
  };
}

/**
 * The point of the stage path at time t (Eq. 10): x_t = γ_t x̃₀,k + σ_t ε_k.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stagePlan } from "./pyramid.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * import { solveStagePair, stageEndpoints, stagePoint } from "./stagewise.ts";
 * import { maxAbsDiff, video } from "./video.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 4, stages: 2 });
 * const stage = plan.stages[1], schedule = plan.schedule; // k = 1, full rate
 * const x0 = video({ frames: 4 }, new Float64Array([0, 1, 2, 3]));
 * const eps = video({ frames: 4 }, new Float64Array([0.5, -0.5, 1, -1]));
 * const ends = stageEndpoints(x0, eps, { plan, stage });
 * const pair = solveStagePair(ends, { stage, schedule });
 * assert.ok(maxAbsDiff(stagePoint(pair, { t: stage.start, schedule }), ends.start) < 1e-12);
 * assert.ok(maxAbsDiff(stagePoint(pair, { t: stage.end, schedule }), ends.end) < 1e-12);
 * ```
 *
 * @param pair the stage pair
 * @param options t in [e_k, s_k] and the schedule
 */
export function stagePoint<D extends VideoData>(
  pair: StagePair<D>,
  options: Omit<StageTime, "stage">,
): Video<D> {
  const { t, schedule } = options;
  return combine(schedule.gamma(t), pair.x0, schedule.sigma(t), pair.epsilon);
}

/**
 * The weight w_t = (ν_s − ν_t)/(ν_s − ν_e) ∈ [0, 1] with which the clean component moves from
 * U_k x₀ (at s_k) to D_k x₀ (at e_k): x_t | x₀ ~ N(γ_t (U_k x₀ + w_t Δ_k x₀), σ_t² I), the vanilla
 * noise level at every t (tpdiff-math.md §1.5).
 */
export function stageWeight(options: StageTime): number {
  const { stage, t, schedule } = options;
  checkInStage(stage, t);
  const nuS = schedule.nu(stage.start), nuE = schedule.nu(stage.end), nuT = schedule.nu(t);
  if (nuS === Infinity) return t === stage.start ? 0 : 1;
  return (nuS - nuT) / (nuS - nuE);
}

function checkInStage(stage: Pick<Stage, "start" | "end">, t: number): void {
  checkFinite("t", t);
  if (t < stage.end || t > stage.start) {
    throw new RangeError(
      `t must lie in the stage interval [${stage.end}, ${stage.start}]; got ${t}`,
    );
  }
}

/**
 * The coefficients (a, b) with which a prediction kind is a·x̃₀,k + b·ε_k at time t
 * (tpdiff-math.md §1.6): epsilon (0, 1); x0 (1, 0); v (−σ_t, γ_t); velocity (γ̇_t, σ̇_t);
 * stage-velocity (s_k − e_k)·(γ̇_t, σ̇_t).
 *
 * @param prediction the prediction kind
 * @param options the stage (used by stage-velocity), the time and the schedule
 */
export function predictionCoefficients(
  prediction: PredictionKind,
  options: StageTime,
): { a: number; b: number } {
  const { stage, t, schedule } = options;
  checkOneOf("prediction", prediction, PREDICTION_KINDS);
  const c = schedule.at(t);
  switch (prediction) {
    case "epsilon":
      return { a: 0, b: 1 };
    case "x0":
      return { a: 1, b: 0 };
    case "v":
      return { a: -c.sigma, b: c.gamma };
    case "velocity":
      return { a: c.dGamma, b: c.dSigma };
    case "stage-velocity": {
      const length = stage.start - stage.end;
      return { a: length * c.dGamma, b: length * c.dSigma };
    }
  }
}

/**
 * The training target of a stage pair at time t (§1.6): for flow matching, kind `"stage-velocity"`
 * is Eq. 13's v_k = x̂_s − x̂_e; for DDIM, kind `"epsilon"` is Eq. 11's ε_k.
 *
 * @param pair the stage pair
 * @param options the prediction kind, the stage, the time and the schedule
 */
export function stageTarget<D extends VideoData>(
  pair: StagePair<D>,
  options: StageTime & { prediction: PredictionKind },
): Video<D> {
  const { a, b } = predictionCoefficients(options.prediction, options);
  return combine(a, pair.x0, b, pair.epsilon);
}

/**
 * Recovers the (x̃₀, ε) estimates from a prediction of any kind at x_t: solves
 * [γ σ; a b]·[x̃₀; ε] = [x_t; prediction]. Throws where the kind carries no information to do so
 * (ε-prediction where γ_t = 0, x₀-prediction where σ_t = 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stagePlan } from "./pyramid.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * import { recoverPair, stagePoint, stageTarget } from "./stagewise.ts";
 * import { maxAbsDiff, video } from "./video.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 2, stages: 1 });
 * const stage = plan.stages[0], schedule = plan.schedule, t = 0.3;
 * const pair = {
 *   x0: video({ frames: 2 }, new Float64Array([1, -1])),
 *   epsilon: video({ frames: 2 }, new Float64Array([0.2, 0.7])),
 * };
 * const xt = stagePoint(pair, { t, schedule });
 * for (const prediction of ["velocity", "epsilon", "x0", "v"] as const) {
 *   const output = stageTarget(pair, { prediction, stage, t, schedule }).data;
 *   const back = recoverPair(xt, output, { prediction, stage, t, schedule });
 *   assert.ok(maxAbsDiff(back.x0, pair.x0) < 1e-12, prediction);
 * }
 * ```
 *
 * @param x the current point x_t
 * @param output the model output at (x, t)
 * @param options the prediction kind of `output`, the stage, the time and the schedule
 */
export function recoverPair<D extends VideoData>(
  x: Video<D>,
  output: VideoData,
  options: StageTime & { prediction: PredictionKind },
): StagePair<D> {
  const { prediction, t } = options;
  if (output.length !== x.data.length) {
    throw new RangeError(
      `the model output has ${output.length} elements; x_t (${
        describeShape(x)
      }) has ${x.data.length}`,
    );
  }
  checkAllFinite("the model output", output);
  const { a, b, gamma: g, sigma: s, det } = recoveryCoefficients(prediction, options);
  if (!(Math.abs(det) > 1e-300)) {
    throw new RangeError(
      `a ${prediction} prediction cannot recover x0 and ε at t = ${t} (γ = ${g}, σ = ${s}); ` +
        `use a velocity, v or x0 model there`,
    );
  }
  const x0 = newData(x.data, x.data.length), eps = newData(x.data, x.data.length);
  const xd = x.data;
  for (let i = 0; i < xd.length; i++) {
    x0[i] = (b * xd[i] - s * output[i]) / det;
    eps[i] = (g * output[i] - a * xd[i]) / det;
  }
  return { x0: videoLike(x, x0), epsilon: videoLike(x, eps) };
}

/**
 * The 2×2 system behind {@link recoverPair}, [γ σ; a b]·[x̃₀; ε] = [x_t; output], with (a, b) the
 * kind's {@link predictionCoefficients}, its determinant det = γb − σa, and the solution as
 * coefficients: x̃₀ = x0.x·x_t + x0.output·output = (b·x_t − σ·output)/det. Where det is 0 the kind
 * cannot recover the pair (ε-prediction where γ = 0) and the coefficients are not finite. For code
 * that applies the solve to its own arrays (a tensor per video in the model layer).
 *
 * @param prediction the prediction kind of the output
 * @param options the stage (used by stage-velocity), the time and the schedule
 */
export function recoveryCoefficients(
  prediction: PredictionKind,
  options: StageTime,
): {
  a: number;
  b: number;
  gamma: number;
  sigma: number;
  det: number;
  x0: { x: number; output: number };
} {
  const { t, schedule } = options;
  const { a, b } = predictionCoefficients(prediction, options);
  const gamma = schedule.gamma(t), sigma = schedule.sigma(t);
  const det = gamma * b - sigma * a;
  return { a, b, gamma, sigma, det, x0: { x: b / det, output: -sigma / det } };
}

/** One training example of stage-wise diffusion: the input x_t and its target. */
export interface TrainingExample<D extends VideoData = VideoData> {
  /** The stage. */
  stage: Stage;
  /** The global time t (the model's time input). */
  t: number;
  /** x_t on the stage path (Eq. 10 / Eq. 12). */
  xt: Video<D>;
  /** The regression target of the requested kind. */
  target: Video<D>;
  /** The stage-rate noise ε used for both endpoints. */
  noise: Video<D>;
}

/**
 * Algorithm 2 of TPDiff, steps 4–6, for one batch: derive stage noise from (aligned) full-rate
 * noise, build the endpoints, and return x_t and the target at time t.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stagePlan } from "./pyramid.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * import { solveStagePair, stageEndpoints, trainingExample } from "./stagewise.ts";
 * import { combine, maxAbsDiff, video } from "./video.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 4, stages: 2 });
 * const stage = plan.stages[1];
 * const x0 = video({ frames: 4 }, new Float64Array([0, 1, 2, 3]));
 * const eps = video({ frames: 4 }, new Float64Array([0.5, -0.5, 1, -1]));
 * const ex = trainingExample(x0, eps, { plan, stage, t: 0.2, prediction: "stage-velocity" });
 * // Eq. 13: the stage velocity is the constant x̂_s − x̂_e along the whole stage path.
 * const ends = stageEndpoints(x0, eps, { plan, stage });
 * assert.ok(maxAbsDiff(ex.target, combine(1, ends.start, -1, ends.end)) < 1e-12);
 * assert.ok(solveStagePair(ends, { stage, schedule: plan.schedule }) !== undefined);
 * ```
 *
 * @param x0 full-rate clean videos
 * @param fullNoise full-rate noise (already aligned, if alignment is on)
 * @param options the plan, the stage, t in [e_k, s_k], and the prediction kind
 */
export function trainingExample<D extends VideoData>(
  x0: Video<D>,
  fullNoise: Video<D>,
  options: { plan: StagePlan; stage: Stage; t: number; prediction: PredictionKind },
): TrainingExample<D> {
  const { plan, stage, t, prediction } = options;
  checkInStage(stage, t);
  checkSameShape("x0", x0, "fullNoise", fullNoise);
  const { schedule } = plan;
  const noise = stageNoise(fullNoise, { plan, stage });
  const pair = solveStagePair(stageEndpoints(x0, noise, { plan, stage }), { stage, schedule });
  return {
    stage,
    t,
    xt: stagePoint(pair, { t, schedule }),
    target: stageTarget(pair, { prediction, stage, t, schedule }),
    noise,
  };
}

/**
 * Algorithm 2, step 2 (first half): draws a stage uniformly, or in proportion to `weights` given in
 * run order.
 *
 * @param plan the plan
 * @param rng the generator
 * @param options optional `weights`: non-negative, one per stage in run order
 * @returns the stage
 */
export function sampleStage(
  plan: StagePlan,
  rng: Rng,
  options: { weights?: number[] } = {},
): Stage {
  const { weights } = options;
  if (weights === undefined) return plan.stages[rng.integer(plan.stageCount)];
  if (!Array.isArray(weights) || weights.length !== plan.stageCount) {
    throw new RangeError(
      `stage weights must have one entry per stage (${plan.stageCount}); got ${show(weights)}`,
    );
  }
  weights.forEach((w, i) => checkFinite(`stage weights[${i}]`, w, 0));
  const total = weights.reduce((x, y) => x + y, 0);
  if (!(total > 0)) {
    throw new RangeError(`stage weights must not all be zero; got ${show(weights)}`);
  }
  let u = rng.uniform() * total;
  const index = weights.findIndex((w) => (u -= w) < 0);
  return plan.stages[index < 0 ? weights.length - 1 : index];
}

/** How training draws t inside a stage's interval. */
export type TimeDensity = "uniform" | "logit-normal";

/** The time densities, for checks and flags. */
export const TIME_DENSITIES: readonly TimeDensity[] = ["uniform", "logit-normal"];

/**
 * Algorithm 2, step 2 (second half): a time in the stage's interval (e_k, s_k], uniform (the
 * paper) or from the logit-normal density of Esser et al. (2024), logit t ~ N(0, 1), restricted to
 * the interval (drawn by rejection, so its shape inside the stage is exact).
 *
 * @param stage the stage
 * @param rng the generator
 * @param density `"uniform"` (default) or `"logit-normal"`
 * @returns t
 */
export function sampleTimeInStage(
  stage: Stage,
  rng: Rng,
  density: TimeDensity = "uniform",
): number {
  if (density === "uniform") return stage.start - rng.uniform() * (stage.start - stage.end);
  checkOneOf("density", density, TIME_DENSITIES);
  for (;;) {
    const t = 1 / (1 + Math.exp(-rng.normal()));
    if (t > stage.end && t <= stage.start) return t;
  }
}

/**
 * Algorithm 2, step 2: draws a stage (uniformly, or in proportion to `weights` given in run order)
 * and a time uniform in (e_k, s_k].
 *
 * @param plan the plan
 * @param rng the generator
 * @param options optional `weights`: non-negative, one per stage in run order
 */
export function sampleStageAndTime(
  plan: StagePlan,
  rng: Rng,
  options: { weights?: number[] } = {},
): { stage: Stage; t: number } {
  const stage = sampleStage(plan, rng, options);
  return { stage, t: sampleTimeInStage(stage, rng) };
}
