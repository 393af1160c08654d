/**
 * The stage plan: K stages from the first (coarsest, noisiest, F/2^{K−1} frames) to the last
 * (k = 1, full frame rate), their corrected boundaries, frames, strides, steps, and the compute
 * they cost against vanilla diffusion (tpdiff-math.md §1.2, §1.9, §1.12).
 *
 * Nominal boundaries 0 = τ₀ < τ₁ < … < τ_K = 1 are uniform in t unless given. Stage k ends at
 * e_k = τ_{k−1}. Every start after the first is the corrected start of the SNR rule,
 * SNR(s_k) = SNR(e_{k+1}) / r with r = 2 for a temporal ×2, i.e. λ(s_k) = λ(τ_k) − ½ ln 2, so that
 * the renoised end of stage k + 1 has exactly the law of the training start of stage k (§1.9 (ii)).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stagePlan } from "./pyramid.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 16, stages: 3, steps: 30 });
 * assert.deepEqual(plan.stages.map((s) => [s.k, s.frames, s.start.toFixed(4), s.end.toFixed(4)]), [
 *   [3, 4, "1.0000", "0.6667"],
 *   [2, 8, "0.7388", "0.3333"],
 *   [1, 16, "0.4142", "0.0000"],
 * ]);
 * ```
 *
 * @module
 */

import { checkFinite, checkInteger, show } from "./checks.ts";
import type { Schedule } from "./schedule.ts";
import {
  checkLayout,
  type DownMethod,
  type FrameLayout,
  framesAtLevel,
  type TemporalOptions,
} from "./temporal.ts";

/** One stage of a plan. */
export interface Stage {
  /** TPDiff's stage index: 1 is the last, full-rate stage; K the first and coarsest. */
  k: number;
  /** Position in the plan's run order: 0 is the first (coarsest) stage. */
  index: number;
  /** s_k: the (corrected) start, the noisier end of the stage's time interval. */
  start: number;
  /** τ_k: the nominal start before the SNR correction (equal to `start` for the first stage). */
  nominalStart: number;
  /** e_k = τ_{k−1}: the end, the cleaner end of the interval. */
  end: number;
  /** F_k: frames in this stage. */
  frames: number;
  /** 2^{k−1}: distance between this stage's frames on the full-rate grid. */
  stride: number;
  /** Sampling steps spent in this stage. */
  steps: number;
}

/** A complete stage plan. */
export interface StagePlan {
  /** The noise schedule every stage shares. */
  schedule: Schedule;
  /** Full-rate frame count F. */
  frames: number;
  /** K. */
  stageCount: number;
  /** The stages in run order, first (k = K) to last (k = 1). */
  stages: Stage[];
  /** Frame layout and Down method of the temporal operators. */
  temporal: Required<TemporalOptions>;
  /** r: copies per group in the transition (2 for a temporal ×2). */
  groupSize: number;
  /** Whether stage starts were corrected by the SNR rule (false only for demonstrations). */
  correctedStarts: boolean;
}

/** Options of {@link stagePlan}. */
export interface StagePlanOptions {
  /** The noise schedule. */
  schedule: Schedule;
  /** Full-rate frame count F; plain layout: divisible by 2^{K−1}; keep-first: 1 + n·2^{K−1}. */
  frames: number;
  /** Number of stages K ≥ 1 (K = 1 is vanilla diffusion). */
  stages: number;
  /**
   * Sampling steps: a total split evenly (remainders go to the last, full-rate stages), or one
   * count per stage in run order (first, coarsest stage first). Default 30 in total.
   */
  steps?: number | number[];
  /** The K − 1 interior nominal boundaries τ₁ < … < τ_{K−1} in (0, 1); default uniform k/K. */
  boundaries?: number[];
  /** Frame layout (default `"plain"`). */
  layout?: FrameLayout;
  /** Down method of the temporal operators (default `"stride"`). */
  down?: DownMethod;
  /** Apply the SNR start correction (default true; false reproduces the discontinuous plan). */
  correctStarts?: boolean;
  /**
   * How a total of steps is split: `"even"` (default) or `"length"`, in proportion to each stage's
   * interval s_k − e_k, so that every stage samples at the same step density in t (data-planned
   * schedules). Ignored when `steps` gives one count per stage.
   */
  stepSplit?: "even" | "length";
}

/**
 * Splits `total` steps over stages in proportion to `weights` (largest remainder; ties go to the
 * later, full-rate stages so that speed-ups are not flattered). `splitSteps(30, [1, 1, 1])` is
 * [10, 10, 10]; `splitSteps(10, [1, 1, 2])` is [2, 3, 5].
 *
 * @param total steps in all, at least one per stage
 * @param weights one positive weight per stage, in run order
 */
