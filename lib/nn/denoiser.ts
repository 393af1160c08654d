/**
 * Small space-time denoisers that accept every frame count a stage plan uses (F/4, F/2, F),
 * conditioned on the global noise level t, the stage k, and each frame's position on the
 * full-rate grid (j·2^(k−1)), so that a frame keeps its position in every stage.
 *
 * Two architectures, chosen by measurement (see README, "Choosing the denoiser"):
 * - `"unet"`: a factorised (2+1)D conv U-Net: 3×3 spatial convolutions per frame, kernel-3
 *   temporal convolutions per pixel, group norm, SiLU, residual blocks, 2× down/up in space;
 * - `"transformer"`: patch tokens with factorised attention, spatial within a frame, then temporal
 *   across frames per patch.
 *
 * Both end with a learned, time-dependent skip c(t)·x_t added to the output, so that they need not
 * copy the input's noise through their patch bottleneck (mean held-out loss 14 % lower in a default
 * train-small run).
 *
 * Both cost the same per frame at every stage (the temporal part of the transformer aside), which is
 * what the cost model of `pyramid.ts` assumes.
 *
 * @module
 */
import { show } from "../checks.ts";
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../video.ts";
import {
  addConv,
  addDense,
  applyConv,
  applyDense,
  avgPool2,
  fromPatches,
  groupNormSilu,
  silu,
  sinusoidal,
  toPatches,
  upNearest2,
} from "./layers.ts";
import { ParamStore } from "./params.ts";

/** The denoiser architectures. */
export type Architecture = "unet" | "transformer";

/** A denoiser's configuration (stored in checkpoints). */
export interface DenoiserConfig {
  /** `"unet"` or `"transformer"`. */
  architecture: Architecture;
  /** Frame height. */
  height: number;
  /** Frame width. */
  width: number;
  /** Image channels. */
  channels: number;
  /** The most stages a plan may use (size of the stage embedding table). */
  maxStages: number;
  /** U-Net: widths per level (default [24, 48, 64]); transformer: [model width]. */
  widths: number[];
  /** Space-to-depth patch size at the input (U-Net default 2; transformer default 4). */
  patch: number;
  /** Transformer blocks (default 3); unused by the U-Net. */
  depth: number;
  /** Attention heads (default 4); unused by the U-Net. */
  heads: number;
  /** Size of the conditioning embedding (default 64). */
  embedding: number;
  /**
   * U-Net: how many of the lowest-resolution levels add self-attention across frames to every
   * block (default 0, none); each pixel of those levels then sees every frame of the stage, not
   * only its neighbours through the kernel-3 temporal convolutions. Unused by the transformer.
   */
  temporalAttention: number;
  /** U-Net: the temporal convolutions' kernel size in frames (odd; default 3). */
  temporalKernel: number;
  /**
   * Class labels the model is conditioned on (default 0: unconditional). With C classes it learns
   * an embedding per class and one for the null class C, which stands for "no label" (classifier-
   * free guidance's unconditional prediction).
   */
  classes: number;
  /**
   * Whether the model also reads given frames (default false): each stage's given frames and
   * their mask, at the stage's frame rate (`stageCondition`), enter as extra input channels beside
   * x_t, so the input has 2·channels + 1 channels. No frames given is all zeros.
   */
  frameCondition: boolean;
  /**
   * A frame-conditioned model's slots per stage frame (default 1): with 1 a stage sees the given
   * frames on its own grid; with S > 1 every stage frame also reads the given frames of the
   * full-rate window it stands for, S of them, as S·(channels + 1) input channels
   * (`stageCondition`'s `slots`; train-small uses 2^{K−1}, so no stage misses a given frame).
   */
  givenSlots: number;
  /**
   * Self-conditioning (Chen et al. 2023, "Analog Bits", §3): the stages k (default none) on which
   * the model also reads its own previous estimate x̃₀ of the clean stage video, as `channels`
   * more input channels (zeros on the other stages, and where it has none yet). Training feeds
   * half the examples of those stages the estimate of a first, gradient-free pass at the same x_t;
   * the sampler feeds each step the estimate of the step before. A coarse stage's extra pass is
   * cheap: it holds a quarter of the frames.
   */
  selfCondition: number[];
}

