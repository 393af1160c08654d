/**
 * Layers that train on every backend. The wasm backend has no `Conv2DBackpropFilter` kernel, so
 * {@link conv2d} there carries a gradient built from forward convolutions only:
 *
 * - input gradient: a "same" conv2d of dy with the filter flipped in space and transposed in/out;
 * - filter gradient: one "valid" conv2d of the padded input with batch and channels swapped, with dy
 *   (batch and channels swapped) as the filter.
 *
 * Every function here is pure over its tensor arguments; parameters live in a {@link ParamStore}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { backendCapabilities } from "./backend.ts";
import type { ParamStore } from "./params.ts";

/** Options of {@link conv2d}. */
export interface Conv2dOptions {
  /**
   * Use the forward-only gradient even when the backend has a filter-gradient kernel (default:
   * only when it has none). Tests set it to compare both on the cpu backend.
   */
  forwardOnlyGradient?: boolean;
}

function checkOddKernel(filter: tf.Tensor4D): void {
  const [kh, kw] = filter.shape;
  if (kh % 2 !== 1 || kw % 2 !== 1) {
    throw new RangeError(`conv2d kernel sizes must be odd for "same" padding; got ${kh}×${kw}`);
  }
}

const antiIdentities = new Map<string, tf.Tensor2D>();

/**
 * The filter reversed in both spatial axes. On wasm `tf.reverse` costs about 1 ms on a 3×3×64×64
 * filter; a product with the anti-identity over the kh·kw taps costs a quarter of that.
 */
function flipSpatial(w: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, cin, cout] = w.shape;
  const taps = kh * kw;
  if (taps === 1) return w;
  const key = `${tf.getBackend()}:${taps}`;
  let p = antiIdentities.get(key);
  if (p === undefined) {
    const values = new Float32Array(taps * taps);
    for (let i = 0; i < taps; i++) values[i * taps + (taps - 1 - i)] = 1;
    p = tf.keep(tf.tensor2d(values, [taps, taps]));
    antiIdentities.set(key, p);
  }
  return tf.reshape(tf.matMul(p, tf.reshape(w, [taps, cin * cout])), [kh, kw, cin, cout]);
}

const forwardOnlyConv2d = tf.customGrad(
  // deno-lint-ignore no-explicit-any
  ((x: tf.Tensor4D, filter: tf.Tensor4D, save: any) => {
    save([x, filter]);
    return {
      value: tf.conv2d(x, filter, 1, "same"),
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [input, w] = saved as [tf.Tensor4D, tf.Tensor4D];
        const [kh, kw] = w.shape;
        const flipped = tf.transpose(flipSpatial(w), [0, 1, 3, 2]) as tf.Tensor4D;
        const dx = tf.conv2d(dy, flipped, 1, "same");
        const ph = (kh - 1) / 2, pw = (kw - 1) / 2;
        const padded = tf.pad(input, [[0, 0], [ph, ph], [pw, pw], [0, 0]]);
        const dw = tf.transpose(
          tf.conv2d(
            tf.transpose(padded, [3, 1, 2, 0]) as tf.Tensor4D,
            tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D,
            1,
            "valid",
          ),
          [1, 2, 0, 3],
        );
        return [dx, dw];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
) as unknown as (x: tf.Tensor4D, filter: tf.Tensor4D) => tf.Tensor4D;

/**
 * A stride-1, "same"-padded conv2d (NHWC input, [kh, kw, in, out] filter, odd kernel) that trains
 * on every backend: where the backend lacks a filter-gradient kernel, its gradient is made of
 * forward convolutions only.
 *
 * @param x input, [batch, height, width, in]
 * @param filter [kh, kw, in, out]
 * @param options force the forward-only gradient
 * @returns [batch, height, width, out]
 */
export function conv2d(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  options: Conv2dOptions = {},
): tf.Tensor4D {
  checkOddKernel(filter);
  const forwardOnly = options.forwardOnlyGradient ?? !backendCapabilities().conv2dFilterGradient;
  return forwardOnly ? forwardOnlyConv2d(x, filter) : tf.conv2d(x, filter, 1, "same");
}

/** SiLU, x·sigmoid(x). */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * Group normalisation over the last axis of an NHWC tensor (no affine part; callers add one).
 *
 * @param x [n, h, w, c]
 * @param groups number of channel groups, dividing c
 * @returns the normalised tensor, same shape
 */
export function groupNorm(x: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (c % groups !== 0) {
    throw new RangeError(`groupNorm: ${groups} groups must divide ${c} channels`);
  }
  const grouped = tf.reshape(x, [n, h * w, groups, c / groups]);
  const { mean, variance } = tf.moments(grouped, [1, 3], true);
  return tf.reshape(
    tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, 1e-5))),
    [n, h, w, c],
  );
}

