/**
 * The `Video` type, a seeded splittable PRNG and Gaussian draws.
 *
 * A video batch is stored row-major as `batch × frames × height × width × channels` in one typed
 * array: `Float32Array` by default, `Float64Array` where exactness matters (tests, oracles).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRng, gaussianVideo } from "./video.ts";
 * const noise = gaussianVideo({ batch: 2, frames: 8, height: 4, width: 4 }, createRng(7));
 * assert.equal(noise.data.length, 2 * 8 * 4 * 4);
 * assert.ok(noise.data instanceof Float32Array);
 * ```
 *
 * @module
 */

import { checkAllFinite, checkFinite, checkInteger, show } from "./checks.ts";
import { axpby } from "./linear.ts";

/** Element storage of a video: single or double precision. */
export type VideoData = Float32Array | Float64Array;

/** The five dimensions of a video batch. */
export interface VideoShape {
  /** Number of videos in the batch. */
  batch: number;
  /** Frames per video (the temporal axis that the pyramid down- and upsamples). */
  frames: number;
  /** Frame height in pixels (or latent rows). */
  height: number;
  /** Frame width in pixels (or latent columns). */
  width: number;
  /** Channels per pixel. */
  channels: number;
}

/** A shape in which every dimension but `frames` may be left out (each defaults to 1). */
export type VideoShapeInit = Partial<VideoShape> & { frames: number };

/** A batch of videos: its shape and its elements, row-major `[batch, frames, height, width, channels]`. */
export interface Video<D extends VideoData = VideoData> extends VideoShape {
  /** The elements; `data.length === batch * frames * height * width * channels`. */
  data: D;
}

/** Fills in defaults (1) and validates every dimension of a shape. */
export function videoShape(init: VideoShapeInit): VideoShape {
  const shape = {
    batch: init.batch ?? 1,
    frames: init.frames,
    height: init.height ?? 1,
    width: init.width ?? 1,
    channels: init.channels ?? 1,
  };
  for (const [key, value] of Object.entries(shape)) checkInteger(`video ${key}`, value, 1);
  return shape;
}

/** Number of elements of one frame (`height × width × channels`). */
export function frameSize(shape: VideoShape): number {
  return shape.height * shape.width * shape.channels;
}

/** Number of elements of one video of the batch (`frames × height × width × channels`). */
export function sampleSize(shape: VideoShape): number {
  return shape.frames * frameSize(shape);
}

/** Number of elements of the whole batch. */
export function elementCount(shape: VideoShape): number {
  return shape.batch * sampleSize(shape);
}

/**
 * Creates a video batch. Without `data` it is filled with zeros in the requested precision; with
 * `data` the length must match the shape, and the array is used as it is (not copied).
 *
 * @param init the shape; dimensions other than `frames` default to 1
 * @param data optional elements, or `"float64"` / `"float32"` for zeros of that precision
 * @returns the video
 * @example
 * ```ts
 * import { video } from "./video.ts";
 * const v = video({ frames: 4 }, new Float64Array([1, 2, 3, 4]));
 * ```
 */
export function video<D extends VideoData = Float32Array>(
  init: VideoShapeInit,
  data?: D | "float32" | "float64",
): Video<D> {
  const shape = videoShape(init);
  const n = elementCount(shape);
  let array: VideoData;
  if (data === undefined || data === "float32") array = new Float32Array(n);
  else if (data === "float64") array = new Float64Array(n);
  else {
    if (!(data instanceof Float32Array || data instanceof Float64Array)) {
      throw new TypeError(
        `video data must be a Float32Array or Float64Array; got ${
          show((data as unknown as object)?.constructor?.name)
        }`,
      );
    }
    if (data.length !== n) {
      throw new RangeError(
        `video data has ${data.length} elements, but shape ${describeShape(shape)} needs ${n}`,
      );
    }
    array = data;
  }
  return { ...shape, data: array as D };
}

/** A new video with the same shape and precision as `like`, holding `data` or zeros. */
export function videoLike<D extends VideoData>(like: Video<D>, data?: D): Video<D> {
  const out = data ?? (new (like.data.constructor as { new (n: number): D })(like.data.length));
  return video<D>(like, out);
}

/** A new typed array of the same precision as `like` and the given length. */
export function newData<D extends VideoData>(like: D, length: number): D {
  return new (like.constructor as { new (n: number): D })(length);
}

/** `"2x8x4x4x1"`: the shape as batch x frames x height x width x channels. */
export function describeShape(shape: VideoShape): string {
  return `${shape.batch}x${shape.frames}x${shape.height}x${shape.width}x${shape.channels}`;
}

/** True when two shapes are identical in every dimension. */
export function sameShape(a: VideoShape, b: VideoShape): boolean {
  return a.batch === b.batch && a.frames === b.frames && a.height === b.height &&
    a.width === b.width && a.channels === b.channels;
}

/**
 * Validates a video: integer dimensions, a typed array of the right length, and (unless
 * `finite: false`) only finite entries.
 *
 * @param name how the value is called in the error message
 * @param value the video to check
 * @param options `finite: false` skips the scan for NaN and infinities
 * @returns the same video, typed
 */