/** What the model is conditioned on, for one batch of one stage. */
export interface Conditioning {
  /** Global noise level t per sample (length = batch). */
  t: ArrayLike<number>;
  /** TPDiff's stage index k (1 = full rate). */
  k: number;
  /** Each frame's position on the full-rate grid (length = frames). */
  positions: ArrayLike<number>;
  /** A class-conditional model's label per sample, 0 … classes − 1, or `classes` for none (the
   * default for every sample). */
  labels?: ArrayLike<number>;
  /** A frame-conditioned model's given frames at the stage's frame rate, [batch, frames, slots,
   * height, width, channels] (zero where not given), and their mask, [batch, frames, slots]
   * (default none given). */
  given?: { frames: Float32Array; mask: Float32Array };
  /** A self-conditioning model's previous estimate x̃₀, shaped like x (default zeros: none). */
  selfCondition?: tf.Tensor;
}

/** A denoiser: parameters plus a pure forward function. */
export interface Denoiser {
  /** The configuration it was built from. */
  config: DenoiserConfig;
  /** Its trainable variables. */
  params: ParamStore;
  /**
   * The forward pass.
   *
   * @param x [batch, frames, height, width, channels]
   * @param conditioning t per sample, stage and frame positions
   * @returns a tensor of the same shape as x
   */
  apply(x: tf.Tensor, conditioning: Conditioning): tf.Tensor;
  /** Multiply-adds ×2 per frame of one forward pass, at `frames` frames per video. */
  flopsPerFrame(frames: number): number;
}

/**
 * Fills in a denoiser configuration's defaults and checks it.
 *
 * @param init the fields to set; the rest take their defaults
 * @returns the complete configuration
 */
export function denoiserConfig(
  init: Partial<DenoiserConfig> & Pick<DenoiserConfig, "height" | "width">,
): DenoiserConfig {
  const architecture = init.architecture ?? "unet";
  if (architecture !== "unet" && architecture !== "transformer") {
    throw new RangeError(
      `architecture must be unet or transformer; got ${show(architecture)}`,
    );
  }
  const unet = architecture === "unet";
  const config: DenoiserConfig = {
    architecture,
    height: init.height,
    width: init.width,
    channels: init.channels ?? 1,
    maxStages: init.maxStages ?? 4,
    widths: init.widths ?? (unet ? [24, 48, 64] : [64]),
    patch: init.patch ?? (unet ? 2 : 4),
    depth: init.depth ?? 3,
    heads: init.heads ?? 4,
    embedding: init.embedding ?? 64,
    temporalAttention: init.temporalAttention ?? 0,
    temporalKernel: init.temporalKernel ?? 3,
    classes: init.classes ?? 0,
    frameCondition: init.frameCondition ?? false,
    givenSlots: init.givenSlots ?? 1,
    selfCondition: selfConditionStages(init.selfCondition, init.maxStages ?? 4),
  };
  checkDenoiserConfig(config);
  return config;
}

/** The self-conditioned stages: a list of distinct stages 1 … maxStages, ascending. */
function selfConditionStages(value: unknown, maxStages: number): number[] {
  if (value === undefined) return [];
  if (
    !Array.isArray(value) ||
    !value.every((k) => Number.isInteger(k) && k >= 1 && k <= maxStages) ||
    new Set(value).size !== value.length
  ) {
    throw new RangeError(
      `selfCondition must list distinct stages k from 1 to ${maxStages}; got ${show(value)}`,
    );
  }
  return [...value].sort((a, b) => a - b);
}

