/**
 * Batch preparation for stage-wise training, free of tfjs so that a worker can run it one step
 * ahead of the optimiser (`BatchPrefetcher`): the stage plan a training config implies, and one
 * batch's stage, times, aligned noise, x_t and targets from `lib`'s stage maths (Algorithm 2).
 *
 * @module
 */
import { show } from "../checks.ts";
import { alignNoise } from "../align.ts";
import { rectifiedFlow, type Schedule, shiftSchedule, vpSchedule } from "../schedule.ts";
import { type Stage, type StagePlan, stagePlan } from "../pyramid.ts";
import {
  type PredictionKind,
  sampleStage,
  sampleTimeInStage,
  trainingExample,
} from "../stagewise.ts";
import { gaussianVideo, type Rng, sampleOf, type Video, video } from "../video.ts";
import { givenPositions, stageCondition } from "../condition.ts";
import { type Dataset, toModelSpace } from "../data/generate.ts";
import type { DiffusionForm, TrainConfig } from "./trainer.ts";

/**
 * The stage plan a training config implies: rectified flow for `fm`, VP (linear β) for `ddim`; K
 * stages for the pyramid (at the config's boundaries, uniform by default, and with its temporal
 * Down), 1 for vanilla; the schedule shifted by the config's `shift`, if any.
 *
 * @param config the training config
 * @param steps sampling steps in total (default 30)
 * @returns the plan
 */
export function planForTraining(
  config: Pick<
    TrainConfig,
    "mode" | "form" | "stages" | "frames" | "boundaries" | "down" | "shift" | "stepSplit"
  >,
  steps: number | number[] = 30,
): StagePlan {
  const vanilla = config.mode === "vanilla";
  return stagePlan({
    schedule: trainingSchedule(config),
    frames: config.frames,
    stages: vanilla ? 1 : config.stages,
    steps,
    ...(vanilla || config.boundaries === undefined ? {} : { boundaries: config.boundaries }),
    ...(config.down === undefined ? {} : { down: config.down }),
    ...(vanilla || config.stepSplit === undefined ? {} : { stepSplit: config.stepSplit }),
  });
}

/**
 * The noise schedule a training config uses: its form's, shifted by `shift` when set.
 *
 * @param config the form and the shift
 * @returns the schedule
 */
export function trainingSchedule(config: Pick<TrainConfig, "form" | "shift">): Schedule {
  return config.shift === undefined || config.shift === 1
    ? scheduleFor(config.form)
    : shiftSchedule(scheduleFor(config.form), config.shift);
}

/**
 * The noise schedule of a training form.
 *
 * @param form `flow-matching` (rectified flow) or `vp-epsilon` (a linear-β VP schedule)
 * @returns the schedule
 */
export function scheduleFor(form: DiffusionForm): Schedule {
  if (form === "flow-matching") return rectifiedFlow();
  if (form === "vp-epsilon") return vpSchedule({ beta: "linear" });
  throw new RangeError(`form must be flow-matching or vp-epsilon; got ${show(form)}`);
}

/**
 * The prediction kind a training form learns: Eq. 13's stage velocity for flow matching, ε for
 * the VP form.
 *
 * @param form `flow-matching` or `vp-epsilon`
 * @returns the prediction kind the model learns
 */
export function predictionFor(form: DiffusionForm): PredictionKind {
  return form === "flow-matching" ? "stage-velocity" : "epsilon";
}

/** A batch prepared on the CPU with `lib`'s stage maths. */
export interface PreparedBatch {
  /** The stage drawn for the batch. */
  stage: Stage;
  /** t per video. */
  t: number[];
  /** x_t at the stage's frame rate. */
  xt: Float32Array;
  /** The regression target, same shape. */
  target: Float32Array;
  /** Alignment totals, when aligned. */
  alignment?: { identity: number; aligned: number };
  /** A class-conditional model's label per video after dropout (the null class where dropped). */
  labels?: number[];
  /** A frame-conditioned model's given frames at the stage's rate and their mask, per video. */
  given?: { frames: Float32Array; mask: Float32Array };
}

/** What {@link prepareBatch} needs besides the videos. */
export interface BatchSpec {
  /** The training config (frames, alignment, stage weights). */
  config: Pick<
    TrainConfig,
    | "frames"
    | "align"
    | "stageWeights"
    | "timeDensity"
    | "labelDropout"
    | "givenModes"
    | "givenDropout"
  >;
  /** The stage plan. */
  plan: StagePlan;
  /** The prediction kind learned. */
  prediction: PredictionKind;
  /** Frame height, width and channels. */
  size: { height: number; width: number; channels: number };
  /** The model's classes (0 or absent: unconditional, no labels). */
  classes?: number;
  /** Whether the model reads given frames. */
  frameCondition?: boolean;
  /** Its slots per stage frame (default 1; `stageCondition`). */
  givenSlots?: number;
}

/**
 * Prepares one batch with `lib`: full-rate noise (paired to the videos by linear assignment when
 * `align`), a stage, a time per video, x_t on the stage path and the target (Algorithm 2).
 *
 * @param x0 clean full-rate videos in model space, [batch, F, H, W, C]
 * @param spec config, plan, prediction kind and frame size
 * @param draws `rng` for noise and times, `stageRng` for the stage (the trainer's generator; both
 *   are the same in training), or a fixed `stage` and a fixed time `t` for every video
 * @returns the stage-rate inputs and targets
 */
