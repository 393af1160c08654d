/**
 * Staged samplers over one `predict` callback (TPDiff §3.5; tpdiff-math.md §1.9 "Full inference
 * pipeline").
 *
 * 1. x ← σ(s_K)·z with z ~ N(0, I) at the first stage's F/2^{K−1} frames (the training start law of
 *    the first stage with its signal term dropped, exact when γ(s_K) = 0).
 * 2. For each stage, k = K down to 1: integrate from s_k to e_k in n_k steps, uniform in t, with
 *    Euler or Heun on the velocity, or DDIM (Eq. 3) on the recovered (x̃₀, ε).
 * 3. Between stages: upsample ×2 and renoise (`renoise`, corrected Eq. 15).
 *
 * Every prediction kind works with every solver wherever (x̃₀, ε) can be recovered from it: the
 * prediction is converted by `recoverPair`, so the same sampler runs a velocity model, an ε model,
 * the exact Gaussian oracle or a user's network. Vanilla sampling is the K = 1 plan.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rectifiedFlow } from "./schedule.ts";
 * import { stagePlan } from "./pyramid.ts";
 * import { sampleStaged } from "./samplers.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 8, stages: 3, steps: 9 });
 * // A model that always predicts velocity ε − x0 = x / t for a data distribution at 0:
 * const x = await sampleStaged(plan, (x, t) => x.data.map((v) => v / Math.max(t, 1e-9)), {
 *   prediction: "velocity",
 *   start: { batch: 2 },
 *   seed: 1,
 * });
 * assert.equal(x.frames, 8);
 * assert.ok(x.data.every((v) => Math.abs(v) < 1e-6)); // every draw reaches the data at 0
 * ```
 *
 * @module
 */

import { checkOneOf, show } from "./checks.ts";
import type { Stage, StagePlan } from "./pyramid.ts";
import { stageTimes } from "./pyramid.ts";
import {
  renoise,
  type TransitionCoefficient,
  type TransitionCoefficients,
  transitionCoefficients,
} from "./renoise.ts";
import { PREDICTION_KINDS, type PredictionKind, recoverPair, type StagePair } from "./stagewise.ts";
import {
  checkVideo,
  createRng,
  describeShape,
  gaussianVideo,
  newData,
  Rng,
  type Video,
  type VideoData,
  videoLike,
} from "./video.ts";

/**
 * The model callback: the prediction (of the kind declared in the options) for the batch `x` at
 * global time `t` in `stage`, with as many elements as `x`.
 */
export type Predict = (x: Video, t: number, stage: Stage) => Promise<VideoData> | VideoData;

/** What a solver step reads besides the current point: the model, the stage and the schedule. */
export interface SolverContext {
  /** The prediction kind of the model's output. */
  prediction: PredictionKind;
  /** The schedule (γ, σ and their derivatives). */
  schedule: StagePlan["schedule"];
  /** The stage being integrated. */
  stage: Stage;
  /** The model, checked (for solvers that evaluate it again inside a step). */
  model: (x: Video, t: number, stage: Stage) => Promise<VideoData>;
}

/**
 * One solver step from t to tNext, given the (x̃₀, ε) recovered from the model's prediction at
 * (x, t). Every solver shares this signature, as k-diffusion's samplers share theirs.
 */
export type SolverStep = (
  ctx: SolverContext,
  x: Video,
  pair: StagePair,
  t: number,
  tNext: number,
) => Promise<Video>;

/**
 * DDIM (Eq. 3): re-noises the recovered pair at tNext, x ← γ(tNext)·x̃₀ + σ(tNext)·ε.
 */
const ddimStep: SolverStep = (ctx, x, pair, _t, tNext) => {
  const g = ctx.schedule.gamma(tNext), s = ctx.schedule.sigma(tNext);
  const next = newData(x.data, x.data.length);
  for (let i = 0; i < next.length; i++) next[i] = g * pair.x0.data[i] + s * pair.epsilon.data[i];
  return Promise.resolve(videoLike(x, next));
};

/** Euler on the velocity dx/dt = γ̇x̃₀ + σ̇ε. */
const eulerStep: SolverStep = (ctx, x, pair, t, tNext) =>
  Promise.resolve(videoLike(x, eulerPoint(x, velocityOf(ctx, pair, t), tNext - t)));

/**
 * Heun: averages the velocity with the velocity at the Euler proposal, except into σ = 0, where it
 * is Euler (Karras et al. 2022, Algorithm 2).
 */