/** Whether a model reads its own estimate on stage k. */
export function selfConditioned(config: DenoiserConfig, k: number): boolean {
  return config.selfCondition.includes(k);
}

/** Throws a RangeError naming the first field of a filled-in config that cannot build a model. */
function checkDenoiserConfig(config: DenoiserConfig): void {
  const unet = config.architecture === "unet";
  if (!Number.isInteger(config.givenSlots) || config.givenSlots < 1 || config.givenSlots > 16) {
    throw new RangeError(
      `givenSlots must be an integer from 1 to 16; got ${show(config.givenSlots)}`,
    );
  }
  if (!Number.isInteger(config.classes) || config.classes < 0 || config.classes > 1000) {
    throw new RangeError(`classes must be an integer from 0 to 1000; got ${show(config.classes)}`);
  }
  if (
    !Number.isInteger(config.temporalKernel) || config.temporalKernel < 1 ||
    config.temporalKernel % 2 === 0 || config.temporalKernel > 15
  ) {
    throw new RangeError(
      `temporalKernel must be an odd integer from 1 to 15; got ${config.temporalKernel}`,
    );
  }
  if (
    !Number.isInteger(config.temporalAttention) || config.temporalAttention < 0 ||
    config.temporalAttention > config.widths.length
  ) {
    throw new RangeError(
      `temporalAttention must be an integer from 0 to ${config.widths.length} (the U-Net's levels); got ${config.temporalAttention}`,
    );
  }
  const down = config.patch * (unet ? 2 ** (config.widths.length - 1) : 1);
  for (const [name, size] of [["height", config.height], ["width", config.width]] as const) {
    if (!Number.isInteger(size) || size < down || size % down !== 0) {
      throw new RangeError(
        `${name} must be a positive multiple of ${down} (patch ${config.patch}` +
          (unet ? ` × 2^${config.widths.length - 1} levels` : "") + `); got ${size}`,
      );
    }
  }
  for (const w of config.widths) {
    if (!Number.isInteger(w) || w < 4 || w % 4 !== 0) {
      throw new RangeError(`widths must be multiples of 4; got ${show(config.widths)}`);
    }
  }
  if (!unet && config.widths[0] % config.heads !== 0) {
    throw new RangeError(
      `transformer width ${config.widths[0]} must be divisible by ${config.heads} heads`,
    );
  }
}

/**
 * Builds a denoiser with weights drawn from `rng`.
 *
 * @param config the configuration (see {@link denoiserConfig})
 * @param rng the generator for the initial weights
 * @returns the model
 */
export function createDenoiser(config: DenoiserConfig, rng: Rng): Denoiser {
  return config.architecture === "unet" ? createUnet(config, rng) : createTransformer(config, rng);
}

// ---- shared pieces -------------------------------------------------------------------------

