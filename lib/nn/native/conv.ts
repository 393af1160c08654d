/**
 * 2-D convolutions on oneDNN: forward, backward-data and backward-weights primitives for NHWC
 * activations and HWIO filters (tfjs's layouts), created once per shape and cached. oneDNN picks
 * its own weight layout; plain HWIO weights are reordered into it (and weight gradients out of it)
 * by cached reorder primitives. Buffers are raw pointers, set before each execution.
 *
 * @module
 */
import {
  check,
  CONVOLUTION_DESC_BYTES,
  copyDesc,
  dimsOf,
  DNNL,
  loadDnnl,
  MEMORY_ALLOCATE,
  memoryDesc,
  outPointer,
} from "./dnnl.ts";

/** The geometry of one convolution (tfjs's `Conv2DInfo`, the fields oneDNN needs). */
export interface ConvGeometry {
  /** Batch. */
  batch: number;
  /** Input height and width. */
  inHeight: number;
  /** Input width. */
  inWidth: number;
  /** Input channels. */
  inChannels: number;
  /** Output height. */
  outHeight: number;
  /** Output width. */
  outWidth: number;
  /** Output channels. */
  outChannels: number;
  /** Filter height. */
  filterHeight: number;
  /** Filter width. */
  filterWidth: number;
  /** Strides. */
  strideHeight: number;
  /** Stride along the width. */
  strideWidth: number;
  /** Padding at the top, bottom, left and right. */
  pad: { top: number; bottom: number; left: number; right: number };
}

/** A memory object whose buffer is set before each execution. */
class Memory {
  readonly handle: Deno.PointerValue;
  constructor(desc: Uint8Array, allocate = false) {
    const { lib, engine } = loadDnnl();
    const out = new BigUint64Array(1);
    check(lib.dnnl_memory_create(out, desc, engine, allocate ? MEMORY_ALLOCATE : null), "memory");
    this.handle = outPointer(out);
  }
  set(pointer: Deno.PointerValue): void {
    const { lib, stream } = loadDnnl();
    check(lib.dnnl_memory_set_data_handle_v2(this.handle, pointer, stream), "set_data_handle");
  }
}

