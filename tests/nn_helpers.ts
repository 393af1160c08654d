/**
 * The tiny model, training config and data, and the tensor helpers, shared by the model-layer
 * test modules.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  type Denoiser,
  type DenoiserConfig,
  denoiserConfig,
  type TrainConfig,
} from "../lib/nn/mod.ts";
import { createRng } from "../lib/mod.ts";

/** A tiny denoiser config on 16 × 16 frames (U-Net widths 8-16, or a 16-wide transformer). */
export const tinyModel = (architecture: "unet" | "transformer" = "unet"): DenoiserConfig =>
  denoiserConfig({
    architecture,
    height: 16,
    width: 16,
    widths: architecture === "unet" ? [8, 16] : [16],
    patch: 4,
    depth: 1,
  });

/** A tiny 3-stage training config over 8 frames, batch 2, without clipping. */
export const tinyTrain: TrainConfig = {
  mode: "pyramid",
  form: "flow-matching",
  stages: 3,
  frames: 8,
  batch: 2,
  steps: 100,
  learningRate: 1e-3,
  warmup: 0,
  clip: 1e9,
  emaDecay: 0.9,
  align: true,
};

/** `batch` smooth random videos of 8 × 16 × 16 in (−1, 1), from a seed. */
export function tinyData(batch: number, seed: number): Float32Array {
  return createRng(seed).fillNormal(new Float32Array(batch * 8 * 16 * 16)).map((v) => Math.tanh(v));
}

/** A tensor's values, read asynchronously. */
export async function values(t: tf.Tensor): Promise<Float32Array> {
  return (await t.data()) as Float32Array;
}

/** max |a − b| over the entries. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * Adds N(0, 0.1²) noise to every weight (the i-th variable's drawn with seed + i): a fresh model's
 * zero-initialised output layers hide what it reads.
 */
export function perturb<M extends Denoiser>(model: M, seed: number): M {
  let i = 0;
  for (const v of model.params.variables.values()) {
    v.assign(tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 1, "float32", seed + i++), 0.1)));
  }
  return model;
}