function checkInput(config: DenoiserConfig, x: tf.Tensor, c: Conditioning): [number, number] {
  const [b, f, h, w, ch] = x.shape;
  if (x.rank !== 5 || h !== config.height || w !== config.width || ch !== config.channels) {
    throw new RangeError(
      `denoiser input must be [batch, frames, ${config.height}, ${config.width}, ${config.channels}]; got [${x.shape}]`,
    );
  }
  if (c.t.length !== b) {
    throw new RangeError(`conditioning t must have ${b} entries; got ${c.t.length}`);
  }
  if (c.positions.length !== f) {
    throw new RangeError(
      `conditioning positions must have ${f} entries; got ${c.positions.length}`,
    );
  }
  if (!Number.isInteger(c.k) || c.k < 1 || c.k > config.maxStages) {
    throw new RangeError(`stage k must be an integer in [1, ${config.maxStages}]; got ${c.k}`);
  }
  if (c.given !== undefined) {
    if (!config.frameCondition) {
      throw new RangeError("this model reads no given frames (frameCondition false); give none");
    }
    const S = config.givenSlots;
    if (c.given.frames.length !== x.size * S || c.given.mask.length !== b * f * S) {
      throw new RangeError(
        `given frames must have ${x.size * S} values and their mask ${
          b * f * S
        } (${S} slots per frame); got ${c.given.frames.length} and ${c.given.mask.length}`,
      );
    }
  }
  if (c.selfCondition !== undefined) {
    if (!selfConditioned(config, c.k)) {
      throw new RangeError(
        `this model reads no estimate of its own on stage k = ${c.k} (selfCondition [${config.selfCondition}]); give none`,
      );
    }
    if (c.selfCondition.size !== x.size) {
      throw new RangeError(
        `the self-conditioning estimate must be shaped like x [${x.shape}]; got [${c.selfCondition.shape}]`,
      );
    }
  }
  if (c.labels !== undefined) {
    if (config.classes === 0) {
      throw new RangeError("this model has no classes (classes 0); give no labels");
    }
    if (c.labels.length !== b) {
      throw new RangeError(`conditioning labels must have ${b} entries; got ${c.labels.length}`);
    }
    for (const l of Array.from(c.labels)) {
      if (!Number.isInteger(l) || l < 0 || l > config.classes) {
        throw new RangeError(
          `labels must be integers in [0, ${config.classes}] (${config.classes}: no label); got ${l}`,
        );
      }
    }
  }
  return [b, f];
}

function addConditioning(p: ParamStore, config: DenoiserConfig): void {
  const e = config.embedding;
  addDense(p, "cond.time1", 64, e);
  addDense(p, "cond.time2", e, e);
  p.add("cond.stage", [config.maxStages, e], { kind: "normal", std: 0.5 });
  addDense(p, "cond.position", 64, e);
  // Row `classes` is the null class. Declared last, so that unconditional models draw as before.
  if (config.classes > 0) {
    p.add("cond.class", [config.classes + 1, e], { kind: "normal", std: 0.5 });
  }
}

/** Channels the input layer reads: x_t's, plus the given frames' and their mask for a
 * frame-conditioned model. */
function inputChannels(config: DenoiserConfig): number {
  const { channels: C, givenSlots: S } = config;
  return (config.frameCondition ? C + S * (C + 1) : C) + (config.selfCondition.length ? C : 0);
}

/** The input frames, [batch·frames, height, width, inputChannels]: x_t, and for a frame-conditioned
 * model the given frames and the mask beside it (zeros where none are given). */
function inputFrames(
  config: DenoiserConfig,
  x: tf.Tensor,
  c: Conditioning,
  n: number,
): tf.Tensor4D {
  const { height: H, width: W, channels: C } = config;
  const plain = tf.reshape(x, [n, H, W, C]) as tf.Tensor4D;
  // A self-conditioning model's previous estimate is the last C channels (zeros: none).
  const frames = !config.selfCondition.length ? plain : tf.concat([
    plain,
    c.selfCondition ? tf.reshape(c.selfCondition, [n, H, W, C]) : tf.zerosLike(plain),
  ], 3) as tf.Tensor4D;
  if (!config.frameCondition) return frames;
  const S = config.givenSlots;
  // Slot s of a frame becomes channels s·C … s·C + C − 1 (and mask channel s).
  const given = c.given
    ? (S === 1 ? tf.reshape(tf.tensor(c.given.frames), [n, H, W, C]) : tf.reshape(
      tf.transpose(tf.reshape(tf.tensor(c.given.frames), [n, S, H, W, C]), [0, 2, 3, 1, 4]),
      [n, H, W, S * C],
    ))
    : tf.zeros([n, H, W, S * C]);
  const mask = c.given
    ? tf.mul(tf.ones([n, H, W, S]), tf.reshape(tf.tensor(c.given.mask), [n, 1, 1, S]))
    : tf.zeros([n, H, W, S]);
  return tf.concat([frames, given, mask], 3) as tf.Tensor4D;
}

