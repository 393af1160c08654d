/**
 * Seeded video datasets: bouncing balls, moving shapes and moving digit-like glyphs, all procedural,
 * and Moving MNIST (Srivastava et al., 2015) from real handwritten digits (`./mnist.ts`). Objects
 * move at constant velocity and reflect elastically off the walls; the generator records every
 * object's ground-truth track and bounces, for the tracking metrics of `lib/metrics`.
 *
 * @module
 */
import { show } from "../checks.ts";
import { createRng, type Rng } from "../video.ts";
import {
  DIGIT_SPLITS,
  digitImage,
  type DigitSplit,
  loadMnistDigits,
  MNIST_SIZE,
  type MnistDigits,
} from "./mnist.ts";

/** The dataset generators. */
export type DatasetKind = "balls" | "shapes" | "glyphs" | "moving-mnist";

/** Every {@link DatasetKind}. */
export const DATASET_KINDS: readonly DatasetKind[] = ["balls", "shapes", "glyphs", "moving-mnist"];

/** Shape id of an MNIST digit with label d in {@link Dataset.objects}: 20 + d. */
export const MNIST_SHAPE = 20;

/** The kind of a dataset made by `deno task import-videos` from clips rather than generated. */
export const IMPORTED = "imported";

/** What a dataset is made from; stored in the file header. */
export interface DatasetParams {
  /** The generator, or {@link IMPORTED} for clips imported from files. */
  kind: DatasetKind | typeof IMPORTED;
  /** Videos. */
  count: number;
  /** Frames per video (default 16). */
  frames: number;
  /** Frame height (default 32). */
  height: number;
  /** Frame width (default 32). */
  width: number;
  /** Fewest objects per video (default 1). */
  minObjects: number;
  /** Most objects per video (default 3). */
  maxObjects: number;
  /** Object half-size range in pixels (default scaled from [3, 5] at 32 pixels). */
  sizeRange: [number, number];
  /** Speed range in pixels per frame (default scaled from [1, 2.5] at 32 pixels). */
  speedRange: [number, number];
  /** The seed. */
  seed: number;
  /** Moving MNIST: the pool its digits come from (default "train"; held-out sets use "test"). */
  split?: DigitSplit;
  /** Moving MNIST: the digits' side in pixels, a divisor of 28 (default 28 at 64 pixels, 14 at 32). */
  digitSize?: number;
  /** Colour channels: 1 (grayscale; every generator) or 3 (RGB; imported clips may be). */
  channels?: number;
  /** Imported clips: where they came from, the frame stride and how many videos are held out. */
  imported?: { source: string; stride: number; heldOut: number; clips: number };
}

/** A generated dataset: 8-bit grayscale videos plus ground truth. */
export interface Dataset {
  /** The parameters it was made from. */
  params: DatasetParams;
  /** [count, frames, height, width, 1]. */
  shape: [number, number, number, number, number];
  /** Pixels 0–255, row-major in `shape`. */
  pixels: Uint8Array;
  /** Object centres [count, maxObjects, frames, 2] as (x, y) in pixels; NaN where absent. */
  tracks: Float32Array;
  /** 1 where an object bounced off a wall between frame f−1 and f: [count, maxObjects, frames]. */
  bounces: Uint8Array;
  /** Objects per video: [count]. */
  objectCounts: Uint8Array;
  /** Per object: shape id (ball 0, square 1, triangle 2, glyph 10 + d, MNIST digit 20 + d) and
   * half-size: [count, maxObjects, 2]. */
  objects: Float32Array;
  /** Moving MNIST: each object's digit, an index into {@link loadMnistDigits}' digits (NaN where
   * absent): [count, maxObjects]. */
  sources?: Float32Array;
  /** Imported clips: 1 for a held-out video (never trained on), 0 for a training one: [count]. */
  split?: Uint8Array;
}

/**
 * Fills in defaults and checks dataset parameters.
 *
 * @param init the fields to set
 * @returns the complete parameters
 */
