/**
 * The model layer: everything that imports tfjs. Backend choice, layers that train on wasm, the
 * space-time denoisers, the stage-wise trainer, checkpoints, and the adapter to the samplers'
 * `predict` callback. It uses `lib`'s stage plan, targets, alignment and samplers and re-derives
 * none of them.
 *
 * @module
 */
export * from "./backend.ts";
export * from "./layers.ts";
export * from "./params.ts";
export * from "./denoiser.ts";
export * from "./trainer.ts";
export * from "./prefetch.ts";
export * from "./checkpoint.ts";
export * from "./predict.ts";
export * from "./encoder.ts";
export * from "./sample.ts";
export * from "./defaults.ts";
export * from "./train.ts";
