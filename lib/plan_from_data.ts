/**
 * Frame-rate schedules that follow the content: measure what each frame rate loses on a sample of
 * training videos, and place the stage boundaries (and choose K) so that the loss stays below a
 * chosen fraction of the noise at each stage's end (docs/planning.md).
 *
 * Stage k runs at stride 2^{k−1}. At its end e_k the pyramid holds γ(e_k)·D_k x₀ + σ(e_k)·ε where
 * vanilla diffusion holds γ(e_k)·x₀ + σ(e_k)·ε; lifted back to the full frame rate by nearest Up,
 * the two means differ by γ(e_k)·(x₀ − U D_k x₀). With E_ℓ the mean energy per element of
 * x₀ − Up^ℓ D_{ℓ+1} x₀ over the data (ℓ = k − 1), the rule is
 *
 *   γ(e_k)² E_{k−1} ≤ f · σ(e_k)²,  i.e.  SNR(e_k) · E_{k−1} ≤ f,  i.e.  λ(e_k) ≤ ½ ln(f / E_{k−1}),
 *
 * which gives each stage the cleanest end it may reach, t_f(E) = λ⁻¹(½ ln(f/E)). The starts after
 * the first are the corrected starts of the SNR rule, as in {@link stagePlan}. K is the stage
 * count (up to `maxStages`) whose plan has the lowest sampling cost at vanilla's step density,
 * Σ_k (s_k − e_k)·F_k/F (the overlap [e_k, s_{k−1}] is integrated twice); a pyramid that saves
 * less than `minGain` of vanilla's cost is not worth its stages, and K = 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lostDetail, planFromData } from "./plan_from_data.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * import { video } from "./video.ts";
 * // A static video loses nothing at any frame rate: the coarsest plan the noise allows.
 * const still = video({ batch: 2, frames: 8, width: 3 }, new Float64Array(48).fill(0.5));
 * const lost = lostDetail(still);
 * assert.deepEqual(lost.map((l) => l.energy), [0, 0, 0]);
 * const planned = planFromData({ schedule: rectifiedFlow(), frames: 8, lost });
 * assert.equal(planned.plan.stageCount, 4);
 * ```
 *
 * @module
 */

import { checkFinite, checkInteger, show } from "./checks.ts";
import { costFraction, type StagePlan, stagePlan } from "./pyramid.ts";
import type { Schedule } from "./schedule.ts";
import {
  type DownMethod,
  downToStage,
  type FrameLayout,
  framesAtLevel,
  temporalUp,
} from "./temporal.ts";
import { checkVideo, frameSize, type Video } from "./video.ts";

/** What the frame rate of one pyramid level loses, measured on data. */
export interface LevelLoss {
  /** ℓ ≥ 1: the level; stage k = ℓ + 1 runs at this level. */
  level: number;
  /** 2^ℓ: the distance between the frames the level keeps. */
  stride: number;
  /** E_ℓ: the mean over videos, frames and elements of (x₀ − Up^ℓ D_{ℓ+1} x₀)². */
  energy: number;
  /** The same mean per full-rate frame position (zero where the level keeps the frame). */
  perFrame: number[];
}

/** Options of {@link lostDetail}. */
export interface LostDetailOptions {
  /** Levels to measure, 1 … L (default: every level the frame count allows, at most 6). */
  levels?: number;
  /** Frame layout (default `"plain"`). */
  layout?: FrameLayout;
  /** The Down method (default `"stride"`). */
  down?: DownMethod;
}

/**
 * E_ℓ, the energy per element of the detail a level-ℓ frame rate loses: x₀ − Up^ℓ(D_{ℓ+1} x₀) with
 * nearest Up, averaged over the batch, the frames and the elements, and per frame position.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lostDetail } from "./plan_from_data.ts";
 * import { video } from "./video.ts";
 * // A ramp 0, 1, 2, 3: level 1 keeps 0 and 2 and holds them, losing 1 at frames 1 and 3.
 * const [one, two] = lostDetail(video({ frames: 4 }, new Float64Array([0, 1, 2, 3])));
 * assert.deepEqual([one.energy, one.perFrame], [0.5, [0, 1, 0, 1]]);
 * assert.deepEqual([two.energy, two.perFrame], [(0 + 1 + 4 + 9) / 4, [0, 1, 4, 9]]);
 * ```
 *
 * @param x a batch of full-rate videos (in the model's value range)
 * @param options levels, layout, Down method
 * @returns one entry per level, finest first
 */
