/**
 * Opening train-small runs for the benchmarks that measure them (`bench:conditioning`,
 * `bench:plans`, `bench:permanence`): the EMA model, the sampling plan, the run's held-out videos
 * (at its dataset, seed and speed) and its training time.
 *
 * @module
 */
import { type Dataset, type DatasetKind, loadOrCreateDataset } from "../../lib/data/mod.ts";
import {
  type CheckpointManifest,
  createDenoiser,
  type Denoiser,
  heldOutParams,
  loadWeights,
  planForTraining,
  readCheckpoint,
  type TrainConfig,
} from "../../lib/nn/mod.ts";
import { createRng, type StagePlan } from "../../lib/mod.ts";

/** What train-small's checkpoints record about their data (`extra`). */
interface RunData {
  dataset?: DatasetKind;
  seed?: number;
  speed?: number;
}

/**
 * The held-out videos a run is measured on: its dataset's, from its seed, at its size and speed.
 *
 * @param manifest the run's checkpoint manifest
 * @param options `defaultKind`: the dataset of a checkpoint that does not record one (else an
 *   error naming `dir`), and `dir` for the message
 * @returns the held-out dataset (64 videos, cached under data/generated/)
 */
export async function runHeldOut(
  manifest: Pick<CheckpointManifest, "train" | "model" | "extra">,
  options: { dir?: string; defaultKind?: DatasetKind } = {},
): Promise<Dataset> {
  const { dataset, seed, speed } = (manifest.extra ?? {}) as RunData;
  const kind = dataset ?? options.defaultKind;
  if (kind === undefined) {
    throw new Error(`${options.dir ?? "the run"}: a run on a procedural dataset is needed`);
  }
  const { dataset: heldOut } = await loadOrCreateDataset(
    heldOutParams({
      kind,
      seed: seed ?? 0,
      frames: manifest.train.frames,
      height: manifest.model.height,
      width: manifest.model.width,
      speed: speed ?? 1,
    }),
  );
  return heldOut;
}

/** A train-small run opened for measuring. */
export interface TrainedRun {
  /** Its folder. */
  dir: string;
  /** The denoiser with the EMA weights. */
  model: Denoiser;
  /** Its training config. */
  train: TrainConfig;
  /** The plan it samples with at the benchmark's step count. */
  plan: StagePlan;
  /** Its procedural dataset. */
  dataset: DatasetKind;
  /** The dataset's speed multiple (1 unless trained with --speed). */
  speed: number;
  /** Its held-out videos. */
  heldOut: Dataset;
  /** The step its checkpoint was saved at. */
  step: number;
  /** Training seconds from its summary.json (NaN while it is still training). */
  trainSeconds: number;
}

/**
 * Opens a run: its checkpoint's EMA weights, plan, held-out videos and training time.
 *
 * @param dir the run folder (or its checkpoint folder)
 * @param steps sampling steps in total for its plan
 * @returns the run
 */
export async function openTrainedRun(dir: string, steps: number): Promise<TrainedRun> {
  const checkpoint = await readCheckpoint(dir);
  const { manifest } = checkpoint;
  const model = createDenoiser(manifest.model, createRng(0));
  loadWeights(model, checkpoint, "ema");
  const heldOut = await runHeldOut(manifest, { dir });
  let trainSeconds = NaN;
  try {
    trainSeconds = JSON.parse(await Deno.readTextFile(`${dir}/summary.json`)).trainSeconds;
  } catch { /* a run without a summary (still training): time unknown */ }
  const { speed } = manifest.extra as RunData;
  return {
    dir,
    model,
    train: manifest.train,
    plan: planForTraining(manifest.train, steps),
    dataset: heldOut.params.kind as DatasetKind,
    speed: speed ?? 1,
    heldOut,
    step: manifest.step,
    trainSeconds,
  };
}
