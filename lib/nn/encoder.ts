/**
 * A small fixed video encoder for distribution metrics (Fréchet distance, MMD): a per-frame CNN,
 * then statistics over time of the frame features and of their first and second differences, then
 * a projection to {@link ENCODER_FEATURES} features. It is trained once on the procedural dataset
 * with targets from the generator's ground truth (object count, speed, wall bounces) and a
 * temporal-order task (is the video's frame order shuffled?), so its features respond to what
 * the videos contain and to whether they move coherently. `bench/train_encoder.ts` trains it and
 * `bench/encoder/` holds the committed weights.
 *
 * @module
 */
import { base64ToBytes, bytesToBase64 } from "../base64.ts";
import * as tf from "@tensorflow/tfjs";
import { show } from "../checks.ts";
import { fromPixels } from "../data/generate.ts";
import type { Rng } from "../video.ts";
import { addConv, addDense, applyConv, applyDense, avgPool2, silu } from "./layers.ts";
import { ParamStore, valuesInOrder } from "./params.ts";

/** Features per video. */
export const ENCODER_FEATURES = 64;

/** The encoder's input geometry. */
export interface EncoderConfig {
  /** Frames per video. */
  frames: number;
  /** Frame height (a multiple of 8). */
  height: number;
  /** Frame width (a multiple of 8). */
  width: number;
}

/** The supervised heads' outputs, in order. */
export const ENCODER_HEADS = ["objects", "speed", "bounces", "shuffled"] as const;

/** A video encoder. */
export interface VideoEncoder {
  /** Its geometry. */
  config: EncoderConfig;
  /** Its weights. */
  params: ParamStore;
  /** Features, [batch, ENCODER_FEATURES], from model-space videos [batch, frames, h, w, 1]. */
  features(x: tf.Tensor): tf.Tensor2D;
  /** The heads, [batch, 4] (objects, speed, bounces, shuffled logit), from features. */
  heads(features: tf.Tensor2D): tf.Tensor2D;
}

const WIDTHS = [8, 16, 32];
const FRAME_FEATURES = 32;

/**
 * Builds an encoder with weights drawn from `rng`.
 *
 * @param config frames, height, width
 * @param rng the generator for the initial weights
 * @returns the encoder
 */
export function createEncoder(config: EncoderConfig, rng: Rng): VideoEncoder {
  const { frames, height, width } = config;
  if (height % 8 || width % 8 || frames < 3) {
    throw new RangeError(
      `encoder input must have ≥ 3 frames and sides divisible by 8; got ${frames}×${height}×${width}`,
    );
  }
  const p = new ParamStore(rng);
  let cin = 1;
  WIDTHS.forEach((c, i) => {
    addConv(p, `conv${i}`, [3, 3], [cin, c]);
    cin = c;
  });
  const flat = (height / 8) * (width / 8) * WIDTHS[2];
  addDense(p, "frame", flat, FRAME_FEATURES);
  addDense(p, "video", 4 * FRAME_FEATURES, ENCODER_FEATURES);
  p.add("heads.w", [ENCODER_FEATURES, ENCODER_HEADS.length], {
    kind: "normal",
    std: 1 / Math.sqrt(ENCODER_FEATURES),
  });
  p.add("heads.b", [ENCODER_HEADS.length], { kind: "zeros" });

  const features = (x: tf.Tensor): tf.Tensor2D =>
    tf.tidy(() => {
      const [b, f, h, w] = x.shape;
      if (x.rank !== 5 || f !== frames || h !== height || w !== width || x.shape[4] !== 1) {
        throw new RangeError(
          `encoder input must be [batch, ${frames}, ${height}, ${width}, 1]; got [${x.shape}]`,
        );
      }
      let y = tf.reshape(x, [b * f, h, w, 1]) as tf.Tensor4D;
      WIDTHS.forEach((_, i) => {
        y = avgPool2(silu(applyConv(p, `conv${i}`, y)));
      });
      const perFrame = tf.reshape(
        silu(applyDense(p, "frame", tf.reshape(y, [b * f, flat]))),
        [b, f, FRAME_FEATURES],
      );
      const first = tf.sub(
        tf.slice(perFrame, [0, 1, 0], [-1, -1, -1]),
        tf.slice(perFrame, [0, 0, 0], [-1, f - 1, -1]),
      );
      const second = tf.sub(
        tf.slice(first, [0, 1, 0], [-1, -1, -1]),
        tf.slice(first, [0, 0, 0], [-1, f - 2, -1]),
      );
      const { mean, variance } = tf.moments(perFrame, 1);
      const pooled = tf.concat([
        mean,
        tf.sqrt(tf.add(variance, 1e-6)),
        tf.mean(tf.abs(first), 1),
        tf.mean(tf.abs(second), 1),
      ], 1);
      return silu(applyDense(p, "video", pooled)) as tf.Tensor2D;
    });
  const heads = (features: tf.Tensor2D): tf.Tensor2D =>
    tf.tidy(() => applyDense(p, "heads", features) as tf.Tensor2D);
  return { config, params: p, features, heads };
}