export function lostDetail(x: Video, options: LostDetailOptions = {}): LevelLoss[] {
  checkVideo("x", x);
  const layout = options.layout ?? "plain";
  const down = options.down ?? "stride";
  const most = levelsAllowed(x.frames, layout, 6);
  if (most === 0) {
    throw new RangeError(
      `lostDetail needs a frame count that halves at least once (${layout} layout); got ${x.frames}`,
    );
  }
  const levels = options.levels === undefined ? most : checkInteger("levels", options.levels, 1);
  if (levels > most) {
    throw new RangeError(
      `levels must be at most ${most} for ${x.frames} frames (${layout} layout); got ${levels}`,
    );
  }
  const n = frameSize(x), F = x.frames;
  const out: LevelLoss[] = [];
  for (let level = 1; level <= levels; level++) {
    let held = downToStage(x, level + 1, { layout, down });
    for (let i = 0; i < level; i++) held = temporalUp(held, { layout, method: "nearest" });
    const perFrame = new Array<number>(F).fill(0);
    for (let b = 0; b < x.batch; b++) {
      for (let f = 0; f < F; f++) {
        const base = (b * F + f) * n;
        let sum = 0;
        for (let i = 0; i < n; i++) {
          const d = x.data[base + i] - held.data[base + i];
          sum += d * d;
        }
        perFrame[f] += sum / (n * x.batch);
      }
    }
    out.push({
      level,
      stride: 2 ** level,
      energy: perFrame.reduce((a, b) => a + b, 0) / F,
      perFrame,
    });
  }
  return out;
}

/** How many times (at most `cap`) `frames` frames halve in the layout: the levels a pyramid has. */
function levelsAllowed(frames: number, layout: FrameLayout, cap: number): number {
  let levels = 0;
  while (levels < cap) {
    try {
      framesAtLevel(frames, levels + 1, { layout });
    } catch {
      break;
    }
    levels++;
  }
  return levels;
}

/** What one boundary of a planned schedule trades. */
export interface BoundaryTrade {
  /** The stage k ≥ 2 that ends at this boundary. */
  k: number;
  /** Its stride 2^{k−1}. */
  stride: number;
  /** E_{k−1}: what its frame rate loses per element. */
  energy: number;
  /** t_f(E): the cleanest end the rule allows (0 when nothing is lost). */
  earliest: number;
  /** τ_{k−1} = e_k: the end chosen (t_f, pushed up where the gaps need it). */
  end: number;
  /** γ(e_k)²E_{k−1} / σ(e_k)² = SNR(e_k)·E_{k−1}: the lost detail against the noise (≤ f). */
  lostOverNoise: number;
}

/** A candidate stage count and its cost. */
export interface PlanCandidate {
  /** K. */
  stages: number;
  /** Its interior boundaries τ₁ … τ_{K−1}, or undefined where the rule leaves no room for it. */
  boundaries?: number[];
  /** Σ_k (s_k − e_k)·F_k/F: sampling cost at vanilla's step density (vanilla 1). */
  cost: number;
}

/** The result of {@link planFromData}. */
export interface PlannedSchedule {
  /** The chosen plan (steps split in proportion to the stages' lengths s_k − e_k). */
  plan: StagePlan;
  /** Its interior nominal boundaries τ₁ < … < τ_{K−1}. */
  boundaries: number[];
  /** Training stage weights in run order, ∝ s_k − e_k, so that t is drawn about as vanilla's is. */
  stageWeights: number[];
  /** What each boundary trades, coarsest stage first. */
  trades: BoundaryTrade[];
  /** Every stage count considered, K = 1 first. */
  candidates: PlanCandidate[];
  /** The fraction f used. */
  fraction: number;
}

