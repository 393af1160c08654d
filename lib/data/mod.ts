/**
 * Video datasets (procedural, and Moving MNIST from real digits) and their file format.
 *
 * @module
 */
export * from "./generate.ts";
export * from "./mnist.ts";
export * from "./format.ts";
export * from "./atomic.ts";
export * from "./cache.ts";
export * from "./checksum.ts";
export * from "./lock.ts";
export * from "./clips.ts";
export * from "./ffmpeg.ts";
export * from "./read_clip.ts";
