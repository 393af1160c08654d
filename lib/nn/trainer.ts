/**
 * Stage-wise diffusion training (Algorithm 2 of TPDiff, with the corrected stage starts of
 * `stagePlan`): each batch draws one stage, a time t ∈ (e_k, s_k] per video, full-rate noise paired
 * to the data by linear assignment (Algorithm 1, optional), and regresses the model on `lib`'s
 * target for that stage (Eq. 13 velocity for flow matching, ε for DDIM). `mode: "vanilla"` is the
 * same with one stage: ordinary diffusion training with the same network and budget.
 *
 * The optimiser is Adam with linear warm-up and cosine decay, global-norm gradient clipping and an
 * EMA of the weights; all randomness comes from one seeded {@link Rng}, so a run resumed from a
 * checkpoint continues exactly.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Stage, StagePlan } from "../pyramid.ts";
import { type PredictionKind, recoveryCoefficients, type TimeDensity } from "../stagewise.ts";
import type { DownMethod } from "../temporal.ts";
import type { GivenMode } from "../condition.ts";
import { framePositions } from "../temporal.ts";
import { createRng, type Rng } from "../video.ts";
import { planForTraining, predictionFor, prepareBatch, type PreparedBatch } from "./batch.ts";
import { createDenoiser, type Denoiser, selfConditioned } from "./denoiser.ts";
import { valuesInOrder } from "./params.ts";

/**
 * The training forms: `"flow-matching"` (rectified flow, Eq. 13's stage-velocity target) or
 * `"vp-epsilon"` (the paper's DDIM form: a VP schedule and the ε target, sampled with the `ddim`
 * solver by default).
 */
export const DIFFUSION_FORMS = ["flow-matching", "vp-epsilon"] as const;

/** A training form; see {@link DIFFUSION_FORMS}. */
export type DiffusionForm = (typeof DIFFUSION_FORMS)[number];

const LEGACY_FORMS: Record<string, DiffusionForm> = { fm: "flow-matching", ddim: "vp-epsilon" };

/**
 * A training form's name as read from a file (a checkpoint, saved benchmark results): files
 * written before the forms were spelled out name them `"fm"` and `"ddim"`; any other value is
 * returned as it is, for the reader's own check.
 *
 * @param form the name in the file
 * @returns the current name
 */
export function formFromFile(form: unknown): unknown {
  return typeof form === "string" && Object.hasOwn(LEGACY_FORMS, form) ? LEGACY_FORMS[form] : form;
}

export {
  type BatchSpec,
  drawVideos,
  planForTraining,
  predictionFor,
  prepareBatch,
  type PreparedBatch,
  scheduleFor,
  trainingSchedule,
} from "./batch.ts";

/** Training hyper-parameters (stored in checkpoints). */
export interface TrainConfig {
  /** `"pyramid"` (stage-wise, K stages) or `"vanilla"` (one full-rate stage). */
  mode: "pyramid" | "vanilla";
  /** The training form: `"flow-matching"` or `"vp-epsilon"`. */
  form: DiffusionForm;
  /** K for the pyramid (vanilla always uses 1). */
  stages: number;
  /** Full-rate frames F. */
  frames: number;
  /** Videos per batch. */
  batch: number;
  /** Optimiser steps in the whole run (sets the learning-rate decay). */
  steps: number;
  /** Peak learning rate. */
  learningRate: number;
  /** Linear warm-up steps. */
  warmup: number;
  /** Global-norm clipping threshold. */
  clip: number;
  /** EMA decay per step. */
  emaDecay: number;
  /** Data-noise alignment (Algorithm 1). */
  align: boolean;
  /** Stage sampling weights in run order (default uniform). */
  stageWeights?: number[];
  /** How t is drawn inside a stage (default `"uniform"`, the paper's). */
  timeDensity?: TimeDensity;
  /** The K − 1 interior nominal stage boundaries τ₁ < … < τ_{K−1} (default uniform k/K). */
  boundaries?: number[];
  /**
   * How a total of sampling steps is split over the stages (`stagePlan`'s `stepSplit`): `"even"`
   * (default) or `"length"`, in proportion to each stage's interval s_k − e_k (data-planned
   * schedules, `planFromData`).
   */
  stepSplit?: "even" | "length";
  /** The temporal Down: `"stride"` keeps every other frame (default), `"average"` averages pairs. */
  down?: DownMethod;
  /** SD3's timestep shift s of the schedule (`shiftSchedule`; default 1, none). */
  shift?: number;
  /** A class-conditional model's label dropout: each label is replaced by the null class with
   * this probability (default 0.1), so that one network learns the unconditional prediction that
   * classifier-free guidance needs. */
  labelDropout?: number;
  /** A frame-conditioned model's given-frame modes, one drawn per batch (default first-frame). */
  givenModes?: GivenMode[];
  /** How often a video's given frames are all dropped (default 0.1), for the unconditional model. */
  givenDropout?: number;
}

