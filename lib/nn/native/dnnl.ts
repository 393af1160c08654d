/**
 * oneDNN 2.x (Debian `libdnnl2`) through Deno's FFI, with no C shim: the symbols, the enum values
 * and the struct layouts of its C API v2 (`dnnl_memory_desc_t` is 696 bytes, an op descriptor a
 * plain struct filled by `*_desc_init`), checked at load against the library's own `*2str`
 * functions. See `shared/docs/onednn-ffi-facts.md` and `/usr/include/oneapi/dnnl/dnnl.h`.
 *
 * @module
 */

/** Enum values of oneDNN 2.x (dnnl_types.h). */
export const DNNL = {
  success: 0,
  f32: 3,
  tagAny: 1,
  tagX: 2,
  tagNhwc: 20,
  tagHwio: 30,
  forwardTraining: 64,
  forwardInference: 96,
  backwardData: 160,
  backwardWeights: 192,
  convolutionDirect: 1,
  engineCpu: 1,
  streamDefault: 1,
  querySrc: 129,
  queryDiffSrc: 130,
  queryWeights: 131,
  queryDiffWeights: 132,
  queryDst: 133,
  queryDiffDst: 134,
  argSrc: 1,
  argDst: 17,
  argWeights: 33,
  argDiffSrc: 129,
  argDiffDst: 145,
  argDiffWeights: 161,
} as const;

/** Bytes of `dnnl_memory_desc_t` (x86_64, oneDNN 2.x). */
export const MEMORY_DESC_BYTES = 696;
/** Bytes of `dnnl_convolution_desc_t`. */
export const CONVOLUTION_DESC_BYTES = 5976;
/** `DNNL_MEMORY_ALLOCATE`: oneDNN allocates the buffer. */
export const MEMORY_ALLOCATE = Deno.UnsafePointer.create(0xffffffffffffffffn);