/** Options of {@link planFromData}. */
export interface PlanFromDataOptions {
  /** The noise schedule. */
  schedule: Schedule;
  /** Full-rate frames F. */
  frames: number;
  /** What each level loses ({@link lostDetail}), finest first; its length bounds K − 1. */
  lost: Pick<LevelLoss, "level" | "energy">[];
  /** f: the largest lost-detail-to-noise ratio allowed at a stage's end (default 0.1). */
  fraction?: number;
  /** The most stages (default 4, or fewer where the frames or `lost` allow fewer). */
  maxStages?: number;
  /** Least nominal length of a stage in t (default 0.05). */
  minGap?: number;
  /** Least saving against vanilla for which a pyramid is used at all (default 0.1). */
  minGain?: number;
  /** Sampling steps in total (default 30). */
  steps?: number;
  /** Frame layout (default `"plain"`). */
  layout?: FrameLayout;
  /** Down method (default `"stride"`). */
  down?: DownMethod;
}

/** The default lost-detail-to-noise fraction f of {@link planFromData}. */
export const PLAN_FRACTION = 0.1;

/**
 * t_f(E): the cleanest time t at which lost detail of energy E per element is at most a fraction f
 * of the noise, γ(t)²E ≤ f σ(t)² (0 when E = 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { earliestEnd } from "./plan_from_data.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * // Rectified flow: ((1 − t)/t)² E = f, so t = 1 / (1 + √(f/E)); E = 0.4, f = 0.1 gives 2/3.
 * assert.ok(Math.abs(earliestEnd(rectifiedFlow(), 0.4, 0.1) - 2 / 3) < 1e-12);
 * ```
 *
 * @param schedule the noise schedule
 * @param energy E ≥ 0
 * @param fraction f > 0
 */
export function earliestEnd(schedule: Schedule, energy: number, fraction: number): number {
  checkFinite("energy", energy, 0);
  checkFinite("fraction f", fraction, Number.MIN_VALUE);
  if (energy === 0) return 0;
  return schedule.tOfLambda(0.5 * Math.log(fraction / energy));
}

/** Σ_k (s_k − e_k)·F_k/F: a plan's sampling cost at vanilla's step density (vanilla: 1). */
export function densityCost(plan: StagePlan): number {
  return plan.stages.reduce((sum, s) => sum + (s.start - s.end) * (s.frames / plan.frames), 0);
}

/**
 * Chooses K and the stage boundaries from what the data's frame rates lose (see the module doc).
 * Static videos get the most stages and the lowest boundaries the gaps allow; videos whose every
 * frame is new (white noise) get K = 1, vanilla diffusion.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planFromData } from "./plan_from_data.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * // White noise of unit variance: level ℓ loses 2(1 − 2^−ℓ) per element.
 * const lost = [1, 1.5, 1.75].map((energy, i) => ({ level: i + 1, energy }));
 * assert.equal(planFromData({ schedule: rectifiedFlow(), frames: 16, lost }).plan.stageCount, 1);
 * ```
 *
 * @param options schedule, frames, lost detail, fraction, limits, steps
 * @returns the plan, what its boundaries trade, and the candidates considered
 */