/** The per-frame conditioning vector, [batch·frames, embedding]. */
function conditioningVector(
  p: ParamStore,
  c: Conditioning,
  b: number,
  f: number,
  classes = 0,
): tf.Tensor2D {
  const time = applyDense(
    p,
    "cond.time2",
    silu(applyDense(p, "cond.time1", sinusoidal(Array.from(c.t, (t) => 1000 * t), 64))),
  );
  const stage = tf.slice(p.get("cond.stage"), [c.k - 1, 0], [1, -1]);
  const position = applyDense(p, "cond.position", sinusoidal(c.positions, 64, 1000));
  const e = time.shape[1]!;
  // A class-conditional model adds its label's embedding to the time's (the null class by default).
  // (A one-hot product rather than a gather, whose gradient not every backend has.)
  const perSample = classes === 0 ? time : tf.add(
    time,
    tf.matMul(
      tf.oneHot(
        tf.tensor1d(Int32Array.from(c.labels ?? new Array(b).fill(classes)), "int32"),
        classes + 1,
      ).toFloat(),
      p.get("cond.class"),
    ),
  );
  const sum = tf.add(
    tf.add(tf.reshape(perSample, [b, 1, e]), tf.reshape(position, [1, f, e])),
    tf.reshape(stage, [1, 1, e]),
  );
  return silu(tf.reshape(sum, [b * f, e])) as tf.Tensor2D;
}

// ---- (2+1)D U-Net ----------------------------------------------------------------------------

function groupsFor(c: number): number {
  return c % 8 === 0 ? 8 : 4;
}

function createUnet(config: DenoiserConfig, rng: Rng): Denoiser {
  const p = new ParamStore(rng);
  addUnetParams(p, config);
  return {
    config,
    params: p,
    apply: (x, c) => tf.tidy(() => unetApply(p, config, x, c)),
    flopsPerFrame: (frames) => unetFlopsPerFrame(config, frames),
  };
}

/** Whether U-Net level `level` (0 = full resolution) attends across frames. */
function attendsAt(config: DenoiserConfig, level: number): boolean {
  return level >= config.widths.length - config.temporalAttention;
}

/** Declares the U-Net's parameters, in the order their initial values are drawn. */
function addUnetParams(p: ParamStore, config: DenoiserConfig): void {
  const { widths, patch, channels, embedding } = config;
  const pc = patch * patch * channels;
  addConditioning(p, config);
  addConv(p, "stem", [3, 3], [patch * patch * inputChannels(config), widths[0]]);
  const addBlock = (name: string, c: number, level: number) => {
    addConv(p, `${name}.spatial1`, [3, 3], [c, c]);
    addDense(p, `${name}.cond`, embedding, c);
    addConv(p, `${name}.spatial2`, [3, 3], [c, c], true);
    addConv(p, `${name}.temporal`, [config.temporalKernel, 1], [c, c], true);
    if (attendsAt(config, level)) {
      for (const part of ["q", "k", "v"]) addDense(p, `${name}.attention.${part}`, c, c);
      addDense(p, `${name}.attention.proj`, c, c, true);
    }
  };
  widths.forEach((c, i) => {
    addBlock(`down${i}`, c, i);
    if (i + 1 < widths.length) addDense(p, `down${i}.to`, c, widths[i + 1]);
  });
  addBlock("mid", widths[widths.length - 1], widths.length - 1);
  for (let i = widths.length - 2; i >= 0; i--) {
    addDense(p, `up${i}.from`, widths[i + 1], widths[i]);
    addBlock(`up${i}`, widths[i], i);
  }
  addConv(p, "out", [3, 3], [widths[0], pc], true);
  addDense(p, "skip", embedding, 1, true);
}

