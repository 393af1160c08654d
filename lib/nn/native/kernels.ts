/**
 * The `native` tfjs backend: the wasm backend's instance and kernels, with the convolutions
 * (forward, input and filter gradients) on oneDNN, `BatchMatMul` on oneDNN's sgemm and a copy-free
 * `Identity`. The kernels read and write the wasm heap in place through raw pointers, so a tensor
 * never leaves the heap; the pointers are taken after every allocation, since the heap may grow.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { FUSED_KERNELS } from "../layers.ts";
import { type ConvGeometry, convPrimitives } from "./conv.ts";
import { check, loadDnnl } from "./dnnl.ts";
import {
  groupNormSilu,
  groupNormSiluGrad,
  type HeapBackend,
  type HeapKernel,
  heapView,
} from "./fused.ts";

/** The backend name. */
export const NATIVE_BACKEND = "native";

/** The parts of tfjs-backend-wasm's `BackendWasm` that the kernels use. */
interface WasmBackend extends HeapBackend {
  incRef(dataId: object): void;
}

type KernelArgs = {
  inputs: Record<string, tf.TensorInfo>;
  backend: WasmBackend;
  attrs: Record<string, unknown>;
};

/** Raw pointers to tensors on the wasm heap (valid until the next allocation). */
function pointers(backend: WasmBackend, ...tensors: tf.TensorInfo[]): Deno.PointerValue[] {
  const base = Deno.UnsafePointer.of(backend.wasm.HEAPU8 as Uint8Array<ArrayBuffer>);
  return tensors.map((t) =>
    Deno.UnsafePointer.offset(base!, backend.dataIdMap.get(t.dataId).memoryOffset)
  );
}

function geometry(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    pad: info.padInfo,
  };
}

/** What oneDNN's path covers: NHWC, no dilation, float32, no empty tensors. */
function supported(info: tf.backend_util.Conv2DInfo, ...tensors: tf.TensorInfo[]): boolean {
  return info.dataFormat === "channelsLast" && info.dilationHeight === 1 &&
    info.dilationWidth === 1 && tensors.every((t) => t.dtype === "float32") &&
    info.batchSize * info.inHeight * info.inWidth * info.outChannels * info.inChannels > 0 &&
    info.outHeight * info.outWidth > 0;
}

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: Record<string, unknown>,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    (attrs.dilations ?? 1) as [number, number],
    attrs.pad as "same",
    attrs.dimRoundingMode as "floor",
    false,
    tf.backend_util.convertConv2DDataFormat((attrs.dataFormat ?? "NHWC") as "NHWC"),
  );
}

function wasmKernel(name: string): tf.KernelFunc {
  const kernel = tf.getKernel(name, "wasm");
  if (kernel === undefined) throw new Error(`the wasm backend has no ${name} kernel`);
  return kernel.kernelFunc;
}

function conv2D(args: KernelArgs): tf.TensorInfo {
  const { inputs: { x, filter }, backend, attrs } = args;
  const info = convInfo(x.shape, filter.shape, attrs);
  if (!supported(info, x, filter)) return wasmKernel("Conv2D")(args as never) as tf.TensorInfo;
  const out = backend.makeOutput(info.outShape, "float32");
  const [px, pw, py] = pointers(backend, x, filter, out);
  convPrimitives(geometry(info)).runForward(px, pw, py);
  return out;
}

function conv2DBackpropInput(args: KernelArgs): tf.TensorInfo {
  const { inputs: { dy, filter }, backend, attrs } = args;
  const inputShape = attrs.inputShape as number[];
  const info = convInfo(inputShape, filter.shape, attrs);
  if (!supported(info, dy, filter)) {
    return wasmKernel("Conv2DBackpropInput")(args as never) as tf.TensorInfo;
  }
  const out = backend.makeOutput(inputShape, "float32");
  const [pdy, pw, pdx] = pointers(backend, dy, filter, out);
  convPrimitives(geometry(info)).runBackwardData(pdy, pw, pdx);
  return out;
}

function conv2DBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { inputs: { x, dy }, backend, attrs } = args;
  const filterShape = attrs.filterShape as number[];
  const info = convInfo(x.shape, filterShape, attrs);
  if (!supported(info, x, dy)) {
    throw new Error(
      `native Conv2DBackpropFilter supports NHWC without dilation; got ${
        JSON.stringify({ dataFormat: attrs.dataFormat, dilations: attrs.dilations })
      }`,
    );
  }
  const out = backend.makeOutput(filterShape, "float32");
  const [px, pdy, pdw] = pointers(backend, x, dy, out);
  convPrimitives(geometry(info)).runBackwardWeights(px, pdy, pdw);
  return out;
}

const T = "T".charCodeAt(0), N = "N".charCodeAt(0);