export function splitSteps(total: number, weights: number[]): number[] {
  if (!Array.isArray(weights) || weights.length === 0) {
    throw new RangeError(`weights must be a non-empty array; got ${show(weights)}`);
  }
  weights.forEach((w, i) => checkFinite(`weights[${i}]`, w, Number.MIN_VALUE));
  checkInteger("total steps", total, weights.length);
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (total * w) / sum);
  const steps = exact.map((x) => Math.max(1, Math.floor(x)));
  let left = total - steps.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, r: x - Math.floor(x) }))
    .sort((a, b) => b.r - a.r || b.i - a.i);
  for (let j = 0; left > 0; j = (j + 1) % order.length, left--) steps[order[j].i]++;
  for (let i = steps.length - 1; left < 0; i = (i - 1 + steps.length) % steps.length) {
    if (steps[i] > 1) steps[i]--, left++;
  }
  return steps;
}

/**
 * The corrected start s of the stage that follows a transition from end time `end`: the t with
 * SNR(s) = SNR(end) / r, i.e. λ(s) = λ(end) − ½ ln r (tpdiff-math.md §1.9). For rectified flow and
 * r = 2 this is s = √2·e / (1 − e + √2·e).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { correctedStart } from "./pyramid.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * // SNR(s) = SNR(e)/2: ((1 − s)/s)² = 1/2 at e = 1/2, so s = 2 − √2.
 * assert.ok(Math.abs(correctedStart(rectifiedFlow(), 0.5) - (2 - Math.SQRT2)) < 1e-12);
 * ```
 *
 * @param schedule the noise schedule
 * @param end the end time of the coarser stage
 * @param options `groupSize` r, the copies each coarse element makes (2 temporal (default), 4
 *   spatial 2×2)
 */
export function correctedStart(
  schedule: Schedule,
  end: number,
  options: { groupSize?: number } = {},
): number {
  checkFinite("end", end, 0, 1);
  const groupSize = checkInteger("groupSize", options.groupSize ?? 2, 1);
  return schedule.tOfLambda(schedule.lambda(end) - 0.5 * Math.log(groupSize));
}

/**
 * Builds a stage plan (see the module doc). Throws with a clear message for K < 1, frame counts
 * that do not divide the strides, boundaries out of order or outside (0, 1), and bad step counts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stagePlan } from "./pyramid.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 16, stages: 3, steps: 30 });
 * assert.deepEqual(plan.stages.map((s) => [s.k, s.frames, s.steps]), [[3, 4, 10], [2, 8, 10], [1, 16, 10]]);
 * assert.deepEqual([plan.stages[0].start, plan.stages[2].end], [1, 0]);
 * ```
 *
 * @param options schedule, frames, stages, steps, boundaries, layout, Down method
 * @returns the plan, stages in run order
 */
export function stagePlan(options: StagePlanOptions): StagePlan {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("stagePlan needs an options object { schedule, frames, stages, ... }");
  }
  const { schedule } = options;
  if (!schedule || typeof schedule.lambda !== "function") {
    throw new TypeError(
      `schedule must be a Schedule (e.g. rectifiedFlow()); got ${show(schedule)}`,
    );
  }
  const K = checkInteger("stages K", options.stages, 1, 16);
  const layout = checkLayout(options.layout);
  const down = options.down ?? "stride";
  if (down !== "stride" && down !== "average") {
    throw new TypeError(`down must be "stride" or "average"; got ${show(down)}`);
  }
  checkInteger("frames", options.frames, 1);
  framesAtLevel(options.frames, K - 1, { layout });

  const tau = nominalBoundaries(K, options.boundaries);
  const stepSplit = options.stepSplit ?? "even";
  if (stepSplit !== "even" && stepSplit !== "length") {
    throw new TypeError(`stepSplit must be "even" or "length"; got ${show(stepSplit)}`);
  }
  const steps = options.steps ?? 30;
  const stepsPerStage = resolveSteps(steps, K);
  const correct = options.correctStarts ?? true;
  const stages: Stage[] = [];
  for (let index = 0; index < K; index++) {
    const k = K - index;
    const nominalStart = tau[k], end = tau[k - 1];
    const start = k === K || !correct ? nominalStart : correctedStart(schedule, nominalStart);
    if (!(start > end)) {
      throw new RangeError(
        `stage k = ${k} would start at t = ${start} and end at t = ${end}; the start must be noisier`,
      );
    }
    stages.push({
      k,
      index,
      start,
      nominalStart,
      end,
      frames: framesAtLevel(options.frames, k - 1, { layout }),
      stride: 2 ** (k - 1),
      steps: stepsPerStage[index],
    });
  }
  if (stepSplit === "length" && typeof steps === "number") {
    const split = splitSteps(steps, stages.map((s) => s.start - s.end));
    stages.forEach((s, i) => (s.steps = split[i]));
  }
  return {
    schedule,
    frames: options.frames,
    stageCount: K,
    stages,
    temporal: { layout, down },
    groupSize: 2,
    correctedStarts: correct,
  };
}