/** Self-attention across the f frames of every pixel (4 heads), added to x. */
function attendAcrossFrames(
  p: ParamStore,
  name: string,
  x: tf.Tensor4D,
  frames: { b: number; f: number },
): tf.Tensor4D {
  const { b, f } = frames;
  const [n, h, w, c] = x.shape;
  const heads = 4, dh = c / heads, pixels = h * w;
  // [b, f, pixels, c] → [b·pixels, f, c]: one sequence of frames per pixel.
  const seq = tf.transpose(tf.reshape(layerNorm(x), [b, f, pixels, c]), [0, 2, 1, 3]);
  // Separate q, k, v projections: slicing one 5-D qkv tensor is slow on wasm.
  const part = (j: string) =>
    tf.reshape(
      tf.transpose(
        tf.reshape(applyDense(p, `${name}.attention.${j}`, seq), [b * pixels, f, heads, dh]),
        [0, 2, 1, 3],
      ),
      [b * pixels * heads, f, dh],
    ) as tf.Tensor3D;
  const weights = tf.softmax(
    tf.mul(tf.matMul(part("q"), part("k"), false, true), 1 / Math.sqrt(dh)),
  );
  // [b·pixels·heads, f, dh] → [b, f, pixels, heads·dh], through 4-D transposes.
  const mixed = tf.transpose(
    tf.reshape(tf.matMul(weights, part("v")), [b * pixels, heads, f, dh]),
    [0, 2, 1, 3],
  );
  const back = tf.transpose(tf.reshape(mixed, [b, pixels, f, c]), [0, 2, 1, 3]);
  const out = applyDense(p, `${name}.attention.proj`, tf.reshape(back, [n, h, w, c]));
  return tf.add(x, out) as tf.Tensor4D;
}

/**
 * One (2+1)D block: two spatial convolutions with the conditioning added between them, a temporal
 * convolution across frames, and attention across frames where the level has it; all residual.
 */
function unetBlock(
  p: ParamStore,
  config: DenoiserConfig,
  at: { name: string; level: number },
  x: tf.Tensor4D,
  cond: { e: tf.Tensor2D; b: number; f: number },
): tf.Tensor4D {
  const { name, level } = at, { e, b, f } = cond;
  const [n, h, w, c] = x.shape;
  let y = applyConv(p, `${name}.spatial1`, groupNormSilu(x, groupsFor(c)));
  y = tf.add(y, tf.reshape(applyDense(p, `${name}.cond`, e), [n, 1, 1, c]));
  y = applyConv(p, `${name}.spatial2`, groupNormSilu(y, groupsFor(c)));
  x = tf.add(x, y);
  const time = tf.reshape(groupNormSilu(x, groupsFor(c)), [b, f, h * w, c]) as tf.Tensor4D;
  const dt = tf.reshape(applyConv(p, `${name}.temporal`, time), [n, h, w, c]);
  x = tf.add(x, dt);
  return attendsAt(config, level) ? attendAcrossFrames(p, name, x, { b, f }) : x;
}

/** The U-Net's forward pass (call inside a tidy). */
function unetApply(p: ParamStore, config: DenoiserConfig, x: tf.Tensor, c: Conditioning) {
  const { widths, patch } = config;
  const [b, f] = checkInput(config, x, c);
  const cond = { e: conditioningVector(p, c, b, f, config.classes), b, f };
  const frames = inputFrames(config, x, c, b * f);
  let h = applyConv(p, "stem", toPatches(frames, patch));
  const skips: tf.Tensor4D[] = [];
  widths.forEach((_, i) => {
    h = unetBlock(p, config, { name: `down${i}`, level: i }, h, cond);
    if (i + 1 < widths.length) {
      skips.push(h);
      h = applyDense(p, `down${i}.to`, avgPool2(h)) as tf.Tensor4D;
    }
  });
  h = unetBlock(p, config, { name: "mid", level: widths.length - 1 }, h, cond);
  for (let i = widths.length - 2; i >= 0; i--) {
    h = tf.add(applyDense(p, `up${i}.from`, upNearest2(h)), skips[i]) as tf.Tensor4D;
    h = unetBlock(p, config, { name: `up${i}`, level: i }, h, cond);
  }
  h = applyConv(p, "out", groupNormSilu(h, groupsFor(widths[0])));
  // A learned, time-dependent skip c(t)·x_t: the network need not copy the input's noise
  // through its patch bottleneck to predict a target that contains it.
  const skip = tf.reshape(applyDense(p, "skip", cond.e), [b, f, 1, 1, 1]);
  return tf.add(tf.reshape(fromPatches(h, patch), x.shape), tf.mul(skip, x));
}