export function datasetParams(
  init: Partial<DatasetParams> & {
    kind: DatasetKind | typeof IMPORTED;
    count: number;
    /** Multiplies the default speed range (default 1; 2 is twice today's motion per frame). */
    speed?: number;
  },
): DatasetParams {
  const { kind, count } = init;
  if (kind === IMPORTED) return importedParams(init);
  if (!DATASET_KINDS.includes(kind as DatasetKind)) {
    throw new RangeError(
      `dataset must be one of ${DATASET_KINDS.join(", ")}; got ${show(kind)}`,
    );
  }
  const frames = init.frames ?? 16, height = init.height ?? 32, width = init.width ?? 32;
  checkInt("count", count, 1, 1_000_000);
  checkInt("frames", frames, 1, 1024);
  checkInt("height", height, 8, 1024);
  checkInt("width", width, 8, 1024);
  const speed = init.speed ?? 1;
  if (!(typeof speed === "number" && speed > 0 && speed <= 64)) {
    throw new RangeError(`speed must be a number in (0, 64]; got ${show(init.speed)}`);
  }
  if (kind === "moving-mnist") return movingMnistParams({ ...init, frames, height, width, speed });
  const minObjects = init.minObjects ?? 1, maxObjects = init.maxObjects ?? 3;
  checkInt("minObjects", minObjects, 1, 8);
  checkInt("maxObjects", maxObjects, minObjects, 8);
  const scale = Math.min(height, width) / 32;
  const sizeRange = init.sizeRange ??
    [Math.max(1, 3 * scale), Math.max(1.5, (kind === "glyphs" ? 6 : 5) * scale)];
  const speedRange = init.speedRange ?? [1 * scale * speed, 2.5 * scale * speed];
  if (
    !(sizeRange[0] >= 1 && sizeRange[1] >= sizeRange[0] &&
      2 * sizeRange[1] < Math.min(height, width))
  ) {
    throw new RangeError(
      `sizeRange must satisfy 1 ≤ min ≤ max < min(height, width)/2; got [${sizeRange}]`,
    );
  }
  if (!(speedRange[0] >= 0 && speedRange[1] >= speedRange[0])) {
    throw new RangeError(`speedRange must satisfy 0 ≤ min ≤ max; got [${speedRange}]`);
  }
  if (!Number.isSafeInteger(init.seed ?? 0)) {
    throw new RangeError(`seed must be an integer; got ${init.seed}`);
  }
  return {
    kind,
    count,
    frames,
    height,
    width,
    minObjects,
    maxObjects,
    sizeRange,
    speedRange,
    seed: init.seed ?? 0,
  };
}

/** An imported dataset's parameters: its size, channels and provenance; no objects, no seed. */
function importedParams(init: Partial<DatasetParams> & { count: number }): DatasetParams {
  const { count, frames = 16, height = 32, width = 32, channels = 1, imported } = init;
  checkInt("count", count, 1, 1_000_000);
  checkInt("frames", frames, 1, 1024);
  checkInt("height", height, 8, 1024);
  checkInt("width", width, 8, 1024);
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`channels must be 1 or 3; got ${show(channels)}`);
  }
  if (
    imported === undefined || typeof imported.source !== "string" ||
    !Number.isInteger(imported.stride) || imported.stride < 1 ||
    !Number.isInteger(imported.heldOut) || imported.heldOut < 0 || imported.heldOut > count ||
    !Number.isInteger(imported.clips) || imported.clips < 1
  ) {
    throw new RangeError(
      `imported must give source, stride ≥ 1, heldOut in [0, count] and clips ≥ 1; got ${
        show(imported)
      }`,
    );
  }
  return {
    kind: IMPORTED,
    count,
    frames,
    height,
    width,
    minObjects: 0,
    maxObjects: 0,
    sizeRange: [0, 0],
    speedRange: [0, 0],
    seed: 0,
    channels,
    imported: { ...imported },
  };
}