export function prepareBatch(
  x0: Float32Array,
  spec: BatchSpec,
  draws: { rng: Rng; stageRng?: Rng; stage?: Stage; t?: number; labels?: ArrayLike<number> },
): PreparedBatch {
  const { config, plan, prediction } = spec;
  const { height, width, channels } = spec.size;
  const { frames } = config;
  const batch = x0.length / (frames * height * width * channels);
  if (!Number.isInteger(batch) || batch < 1) {
    throw new RangeError(`x0 must hold whole videos of ${frames} frames; got ${x0.length} values`);
  }
  const { rng } = draws;
  const shape = { batch, frames, height, width, channels };
  const clean = video(shape, x0);
  let noise = gaussianVideo(shape, rng);
  let alignment: PreparedBatch["alignment"];
  if (config.align) {
    const aligned = alignNoise(clean, noise, { metric: "squared-l2" });
    noise = aligned.noise;
    alignment = aligned.cost;
  }
  const stage = draws.stage ??
    sampleStage(plan, draws.stageRng ?? rng, { weights: config.stageWeights });
  const size = stage.frames * height * width * channels;
  const xt = new Float32Array(batch * size), out = new Float32Array(batch * size);
  const t: number[] = [];
  for (let b = 0; b < batch; b++) {
    const tb = draws.t ?? sampleTimeInStage(stage, rng, config.timeDensity);
    t.push(tb);
    const example = trainingExample(sampleOf(clean, b), sampleOf(noise, b), {
      plan,
      stage,
      t: tb,
      prediction,
    });
    xt.set(example.xt.data, b * size);
    out.set(example.target.data, b * size);
  }
  const labels = batchLabels(spec, draws, batch);
  const given = spec.frameCondition ? batchGiven(clean, spec, stage, rng) : undefined;
  return {
    stage,
    t,
    xt,
    target: out,
    alignment,
    ...(labels ? { labels } : {}),
    ...(given ? { given } : {}),
  };
}

/**
 * A frame-conditioned batch's given frames, drawn after everything else: one mode for the batch,
 * then each video's given frames as the stage sees them (`stageCondition`), or none at all with
 * the dropout probability.
 */
function batchGiven(
  clean: Video<Float32Array>,
  spec: BatchSpec,
  stage: Stage,
  rng: Rng,
): { frames: Float32Array; mask: Float32Array } {
  const modes = spec.config.givenModes ?? ["first-frame"];
  const mode = modes[rng.integer(modes.length)];
  const positions = givenPositions(mode, clean.frames);
  const slots = spec.givenSlots ?? 1;
  const per = clean.height * clean.width * clean.channels, size = stage.frames * slots * per;
  const frames = new Float32Array(clean.batch * size),
    mask = new Float32Array(clean.batch * stage.frames * slots);
  for (let b = 0; b < clean.batch; b++) {
    if (rng.uniform() < (spec.config.givenDropout ?? 0.1)) continue;
    const values = new Float32Array(positions.length * per);
    positions.forEach((p, i) =>
      values.set(
        clean.data.subarray((b * clean.frames + p) * per, (b * clean.frames + p + 1) * per),
        i * per,
      )
    );
    const seen = stageCondition({ positions, values }, { plan: spec.plan, stage, slots });
    frames.set(seen.frames.data, b * size);
    mask.set(seen.mask, b * stage.frames * slots);
  }
  return { frames, mask };
}

/**
 * A class-conditional batch's labels after dropout, drawn last from the batch's generator (so an
 * unconditional run draws exactly as before); the null class where none are given.
 */
function batchLabels(
  spec: BatchSpec,
  draws: { rng: Rng; labels?: ArrayLike<number> },
  batch: number,
): number[] | undefined {
  const classes = spec.classes ?? 0;
  if (classes === 0) {
    if (draws.labels !== undefined) {
      throw new RangeError("labels were given for a model without classes (classes 0)");
    }
    return undefined;
  }
  if (draws.labels === undefined) return new Array(batch).fill(classes);
  if (draws.labels.length !== batch) {
    throw new RangeError(
      `labels must have one entry per video (${batch}); got ${draws.labels.length}`,
    );
  }
  const p = spec.config.labelDropout ?? 0.1;
  return Array.from(draws.labels, (l) => (draws.rng.uniform() < p ? classes : l));
}

/**
 * The training data order: `batch` videos drawn uniformly with the trainer's generator, in model
 * space. The sequential loop and the prefetching worker both draw through it, so that they draw
 * alike.
 *
 * @param dataset the training videos (their shape and pixels)
 * @param batch videos per batch
 * @param rng the trainer's generator
 * @returns the indices drawn and the videos
 */
export function drawVideos(
  dataset: Pick<Dataset, "shape" | "pixels">,
  batch: number,
  rng: Rng,
): { indices: number[]; x0: Float32Array } {
  const indices = Array.from({ length: batch }, () => rng.integer(dataset.shape[0]));
  return { indices, x0: toModelSpace(dataset, indices) };
}