const SYMBOLS = {
  dnnl_version: { parameters: [], result: "pointer" },
  dnnl_fmt_tag2str: { parameters: ["i32"], result: "pointer" },
  dnnl_prop_kind2str: { parameters: ["i32"], result: "pointer" },
  dnnl_dt2str: { parameters: ["i32"], result: "pointer" },
  dnnl_engine_create: { parameters: ["buffer", "i32", "usize"], result: "i32" },
  dnnl_stream_create: { parameters: ["buffer", "pointer", "u32"], result: "i32" },
  dnnl_stream_wait: { parameters: ["pointer"], result: "i32" },
  dnnl_memory_desc_init_by_tag: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  dnnl_memory_desc_equal: { parameters: ["buffer", "buffer"], result: "i32" },
  dnnl_memory_desc_get_size: { parameters: ["buffer"], result: "usize" },
  dnnl_convolution_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_convolution_backward_data_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_convolution_backward_weights_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_desc_query_md: { parameters: ["pointer", "i32", "i32"], result: "pointer" },
  dnnl_primitive_desc_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_reorder_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "buffer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_memory_create: { parameters: ["buffer", "buffer", "pointer", "pointer"], result: "i32" },
  dnnl_memory_set_data_handle_v2: {
    parameters: ["pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_memory_get_data_handle: { parameters: ["pointer", "buffer"], result: "i32" },
  dnnl_memory_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_primitive_create: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_primitive_execute: {
    parameters: ["pointer", "pointer", "i32", "buffer"],
    result: "i32",
  },
  dnnl_primitive_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_sgemm: {
    parameters: [
      "u8",
      "u8",
      "i64",
      "i64",
      "i64",
      "f32",
      "pointer",
      "i64",
      "pointer",
      "i64",
      "f32",
      "pointer",
      "i64",
    ],
    result: "i32",
  },
} as const;

/** The bound library. */
export type DnnlSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** oneDNN, loaded, with one CPU engine and one in-order stream. */
export interface Dnnl {
  /** The symbols. */
  lib: DnnlSymbols;
  /** The CPU engine. */
  engine: Deno.PointerValue;
  /** Its stream. */
  stream: Deno.PointerValue;
  /** `major.minor.patch`. */
  version: string;
  /** The file that was opened. */
  path: string;
}

/** oneDNN major versions whose C API this binding declares. */
export const SUPPORTED_DNNL_MAJOR = 2;

/** Why the native layer is not available. */
export class NativeUnavailableError extends Error {
  /**
   * Creates the error.
   *
   * @param message what is missing and what to install
   */
  constructor(message: string) {
    super(message);
    this.name = "NativeUnavailableError";
  }
}

/** Throws with the call's name unless oneDNN returned `dnnl_success`. */
export function check(status: number, what: string): void {
  if (status !== DNNL.success) {
    throw new Error(`oneDNN ${what} failed with status ${status}`);
  }
}

/** Reads the pointer a `dnnl_*_t *` out-parameter received. */
export function outPointer(buffer: BigUint64Array): Deno.PointerValue {
  return Deno.UnsafePointer.create(buffer[0]);
}

function cString(pointer: Deno.PointerValue): string {
  return pointer === null ? "" : new Deno.UnsafePointerView(pointer).getCString();
}

let loaded: Dnnl | undefined;

/**
 * Opens oneDNN (`TPDIFF_DNNL`, else `libdnnl.so.2`), checks its version and the enum values this
 * binding relies on, and creates the CPU engine and stream. The result is cached.
 *
 * @returns the library
 * @throws {NativeUnavailableError} when the library is missing or of another major version
 */
export function loadDnnl(): Dnnl {
  if (loaded) return loaded;
  let path = "libdnnl.so.2";
  try {
    path = Deno.env.get("TPDIFF_DNNL") || path;
  } catch { /* no env permission: the default name */ }
  // oneDNN follows OpenMP, which reads its thread count once, when the library loads. One
  // thread measured as fast as two for the default step (the convolutions are a fifth of it) and
  // leaves the second core to the JS thread's helpers; TPDIFF_THREADS or OMP_NUM_THREADS change it.
  try {
    const threads = Deno.env.get("TPDIFF_THREADS") ?? Deno.env.get("OMP_NUM_THREADS") ?? "1";
    Deno.env.set("OMP_NUM_THREADS", threads);
  } catch { /* no env permission: OpenMP's default */ }
  let library: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    library = Deno.dlopen(path, SYMBOLS);
  } catch (error) {
    throw new NativeUnavailableError(
      `oneDNN could not be loaded from ${path} (${(error as Error).message.split("\n")[0]}); ` +
        `install it with \`apt-get install libdnnl2\` (Debian/Ubuntu) or point TPDIFF_DNNL at ` +
        `libdnnl.so.2`,
    );
  }
  const lib = library.symbols;
  const view = new Deno.UnsafePointerView(lib.dnnl_version()!);
  const [major, minor, patch] = [view.getInt32(0), view.getInt32(4), view.getInt32(8)];
  const version = `${major}.${minor}.${patch}`;
  if (major !== SUPPORTED_DNNL_MAJOR) {
    library.close();
    throw new NativeUnavailableError(
      `oneDNN ${version} at ${path} is not supported (this build binds the 2.x C API; 3.x ` +
        `changed it); install libdnnl2 (2.x) or use --backend wasm`,
    );
  }
  const expected: [(v: number) => Deno.PointerValue, number, string][] = [
    [lib.dnnl_fmt_tag2str, DNNL.tagNhwc, "acdb"],
    [lib.dnnl_fmt_tag2str, DNNL.tagHwio, "cdba"],
    [lib.dnnl_fmt_tag2str, DNNL.tagX, "a"],
    [lib.dnnl_fmt_tag2str, DNNL.tagAny, "any"],
    [lib.dnnl_dt2str, DNNL.f32, "f32"],
    [lib.dnnl_prop_kind2str, DNNL.forwardTraining, "forward_training"],
    [lib.dnnl_prop_kind2str, DNNL.backwardData, "backward_data"],
    [lib.dnnl_prop_kind2str, DNNL.backwardWeights, "backward_weights"],
  ];
  for (const [toString, value, name] of expected) {
    const got = cString(toString(value));
    if (got !== name) {
      library.close();
      throw new NativeUnavailableError(
        `oneDNN ${version} at ${path} names enum value ${value} "${got}", expected "${name}"; ` +
          `use --backend wasm`,
      );
    }
  }
  const out = new BigUint64Array(1);
  check(lib.dnnl_engine_create(out, DNNL.engineCpu, 0n), "engine_create");
  const engine = outPointer(out);
  check(lib.dnnl_stream_create(out, engine, DNNL.streamDefault), "stream_create");
  loaded = { lib, engine, stream: outPointer(out), version, path };
  return loaded;
}

/**
 * A plain memory descriptor (`dnnl_memory_desc_init_by_tag`).
 *
 * @param dims logical dims (N, C, H, W for data; O, I, H, W for weights)
 * @param tag the format tag (`DNNL.tagAny` lets a primitive choose)
 * @returns the 696-byte descriptor
 */
export function memoryDesc(dims: number[], tag: number): Uint8Array {
  const { lib } = loadDnnl();
  const md = new Uint8Array(MEMORY_DESC_BYTES);
  check(
    lib.dnnl_memory_desc_init_by_tag(md, dims.length, dimsOf(dims), DNNL.f32, tag),
    `memory_desc_init_by_tag(${dims})`,
  );
  return md;
}

/** A `dnnl_dims_t` (12 × int64). */
export function dimsOf(values: number[]): BigInt64Array {
  const dims = new BigInt64Array(12);
  values.forEach((v, i) => (dims[i] = BigInt(v)));
  return dims;
}

/** Copies a memory descriptor out of library memory (it dies with its primitive descriptor). */
export function copyDesc(pointer: Deno.PointerValue): Uint8Array {
  if (pointer === null) throw new Error("oneDNN returned no memory descriptor");
  const out = new Uint8Array(MEMORY_DESC_BYTES);
  new Deno.UnsafePointerView(pointer).copyInto(out);
  return out;
}