/**
 * Features of 8-bit videos, computed in batches.
 *
 * @param encoder the encoder
 * @param pixels bytes, [videos, frames, height, width]
 * @param videos how many videos
 * @param batch videos per forward pass (default 32)
 * @returns [videos, ENCODER_FEATURES] row-major
 */
export function encodeVideos(
  encoder: VideoEncoder,
  pixels: Uint8Array,
  videos: number,
  batch = 32,
): Float32Array {
  const { frames, height, width } = encoder.config;
  const size = frames * height * width;
  if (pixels.length !== videos * size) {
    throw new RangeError(
      `encodeVideos: ${pixels.length} bytes are not ${videos} videos of ${frames}×${height}×${width}`,
    );
  }
  const out = new Float32Array(videos * ENCODER_FEATURES);
  for (let at = 0; at < videos; at += batch) {
    const n = Math.min(batch, videos - at);
    const values = fromPixels(pixels.subarray(at * size, (at + n) * size));
    const features = tf.tidy(() =>
      encoder.features(tf.tensor(values, [n, frames, height, width, 1]))
    );
    out.set(features.dataSync() as Float32Array, at * ENCODER_FEATURES);
    features.dispose();
  }
  return out;
}

/** The encoder file's JSON part. */
export interface EncoderManifest {
  /** Always `"tpdiff-encoder"`. */
  format: string;
  /** The geometry. */
  config: EncoderConfig;
  /** How it was trained and how well (free-form, recorded by the training script). */
  training: Record<string, unknown>;
  /** Parameter names, shapes and offsets (floats) into the weights. */
  tensors: { name: string; shape: number[]; offset: number }[];
  /** The weights as base64 little-endian float32. */
  weights: string;
}

/**
 * Serialises an encoder as one JSON document (weights in base64).
 *
 * @param encoder the encoder
 * @param training how it was made
 * @returns the JSON text
 */
export function encoderToJson(encoder: VideoEncoder, training: Record<string, unknown>): string {
  const tensors: EncoderManifest["tensors"] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const [name, v] of encoder.params.variables) {
    tensors.push({ name, shape: v.shape.slice(), offset });
    chunks.push(v.dataSync() as Float32Array);
    offset += v.size;
  }
  const all = new Float32Array(offset);
  let at = 0;
  for (const c of chunks) (all.set(c, at), at += c.length);
  const manifest: EncoderManifest = {
    format: "tpdiff-encoder",
    config: encoder.config,
    training,
    tensors,
    weights: bytesToBase64(new Uint8Array(all.buffer)),
  };
  return JSON.stringify(manifest, null, 1);
}

/**
 * Rebuilds an encoder from {@link encoderToJson}'s text, checking every name and size.
 *
 * @param text the JSON
 * @param rng any generator (the drawn weights are overwritten)
 * @returns the encoder and its manifest
 */
export function encoderFromJson(
  text: string,
  rng: Rng,
): { encoder: VideoEncoder; manifest: EncoderManifest } {
  const manifest = JSON.parse(text) as EncoderManifest;
  if (manifest.format !== "tpdiff-encoder") {
    throw new RangeError(`not an encoder file: format ${show(manifest.format)}`);
  }
  const all = new Float32Array(base64ToBytes(manifest.weights).buffer);
  const encoder = createEncoder(manifest.config, rng);
  const values = new Map<string, Float32Array>();
  for (const t of manifest.tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.offset + size > all.length) {
      throw new RangeError(`encoder tensor ${t.name} lies outside the weights`);
    }
    values.set(t.name, all.subarray(t.offset, t.offset + size));
  }
  const ordered = valuesInOrder(encoder.params.variables, values, "encoder");
  [...encoder.params.variables.values()].forEach((v, i) =>
    tf.tidy(() => v.assign(tf.tensor(ordered[i], v.shape)))
  );
  return { encoder, manifest };
}