const heunStep: SolverStep = async (ctx, x, pair, t, tNext) => {
  const dt = tNext - t;
  const u = velocityOf(ctx, pair, t);
  const next = eulerPoint(x, u, dt);
  if (!(ctx.schedule.sigma(tNext) > 0)) return videoLike(x, next);
  const proposal = videoLike(x, next);
  const output = await ctx.model(proposal, tNext, ctx.stage);
  const u2 = velocityOf(ctx, recoverPair(proposal, output, { ...ctx, t: tNext }), tNext);
  for (let i = 0; i < next.length; i++) next[i] = x.data[i] + 0.5 * dt * (u[i] + u2[i]);
  return videoLike(x, next);
};

/**
 * The ODE solvers by name: `euler` and `heun` on the velocity, `ddim` on (x̃₀, ε) (Eq. 3). Adding
 * one here adds it to {@link sampleStaged} and to the `sample` task's `--solver`.
 */
export const SOLVERS = {
  euler: eulerStep,
  heun: heunStep,
  ddim: ddimStep,
} as const satisfies Record<string, SolverStep>;

/** A solver's name: a key of {@link SOLVERS}. */
export type Solver = keyof typeof SOLVERS;

/** The solvers' names, in {@link SOLVERS}' order. */
export const SOLVER_NAMES = Object.keys(SOLVERS) as Solver[];

/** What `onStep` receives at every step (k-diffusion's callback, in the paper's words). */
export interface StepEvent {
  /** The stage being integrated. */
  stage: Stage;
  /** The step index inside the stage, 0-based. */
  step: number;
  /** The time of `x`. */
  t: number;
  /** The time the step goes to. */
  tNext: number;
  /** The current point x_t (before the step). */
  x: Video;
  /** The model's prediction at (x, t). */
  prediction: VideoData;
  /** The clean estimate x̃₀ recovered from the prediction (k-diffusion's `denoised`). */
  x0: Video;
}

/** What `onTransition` receives between two stages. */
export interface TransitionEvent {
  /** The stage just finished. */
  from: Stage;
  /** The stage about to start. */
  to: Stage;
  /** x̂_e of `from`. */
  before: Video;
  /** The renoised x̂_s of `to`. */
  after: Video;
  /** c, α, κ of the transition. */
  coefficients: TransitionCoefficients;
}

/**
 * Where sampling starts: a given point `x` at the first stage's frame count, or the shape of fresh
 * noise σ(s_K)·z (every field defaults to 1; precision to `"float32"`).
 */
export type SampleStart =
  | { x: Video }
  | {
    batch?: number;
    height?: number;
    width?: number;
    channels?: number;
    precision?: "float32" | "float64";
  };

/** Options of {@link sampleStaged}. */
export interface SampleOptions {
  /** The kind of the model's output. */
  prediction: PredictionKind;
  /** The solver (a key of {@link SOLVERS}); default `"heun"` for velocity kinds, else `"ddim"`. */
  solver?: Solver;
  /** The starting point or the starting noise's shape (default one 1 × 1 video of noise). */
  start?: SampleStart;
  /** The generator for the initial and corrective noise (or give `seed`). */
  rng?: Rng;
  /** A seed for a new generator, when `rng` is not given (default 0). */
  seed?: number;
  /** The transition's mean coefficient (default `"corrected"`; `"printed-eq15"` is wrong). */
  transition?: TransitionCoefficient;
  /** Called before every step. */
  onStep?: (event: StepEvent) => void | Promise<void>;
  /** Called after every renoising transition. */
  onTransition?: (event: TransitionEvent) => void | Promise<void>;
}

/**
 * Draws videos with a stage plan and a model: stage by stage from noise to data, renoising at
 * every transition. Returns full-rate videos at t = e₁ = 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stagePlan } from "./pyramid.ts";
 * import { sampleStaged } from "./samplers.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 4, stages: 2, steps: 6 });
 * const frames: number[] = [];
 * // A velocity model of data concentrated at 0: v = ε − x₀ = x/t.
 * const x = await sampleStaged(plan, (x, t) => x.data.map((v) => v / t), {
 *   prediction: "velocity",
 *   solver: "euler",
 *   start: { batch: 3 },
 *   onStep: ({ x }) => void frames.push(x.frames),
 * });
 * assert.deepEqual(frames, [2, 2, 2, 4, 4, 4]);
 * assert.ok(x.data.every((v) => Math.abs(v) < 1e-6));
 * ```
 *
 * @param plan the stage plan (K = 1 is vanilla sampling)
 * @param predict the model callback
 * @param options prediction kind, solver, start, randomness and hooks
 */
