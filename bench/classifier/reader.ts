/**
 * The digit reader that scores class-conditional Moving MNIST samples: a small MLP (196 → 128 →
 * 10, ReLU) on 14 × 14 crops centred on a detected object's centroid, trained once on the training
 * pool's digits by `deno task bench:classifier` and committed as `classifier.json` (as the
 * benchmark encoder is). Inference is plain TypeScript, so reading needs no tfjs.
 *
 * @module
 */
import { base64ToBytes, bytesToBase64 } from "../../lib/base64.ts";
import type { Blob } from "../../lib/metrics/mod.ts";

/** Where the committed reader lives. */
export const READER_PATH = new URL("./classifier.json", import.meta.url);

/** The crop side the reader reads, in pixels. */
export const CROP = 14;

/** The reader's weights: one hidden layer. */
export interface DigitReader {
  /** [196 × 128], row-major (input-major). */
  w1: Float32Array;
  /** [128]. */
  b1: Float32Array;
  /** [128 × 10]. */
  w2: Float32Array;
  /** [10]. */
  b2: Float32Array;
  /** How it was made and how well it reads held-out digits. */
  training: Record<string, unknown>;
}

/** The hidden width. */
export const HIDDEN = 128;

/**
 * The crop of a frame centred on (x, y) (pixel-centre coordinates, as {@link Blob} has them),
 * bilinearly interpolated, zero outside the frame, scaled to [0, 1]; a window of `digitSize` pixels
 * is averaged down to 14 × 14 (`digitSize` a multiple of 14).
 *
 * @param frame bytes, height × width
 * @param size the frame's height and width
 * @param at the centre
 * @param digitSize the digits' side in the video (default 14)
 * @returns 196 values
 */
export function cropAt(
  frame: Uint8Array,
  size: { height: number; width: number },
  at: { x: number; y: number },
  digitSize = CROP,
): Float32Array {
  if (digitSize % CROP !== 0) {
    throw new RangeError(`digitSize must be a multiple of ${CROP}; got ${digitSize}`);
  }
  const { height: H, width: W } = size, scale = digitSize / CROP;
  const pixel = (
    i: number,
    j: number,
  ) => (i >= 0 && i < H && j >= 0 && j < W ? frame[i * W + j] : 0);
  const out = new Float32Array(CROP * CROP);
  const x0 = at.x - digitSize / 2, y0 = at.y - digitSize / 2;
  for (let i = 0; i < digitSize; i++) {
    for (let j = 0; j < digitSize; j++) {
      // Source pixel index coordinates of the window pixel's centre.
      const u = x0 + j, v = y0 + i;
      const j0 = Math.floor(u), i0 = Math.floor(v), fx = u - j0, fy = v - i0;
      const value = (1 - fy) * ((1 - fx) * pixel(i0, j0) + fx * pixel(i0, j0 + 1)) +
        fy * ((1 - fx) * pixel(i0 + 1, j0) + fx * pixel(i0 + 1, j0 + 1));
      out[Math.floor(i / scale) * CROP + Math.floor(j / scale)] += value / (255 * scale * scale);
    }
  }
  return out;
}

/**
 * The reader's class probabilities for one crop.
 *
 * @param reader the weights
 * @param crop 196 values from {@link cropAt}
 * @returns 10 probabilities
 */
export function classify(reader: DigitReader, crop: Float32Array): Float64Array {
  const h = new Float64Array(HIDDEN);
  for (let k = 0; k < HIDDEN; k++) h[k] = reader.b1[k];
  for (let i = 0; i < crop.length; i++) {
    const v = crop[i];
    if (v === 0) continue;
    for (let k = 0; k < HIDDEN; k++) h[k] += v * reader.w1[i * HIDDEN + k];
  }
  const logits = new Float64Array(10);
  for (let c = 0; c < 10; c++) logits[c] = reader.b2[c];
  for (let k = 0; k < HIDDEN; k++) {
    const a = Math.max(0, h[k]);
    if (a === 0) continue;
    for (let c = 0; c < 10; c++) logits[c] += a * reader.w2[k * 10 + c];
  }
  const top = Math.max(...logits);
  let sum = 0;
  for (let c = 0; c < 10; c++) sum += logits[c] = Math.exp(logits[c] - top);
  return logits.map((v) => v / sum);
}

/**
 * The digits each video shows: every detected object of every frame is cropped and read, the
 * probabilities are summed over the video, and the `top` most probable labels are its digits.
 *
 * @param reader the weights
 * @param pixels bytes, [videos, frames, height, width]
 * @param found per video, per frame, the objects detected
 * @param shape videos, frames, height, width, and the digits' side (default 14)
 * @param top how many labels a video shows (default 2: Moving MNIST's two digits)
 * @returns per video, its labels, most probable first
 */
export function readDigits(
  reader: DigitReader,
  pixels: Uint8Array,
  found: Blob[][][],
  shape: { videos: number; frames: number; height: number; width: number; digitSize?: number },
  top = 2,
): number[][] {
  const { frames: F, height: H, width: W } = shape;
  return found.slice(0, shape.videos).map((video, v) => {
    const total = new Float64Array(10);
    video.forEach((objects, f) => {
      const frame = pixels.subarray((v * F + f) * H * W, (v * F + f + 1) * H * W);
      for (const o of objects) {
        const p = classify(reader, cropAt(frame, { height: H, width: W }, o, shape.digitSize));
        for (let c = 0; c < 10; c++) total[c] += p[c];
      }
    });
    return Array.from({ length: 10 }, (_, c) => c).sort((a, b) => total[b] - total[a]).slice(
      0,
      top,
    );
  });
}

/** The reader file's JSON. */
interface ReaderFile {
  format: "tpdiff-digit-reader";
  training: Record<string, unknown>;
  /** w1, b1, w2, b2 as base64 little-endian float32, one after another. */
  weights: string;
}

/**
 * Serialises a reader (weights in base64).
 *
 * @param reader the reader
 * @returns the JSON text
 */
export function readerToJson(reader: DigitReader): string {
  const parts = [reader.w1, reader.b1, reader.w2, reader.b2];
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (all.set(p, at), at += p.length);
  const file: ReaderFile = {
    format: "tpdiff-digit-reader",
    training: reader.training,
    weights: bytesToBase64(new Uint8Array(all.buffer)),
  };
  return JSON.stringify(file, null, 1);
}

/**
 * Loads the committed reader.
 *
 * @returns the reader
 */
export async function loadDigitReader(): Promise<DigitReader> {
  let text: string;
  try {
    text = await Deno.readTextFile(READER_PATH);
  } catch {
    throw new Error(
      `the digit reader ${READER_PATH.pathname} is missing; train it with deno task bench:classifier`,
    );
  }
  const file = JSON.parse(text) as ReaderFile;
  if (file.format !== "tpdiff-digit-reader") {
    throw new RangeError(`${READER_PATH.pathname}: not a digit reader file`);
  }
  const all = new Float32Array(base64ToBytes(file.weights).buffer);
  const sizes = [CROP * CROP * HIDDEN, HIDDEN, HIDDEN * 10, 10];
  if (all.length !== sizes.reduce((a, b) => a + b, 0)) {
    throw new RangeError(`${READER_PATH.pathname}: ${all.length} weights; expected ${sizes}`);
  }
  let at = 0;
  const [w1, b1, w2, b2] = sizes.map((n) => all.slice(at, at += n));
  return { w1, b1, w2, b2, training: file.training };
}
