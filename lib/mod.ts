/**
 * tpdiff-deno: temporal-pyramid video diffusion (TPDiff, arXiv 2503.09566) as pure, typed
 * functions. This is the public surface of the maths layer; it imports no tfjs and no
 * `Deno.jupyter`.
 *
 * - `video.ts`: the {@link Video} type, a seeded splittable {@link Rng}, Gaussian draws;
 * - `schedule.ts`: {@link rectifiedFlow}, {@link vpSchedule}, {@link shiftSchedule} (Eqs. 1, 4, 6);
 * - `temporal.ts`: Down / Up along time, D_k, U_k, Δ_k, frame layouts (tpdiff-math.md §1.3);
 * - `pyramid.ts`: {@link stagePlan} with corrected starts and the cost model (§1.2, §1.12);
 * - `stagewise.ts`: the partitioned PF-ODE, its 2×2 solution and training targets (Eqs. 7–13);
 * - `renoise.ts`: the corrected stage transition (Eqs. 14–16 as fixed in §1.9);
 * - `align.ts`: data-noise alignment by exact linear assignment (Algorithm 1);
 * - `samplers.ts`: {@link sampleStaged} over one `predict` callback;
 * - `context_guidance.ts`: guidance toward a frame's own video, {@link contextGuidedPredict};
 * - `oracle.ts`: exact predictors for tests and notebooks;
 * - `derive.ts`: symbolic derivations with mathjs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gaussianOracle, rectifiedFlow, sampleStaged, speedupBound, stagePlan } from "./mod.ts";
 *
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 8, stages: 3, steps: 12 });
 * assert.equal(speedupBound(plan).toFixed(3), "1.714"); // 12/7: stages at 2, 4 and 8 frames
 * const covariance = new Float64Array(64).map((_, i) => 0.9 ** Math.abs((i % 8) - Math.floor(i / 8)));
 * const predict = gaussianOracle({ mean: new Float64Array(8), covariance, plan, prediction: "velocity" });
 * const videos = await sampleStaged(plan, predict, { prediction: "velocity", start: { batch: 4 }, seed: 1 });
 * assert.equal(videos.frames, 8); // sampled at 2, then 4, then 8 frames
 * assert.equal(videos.data.length, 4 * 8);
 * ```
 *
 * @module
 */

export { InputError } from "./checks.ts";
export * from "./video.ts";
export * from "./schedule.ts";
export * from "./temporal.ts";
export * from "./pyramid.ts";
export * from "./stagewise.ts";
export * from "./renoise.ts";
export * from "./align.ts";
export * from "./samplers.ts";
export * from "./oracle.ts";
export * from "./derive.ts";
export * from "./condition.ts";
export * from "./context_guidance.ts";
export * from "./trajectory.ts";
export * from "./plan_from_data.ts";
