/**
 * Training: vanilla, TPDiff without alignment and TPDiff with alignment, for flow matching and
 * DDIM, with train-small's network, data and recipe, each trained for the same wall-clock budget
 * and evaluated (clock stopped) at evenly spaced points of it.
 *
 * @module
 */
import type { Dataset } from "../../lib/data/mod.ts";
import {
  createDenoiser,
  datasetBatches,
  type DiffusionForm,
  drawSamples,
  drawVideos,
  planForTraining,
  train,
  TRAIN_SMALL,
  type TrainConfig,
  Trainer,
  trainSmallData,
  trainSmallModel,
} from "../../lib/nn/mod.ts";
import { createRng, type StagePlan } from "../../lib/mod.ts";
import { measureQuality, type Quality, type Reference } from "./quality.ts";
import { median, type Progress } from "./util.ts";

/** The three methods compared. */
export const METHODS = ["vanilla", "tpdiff-no-align", "tpdiff-align"] as const;
/** A method. */
export type Method = (typeof METHODS)[number];

/** Settings of the training part. */
export interface TrainingSettings {
  /** Training wall-clock per run, seconds (evaluation excluded). */
  seconds: number;
  /** Evaluations, evenly spaced over the budget (the last at its end). */
  evals: number;
  /** Videos sampled per evaluation. */
  samples: number;
  /** Sampling steps per evaluation (in total over the stages). */
  sampleSteps: number;
  /** Seeds (model initialisation and data order). */
  seeds: number[];
  /** Forms. */
  forms: DiffusionForm[];
}

/** One evaluation of one run. */
export interface Evaluation {
  /** Training wall-clock so far, s. */
  seconds: number;
  /** Steps so far. */
  step: number;
  /** Sample quality. */
  quality: Quality;
}

/** One training run. */
export interface TrainingRun {
  /** The form. */
  form: DiffusionForm;
  /** The method. */
  method: Method;
  /** The seed. */
  seed: number;
  /** Steps the learning-rate schedule was sized for (from a timed probe of 8 steps). */
  plannedSteps: number;
  /** Steps taken within the budget. */
  steps: number;
  /** Median ms per step. */
  msPerStep: number;
  /** Mean ms per step. */
  meanMsPerStep: number;
  /** Evaluations in time order. */
  evals: Evaluation[];
}

/**
 * The training config of a method.
 *
 * @param form fm or ddim
 * @param method the method
 * @param steps the schedule's length
 * @returns the config
 */
export function methodConfig(form: DiffusionForm, method: Method, steps: number): TrainConfig {
  const vanilla = method === "vanilla";
  return {
    ...TRAIN_SMALL,
    form,
    mode: vanilla ? "vanilla" : "pyramid",
    stages: vanilla ? 1 : TRAIN_SMALL.stages,
    align: method === "tpdiff-align",
    steps,
    warmup: Math.min(TRAIN_SMALL.warmup, Math.max(1, Math.floor(steps / 5))),
  };
}

/**
 * Trains one method for the budget and evaluates it along the way.
 *
 * @param form fm or ddim
 * @param method the method
 * @param seed the seed
 * @param s settings
 * @param reference the real-data reference
 * @param progress progress printer
 * @returns the run
 */
export async function runTraining(
  form: DiffusionForm,
  method: Method,
  seed: number,
  s: TrainingSettings,
  reference: Reference,
  progress: Progress,
): Promise<TrainingRun> {
  const data = await trainSmallData();
  const modelConfig = trainSmallModel();
  const make = (steps: number) =>
    new Trainer(
      methodConfig(form, method, steps),
      createDenoiser(modelConfig, createRng(`bench-model:${seed}`)),
      createRng(`bench-data:${seed}`),
    );
  const plannedSteps = await plannedStepsFor(make(1000), data, s.seconds);
  const trainer = make(plannedSteps);
  const plan = planForTraining(trainer.config, s.sampleSteps);
  const evalAt = Array.from({ length: s.evals }, (_, i) => (s.seconds * (i + 1)) / s.evals);
  const evals: Evaluation[] = [];
  const stepMs: number[] = [];
  let clock = 0;
  const evaluate = async () => {
    const quality = await sampleQuality(trainer, { plan, samples: s.samples, reference });
    evals.push({ seconds: clock / 1000, step: trainer.step, quality });
    progress(
      `  ${form} ${method} seed ${seed}: ${(clock / 1000).toFixed(0)} s, step ${trainer.step}, ` +
        `FD ${quality.fd.toFixed(3)}, MMD ${quality.mmd.toFixed(3)}, objects/frame ${
          quality.motion.objectsPerFrame.toFixed(2)
        }`,
    );
  };
  // Past the planned steps (the probe guessed long) the learning rate stays at its floor, so that
  // every run trains for exactly the budget.
  await train(trainer, {
    batches: datasetBatches(trainer, data, { prefetch: false }),
    until: Infinity,
    stop: () => evals.length === s.evals,
    onStep: async (_, ms) => {
      stepMs.push(ms);
      clock += ms;
      while (evals.length < s.evals && clock >= evalAt[evals.length] * 1000) await evaluate();
    },
  });
  trainer.model.params.dispose();
  return {
    form,
    method,
    seed,
    plannedSteps,
    steps: trainer.step,
    msPerStep: median(stepMs),
    meanMsPerStep: stepMs.reduce((a, b) => a + b, 0) / stepMs.length,
    evals,
  };
}

/**
 * Sizes the learning-rate schedule to the budget from a short timed probe (one untimed step, then
 * 8 timed), and disposes of the probe.
 */
async function plannedStepsFor(probe: Trainer, data: Dataset, seconds: number): Promise<number> {
  const batch = () => drawVideos(data, probe.config.batch, probe.rng).x0;
  await probe.trainStep(batch());
  const t0 = performance.now();
  for (let i = 0; i < 8; i++) await probe.trainStep(batch());
  const planned = Math.max(10, Math.round((seconds * 1000) / ((performance.now() - t0) / 8)));
  probe.model.params.dispose();
  return planned;
}

/** Draws the evaluation's samples with the current weights and measures them. */
async function sampleQuality(
  trainer: Trainer,
  at: { plan: StagePlan; samples: number; reference: Reference },
): Promise<Quality> {
  const samples = await drawSamples(trainer.model, {
    plan: at.plan,
    prediction: trainer.prediction,
    count: at.samples,
    seed: 90_001,
    keep: "none",
  });
  return measureQuality(samples.pixels, at.samples, at.reference);
}
