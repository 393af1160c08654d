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
 * import { rectifiedFlow } from "./schedule.ts";
 * import { stagePlan } from "./pyramid.ts";
 * import { sampleStaged } from "./samplers.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 8, stages: 3, steps: 9 });
 * // A model that always predicts velocity ε − x0 = x / t for a data distribution at 0:
 * const x = await sampleStaged(plan, (x, t) => x.data.map((v) => v / Math.max(t, 1e-9)), {
 *   prediction: "velocity",
 *   seed: 1,
 * });
 * console.log(x.frames); // 8
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
import { PREDICTION_KINDS, type PredictionKind, recoverPair } from "./stagewise.ts";
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

/** ODE solvers: `"euler"` and `"heun"` on the velocity, `"ddim"` on (x̃₀, ε) (Eq. 3). */
export type Solver = "euler" | "heun" | "ddim";

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

/** Options of {@link sampleStaged}. */
export interface SampleOptions {
  /** The kind of the model's output. */
  prediction: PredictionKind;
  /** The solver; default `"heun"` for velocity kinds, `"ddim"` otherwise. */
  solver?: Solver;
  /** Videos to draw (default 1). Ignored when `initial` is given. */
  batch?: number;
  /** Frame height (default 1). */
  height?: number;
  /** Frame width (default 1). */
  width?: number;
  /** Channels (default 1). */
  channels?: number;
  /** The generator for the initial and corrective noise (or give `seed`). */
  rng?: Rng;
  /** A seed for a new generator, when `rng` is not given (default 0). */
  seed?: number;
  /** The starting point at the first stage's frame count, instead of σ(s_K)·z. */
  initial?: Video;
  /** Precision of the trajectory (default `"float32"`; `initial`'s precision wins). */
  precision?: "float32" | "float64";
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
 * @param plan the stage plan (K = 1 is vanilla sampling)
 * @param predict the model callback
 * @param options prediction kind, solver, shape, randomness and hooks
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
  const kind = checkOneOf("prediction", options?.prediction, PREDICTION_KINDS);
  const velocityKind = kind === "velocity" || kind === "stage-velocity";
  const solver = checkOneOf(
    "solver",
    options.solver ?? (velocityKind ? "heun" : "ddim"),
    ["euler", "heun", "ddim"] as const,
  );
  const rng = options.rng ?? createRng(options.seed ?? 0);
  if (!(rng instanceof Rng)) throw new TypeError("rng must be an Rng from createRng()");
  const { schedule } = plan;
  const model = checkedModel(predict);

  let x = initialPoint(plan, options, rng);
  for (const stage of plan.stages) {
    const times = stageTimes(stage);
    for (let step = 0; step < stage.steps; step++) {
      const t = times[step], tNext = times[step + 1];
      const prediction = await model(x, t, stage);
      await options.onStep?.({ stage, step, t, tNext, x, prediction });
      x = await solverStep({ solver, kind, schedule, model, stage }, x, prediction, t, tNext);
    }
    if (stage.index < plan.stageCount - 1) {
      const to = plan.stages[stage.index + 1];
      const transition = {
        from: stage.end,
        to: to.start,
        groupSize: plan.groupSize,
        coefficient: options.transition ?? "corrected",
      } as const;
      const after = renoise(x, {
        ...transition,
        schedule,
        noise: rng,
        layout: plan.temporal.layout,
      });
      await options.onTransition?.({
        from: stage,
        to,
        before: x,
        after,
        coefficients: transitionCoefficients(schedule, transition),
      });
      x = after;
    }
  }
  return x;
}

/** The first stage's starting point: `initial`, or σ(s_K)·z at F/2^{K−1} frames. */
function initialPoint(plan: StagePlan, options: SampleOptions, rng: Rng): Video {
  const first = plan.stages[0];
  if (options.initial) {
    const x = checkVideo("initial", options.initial);
    if (x.frames !== first.frames) {
      throw new RangeError(
        `initial must have the first stage's ${first.frames} frames; got ${describeShape(x)}`,
      );
    }
    return videoLike(x, x.data.slice());
  }
  const x = gaussianVideo(
    {
      batch: options.batch ?? 1,
      frames: first.frames,
      height: options.height ?? 1,
      width: options.width ?? 1,
      channels: options.channels ?? 1,
    },
    rng,
    options.precision ?? "float32",
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

interface StepContext {
  solver: Solver;
  kind: PredictionKind;
  schedule: StagePlan["schedule"];
  model: (x: Video, t: number, stage: Stage) => Promise<VideoData>;
  stage: Stage;
}

/**
 * One step from t to tNext: DDIM (Eq. 3) re-noises the recovered (x̃₀, ε) at tNext; Euler follows
 * the velocity γ̇x̃₀ + σ̇ε; Heun averages it with the velocity at the Euler proposal, except into
 * σ = 0, where it is Euler (Karras et al. 2022, Algorithm 2).
 */
async function solverStep(
  ctx: StepContext,
  x: Video,
  prediction: VideoData,
  t: number,
  tNext: number,
): Promise<Video> {
  const { solver, kind, schedule, stage } = ctx;
  const next = newData(x.data, x.data.length);
  if (solver === "ddim") {
    const pair = recoverPair(x, prediction, { kind, stage, t, schedule });
    const g = schedule.gamma(tNext), s = schedule.sigma(tNext);
    for (let i = 0; i < next.length; i++) next[i] = g * pair.x0.data[i] + s * pair.epsilon.data[i];
    return videoLike(x, next);
  }
  const dt = tNext - t;
  const u = velocityOf(ctx, x, prediction, t);
  for (let i = 0; i < next.length; i++) next[i] = x.data[i] + dt * u[i];
  if (solver === "heun" && schedule.sigma(tNext) > 0) {
    const proposal = videoLike(x, next);
    const u2 = velocityOf(ctx, proposal, await ctx.model(proposal, tNext, stage), tNext);
    for (let i = 0; i < next.length; i++) next[i] = x.data[i] + 0.5 * dt * (u[i] + u2[i]);
  }
  return videoLike(x, next);
}

/** dx/dt = γ̇ x̃₀ + σ̇ ε from a prediction of any kind. */
function velocityOf(ctx: StepContext, x: Video, prediction: VideoData, t: number): VideoData {
  const pair = recoverPair(x, prediction, {
    kind: ctx.kind,
    stage: ctx.stage,
    t,
    schedule: ctx.schedule,
  });
  const c = ctx.schedule.at(t);
  const u = newData(x.data, x.data.length);
  for (let i = 0; i < u.length; i++) {
    u[i] = c.dGamma * pair.x0.data[i] + c.dSigma * pair.epsilon.data[i];
  }
  return u;
}
