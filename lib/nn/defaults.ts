/**
 * The train-small defaults (training recipe, data and model), shared by the task, notebook 05 and
 * the benchmarks that measure it.
 *
 * @module
 */
import { createDenoiser, type DenoiserConfig, denoiserConfig } from "./denoiser.ts";
import { type TrainConfig, Trainer } from "./trainer.ts";
import { createRng } from "../video.ts";
import {
  type Dataset,
  type DatasetKind,
  type DatasetParams,
  datasetParams,
  loadOrCreateDataset,
} from "../data/mod.ts";

/** train-small's default training config (about five minutes on a 2-core CPU with wasm). */
export const TRAIN_SMALL: Readonly<TrainConfig> = {
  mode: "pyramid",
  form: "flow-matching",
  stages: 3,
  frames: 16,
  batch: 8,
  steps: 900,
  learningRate: 2e-3,
  warmup: 60,
  clip: 1,
  emaDecay: 0.995,
  align: true,
};

/**
 * train-small's default step count by backend, each about five minutes in all on the 2-core VM:
 * native trains a step in ~64 ms with the batch prepared in a worker (4000 steps), wasm in ~270 ms
 * (900 steps). `TRAIN_SMALL.steps` is the wasm figure.
 *
 * @param backend the active backend's name
 * @returns the default number of optimiser steps
 */
export function trainSmallSteps(backend: string): number {
  return backend === "native" ? 4000 : TRAIN_SMALL.steps;
}

/** train-small's default data: the procedural set it trains on and the held-out set it is measured on. */
export const TRAIN_SMALL_DATA = {
  kind: "balls",
  videos: 2048,
  size: 32,
  seed: 0,
  heldOutSeed: 1_000_003,
} as const;

/**
 * The parameters of train-small's 64 held-out videos for a run's dataset and seed: the same
 * generator at seed + `heldOutSeed`, and for Moving MNIST the test digits, which training never
 * sees.
 *
 * @param run the run's dataset kind, seed and video size
 * @returns the held-out set's parameters
 */
export function heldOutParams(
  run: {
    kind: DatasetKind;
    seed: number;
    frames: number;
    height: number;
    width: number;
    speed?: number;
  },
): DatasetParams {
  const { kind, seed, ...size } = run;
  return datasetParams({
    kind,
    count: 64,
    seed: seed + TRAIN_SMALL_DATA.heldOutSeed,
    split: "test",
    ...size,
  });
}

let trainSmallDataset: Promise<Dataset> | undefined;

/**
 * train-small's default training set (16 × 32 × 32 balls, 2048 videos), generated once and cached
 * under `data/generated/`; read once per process.
 *
 * @returns the dataset
 */
export function trainSmallData(): Promise<Dataset> {
  const { kind, videos, size, seed } = TRAIN_SMALL_DATA;
  trainSmallDataset ??= loadOrCreateDataset(
    datasetParams({
      kind,
      count: videos,
      frames: TRAIN_SMALL.frames,
      height: size,
      width: size,
      seed,
    }),
  ).then((r) => r.dataset);
  return trainSmallDataset;
}

/**
 * train-small's default denoiser: the (2+1)D U-Net on 4 × 4 patches, widths 32-48-64, on 32 × 32
 * frames; `changes` override any field (a flag of train-small, or another size).
 *
 * @param changes fields to change
 * @returns the config
 */
export function trainSmallModel(changes: Partial<DenoiserConfig> = {}): DenoiserConfig {
  return denoiserConfig({
    architecture: "unet",
    height: TRAIN_SMALL_DATA.size,
    width: TRAIN_SMALL_DATA.size,
    channels: 1,
    widths: [32, 48, 64],
    patch: 4,
    maxStages: 4,
    ...changes,
  });
}

/**
 * Trainers for step-time comparisons: a vanilla one, and one pyramid trainer per stage that only
 * ever draws that stage (run order, coarsest first). All share train-small's model and seeds.
 *
 * @param config the training config (default {@link TRAIN_SMALL})
 * @returns the trainers
 */
export function trainersByStage(
  config: TrainConfig = TRAIN_SMALL,
): { vanilla: Trainer; perStage: Trainer[] } {
  const make = (mode: "pyramid" | "vanilla", stageWeights?: number[]) =>
    new Trainer(
      { ...config, mode, stages: mode === "vanilla" ? 1 : config.stages, stageWeights },
      createDenoiser(trainSmallModel(), createRng(1)),
      createRng(2),
    );
  const stages = Array.from({ length: config.stages }, (_, i) => i);
  return {
    vanilla: make("vanilla"),
    perStage: stages.map((i) => make("pyramid", stages.map((j) => (j === i ? 1 : 0)))),
  };
}