/** Moving MNIST's defaults: 2 digits of 28 px in 64 (14 in 32), 2–4 px per frame at 64. */
function movingMnistParams(
  init: Partial<DatasetParams> & {
    count: number;
    frames: number;
    height: number;
    width: number;
    speed: number;
  },
): DatasetParams {
  const side = Math.min(init.height, init.width), scale = side / 64;
  const digitSize = init.digitSize ??
    [28, 14, 7, 4, 2].find((d) => d <= Math.max(2, Math.round(MNIST_SIZE * scale)))!;
  if (!Number.isInteger(digitSize) || MNIST_SIZE % digitSize !== 0 || digitSize >= side) {
    throw new RangeError(
      `digitSize must divide ${MNIST_SIZE} (28, 14, 7, 4 or 2) and be less than the frame's ` +
        `${side} pixels; got ${show(init.digitSize)}`,
    );
  }
  const split = init.split ?? "train";
  if (!DIGIT_SPLITS.includes(split)) {
    throw new RangeError(`split must be one of ${DIGIT_SPLITS.join(", ")}; got ${show(split)}`);
  }
  const minObjects = init.minObjects ?? 2, maxObjects = init.maxObjects ?? 2;
  checkInt("minObjects", minObjects, 1, 8);
  checkInt("maxObjects", maxObjects, minObjects, 8);
  const speedRange = init.speedRange ?? [2 * scale * init.speed, 4 * scale * init.speed];
  if (!(speedRange[0] >= 0 && speedRange[1] >= speedRange[0])) {
    throw new RangeError(`speedRange must satisfy 0 ≤ min ≤ max; got [${speedRange}]`);
  }
  if (!Number.isSafeInteger(init.seed ?? 0)) {
    throw new RangeError(`seed must be an integer; got ${init.seed}`);
  }
  return {
    kind: "moving-mnist",
    count: init.count,
    frames: init.frames,
    height: init.height,
    width: init.width,
    minObjects,
    maxObjects,
    sizeRange: [digitSize / 2, digitSize / 2],
    speedRange,
    seed: init.seed ?? 0,
    split,
    digitSize,
  };
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}]; got ${value}`);
  }
}

/** Segments a–g of a seven-segment digit, lit per digit 0–9. */
const DIGIT_SEGMENTS = [0x3f, 0x06, 0x5b, 0x4f, 0x66, 0x6d, 0x7d, 0x07, 0x7f, 0x6f];

/**
 * Coverage in [0, 1] of the pixel at offset (dx, dy) from an object's centre: an anti-aliased
 * signed distance, so that objects move smoothly at sub-pixel speeds.
 */
function coverage(shapeId: number, r: number, dx: number, dy: number): number {
  let d: number; // signed distance to the edge (negative inside)
  if (shapeId === 0) d = Math.hypot(dx, dy) - r;
  else if (shapeId === 1) d = Math.max(Math.abs(dx), Math.abs(dy)) - r * 0.85;
  else if (shapeId === 2) {
    // An upward triangle inscribed in the radius-r circle.
    const k = Math.sqrt(3);
    d = Math.max(dy - r / 2, (k * Math.abs(dx) - dy) / 2 - r / 2);
  } else {
    const lit = DIGIT_SEGMENTS[shapeId - 10];
    const w = r * 0.6, h = r, t = Math.max(0.75, r * 0.18);
    const boxes: [number, number, number, number][] = [
      [0, -h, w, t], // a
      [w, -h / 2, t, h / 2], // b
      [w, h / 2, t, h / 2], // c
      [0, h, w, t], // d
      [-w, h / 2, t, h / 2], // e
      [-w, -h / 2, t, h / 2], // f
      [0, 0, w, t], // g
    ];
    d = Infinity;
    boxes.forEach(([cx, cy, hx, hy], i) => {
      if (lit & (1 << i)) d = Math.min(d, Math.max(Math.abs(dx - cx) - hx, Math.abs(dy - cy) - hy));
    });
  }
  return Math.min(1, Math.max(0, 0.5 - d));
}

function randomIn(rng: Rng, [lo, hi]: [number, number]): number {
  return lo + (hi - lo) * rng.uniform();
}

/**
 * Generates a dataset. Deterministic in its parameters: the same parameters give the same bytes.
 * Moving MNIST needs the digits ({@link loadMnistDigits}); {@link createDataset} loads them.
 *
 * @param params the parameters (see {@link datasetParams})
 * @param digits the MNIST digits, for Moving MNIST
 * @returns the videos and their ground truth
 */
export function generateDataset(params: DatasetParams, digits?: MnistDigits): Dataset {
  const { count, frames: F, height: H, width: W, maxObjects: M } = params;
  if (params.kind === IMPORTED) {
    throw new RangeError("an imported dataset is read from its file, not generated");
  }
  if (params.kind === "moving-mnist" && digits === undefined) {
    throw new RangeError(
      "Moving MNIST needs the digits: pass loadMnistDigits()'s, or use createDataset",
    );
  }
  const pixels = new Uint8Array(count * F * H * W);
  const tracks = new Float32Array(count * M * F * 2).fill(NaN);
  const bounces = new Uint8Array(count * M * F);
  const objectCounts = new Uint8Array(count);
  const objects = new Float32Array(count * M * 2).fill(NaN);
  const sources = digits === undefined ? undefined : new Float32Array(count * M).fill(NaN);
  const rng = createRng(`dataset:${params.kind}:${params.seed}`);
  const canvas = new Float32Array(H * W);
  for (let n = 0; n < count; n++) {
    const objectCount = params.minObjects + rng.integer(params.maxObjects - params.minObjects + 1);
    objectCounts[n] = objectCount;
    const state = Array.from({ length: objectCount }, (_, m) => {
      const o = drawObject(params, rng, digits);
      objects[(n * M + m) * 2] = o.shapeId;
      objects[(n * M + m) * 2 + 1] = o.r;
      if (sources && o.digit) sources[n * M + m] = o.digit.index;
      return o;
    });
    for (let f = 0; f < F; f++) {
      canvas.fill(0);
      state.forEach((o, m) => {
        if (f > 0 && moveObject(o, W, H)) bounces[(n * M + m) * F + f] = 1;
        const at = ((n * M + m) * F + f) * 2;
        tracks[at] = o.x;
        tracks[at + 1] = o.y;
        if (o.digit) {
          const { image, size } = o.digit;
          stampDigit(canvas, image, { left: o.x - o.r, top: o.y - o.r, size, height: H, width: W });
        } else drawCoverage(canvas, o, W, H);
      });
      const base = (n * F + f) * H * W;
      for (let p = 0; p < H * W; p++) pixels[base + p] = Math.round(255 * canvas[p]);
    }
  }
  return {
    params,
    shape: [count, F, H, W, 1],
    pixels,
    tracks,
    bounces,
    objectCounts,
    objects,
    ...(sources ? { sources } : {}),
  };
}

/**
 * Generates a dataset, loading what its generator needs first (the MNIST digits for Moving MNIST).
 *
 * @param params the parameters (see {@link datasetParams})
 * @returns the videos and their ground truth
 */
export async function createDataset(params: DatasetParams): Promise<Dataset> {
  return generateDataset(
    params,
    params.kind === "moving-mnist" ? await loadMnistDigits() : undefined,
  );
}

/** One object's shape, size, position and velocity (and, for Moving MNIST, its digit). */
interface MovingObject {
  shapeId: number;
  r: number;
  x: number;
  y: number;
  vx: number;
  vy: number;
  digit?: { index: number; image: Uint8Array; size: number };
}

/** Draws an object: its shape, radius, a position inside the frame, a speed and a direction. */
function drawObject(params: DatasetParams, rng: Rng, digits?: MnistDigits): MovingObject {
  const { height: H, width: W } = params;
  const r = randomIn(rng, params.sizeRange);
  let shapeId: number, digit: MovingObject["digit"];
  if (params.kind === "moving-mnist") {
    const pool = digits!.pools[params.split ?? "train"];
    const index = pool[rng.integer(pool.length)], size = params.digitSize ?? MNIST_SIZE;
    digit = { index, image: digitImage(digits!, index, size), size };
    shapeId = MNIST_SHAPE + digits!.labels[index];
  } else {
    shapeId = params.kind === "balls"
      ? 0
      : params.kind === "shapes"
      ? rng.integer(3)
      : 10 + rng.integer(10);
  }
  const angle = 2 * Math.PI * rng.uniform(), speed = randomIn(rng, params.speedRange);
  return {
    shapeId,
    r,
    x: r + (W - 2 * r) * rng.uniform(),
    y: r + (H - 2 * r) * rng.uniform(),
    vx: speed * Math.cos(angle),
    vy: speed * Math.sin(angle),
    ...(digit ? { digit } : {}),
  };
}

/**
 * Draws a digit image into a frame with its top-left corner at (left, top) in pixels, bilinearly
 * interpolated, combined with what the frame holds by max (Moving MNIST's rule). At an integer
 * corner every covered pixel is the digit's own value.
 *
 * @param canvas the frame, values in [0, 1], height × width
 * @param digit the digit's bytes (0–255), size × size
 * @param at the corner and the sizes: `left`, `top`, `size`, `height`, `width`
 */
export function stampDigit(
  canvas: Float32Array,
  digit: Uint8Array,
  at: { left: number; top: number; size: number; height: number; width: number },
): void {
  const { left, top, size, height: H, width: W } = at;
  const value = (a: number, b: number) =>
    a >= 0 && a < size && b >= 0 && b < size ? digit[a * size + b] / 255 : 0;
  const i0 = Math.max(0, Math.floor(top)), i1 = Math.min(H - 1, Math.ceil(top + size));
  const j0 = Math.max(0, Math.floor(left)), j1 = Math.min(W - 1, Math.ceil(left + size));
  for (let i = i0; i <= i1; i++) {
    const u = i - top, a = Math.floor(u), fu = u - a;
    for (let j = j0; j <= j1; j++) {
      const v = j - left, b = Math.floor(v), fv = v - b;
      const c = (1 - fu) * ((1 - fv) * value(a, b) + fv * value(a, b + 1)) +
        fu * ((1 - fv) * value(a + 1, b) + fv * value(a + 1, b + 1));
      if (c > canvas[i * W + j]) canvas[i * W + j] = c;
    }
  }
}

/**
 * Moves an object by one frame with elastic reflection off the walls, exact within the frame
 * interval.
 *
 * @returns whether it bounced
 */
function moveObject(o: MovingObject, W: number, H: number): boolean {
  let bounced = false;
  o.x += o.vx;
  o.y += o.vy;
  // Fast objects may cross the frame more than once per frame: reflect until inside.
  for (let guard = 0; guard < 1000; guard++) {
    if (o.x < o.r) (o.x = 2 * o.r - o.x, o.vx = -o.vx, bounced = true);
    else if (o.x > W - o.r) (o.x = 2 * (W - o.r) - o.x, o.vx = -o.vx, bounced = true);
    else if (o.y < o.r) (o.y = 2 * o.r - o.y, o.vy = -o.vy, bounced = true);
    else if (o.y > H - o.r) (o.y = 2 * (H - o.r) - o.y, o.vy = -o.vy, bounced = true);
    else break;
  }
  return bounced;
}

/** Draws an object's pixel coverage into the frame, objects combined by max. */
function drawCoverage(canvas: Float32Array, o: MovingObject, W: number, H: number): void {
  // Pixel (i, j) has its centre at (j + 0.5, i + 0.5).
  const reach = o.r * 1.2 + 1;
  const i0 = Math.max(0, Math.floor(o.y - reach)), i1 = Math.min(H - 1, Math.ceil(o.y + reach));
  const j0 = Math.max(0, Math.floor(o.x - reach)), j1 = Math.min(W - 1, Math.ceil(o.x + reach));
  for (let i = i0; i <= i1; i++) {
    for (let j = j0; j <= j1; j++) {
      const c = coverage(o.shapeId, o.r, j + 0.5 - o.x, i + 0.5 - o.y);
      if (c > canvas[i * W + j]) canvas[i * W + j] = c;
    }
  }
}

/** A dataset's classes for class-conditional training: a label per video and each class's name. */
export interface DatasetClasses {
  /** Each video's class, 0 … names.length − 1. */
  labels: Uint8Array;
  /** The classes' names, by label. */
  names: string[];
}

/**
 * The classes a generated dataset's videos fall into, read off its ground truth: for balls the
 * number of balls; for shapes, glyphs and Moving MNIST the first object's shape or digit.
 *
 * @param dataset a generated dataset (an imported one has no classes)
 * @returns the labels and the class names
 */
export function datasetClasses(
  dataset: Pick<Dataset, "params" | "objectCounts" | "objects">,
): DatasetClasses {
  const { kind, minObjects, maxObjects } = dataset.params;
  const N = dataset.objectCounts.length, M = maxObjects, names = classNames(dataset.params);
  const first = (n: number) => dataset.objects[n * M * 2];
  const base = kind === "glyphs" ? 10 : kind === "moving-mnist" ? MNIST_SHAPE : 0;
  return {
    labels: kind === "balls"
      ? Uint8Array.from(dataset.objectCounts, (c) => c - minObjects)
      : Uint8Array.from({ length: N }, (_, n) => first(n) - base),
    names,
  };
}

/**
 * The class names of a generated dataset's kind (see {@link datasetClasses}), by label.
 *
 * @param params the dataset's parameters
 * @returns the names
 */
export function classNames(
  params: Pick<DatasetParams, "kind" | "minObjects" | "maxObjects">,
): string[] {
  const { kind, minObjects, maxObjects } = params;
  switch (kind) {
    case "balls":
      return Array.from(
        { length: maxObjects - minObjects + 1 },
        (_, i) => `${minObjects + i} ball${minObjects + i === 1 ? "" : "s"}`,
      );
    case "shapes":
      return ["disc", "square", "triangle"];
    case "glyphs":
    case "moving-mnist":
      return Array.from({ length: 10 }, (_, d) => `first digit ${d}`);
    default:
      throw new RangeError(
        `an ${kind} dataset has no classes (its clips carry no labels); train it unconditionally`,
      );
  }
}

/**
 * An imported dataset's training and held-out videos by index (its `split`); a dataset without a
 * split holds training videos only.
 *
 * @param dataset the dataset
 * @returns the indices of each part, in order
 */
export function splitIndices(
  dataset: Pick<Dataset, "shape" | "split">,
): { train: number[]; heldOut: number[] } {
  const all = Array.from({ length: dataset.shape[0] }, (_, i) => i);
  return {
    train: all.filter((i) => (dataset.split?.[i] ?? 0) === 0),
    heldOut: all.filter((i) => dataset.split?.[i] === 1),
  };
}

/**
 * Some videos of a dataset, with their ground truth, as a dataset of their own (in memory: its
 * `params` keep the source's, with `count` changed).
 *
 * @param dataset the source
 * @param indices which videos, in order
 * @returns the selection
 */
export function selectVideos(dataset: Dataset, indices: readonly number[]): Dataset {
  const [N, F, H, W, C] = dataset.shape, M = dataset.params.maxObjects;
  for (const n of indices) {
    if (!Number.isInteger(n) || n < 0 || n >= N) {
      throw new RangeError(`video index must be in [0, ${N - 1}]; got ${n}`);
    }
  }
  const take = <T extends Uint8Array | Float32Array>(data: T, per: number): T => {
    const out = new (data.constructor as new (n: number) => T)(indices.length * per);
    indices.forEach((n, i) => out.set(data.subarray(n * per, (n + 1) * per), i * per));
    return out;
  };
  return {
    params: { ...dataset.params, count: indices.length },
    shape: [indices.length, F, H, W, C],
    pixels: take(dataset.pixels, F * H * W * C),
    tracks: take(dataset.tracks, M * F * 2),
    bounces: take(dataset.bounces, M * F),
    objectCounts: take(dataset.objectCounts, 1),
    objects: take(dataset.objects, M * 2),
    ...(dataset.sources ? { sources: take(dataset.sources, M) } : {}),
    ...(dataset.split ? { split: take(dataset.split, 1) } : {}),
  };
}

/**
 * Converts pixels 0–255 of some videos to model space [−1, 1].
 *
 * @param dataset the dataset (its shape and pixels are all that is read)
 * @param indices which videos, in order
 * @returns Float32 values, [indices.length, frames, height, width, channels] row-major
 */
export function toModelSpace(
  dataset: Pick<Dataset, "shape" | "pixels">,
  indices: ArrayLike<number>,
): Float32Array {
  const [, F, H, W, C] = dataset.shape;
  const size = F * H * W * C;
  const out = new Float32Array(indices.length * size);
  for (let b = 0; b < indices.length; b++) {
    const n = indices[b];
    if (!Number.isInteger(n) || n < 0 || n >= dataset.shape[0]) {
      throw new RangeError(`video index must be in [0, ${dataset.shape[0] - 1}]; got ${n}`);
    }
    fromPixels(dataset.pixels.subarray(n * size, (n + 1) * size), out, b * size);
  }
  return out;
}

/**
 * Converts pixels 0–255 to model space [−1, 1], the inverse of {@link toPixels} up to rounding.
 *
 * @param bytes the pixels
 * @param out where to write (default a new array of the same length)
 * @param offset the first index of `out` written
 * @returns `out`
 */
export function fromPixels(
  bytes: ArrayLike<number>,
  out: Float32Array = new Float32Array(bytes.length),
  offset = 0,
): Float32Array {
  for (let p = 0; p < bytes.length; p++) out[offset + p] = bytes[p] / 127.5 - 1;
  return out;
}

/**
 * Converts model-space values [−1, 1] to pixels 0–255 (clipped).
 *
 * @param values model-space values
 * @returns bytes
 */
export function toPixels(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    out[i] = Math.max(0, Math.min(255, Math.round((values[i] + 1) * 127.5)));
  }
  return out;
}
