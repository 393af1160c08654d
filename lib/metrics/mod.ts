/**
 * Metrics for generated videos: tracking and physics against the generator's ground truth
 * (`tracking.ts`), and distribution distances (`distribution.ts`). Pure functions, no tfjs.
 *
 * @module
 */
export * from "./tracking.ts";
export * from "./distribution.ts";
export * from "./motion.ts";