export async function sampleStaged(
  plan: StagePlan,
  predict: Predict,
  options: SampleOptions,
): Promise<Video> {
  if (!plan || !Array.isArray(plan.stages)) throw new TypeError("plan must be a StagePlan");
  if (typeof predict !== "function") {
    throw new TypeError("predict must be a function (x, t, stage)");
  }
  const prediction = checkOneOf("prediction", options?.prediction, PREDICTION_KINDS);
  const velocityKind = prediction === "velocity" || prediction === "stage-velocity";
  const solver = SOLVERS[
    checkOneOf("solver", options.solver ?? (velocityKind ? "heun" : "ddim"), SOLVER_NAMES)
  ];
  const rng = options.rng ?? createRng(options.seed ?? 0);
  if (!(rng instanceof Rng)) throw new TypeError("rng must be an Rng from createRng()");
  const { schedule } = plan;
  const model = checkedModel(predict);

  let x = initialPoint(plan, options.start ?? {}, rng);
  for (const stage of plan.stages) {
    const ctx: SolverContext = { prediction, schedule, stage, model };
    const times = stageTimes(stage);
    for (let step = 0; step < stage.steps; step++) {
      const t = times[step], tNext = times[step + 1];
      const output = await model(x, t, stage);
      const pair = recoverPair(x, output, { ...ctx, t });
      await options.onStep?.({ stage, step, t, tNext, x, prediction: output, x0: pair.x0 });
      x = await solver(ctx, x, pair, t, tNext);
    }
    if (stage.index < plan.stageCount - 1) {
      x = await transition(plan, stage, x, { rng, options });
    }
  }
  return x;
}

/** Upsamples and renoises x̂_e of `stage` into x̂_s of the next stage (corrected Eq. 15). */
async function transition(
  plan: StagePlan,
  stage: Stage,
  x: Video,
  { rng, options }: { rng: Rng; options: SampleOptions },
): Promise<Video> {
  const to = plan.stages[stage.index + 1];
  const spec = {
    from: stage.end,
    to: to.start,
    groupSize: plan.groupSize,
    coefficient: options.transition ?? "corrected",
  } as const;
  const { schedule } = plan;
  const after = renoise(x, { ...spec, schedule, noise: rng, layout: plan.temporal.layout });
  await options.onTransition?.({
    from: stage,
    to,
    before: x,
    after,
    coefficients: transitionCoefficients(schedule, spec),
  });
  return after;
}

/** The first stage's starting point: `start.x`, or σ(s_K)·z at F/2^{K−1} frames. */
function initialPoint(plan: StagePlan, start: SampleStart, rng: Rng): Video {
  const first = plan.stages[0];
  if ("x" in start) {
    const x = checkVideo("start.x", start.x);
    if (x.frames !== first.frames) {
      throw new RangeError(
        `start.x must have the first stage's ${first.frames} frames; got ${describeShape(x)}`,
      );
    }
    return videoLike(x, x.data.slice());
  }
  const x = gaussianVideo(
    {
      batch: start.batch ?? 1,
      frames: first.frames,
      height: start.height ?? 1,
      width: start.width ?? 1,
      channels: start.channels ?? 1,
    },
    rng,
    start.precision ?? "float32",
  );
  const s0 = plan.schedule.sigma(first.start);
  for (let i = 0; i < x.data.length; i++) x.data[i] *= s0;
  return x;
}

/** Wraps `predict` so that a wrong length, a wrong type or a non-finite output fails clearly. */
function checkedModel(predict: Predict): (x: Video, t: number, stage: Stage) => Promise<VideoData> {
  return async (x, t, stage) => {
    const out = await predict(x, t, stage);
    if (
      !(out instanceof Float32Array || out instanceof Float64Array) || out.length !== x.data.length
    ) {
      throw new RangeError(
        `predict must return a Float32Array or Float64Array of ${x.data.length} elements for x of ` +
          `shape ${describeShape(x)}; got ${show(out?.constructor?.name)} of length ${
            show((out as VideoData | undefined)?.length)
          }`,
      );
    }
    for (let i = 0; i < out.length; i++) {
      if (!Number.isFinite(out[i])) {
        throw new RangeError(
          `predict returned a non-finite value (${out[i]}) at stage k = ${stage.k}, t = ${t}, ` +
            `entry ${i}; the model output must be finite`,
        );
      }
    }
    return out;
  };
}

/** x + dt·u. */
function eulerPoint(x: Video, u: VideoData, dt: number): VideoData {
  const next = newData(x.data, x.data.length);
  for (let i = 0; i < next.length; i++) next[i] = x.data[i] + dt * u[i];
  return next;
}

/** dx/dt = γ̇ x̃₀ + σ̇ ε from a recovered pair. */
function velocityOf(ctx: SolverContext, pair: StagePair, t: number): VideoData {
  const c = ctx.schedule.at(t);
  const x0 = pair.x0.data, eps = pair.epsilon.data;
  const u = newData(x0, x0.length);
  for (let i = 0; i < u.length; i++) u[i] = c.dGamma * x0[i] + c.dSigma * eps[i];
  return u;
}