/** τ₀ = 0 < τ₁ < … < τ_K = 1: uniform k/K, or the given interior boundaries checked for order. */
export function nominalBoundaries(stages: number, interior?: number[]): number[] {
  const K = checkInteger("stages K", stages, 1, 16);
  if (interior === undefined) return Array.from({ length: K + 1 }, (_, k) => k / K);
  if (!Array.isArray(interior) || interior.length !== K - 1) {
    throw new RangeError(
      `boundaries must list the K − 1 = ${K - 1} interior boundaries; got ${show(interior)}`,
    );
  }
  const tau = [0, ...interior, 1];
  for (let k = 1; k <= K; k++) {
    if (k < K) checkFinite(`boundaries[${k - 1}]`, tau[k], 0, 1);
    if (!(tau[k] > tau[k - 1])) {
      throw new RangeError(
        `boundaries must increase strictly inside (0, 1); got ${show(interior)}`,
      );
    }
  }
  return tau;
}

function resolveSteps(steps: number | number[], K: number): number[] {
  if (typeof steps === "number") {
    if (!Number.isInteger(steps) || steps < K) {
      throw new RangeError(
        `steps must be an integer total of at least one per stage (>= ${K}); got ${show(steps)}`,
      );
    }
    return splitSteps(steps, Array(K).fill(1));
  }
  if (!Array.isArray(steps) || steps.length !== K) {
    throw new RangeError(
      `steps must be a total or one count per stage (${K} numbers); got ${show(steps)}`,
    );
  }
  return steps.map((n, i) => checkInteger(`steps[${i}]`, n, 1));
}

/** The stage with TPDiff index k (1 = last, full rate). */
export function stageByIndex(plan: StagePlan, k: number): Stage {
  checkInteger("stage k", k, 1, plan.stageCount);
  return plan.stages[plan.stageCount - k];
}

/**
 * The sampling times of a stage: n + 1 points uniform in t from s_k down to e_k.
 *
 * @param stage the stage
 * @returns `[s_k, …, e_k]`
 */
export function stageTimes(stage: Stage): number[] {
  const n = stage.steps;
  return Array.from(
    { length: n + 1 },
    (_, i) => i === n ? stage.end : stage.start + (i / n) * (stage.end - stage.start),
  );
}

/**
 * Compute of one sampling pass against vanilla diffusion with the same total steps (§1.12):
 * Σ_k n_k (F_k/F)^p / Σ_k n_k, where p is the per-frame cost exponent (1: frame-linear network,
 * 2: full temporal attention). Uniform 3-stage TPDiff: 7/12 for p = 1, 21/48 for p = 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { costFraction, stagePlan } from "./pyramid.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 16, stages: 3, steps: 30 });
 * assert.ok(Math.abs(costFraction(plan) - 7 / 12) < 1e-12); // (1/4 + 1/2 + 1)/3
 * ```
 *
 * @param plan the stage plan
 * @param exponent p (default 1)
 */
export function costFraction(plan: StagePlan, exponent = 1): number {
  checkFinite("cost exponent p", exponent, 0);
  let cost = 0, steps = 0;
  for (const s of plan.stages) {
    cost += s.steps * (s.frames / plan.frames) ** exponent;
    steps += s.steps;
  }
  return cost / steps;
}

/** The speed-up bound 1 / {@link costFraction} (12/7 ≈ 1.714 for uniform K = 3, p = 1). *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { speedupBound, stagePlan } from "./pyramid.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 8, stages: 2, steps: 8 });
 * assert.ok(Math.abs(speedupBound(plan) - 4 / 3) < 1e-12); // 1 / ((1/2 + 1)/2)
 * ```
 */
export function speedupBound(plan: StagePlan, exponent = 1): number {
  return 1 / costFraction(plan, exponent);
}

/** A plain-text table of the plan: one row per stage, for demos and notebooks. */
export function formatPlan(plan: StagePlan): string {
  const rows = [
    ["k", "frames", "stride", "start s_k", "nominal", "end e_k", "steps"],
    ...plan.stages.map((s) => [
      String(s.k),
      String(s.frames),
      String(s.stride),
      s.start.toFixed(6),
      s.nominalStart.toFixed(6),
      s.end.toFixed(6),
      String(s.steps),
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padStart(widths[c])).join("  ")).join("\n");
}