export function planFromData(options: PlanFromDataOptions): PlannedSchedule {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("planFromData needs an options object { schedule, frames, lost, ... }");
  }
  const { schedule, frames } = options;
  const layout = options.layout ?? "plain", down = options.down ?? "stride";
  const fraction = checkFinite("fraction f", options.fraction ?? PLAN_FRACTION, Number.MIN_VALUE);
  const minGap = checkFinite("minGap", options.minGap ?? 0.05, Number.MIN_VALUE, 0.5);
  const minGain = checkFinite("minGain", options.minGain ?? 0.1, 0, 1);
  const steps = options.steps ?? 30;
  const lost = options.lost;
  if (!Array.isArray(lost)) {
    throw new TypeError(
      `lost must be an array of { level, energy } (lostDetail); got ${show(lost)}`,
    );
  }
  lost.forEach((l, i) => {
    if (l?.level !== i + 1) {
      throw new RangeError(`lost[${i}] must be level ${i + 1}, finest first; got ${show(l)}`);
    }
    checkFinite(`lost[${i}].energy`, l.energy, 0);
  });
  const levels = levelsAllowed(checkInteger("frames", frames, 1), layout, lost.length);
  const maxStages = checkInteger(
    "maxStages",
    options.maxStages ?? Math.min(4, levels + 1),
    1,
    levels + 1,
  );

  // The cleanest end each stage k ≥ 2 may reach, made non-decreasing: a coarser level loses at
  // least what a finer one does, so its stage must end at least as noisy.
  const earliest: number[] = [];
  for (let l = 1; l < maxStages; l++) {
    const t = earliestEnd(schedule, lost[l - 1].energy, fraction);
    earliest.push(Math.max(t, earliest.at(-1) ?? 0));
  }
  const candidates: PlanCandidate[] = [{ stages: 1, boundaries: [], cost: 1 }];
  let best = candidates[0];
  for (let K = 2; K <= maxStages; K++) {
    // τ_{k−1} = e_k for k = 2 … K, each at least minGap above the one below and leaving minGap
    // per coarser stage below 1.
    const tau: number[] = [];
    for (let l = 1; l < K; l++) {
      tau.push(Math.max(earliest[l - 1], (tau.at(-1) ?? 0) + minGap));
    }
    if (tau.at(-1)! > 1 - minGap) {
      candidates.push({ stages: K, cost: NaN });
      continue;
    }
    const shape = stagePlan({
      schedule,
      frames,
      stages: K,
      boundaries: tau,
      layout,
      down,
      steps: K,
    });
    const candidate = { stages: K, boundaries: tau, cost: densityCost(shape) };
    candidates.push(candidate);
    if (candidate.cost < best.cost) best = candidate;
  }
  // A pyramid that saves less than minGain is not worth its stages.
  const chosen = best.cost <= 1 - minGain ? best : candidates[0];

  const K = chosen.stages, boundaries = chosen.boundaries!;
  const plan = stagePlan({
    schedule,
    frames,
    stages: K,
    boundaries,
    layout,
    down,
    steps: checkInteger("steps", steps, K),
    stepSplit: "length",
  });
  const lengths = plan.stages.map((s) => s.start - s.end);
  const total = lengths.reduce((a, b) => a + b, 0);
  const trades: BoundaryTrade[] = plan.stages.filter((s) => s.k >= 2).map((s) => {
    const energy = lost[s.k - 2].energy;
    const gamma = schedule.gamma(s.end), sigma = schedule.sigma(s.end);
    return {
      k: s.k,
      stride: s.stride,
      energy,
      earliest: earliest[s.k - 2],
      end: s.end,
      lostOverNoise: (gamma * gamma * energy) / (sigma * sigma),
    };
  });
  return {
    plan,
    boundaries,
    stageWeights: lengths.map((l) => l / total),
    trades,
    candidates,
    fraction,
  };
}

/**
 * A plain-text account of a planned schedule: what each level loses, where each stage ends and
 * the lost detail against the noise there, and the cost of every K considered.
 *
 * @param planned the result of {@link planFromData}
 */
export function formatPlannedSchedule(planned: PlannedSchedule): string {
  const { plan, trades, candidates, fraction } = planned;
  const lines = [
    `data-planned schedule: K = ${plan.stageCount}, boundaries ${
      planned.boundaries.length ? planned.boundaries.map((b) => b.toFixed(3)).join(", ") : "none"
    } (f = ${fraction}: lost detail ≤ f × noise at each stage's end)`,
  ];
  for (const t of trades) {
    lines.push(
      `  stage ${t.k} (every ${t.stride}${t.stride === 2 ? "nd" : "th"} frame) loses E = ${
        t.energy.toExponential(2)
      } per ` +
        `element; it may end at t ≥ ${t.earliest.toFixed(3)}, ends at ${t.end.toFixed(3)} ` +
        `(lost/noise ${t.lostOverNoise.toFixed(3)})`,
    );
  }
  lines.push(
    "  cost at vanilla's step density by K: " +
      candidates.map((c) =>
        `K = ${c.stages}: ${Number.isNaN(c.cost) ? "no room" : c.cost.toFixed(3)}`
      ).join(", ") +
      `; sampling speed-up bound at equal steps ${(1 / costFraction(plan)).toFixed(3)}×`,
  );
  return lines.join("\n");
}

/** A plan's interior nominal boundaries τ₁ < … < τ_{K−1} (the ends of stages 2 … K). */
export function planBoundaries(plan: StagePlan): number[] {
  return plan.stages.slice(0, -1).map((s) => s.end).reverse();
}