/** Convolutions and channel projections (norms, activations and conditioning left out). */
function unetFlopsPerFrame(config: DenoiserConfig, frames: number): number {
  const { widths, patch, channels } = config;
  const pc = patch * patch * channels;
  const pixels = (level: number) => (config.height / patch) * (config.width / patch) / 4 ** level;
  const last = widths.length - 1;
  // Temporal attention: qkv and projection, then scores and mixing over the frames.
  const block = (c: number, level = last) =>
    2 * 9 * c * c + config.temporalKernel * c * c +
    (attendsAt(config, level) ? 4 * c * c + 2 * frames * c : 0);
  // Stem (x_t, and given frames and mask where read) and out.
  let macs = pixels(0) * 9 * (pc + patch * patch * inputChannels(config)) * widths[0];
  widths.forEach((c, i) => {
    macs += pixels(i) * block(c, i) * (i < last ? 2 : 1); // down and up blocks
    if (i < last) macs += pixels(i + 1) * c * widths[i + 1] + pixels(i) * widths[i + 1] * c; // to, from
  });
  macs += pixels(last) * block(widths[last]); // mid
  return 2 * macs;
}

// ---- factorised space-time transformer --------------------------------------------------------

function layerNorm(x: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
}

function createTransformer(config: DenoiserConfig, rng: Rng): Denoiser {
  const p = new ParamStore(rng);
  addTransformerParams(p, config);
  return {
    config,
    params: p,
    apply: (x, c) => tf.tidy(() => transformerApply(p, config, x, c)),
    flopsPerFrame: (frames) => transformerFlopsPerFrame(config, frames),
  };
}

/** Patch tokens per frame and the values per patch. */
function tokenGrid(config: DenoiserConfig) {
  const { patch, channels } = config;
  const gh = config.height / patch, gw = config.width / patch;
  return { gh, gw, tokens: gh * gw, pc: patch * patch * channels, d: config.widths[0] };
}

/** Declares the transformer's parameters, in the order their initial values are drawn. */
function addTransformerParams(p: ParamStore, config: DenoiserConfig): void {
  const { embedding, depth } = config;
  const { tokens, pc, d } = tokenGrid(config);
  addConditioning(p, config);
  addDense(p, "embed", config.patch * config.patch * inputChannels(config), d);
  p.add("embed.position", [tokens, d], { kind: "normal", std: 0.02 });
  for (let i = 0; i < depth; i++) {
    for (const part of ["space", "time"]) {
      addDense(p, `block${i}.${part}.cond`, embedding, d);
      addDense(p, `block${i}.${part}.qkv`, d, 3 * d);
      addDense(p, `block${i}.${part}.proj`, d, d, true);
    }
    addDense(p, `block${i}.mlp.cond`, embedding, d);
    addDense(p, `block${i}.mlp.in`, d, 4 * d);
    addDense(p, `block${i}.mlp.out`, 4 * d, d, true);
  }
  addDense(p, "head", d, pc, true);
  addDense(p, "skip", embedding, 1, true);
}