/**
 * Adam's and the EMA's state, each one flat vector over all parameters in declaration order, kept
 * in plain memory: one pass of JavaScript per step is faster than a dozen small tfjs ops per
 * parameter on wasm, and checkpoints read it without a copy.
 */
export interface OptimizerState {
  /** First moments. */
  m: Float32Array;
  /** Second moments. */
  v: Float32Array;
  /** EMA weights. */
  ema: Float32Array;
}

/** The optimiser-state groups, by their checkpoint names. */
export type StateGroup = "ema" | "adam.m" | "adam.v";

/** What one training step reports. */
export interface StepReport {
  /** The step number after this step (1-based). */
  step: number;
  /** The mean squared error of the batch. */
  loss: number;
  /** The stage index k of the batch. */
  k: number;
  /** Frames in the batch's stage. */
  frames: number;
  /** The gradient's global norm before clipping. */
  gradNorm: number;
  /** The learning rate used. */
  learningRate: number;
  /** Alignment cost before and after pairing (squared-L2 totals), when aligned. */
  alignment?: { identity: number; aligned: number };
}

/** Thrown when a loss or gradient is NaN or infinite; the weights are left as they were. */
export class NonFiniteError extends Error {
  /**
   * Creates the error.
   *
   * @param message which value and at which step
   */
  constructor(message: string) {
    super(message);
    this.name = "NonFiniteError";
  }
}

/** Runs stage-wise training of one denoiser. */
export class Trainer {
  /** The config. */
  readonly config: TrainConfig;
  /** The model being trained. */
  readonly model: Denoiser;
  /** The stage plan (its schedule and stages; its step counts are unused in training). */
  readonly plan: StagePlan;
  /** The prediction kind being learned. */
  readonly prediction: PredictionKind;
  /** Adam moments and EMA weights. */
  readonly state: OptimizerState;
  /** Steps taken so far. */
  step: number;
  /** The generator for data order, noise, stages and times. */
  rng: Rng;

  /**
   * Creates a trainer with zero Adam moments and EMA weights equal to the model's.
   *
   * @param config training hyper-parameters
   * @param model the denoiser (its weights are trained in place)
   * @param rng the generator (its state is part of the checkpoint)
   */
  constructor(config: TrainConfig, model: Denoiser, rng: Rng) {
    this.config = config;
    this.model = model;
    this.rng = rng;
    this.step = 0;
    this.plan = planForTraining(config);
    this.prediction = predictionFor(config.form);
    const size = model.params.count();
    this.state = {
      m: new Float32Array(size),
      v: new Float32Array(size),
      ema: new Float32Array(size),
    };
  }

  /** Whether `state.ema` holds the EMA yet (it starts at the weights, read at the first step). */
  #emaReady = false;