/** A primitive with its execution arguments laid out once. */
class Primitive {
  readonly pd: Deno.PointerValue;
  readonly handle: Deno.PointerValue;
  readonly #args: Uint8Array;
  readonly #count: number;
  constructor(pd: Deno.PointerValue, args: [number, Memory][]) {
    const { lib } = loadDnnl();
    const out = new BigUint64Array(1);
    check(lib.dnnl_primitive_create(out, pd), "primitive_create");
    this.pd = pd;
    this.handle = outPointer(out);
    this.#count = args.length;
    this.#args = new Uint8Array(16 * args.length);
    const view = new DataView(this.#args.buffer);
    args.forEach(([arg, memory], i) => {
      view.setInt32(16 * i, arg, true);
      view.setBigUint64(16 * i + 8, BigInt(Deno.UnsafePointer.value(memory.handle)), true);
    });
  }
  execute(): void {
    const { lib, stream } = loadDnnl();
    check(lib.dnnl_primitive_execute(this.handle, stream, this.#count, this.#args), "execute");
  }
}

function primitiveDesc(opDesc: Uint8Array, hint: Deno.PointerValue = null): Deno.PointerValue {
  const { lib, engine } = loadDnnl();
  const out = new BigUint64Array(1);
  check(lib.dnnl_primitive_desc_create(out, opDesc, null, engine, hint), "primitive_desc_create");
  return outPointer(out);
}

/** A reorder between two layouts of the same weights, or undefined when they are equal. */
function reorder(from: Uint8Array, to: Uint8Array): { run: Primitive; src: Memory; dst: Memory } {
  const { lib, engine } = loadDnnl();
  const out = new BigUint64Array(1);
  check(lib.dnnl_reorder_primitive_desc_create(out, from, engine, to, engine, null), "reorder");
  const src = new Memory(from), dst = new Memory(to);
  return {
    run: new Primitive(outPointer(out), [[DNNL.argSrc, src], [DNNL.argDst, dst]]),
    src,
    dst,
  };
}

/**
 * The weight memory a primitive reads or writes in the layout it chose, and the reorder that
 * bridges it with plain HWIO (none when the chosen layout is plain). `toChosen`: plain → chosen,
 * before the primitive (weights in); otherwise chosen → plain, after it (weight gradients out).
 */
function chosenWeights(plain: Uint8Array, chosen: Uint8Array, toChosen: boolean) {
  const { lib } = loadDnnl();
  if (lib.dnnl_memory_desc_equal(chosen, plain) === 1) {
    return { memory: new Memory(plain), bridge: undefined };
  }
  const bridge = toChosen ? reorder(plain, chosen) : reorder(chosen, plain);
  const memory = new Memory(chosen, true);
  // The reorder reads or writes the primitive's own buffer, which oneDNN allocated.
  const buffer = new BigUint64Array(1);
  check(lib.dnnl_memory_get_data_handle(memory.handle, buffer), "get_data_handle");
  (toChosen ? bridge.dst : bridge.src).set(outPointer(buffer));
  return { memory, bridge };
}

/** Weights into a primitive: through the reorder into its layout, or straight when plain. */
function feedWeights(w: ReturnType<typeof chosenWeights>, pointer: Deno.PointerValue): void {
  if (w.bridge) {
    w.bridge.src.set(pointer);
    w.bridge.run.execute();
  } else w.memory.set(pointer);
}

/** The cached primitives of one convolution geometry. */
export class ConvPrimitives {
  readonly geometry: ConvGeometry;
  readonly #src: Uint8Array;
  readonly #dst: Uint8Array;
  readonly #plainWeights: Uint8Array;
  readonly #anyWeights: Uint8Array;
  readonly #strides: BigInt64Array;
  readonly #padL: BigInt64Array;
  readonly #padR: BigInt64Array;
  readonly #forwardPd: Deno.PointerValue;
  #forward?: ReturnType<ConvPrimitives["buildForward"]>;
  #backwardData?: ReturnType<ConvPrimitives["buildBackwardData"]>;
  #backwardWeights?: ReturnType<ConvPrimitives["buildBackwardWeights"]>;

  constructor(g: ConvGeometry) {
    this.geometry = g;
    this.#src = memoryDesc([g.batch, g.inChannels, g.inHeight, g.inWidth], DNNL.tagNhwc);
    this.#dst = memoryDesc([g.batch, g.outChannels, g.outHeight, g.outWidth], DNNL.tagNhwc);
    const weightDims = [g.outChannels, g.inChannels, g.filterHeight, g.filterWidth];
    this.#plainWeights = memoryDesc(weightDims, DNNL.tagHwio);
    this.#anyWeights = memoryDesc(weightDims, DNNL.tagAny);
    this.#strides = dimsOf([g.strideHeight, g.strideWidth]);
    this.#padL = dimsOf([g.pad.top, g.pad.left]);
    this.#padR = dimsOf([g.pad.bottom, g.pad.right]);
    const { lib } = loadDnnl();
    this.#forwardPd = this.describe(
      "convolution_forward_desc_init",
      (desc) =>
        lib.dnnl_convolution_forward_desc_init(
          desc,
          DNNL.forwardTraining,
          DNNL.convolutionDirect,
          this.#src,
          this.#anyWeights,
          null,
          this.#dst,
          this.#strides,
          this.#padL,
          this.#padR,
        ),
      null,
    );
  }

  /** Fills an op descriptor with `init`, then creates its primitive descriptor. */
  private describe(
    what: string,
    init: (desc: Uint8Array) => number,
    hint: Deno.PointerValue = this.#forwardPd,
  ): Deno.PointerValue {
    const desc = new Uint8Array(CONVOLUTION_DESC_BYTES);
    check(init(desc), what);
    return primitiveDesc(desc, hint);
  }

  /** The weight layout a primitive descriptor chose, copied out of library memory. */
  private chosen(pd: Deno.PointerValue, query: number): Uint8Array {
    return copyDesc(loadDnnl().lib.dnnl_primitive_desc_query_md(pd, query, 0));
  }

  private buildForward() {
    const src = new Memory(this.#src), dst = new Memory(this.#dst);
    const weights = chosenWeights(
      this.#plainWeights,
      this.chosen(this.#forwardPd, DNNL.queryWeights),
      true,
    );
    const conv = new Primitive(this.#forwardPd, [
      [DNNL.argSrc, src],
      [DNNL.argWeights, weights.memory],
      [DNNL.argDst, dst],
    ]);
    return { conv, src, dst, weights };
  }

  private buildBackwardData() {
    const { lib } = loadDnnl();
    const pd = this.describe(
      "convolution_backward_data_desc_init",
      (desc) =>
        lib.dnnl_convolution_backward_data_desc_init(
          desc,
          DNNL.convolutionDirect,
          this.#src,
          this.#anyWeights,
          this.#dst,
          this.#strides,
          this.#padL,
          this.#padR,
        ),
    );
    const diffSrc = new Memory(this.#src), diffDst = new Memory(this.#dst);
    const weights = chosenWeights(this.#plainWeights, this.chosen(pd, DNNL.queryWeights), true);
    const conv = new Primitive(pd, [
      [DNNL.argDiffDst, diffDst],
      [DNNL.argWeights, weights.memory],
      [DNNL.argDiffSrc, diffSrc],
    ]);
    return { conv, diffSrc, diffDst, weights };
  }

  private buildBackwardWeights() {
    const { lib } = loadDnnl();
    const pd = this.describe(
      "convolution_backward_weights_desc_init",
      (desc) =>
        lib.dnnl_convolution_backward_weights_desc_init(
          desc,
          DNNL.convolutionDirect,
          this.#src,
          this.#anyWeights,
          null,
          this.#dst,
          this.#strides,
          this.#padL,
          this.#padR,
        ),
    );
    const src = new Memory(this.#src), diffDst = new Memory(this.#dst);
    const diffWeights = chosenWeights(
      this.#plainWeights,
      this.chosen(pd, DNNL.queryDiffWeights),
      false,
    );
    const conv = new Primitive(pd, [
      [DNNL.argSrc, src],
      [DNNL.argDiffDst, diffDst],
      [DNNL.argDiffWeights, diffWeights.memory],
    ]);
    return { conv, src, diffDst, diffWeights };
  }

  /** y = conv(x, w): NHWC x, HWIO w, NHWC y, all raw pointers. */
  runForward(x: Deno.PointerValue, w: Deno.PointerValue, y: Deno.PointerValue): void {
    const p = this.#forward ??= this.buildForward();
    feedWeights(p.weights, w);
    p.src.set(x);
    p.dst.set(y);
    p.conv.execute();
    wait();
  }

  /** dx = conv_backward_data(dy, w). */
  runBackwardData(dy: Deno.PointerValue, w: Deno.PointerValue, dx: Deno.PointerValue): void {
    const p = this.#backwardData ??= this.buildBackwardData();
    feedWeights(p.weights, w);
    p.diffDst.set(dy);
    p.diffSrc.set(dx);
    p.conv.execute();
    wait();
  }

  /** dw = conv_backward_weights(x, dy), written as plain HWIO (through the reorder if needed). */
  runBackwardWeights(x: Deno.PointerValue, dy: Deno.PointerValue, dw: Deno.PointerValue): void {
    const p = this.#backwardWeights ??= this.buildBackwardWeights();
    p.src.set(x);
    p.diffDst.set(dy);
    const { memory, bridge } = p.diffWeights;
    if (!bridge) memory.set(dw);
    p.conv.execute();
    if (bridge) {
      bridge.dst.set(dw);
      bridge.run.execute();
    }
    wait();
  }
}

function wait(): void {
  const { lib, stream } = loadDnnl();
  check(lib.dnnl_stream_wait(stream), "stream_wait");
}

const cache = new Map<string, ConvPrimitives>();

/**
 * The primitives for a geometry, created on first use.
 *
 * @param g the convolution's geometry
 * @returns its cached primitives
 */
export function convPrimitives(g: ConvGeometry): ConvPrimitives {
  const key = [
    g.batch,
    g.inHeight,
    g.inWidth,
    g.inChannels,
    g.outHeight,
    g.outWidth,
    g.outChannels,
    g.filterHeight,
    g.filterWidth,
    g.strideHeight,
    g.strideWidth,
    g.pad.top,
    g.pad.bottom,
    g.pad.left,
    g.pad.right,
  ].join(",");
  let p = cache.get(key);
  if (p === undefined) cache.set(key, p = new ConvPrimitives(g));
  return p;
}