/**
 * Kernel names of the fused group norm + SiLU, forward and backward: registered by the native
 * backend only, and used by {@link groupNormSilu} wherever the active backend has them.
 */
export const FUSED_KERNELS = {
  groupNormSilu: "TpdiffGroupNormSilu",
  groupNormSiluGrad: "TpdiffGroupNormSiluGrad",
} as const;

const FUSED_FORWARD = FUSED_KERNELS.groupNormSilu, FUSED_BACKWARD = FUSED_KERNELS.groupNormSiluGrad;

const fusedByGroups = new Map<number, (x: tf.Tensor4D) => tf.Tensor4D>();

function fusedGroupNormSilu(groups: number): (x: tf.Tensor4D) => tf.Tensor4D {
  let f = fusedByGroups.get(groups);
  if (f === undefined) {
    f = tf.customGrad(
      // deno-lint-ignore no-explicit-any
      ((x: tf.Tensor4D, save: any) => {
        const [y, stats] = tf.engine().runKernel(FUSED_FORWARD, { x }, { groups }) as tf.Tensor[];
        save([x, stats]);
        return {
          value: y,
          gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) =>
            tf.engine().runKernel(FUSED_BACKWARD, { x: saved[0], stats: saved[1], dy }, {
              groups,
            }) as tf.Tensor4D,
        };
      }) as unknown as Parameters<typeof tf.customGrad>[0],
    ) as unknown as (x: tf.Tensor4D) => tf.Tensor4D;
    fusedByGroups.set(groups, f);
  }
  return f;
}

/**
 * SiLU of the group normalisation, `silu(groupNorm(x, groups))`: one fused kernel forward and one
 * backward where the backend has them (`native`), the composition elsewhere.
 *
 * @param x [n, h, w, c]
 * @param groups number of channel groups, dividing c
 * @param options `fused: false` forces the composition (tests compare both)
 * @returns the activations, same shape
 */
export function groupNormSilu(
  x: tf.Tensor4D,
  groups: number,
  options: { fused?: boolean } = {},
): tf.Tensor4D {
  const c = x.shape[3];
  if (c % groups !== 0) {
    throw new RangeError(`groupNorm: ${groups} groups must divide ${c} channels`);
  }
  const fused = options.fused ?? tf.getKernel(FUSED_FORWARD, tf.getBackend()) !== undefined;
  return fused ? fusedGroupNormSilu(groups)(x) : silu(groupNorm(x, groups));
}

/**
 * 2×2 average pooling built from reshape and mean (its gradient exists on every backend).
 *
 * @param x [n, h, w, c] with even h and w
 * @returns [n, h/2, w/2, c]
 */
export function avgPool2(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  return tf.mean(tf.reshape(x, [n, h / 2, 2, w / 2, 2, c]), [2, 4]) as tf.Tensor4D;
}

/**
 * 2× nearest-neighbour upsampling in space, built from a broadcast multiply (tile has no rank-6
 * gradient).
 *
 * @param x [n, h, w, c]
 * @returns [n, 2h, 2w, c]
 */
export function upNearest2(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const spread = tf.mul(tf.reshape(x, [n * h, 1, w, 1, c]), tf.ones([1, 2, 1, 2, 1]));
  return tf.reshape(spread, [n, 2 * h, 2 * w, c]);
}

/**
 * Space-to-depth by p×p patches: [n, h, w, c] → [n, h/p, w/p, p·p·c].
 *
 * @param x the input
 * @param p the patch size
 * @returns the patch tensor
 */
export function toPatches(x: tf.Tensor4D, p: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  return tf.reshape(
    tf.transpose(tf.reshape(x, [n, h / p, p, w / p, p, c]), [0, 1, 3, 2, 4, 5]),
    [n, h / p, w / p, p * p * c],
  );
}