/** Multi-head self-attention over axis 1 of [n, length, d]. */
function attendTokens(p: ParamStore, heads: number, name: string, x: tf.Tensor3D): tf.Tensor3D {
  const [n, length, d] = x.shape;
  const dh = d / heads;
  const qkv = tf.reshape(applyDense(p, `${name}.qkv`, x), [n, length, 3, heads, dh]);
  const split = (j: number) =>
    tf.reshape(
      tf.transpose(tf.squeeze(tf.slice(qkv, [0, 0, j, 0, 0], [-1, -1, 1, -1, -1]), [2]), [
        0,
        2,
        1,
        3,
      ]),
      [n * heads, length, dh],
    ) as tf.Tensor3D;
  const scores = tf.softmax(
    tf.mul(tf.matMul(split(0), split(1), false, true), 1 / Math.sqrt(dh)),
  );
  const out = tf.transpose(tf.reshape(tf.matMul(scores, split(2)), [n, heads, length, dh]), [
    0,
    2,
    1,
    3,
  ]);
  return applyDense(p, `${name}.proj`, tf.reshape(out, [n, length, d])) as tf.Tensor3D;
}

/** One transformer block: attention over space, then over time, then an MLP; all residual. */
function transformerBlock(
  p: ParamStore,
  config: DenoiserConfig,
  i: number,
  h: tf.Tensor3D,
  cond: { e: tf.Tensor2D; b: number; f: number },
): tf.Tensor3D {
  const { b, f, e } = cond;
  const { tokens, d } = tokenGrid(config);
  const attend = (name: string, x: tf.Tensor3D) => attendTokens(p, config.heads, name, x);
  const shift = (name: string) => tf.reshape(applyDense(p, `${name}.cond`, e), [b * f, 1, d]);
  h = tf.add(
    h,
    attend(`block${i}.space`, tf.add(layerNorm(h), shift(`block${i}.space`)) as tf.Tensor3D),
  );
  const normed = tf.add(layerNorm(h), shift(`block${i}.time`));
  const across = tf.reshape(
    tf.transpose(tf.reshape(normed, [b, f, tokens, d]), [0, 2, 1, 3]),
    [b * tokens, f, d],
  );
  const back = tf.transpose(
    tf.reshape(attend(`block${i}.time`, across as tf.Tensor3D), [b, tokens, f, d]),
    [0, 2, 1, 3],
  );
  h = tf.add(h, tf.reshape(back, [b * f, tokens, d]));
  const m = applyDense(p, `block${i}.mlp.in`, tf.add(layerNorm(h), shift(`block${i}.mlp`)));
  return tf.add(h, applyDense(p, `block${i}.mlp.out`, silu(m))) as tf.Tensor3D;
}

/** The transformer's forward pass (call inside a tidy). */
function transformerApply(p: ParamStore, config: DenoiserConfig, x: tf.Tensor, c: Conditioning) {
  const { patch } = config;
  const { gh, gw, tokens, pc } = tokenGrid(config);
  const [b, f] = checkInput(config, x, c);
  const cond = { e: conditioningVector(p, c, b, f, config.classes), b, f };
  const frames = inputFrames(config, x, c, b * f);
  const inputs = patch * patch * inputChannels(config);
  let h = tf.add(
    applyDense(p, "embed", tf.reshape(toPatches(frames, patch), [b * f, tokens, inputs])),
    p.get("embed.position"),
  ) as tf.Tensor3D; // [b·f, tokens, d]
  for (let i = 0; i < config.depth; i++) h = transformerBlock(p, config, i, h, cond);
  const out = applyDense(p, "head", layerNorm(h));
  const skip = tf.reshape(applyDense(p, "skip", cond.e), [b, f, 1, 1, 1]);
  return tf.add(
    tf.reshape(
      fromPatches(tf.reshape(out, [b * f, gh, gw, pc]) as tf.Tensor4D, patch),
      x.shape,
    ),
    tf.mul(skip, x),
  );
}

function transformerFlopsPerFrame(config: DenoiserConfig, frames: number): number {
  const { tokens, pc, d } = tokenGrid(config);
  const perBlock = tokens * (4 * d * d * 2 + 8 * d * d) + 2 * tokens * tokens * d +
    2 * tokens * frames * d;
  return 2 * (config.depth * perBlock + tokens * pc * d * 2);
}
