/**
 * Fused kernels for the `native` backend: group normalisation followed by SiLU, forward and
 * backward, each one pass-structured loop over the wasm heap instead of the ~20 small tfjs kernels
 * (reshape, moments, broadcasts, sigmoid, and their gradients) that the composition costs.
 *
 * Forward, per video n and channel group g over its M = H·W·C/G values:
 * μ = mean(x), r = 1/√(var(x) + ε), z = (x − μ)·r, y = z·σ(z).
 * Backward: u = dy·σ(z)·(1 + z·(1 − σ(z))) (SiLU's derivative), then
 * dx = r·(u − mean(u) − z·mean(u·z)) (the normalisation's, with both means over the group).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** The epsilon of {@link groupNormSilu}, as in `groupNorm`. */
export const GROUP_NORM_EPSILON = 1e-5;

/** The parts of tfjs-backend-wasm's `BackendWasm` that the kernels use. */
export interface HeapBackend {
  /** The module, whose heap views follow growth. */
  wasm: { HEAPU8: Uint8Array };
  /** Where each tensor lives on the heap. */
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  /** Allocates an output on the heap. */
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** Frees a tensor's heap memory. */
  disposeData(dataId: object): boolean;
}

/** A float32 view of a tensor on the heap (valid until the next allocation). */
export function heapView(backend: HeapBackend, t: tf.TensorInfo): Float32Array {
  const size = t.shape.reduce((a, b) => a * b, 1);
  const offset = backend.dataIdMap.get(t.dataId).memoryOffset;
  return new Float32Array(backend.wasm.HEAPU8.buffer, offset, size);
}

/** A kernel's function on the same backend (the wasm SIMD sigmoid). */
export type HeapKernel = (
  args: { inputs: { x: tf.TensorInfo }; backend: HeapBackend; attrs: Record<string, never> },
) => tf.TensorInfo;

/** The geometry of one call: videos, positions per frame, groups, channels per group. */
interface Groups {
  n: number;
  positions: number;
  groups: number;
  per: number;
  count: number;
}

function groupsOf(shape: number[], groups: number): Groups {
  const [n, h, w, c] = shape;
  if (c % groups !== 0) throw new RangeError(`${groups} groups must divide ${c} channels`);
  return { n, positions: h * w, groups, per: c / groups, count: h * w * (c / groups) };
}

/** Mean and 1/√(var + ε) of every (video, group), two passes in float64, into `stats`. */
function statistics(X: Float32Array, S: Float32Array, g: Groups): void {
  const { n, positions, groups, per, count } = g, c = groups * per;
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < groups; k++) {
      const first = b * positions * c + k * per;
      let sum = 0;
      for (let p = 0, o = first; p < positions; p++, o += c) {
        for (let j = 0; j < per; j++) sum += X[o + j];
      }
      const mean = sum / count;
      let squares = 0;
      for (let p = 0, o = first; p < positions; p++, o += c) {
        for (let j = 0; j < per; j++) {
          const d = X[o + j] - mean;
          squares += d * d;
        }
      }
      S[(b * groups + k) * 2] = mean;
      S[(b * groups + k) * 2 + 1] = 1 / Math.sqrt(squares / count + GROUP_NORM_EPSILON);
    }
  }
}

/** Writes z = (x − μ)·r of every element into `Z`. */
function normalise(X: Float32Array, S: Float32Array, Z: Float32Array, g: Groups): void {
  const { n, positions, groups, per } = g, c = groups * per;
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < groups; k++) {
      const mean = S[(b * groups + k) * 2], r = S[(b * groups + k) * 2 + 1];
      for (let p = 0, o = b * positions * c + k * per; p < positions; p++, o += c) {
        for (let j = 0; j < per; j++) Z[o + j] = (X[o + j] - mean) * r;
      }
    }
  }
}

/**
 * The forward kernel: `y` and the per-(video, group) statistics `[n, G, 2]` (μ, r) that the
 * backward kernel reuses. σ(z) comes from the backend's own SIMD sigmoid.
 *
 * @param args the input x [n, h, w, c] and `groups`
 * @param sigmoid the backend's sigmoid kernel
 * @returns y and the statistics
 */
export function groupNormSilu(
  args: { inputs: { x: tf.TensorInfo }; backend: HeapBackend; attrs: { groups: number } },
  sigmoid: HeapKernel,
): tf.TensorInfo[] {
  const { inputs: { x }, backend, attrs } = args;
  const g = groupsOf(x.shape, attrs.groups);
  const y = backend.makeOutput(x.shape, "float32");
  const stats = backend.makeOutput([g.n, g.groups, 2], "float32");
  const S = heapView(backend, stats);
  statistics(heapView(backend, x), S, g);
  normalise(heapView(backend, x), S, heapView(backend, y), g);
  const s = sigmoid({ inputs: { x: y }, backend, attrs: {} });
  // Views again: the sigmoid's output may have grown the heap.
  const Y = heapView(backend, y), SIG = heapView(backend, s);
  for (let i = 0; i < Y.length; i++) Y[i] *= SIG[i];
  backend.disposeData(s.dataId);
  return [y, stats];
}

/**
 * The backward kernel: dx from x, the forward's statistics and dy.
 *
 * @param args x, stats and dy, and `groups`
 * @param sigmoid the backend's sigmoid kernel
 * @returns dx
 */
export function groupNormSiluGrad(
  args: {
    inputs: { x: tf.TensorInfo; stats: tf.TensorInfo; dy: tf.TensorInfo };
    backend: HeapBackend;
    attrs: { groups: number };
  },
  sigmoid: HeapKernel,
): tf.TensorInfo {
  const { inputs: { x, stats, dy }, backend, attrs } = args;
  const g = groupsOf(x.shape, attrs.groups);
  const { n, positions, groups, per, count } = g, c = groups * per;
  const dx = backend.makeOutput(x.shape, "float32");
  normalise(heapView(backend, x), heapView(backend, stats), heapView(backend, dx), g);
  const s = sigmoid({ inputs: { x: dx }, backend, attrs: {} });
  const X = heapView(backend, x), S = heapView(backend, stats), DY = heapView(backend, dy);
  const DX = heapView(backend, dx), SIG = heapView(backend, s);
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < groups; k++) {
      const mean = S[(b * groups + k) * 2], r = S[(b * groups + k) * 2 + 1];
      const first = b * positions * c + k * per;
      // u = dy·SiLU'(z) into dx, with the sums of u and u·z.
      let sumU = 0, sumUZ = 0;
      for (let p = 0, o = first; p < positions; p++, o += c) {
        for (let j = o; j < o + per; j++) {
          const z = DX[j], sg = SIG[j];
          const u = DY[j] * sg * (1 + z * (1 - sg));
          DX[j] = u;
          sumU += u;
          sumUZ += u * z;
        }
      }
      const meanU = sumU / count, meanUZ = sumUZ / count;
      for (let p = 0, o = first; p < positions; p++, o += c) {
        for (let j = o; j < o + per; j++) {
          DX[j] = r * (DX[j] - meanU - (X[j] - mean) * r * meanUZ);
        }
      }
    }
  }
  backend.disposeData(s.dataId);
  return dx;
}
