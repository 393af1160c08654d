/**
 * Native CPU kernels for the model layer: oneDNN 2.x (Debian `libdnnl2`) bound with `Deno.dlopen`
 * and registered as the kernels of the `native` tfjs backend (the wasm backend with oneDNN
 * convolutions, sgemm matmul and a copy-free Identity). Needs `--allow-ffi`; `TPDIFF_DNNL` points at
 * another `libdnnl.so.2`.
 *
 * @module
 */
export * from "./dnnl.ts";
export * from "./conv.ts";
export * from "./kernels.ts";
export * from "./fused.ts";