/** Batched C = op(A)·op(B) with oneDNN's row-major sgemm, one call per batch entry. */
function batchMatMul(args: KernelArgs): tf.TensorInfo {
  const { inputs: { a, b }, backend, attrs } = args;
  const transposeA = attrs.transposeA as boolean, transposeB = attrs.transposeB as boolean;
  if (a.dtype !== "float32" || b.dtype !== "float32") {
    return wasmKernel("BatchMatMul")(args as never) as tf.TensorInfo;
  }
  const ra = a.shape.length, rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  const outer = tf.backend_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  const batch = Math.max(batchA, batchB);
  // Broadcasting beyond "one side has a single matrix" is left to the wasm kernel.
  if (k !== kb || (batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) {
    return wasmKernel("BatchMatMul")(args as never) as tf.TensorInfo;
  }
  const out = backend.makeOutput([...outer, m, n], "float32");
  if (m * n === 0) return out;
  const { lib } = loadDnnl();
  const [pa, pb, pc] = pointers(backend, a, b, out);
  for (let i = 0; i < batch; i++) {
    check(
      lib.dnnl_sgemm(
        transposeA ? T : N,
        transposeB ? T : N,
        BigInt(m),
        BigInt(n),
        BigInt(k),
        1,
        Deno.UnsafePointer.offset(pa!, batchA === 1 ? 0 : i * m * k * 4),
        BigInt(transposeA ? m : k),
        Deno.UnsafePointer.offset(pb!, batchB === 1 ? 0 : i * k * n * 4),
        BigInt(transposeB ? k : n),
        0,
        Deno.UnsafePointer.offset(pc!, i * m * n * 4),
        BigInt(n),
      ),
      "sgemm",
    );
  }
  return out;
}

/**
 * Sum over leading axes (the bias gradients of broadcast adds: [rows, C] → [C]) as one pass in
 * JS with float64 accumulators; other reductions go to the wasm kernel, which transposes first.
 */
function sum(args: KernelArgs): tf.TensorInfo {
  const { inputs: { x }, backend, attrs } = args;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((a, b) =>
    a - b
  );
  const leading = axes.every((a, i) => a === i);
  if (x.dtype !== "float32" || !leading || axes.length === 0 || axes.length === rank) {
    return wasmKernel("Sum")(args as never) as tf.TensorInfo;
  }
  const kept = x.shape.slice(axes.length);
  const columns = tf.util.sizeFromShape(kept);
  const rows = tf.util.sizeFromShape(x.shape) / columns;
  const shape = attrs.keepDims ? [...axes.map(() => 1), ...kept] : kept;
  const out = backend.makeOutput(shape, "float32");
  const X = heapView(backend, x), Y = heapView(backend, out);
  const acc = new Float64Array(columns);
  for (let r = 0, o = 0; r < rows; r++, o += columns) {
    for (let j = 0; j < columns; j++) acc[j] += X[o + j];
  }
  Y.set(acc);
  return out;
}

/** The tape's Identity: the same buffer with one more reference, no copy (tensors are immutable). */
function identity(args: KernelArgs): tf.TensorInfo {
  const { inputs: { x }, backend } = args;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

const NATIVE_KERNELS: Record<string, (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]> = {
  [FUSED_KERNELS.groupNormSilu]: (args) =>
    groupNormSilu(args as never, wasmKernel("Sigmoid") as unknown as HeapKernel),
  [FUSED_KERNELS.groupNormSiluGrad]: (args) =>
    groupNormSiluGrad(args as never, wasmKernel("Sigmoid") as unknown as HeapKernel),
  Conv2D: conv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  BatchMatMul: batchMatMul,
  Identity: identity,
  Sum: sum,
};

/**
 * Registers the `native` backend: oneDNN is loaded first (a {@link NativeUnavailableError} says
 * what to install), then the wasm backend's instance is shared under the name `native` with every
 * wasm kernel, and the kernels above replace the convolutions, the matmul and Identity and add
 * the fused group-norm + SiLU pair.
 * The wasm backend must be initialised before (tfjs binds its wasm kernels to one instance).
 */
export function registerNativeBackend(): void {
  loadDnnl();
  if (tf.findBackendFactory(NATIVE_BACKEND) !== null) return;
  const wasm = tf.findBackend("wasm");
  if (wasm === null) throw new Error("initialise the wasm backend before the native one");
  tf.registerBackend(NATIVE_BACKEND, () => wasm, 0);
  for (const config of tf.getKernelsForBackend("wasm")) {
    const kernelFunc = NATIVE_KERNELS[config.kernelName];
    tf.registerKernel({
      ...config,
      backendName: NATIVE_BACKEND,
      ...(kernelFunc ? { kernelFunc: kernelFunc as unknown as tf.KernelFunc } : {}),
    });
  }
  for (const [kernelName, kernelFunc] of Object.entries(NATIVE_KERNELS)) {
    if (tf.getKernel(kernelName, NATIVE_BACKEND) === undefined) {
      tf.registerKernel({
        kernelName,
        backendName: NATIVE_BACKEND,
        kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      });
    }
  }
}