export function checkVideo(
  name: string,
  value: unknown,
  options: { finite?: boolean } = {},
): Video {
  if (typeof value !== "object" || value === null) {
    throw new TypeError(
      `${name} must be a Video ({ batch, frames, height, width, channels, data })`,
    );
  }
  const v = value as Video;
  for (const key of ["batch", "frames", "height", "width", "channels"] as const) {
    checkInteger(`${name}.${key}`, v[key], 1);
  }
  if (!(v.data instanceof Float32Array || v.data instanceof Float64Array)) {
    throw new TypeError(`${name}.data must be a Float32Array or Float64Array`);
  }
  const n = elementCount(v);
  if (v.data.length !== n) {
    throw new RangeError(
      `${name}.data has ${v.data.length} elements, but shape ${describeShape(v)} needs ${n}`,
    );
  }
  if (options.finite !== false) checkAllFinite(`${name}.data`, v.data);
  return v;
}

/** Throws unless `b` has exactly the shape of `a`; both names appear in the message. */
export function checkSameShape(nameA: string, a: VideoShape, nameB: string, b: VideoShape): void {
  if (!sameShape(a, b)) {
    throw new RangeError(
      `${nameB} has shape ${describeShape(b)}, but it must match ${nameA} (${describeShape(a)})`,
    );
  }
}

/** `out[i] = a * x[i] + b * y[i]`, elementwise, in the precision of `x`. */
export function combine<D extends VideoData>(
  a: number,
  x: Video<D>,
  b: number,
  y: Video,
): Video<D> {
  checkFinite("a", a);
  checkFinite("b", b);
  checkVideo("x", x);
  checkVideo("y", y);
  checkSameShape("x", x, "y", y);
  return axpby(a, x, b, y);
}

/** `out[i] = a * x[i]`. */
export function scale<D extends VideoData>(a: number, x: Video<D>): Video<D> {
  checkFinite("a", a);
  checkVideo("x", x);
  const out = newData(x.data, x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a * x.data[i];
  return videoLike(x, out);
}

/** Largest absolute elementwise difference between two equally shaped videos. */
export function maxAbsDiff(a: Video, b: Video): number {
  checkSameShape("a", a, "b", b);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

/** One video of a batch, as a batch of one (a copy). */
export function sampleOf<D extends VideoData>(x: Video<D>, index: number): Video<D> {
  checkInteger("sample index", index, 0, x.batch - 1);
  const n = sampleSize(x);
  return video<D>({ ...x, batch: 1 }, x.data.slice(index * n, (index + 1) * n) as D);
}

// ---------------------------------------------------------------------------------------------
// Seeded, splittable randomness

/** The serialisable state of an {@link Rng}: four 32-bit words and an optional spare normal. */
export interface RngState {
  /** The xoshiro128** state words. */
  s: [number, number, number, number];
  /** A cached second Box–Muller normal, or null. */
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * A seeded pseudo-random generator (xoshiro128**, seeded through splitmix32) with Gaussian draws
 * and `split()` for independent child streams, so that every test and demo is reproducible.
 */
export class Rng {
  #s: Uint32Array;
  #spare: number | null = null;

  /** Use {@link createRng}; this constructor takes a validated state. */
  constructor(state: RngState) {
    this.#s = Uint32Array.from(state.s);
    this.#spare = state.spare;
    if (this.#s.every((w) => w === 0)) this.#s[0] = 1;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5, lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in [0, n). */
  integer(n: number): number {
    checkInteger("n", n, 1, 2 ** 32);
    return Math.floor(this.uniform() * n);
  }

  /** A standard normal draw (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.#spare !== null) {
      const z = this.#spare;
      this.#spare = null;
      return z;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` with independent standard normal draws and returns it. */
  fillNormal<A extends Float32Array | Float64Array>(out: A): A {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
    return out;
  }

  /** A new generator whose stream is independent of this one's continuation. */
  split(): Rng {
    const mix = splitmix32(this.nextUint32() ^ 0x5bd1e995);
    const words: [number, number, number, number] = [
      mix() ^ this.nextUint32(),
      mix(),
      mix() ^ this.nextUint32(),
      mix(),
    ];
    return new Rng({ s: words.map((w) => w >>> 0) as RngState["s"], spare: null });
  }

  /** A snapshot of the state; `new Rng(state)` continues exactly from here. */
  state(): RngState {
    return { s: Array.from(this.#s) as RngState["s"], spare: this.#spare };
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * Creates a seeded generator. Equal seeds give equal streams; strings are hashed.
 *
 * @param seed an integer or a string
 * @returns the generator
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRng } from "./video.ts";
 * assert.equal(createRng(1).normal(), createRng(1).normal()); // equal seeds, equal streams
 * assert.notEqual(createRng("a").normal(), createRng("b").normal());
 * ```
 */
export function createRng(seed: number | string): Rng {
  let key: number;
  if (typeof seed === "string") key = hashString(seed);
  else if (Number.isSafeInteger(seed)) key = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
  else throw new RangeError(`seed must be a safe integer or a string; got ${show(seed)}`);
  const mix = splitmix32(key);
  return new Rng({ s: [mix(), mix(), mix(), mix()], spare: null });
}

/**
 * A video of independent standard normal entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRng, gaussianVideo } from "./video.ts";
 * const x = gaussianVideo({ batch: 4096, frames: 2 }, createRng(3), "float64");
 * let mean = 0;
 * for (const v of x.data) mean += v / x.data.length;
 * assert.ok(Math.abs(mean) < 0.05); // N(0, 1) draws
 * ```
 *
 * @param init the shape
 * @param rng the generator to draw from
 * @param precision `"float32"` (default) or `"float64"`
 */
export function gaussianVideo(
  init: VideoShapeInit,
  rng: Rng,
  precision: "float32" | "float64" = "float32",
): Video {
  const v = video(init, precision);
  rng.fillNormal(v.data);
  return v;
}