/**
 * Depth-to-space, the inverse of {@link toPatches}.
 *
 * @param x [n, h, w, p·p·c]
 * @param p the patch size
 * @returns [n, h·p, w·p, c]
 */
export function fromPatches(x: tf.Tensor4D, p: number): tf.Tensor4D {
  const [n, h, w, pc] = x.shape;
  const c = pc / (p * p);
  return tf.reshape(
    tf.transpose(tf.reshape(x, [n, h, w, p, p, c]), [0, 1, 3, 2, 4, 5]),
    [n, h * p, w * p, c],
  );
}

/**
 * Sinusoidal features of positions or times (Transformer-style), [n] → [n, size].
 *
 * @param values the scalars to embed
 * @param size the feature size (even)
 * @param maxPeriod the longest period
 * @returns a [values.length, size] tensor
 */
export function sinusoidal(values: ArrayLike<number>, size: number, maxPeriod = 1e4): tf.Tensor2D {
  const half = size / 2;
  const out = new Float32Array(values.length * size);
  for (let i = 0; i < values.length; i++) {
    for (let j = 0; j < half; j++) {
      const angle = values[i] * Math.exp((-Math.log(maxPeriod) * j) / half);
      out[i * size + j] = Math.sin(angle);
      out[i * size + half + j] = Math.cos(angle);
    }
  }
  return tf.tensor2d(out, [values.length, size]);
}

// ---- parameterised layers, shared by the denoisers and the encoder ----------------------------

/**
 * A dense layer on the last axis: x·w (+ b), any leading shape.
 *
 * @param x [..., fanIn]
 * @param w [fanIn, fanOut]
 * @param b [fanOut], optional
 * @returns [..., fanOut]
 */
export function dense(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const flat = tf.matMul(
    tf.reshape(x, [-1, shape[shape.length - 1]]) as tf.Tensor2D,
    w as tf.Tensor2D,
  );
  const out = b === undefined ? flat : tf.add(flat, b);
  return tf.reshape(out, [...shape.slice(0, -1), w.shape[1]!]);
}

/**
 * Declares `name.w` [fanIn, fanOut] (He-initialised, or zeros) and `name.b` [fanOut] (zeros).
 *
 * @param p the parameter store
 * @param name the layer's name
 * @param fanIn input features
 * @param fanOut output features
 * @param zero start the weights at zero (a residual branch that starts as the identity)
 */
export function addDense(
  p: ParamStore,
  name: string,
  fanIn: number,
  fanOut: number,
  zero = false,
): void {
  p.add(`${name}.w`, [fanIn, fanOut], zero ? { kind: "zeros" } : { kind: "he", fanIn });
  p.add(`${name}.b`, [fanOut], { kind: "zeros" });
}

/**
 * Applies the dense layer declared by {@link addDense}.
 *
 * @param p the parameter store
 * @param name the layer's name
 * @param x [..., fanIn]
 * @returns [..., fanOut]
 */
export function applyDense(p: ParamStore, name: string, x: tf.Tensor): tf.Tensor {
  return dense(x, p.get(`${name}.w`), p.get(`${name}.b`));
}

/**
 * Declares a 2-D convolution `name.w` [kh, kw, cin, cout] (He-initialised, or zeros) and its bias
 * `name.b` [cout] (zeros).
 *
 * @param p the parameter store
 * @param name the layer's name
 * @param kernel kh and kw
 * @param channels cin and cout
 * @param zero start the weights at zero
 */
export function addConv(
  p: ParamStore,
  name: string,
  kernel: [number, number],
  channels: [number, number],
  zero = false,
): void {
  const [kh, kw] = kernel, [cin, cout] = channels;
  p.add(
    `${name}.w`,
    [kh, kw, cin, cout],
    zero ? { kind: "zeros" } : { kind: "he", fanIn: kh * kw * cin },
  );
  p.add(`${name}.b`, [cout], { kind: "zeros" });
}

/**
 * Applies the convolution declared by {@link addConv} ('same' padding, stride 1) with its bias.
 *
 * @param p the parameter store
 * @param name the layer's name
 * @param x [batch, height, width, cin]
 * @returns [batch, height, width, cout]
 */
export function applyConv(p: ParamStore, name: string, x: tf.Tensor4D): tf.Tensor4D {
  return tf.add(conv2d(x, p.get(`${name}.w`) as tf.Tensor4D), p.get(`${name}.b`));
}