  /** Before the first step the EMA equals the weights (read asynchronously, as webgpu needs). */
  private async ensureEma(): Promise<void> {
    if (this.#emaReady) return;
    let at = 0;
    for (const v of this.model.params.variables.values()) {
      this.state.ema.set((await v.data()) as Float32Array, at);
      at += v.size;
    }
    this.#emaReady = true;
  }

  /**
   * One optimiser-state group, split by parameter name (copies).
   *
   * @param group `ema`, `adam.m` or `adam.v`
   * @returns the values by parameter name
   */
  async stateValues(group: StateGroup): Promise<Map<string, Float32Array>> {
    if (group === "ema") await this.ensureEma();
    const flat = this.stateArray(group);
    const out = new Map<string, Float32Array>();
    let at = 0;
    for (const [name, v] of this.model.params.variables) {
      out.set(name, flat.slice(at, at + v.size));
      at += v.size;
    }
    return out;
  }

  /**
   * Sets one optimiser-state group from values by parameter name (checked against the model).
   *
   * @param group `ema`, `adam.m` or `adam.v`
   * @param values the values by parameter name
   */
  setStateValues(group: StateGroup, values: Map<string, Float32Array>): void {
    const flat = this.stateArray(group);
    let at = 0;
    for (const data of valuesInOrder(this.model.params.variables, values, group)) {
      flat.set(data, at);
      at += data.length;
    }
    if (group === "ema") this.#emaReady = true;
  }

  /** The learning rate at the current step: linear warm-up, then cosine decay to 10 %. */
  learningRate(): number {
    const { learningRate: peak, warmup, steps } = this.config;
    const s = this.step + 1;
    if (s <= warmup) return (peak * s) / warmup;
    const progress = Math.min(1, (s - warmup) / Math.max(1, steps - warmup));
    return peak * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)));
  }

  /**
   * Prepares one batch with `lib`: alignment, stage, times, x_t and targets.
   *
   * @param x0 clean full-rate videos in model space, [batch, F, H, W, C]
   * @param options `rng`: the generator of the noise, the times and the stage (default the
   *   trainer's, which then advances; a caller's leaves it untouched); `stage` and `t` to fix them
   * @returns the stage-rate inputs and targets
   */
  prepare(
    x0: Float32Array,
    options: { rng?: Rng; stage?: Stage; t?: number; labels?: ArrayLike<number> } = {},
  ): PreparedBatch {
    const { height, width, channels, classes, frameCondition, givenSlots } = this.model.config;
    return prepareBatch(x0, {
      config: this.config,
      plan: this.plan,
      prediction: this.prediction,
      size: { height, width, channels },
      classes,
      frameCondition,
      givenSlots,
    }, {
      rng: options.rng ?? this.rng,
      // A caller's generator draws the stage too, so that it leaves the trainer's untouched.
      stageRng: options.rng ?? this.rng,
      stage: options.stage,
      t: options.t,
      labels: options.labels,
    });
  }

  /**
   * The loss of every stage on fixed videos, with noise and times from a fixed seed (no gradient,
   * no change to the trainer's state): a held-out validation curve.
   *
   * @param x0 clean full-rate videos in model space
   * @param seed the seed of the noise and times
   * @returns the mean squared error per stage index k
   */
  async evaluate(x0: Float32Array, seed = 12345): Promise<Record<number, number>> {
    const out: Record<number, number> = {};
    for (const stage of this.plan.stages) {
      out[stage.k] = await this.lossOf(
        this.prepare(x0, { rng: createRng(`evaluate:${seed}:${stage.k}`), stage }),
      );
    }
    return out;
  }

  /**
   * The loss of one stage at one time t for every video, with noise from a fixed seed (no gradient,
   * no change to the trainer's state): the held-out loss per noise level.
   *
   * @param x0 clean full-rate videos in model space
   * @param at the stage, the time t in (e_k, s_k] and the seed of the noise
   * @returns the mean squared error
   */
  async lossAt(
    x0: Float32Array,
    at: { stage: Stage; t: number; seed?: number },
  ): Promise<number> {
    const { stage, t, seed = 12345 } = at;
    if (!(t > stage.end && t <= stage.start)) {
      throw new RangeError(
        `t must lie in stage k = ${stage.k}'s interval (${stage.end}, ${stage.start}]; got ${t}`,
      );
    }
    return await this.lossOf(
      this.prepare(x0, { rng: createRng(`loss-at:${seed}:${stage.k}:${t}`), stage, t }),
    );
  }

  /** The loss of a prepared batch, read back (no gradient, no tensors left behind). A self-
   * conditioning model is evaluated as it samples: every video reads its first pass's estimate. */
  private async lossOf(prepared: PreparedBatch): Promise<number> {
    const estimate = this.selfConditionFor(prepared, "every");
    const loss = tf.tidy(() => this.loss(prepared, estimate));
    const [value] = await loss.data();
    tf.dispose([loss, ...(estimate ? [estimate] : [])]);
    return value;
  }

  /** The model's inputs besides x_t for a prepared batch: t, stage, positions, labels, given. */
  private conditioning(prepared: PreparedBatch) {
    const { stage, t } = prepared;
    return {
      t,
      k: stage.k,
      positions: framePositions(this.plan.frames, stage.k, { layout: this.plan.temporal.layout }),
      ...(prepared.labels ? { labels: prepared.labels } : {}),
      ...(prepared.given ? { given: prepared.given } : {}),
    };
  }

  /** The shape of a prepared batch's x_t. */
  private shapeOf(prepared: PreparedBatch): number[] {
    const { height, width, channels } = this.model.config;
    return [prepared.t.length, prepared.stage.frames, height, width, channels];
  }

  /**
   * A self-conditioning model's estimate for a batch on a stage it self-conditions: a first pass
   * without an estimate, its x̃₀ recovered per video with lib's `recoveryCoefficients` (Eq. 11
   * solved, as `recoverPair` does), kept for every video (`"every"`: evaluation, sampling) or for
   * half of them, drawn from the step number so that a resumed run draws the same (`"half"`:
   * training, Chen et al. 2023, Algorithm 1), zero for the others. Computed outside the gradient,
   * so no gradient flows through it. Undefined for other models and stages.
   */
  private selfConditionFor(
    prepared: PreparedBatch,
    videos: "every" | "half",
  ): tf.Tensor | undefined {
    const { stage, t } = prepared;
    if (!selfConditioned(this.model.config, stage.k)) return undefined;
    const coin = videos === "half" ? createRng(`self-condition:${this.step}`) : undefined;
    const B = t.length, schedule = this.plan.schedule;
    const cx = new Float32Array(B), co = new Float32Array(B);
    for (let i = 0; i < B; i++) {
      if (coin && !(coin.uniform() < 0.5)) continue;
      const { x0, det } = recoveryCoefficients(this.prediction, { stage, t: t[i], schedule });
      // A kind that cannot recover x̃₀ at this t (ε where γ = 0) gives no estimate.
      if (Math.abs(det) > 1e-6) [cx[i], co[i]] = [x0.x, x0.output];
    }
    return tf.tidy(() => {
      const xt = tf.tensor(prepared.xt, this.shapeOf(prepared));
      const out = this.model.apply(xt, this.conditioning(prepared));
      const per = [B, 1, 1, 1, 1];
      return tf.add(tf.mul(xt, tf.tensor(cx, per)), tf.mul(out, tf.tensor(co, per)));
    });
  }

  /** The mean squared error of the model on a prepared batch (call inside a tidy). */
  private loss(prepared: PreparedBatch, estimate?: tf.Tensor): tf.Scalar {
    const shape = this.shapeOf(prepared);
    const prediction = this.model.apply(tf.tensor(prepared.xt, shape), {
      ...this.conditioning(prepared),
      ...(estimate ? { selfCondition: estimate } : {}),
    });
    return tf.mean(
      tf.squaredDifference(prediction, tf.tensor(prepared.target, shape)),
    ) as tf.Scalar;
  }

  /** The flat array behind one optimiser-state group. */
  private stateArray(group: StateGroup): Float32Array {
    return { ema: this.state.ema, "adam.m": this.state.m, "adam.v": this.state.v }[group];
  }

  /**
   * A copy of the model that holds the EMA weights (for sampling); dispose it when done.
   *
   * @param rng a generator for the copy's (overwritten) initial weights
   * @returns the EMA model
   */
  async emaModel(rng: Rng): Promise<Denoiser> {
    await this.ensureEma();
    const copy = createDenoiser(this.model.config, rng);
    let at = 0;
    for (const v of copy.params.variables.values()) {
      tf.tidy(() => v.assign(tf.tensor(this.state.ema.subarray(at, at + v.size), v.shape)));
      at += v.size;
    }
    return copy;
  }

  /**
   * One optimiser step on a batch of clean videos. Throws {@link NonFiniteError} (before touching
   * the weights) if the loss or the gradient is not finite.
   *
   * @param x0 clean full-rate videos in model space, [batch, F, H, W, C]
   * @returns the step's loss and diagnostics
   */
  trainStep(x0: Float32Array): Promise<StepReport> {
    return this.trainOnBatch(this.prepare(x0));
  }

  /**
   * One optimiser step on a batch already prepared (by {@link Trainer.prepare}, or one step ahead
   * in a worker by `BatchPrefetcher`). Throws {@link NonFiniteError} (before touching the weights)
   * if the loss or the gradient is not finite.
   *
   * @param prepared the stage-rate inputs and targets
   * @returns the step's loss and diagnostics
   */
  async trainOnBatch(prepared: PreparedBatch): Promise<StepReport> {
    const { stage } = prepared;
    const variables = [...this.model.params.variables.values()];
    // Self-conditioning: half the videos read their first pass's estimate.
    const estimate = this.selfConditionFor(prepared, "half");
    const { loss, gradient } = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => this.loss(prepared, estimate), variables);
      const gradient = tf.concat(variables.map((v) => tf.reshape(grads[v.name], [-1])));
      return { loss: value, gradient };
    });
    estimate?.dispose();
    const [lossValue] = await loss.data();
    const g = (await gradient.data()) as Float32Array;
    tf.dispose([loss, gradient]);
    let squares = 0;
    for (let i = 0; i < g.length; i++) squares += g[i] * g[i];
    const gradNorm = Math.sqrt(squares);
    if (!Number.isFinite(lossValue) || !Number.isFinite(gradNorm)) {
      throw new NonFiniteError(
        `non-finite ${Number.isFinite(lossValue) ? "gradient norm" : "loss"} at step ${
          this.step + 1
        } ` +
          `(stage k = ${stage.k}): loss ${lossValue}, gradient norm ${gradNorm}`,
      );
    }
    const learningRate = this.learningRate();
    await this.applyAdam(g, learningRate, Math.min(1, this.config.clip / (gradNorm + 1e-12)));
    this.step += 1;
    return {
      step: this.step,
      loss: lossValue,
      k: stage.k,
      frames: stage.frames,
      gradNorm,
      learningRate,
      alignment: prepared.alignment,
    };
  }

  /**
   * Adam with bias correction on the clipped flat gradient, then the EMA update:
   * m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², w ← w − lr·(m/c₁)/(√(v/c₂) + ε), ema ← d·ema + (1−d)w.
   */
  private async applyAdam(g: Float32Array, lr: number, clipScale: number): Promise<void> {
    const b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const n = this.step + 1;
    const c1 = 1 - b1 ** n, c2 = 1 - b2 ** n;
    const decay = this.config.emaDecay;
    const { m, v, ema } = this.state;
    const variables = [...this.model.params.variables.values()];
    const w = tf.tidy(() => tf.concat(variables.map((x) => tf.reshape(x, [-1]))));
    const weights = Float32Array.from((await w.data()) as Float32Array);
    w.dispose();
    if (!this.#emaReady) (ema.set(weights), this.#emaReady = true);
    for (let i = 0; i < weights.length; i++) {
      const gi = g[i] * clipScale;
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      weights[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
      ema[i] = decay * ema[i] + (1 - decay) * weights[i];
    }
    let at = 0;
    for (const x of variables) {
      tf.tidy(() => x.assign(tf.tensor(weights.subarray(at, at + x.size), x.shape)));
      at += x.size;
    }
  }
}
