/**
 * One staged sampling pass against the vanilla pass (K = 1) with the same predictor and the same
 * 30 total steps, for two predictors:
 *
 * - the exact Gaussian oracle: a dense affine map of the whole video, whose cost grows with the
 *   square of the frame count (bound: the stage plan's speed-up for p = 2);
 * - a frame-local linear model (one dense map per frame, as a per-frame network would be): cost
 *   linear in frames (bound: p = 1, 12/7 ≈ 1.714 for K = 3).
 *
 * `deno bench` prints each group's ratio to the vanilla baseline; compare it with the bounds printed
 * at the top of the run.
 *
 * @module
 */

import { gaussianOracle } from "../lib/oracle.ts";
import { speedupBound, stagePlan } from "../lib/pyramid.ts";
import { type Predict, sampleStaged } from "../lib/samplers.ts";
import { rectifiedFlow } from "../lib/schedule.ts";
import { createRng } from "../lib/video.ts";

const schedule = rectifiedFlow();
const frames = 16, steps = 30;
const staged = stagePlan({ schedule, frames, stages: 3, steps });
const vanilla = stagePlan({ schedule, frames, stages: 1, steps });
console.log(
  `K = 3, ${steps} steps: speed-up bound ${speedupBound(staged, 1).toFixed(3)} (p = 1), ${
    speedupBound(staged, 2).toFixed(3)
  } (p = 2)`,
);

// Oracle: 16 frames × 4 pixels = 64-dimensional videos, AR(1) in time, independent pixels.
const pixels = 4, n = frames * pixels;
const covariance = new Float64Array(n * n);
for (let i = 0; i < n; i++) {
  for (let j = 0; j < n; j++) {
    if (i % pixels === j % pixels) {
      covariance[i * n + j] = 0.9 ** Math.abs(Math.floor(i / pixels) - Math.floor(j / pixels));
    }
  }
}
const oracle = (plan: typeof staged) =>
  gaussianOracle({ mean: new Float64Array(n), covariance, plan, prediction: "velocity" });
const oracles = { staged: oracle(staged), vanilla: oracle(vanilla) };
const batch = 256;
for (const [name, plan] of [["vanilla", vanilla], ["staged", staged]] as const) {
  Deno.bench({
    name: `oracle sampling, ${name} (K = ${plan.stageCount})`,
    group: "gaussian oracle (p = 2)",
    baseline: name === "vanilla",
    fn: async () =>
      void await sampleStaged(plan, oracles[name], {
        prediction: "velocity",
        solver: "euler",
        start: { batch, height: pixels },
        seed: 1,
      }),
  });
}

// Frame-local linear model: every frame of 32×32 goes through the same dense 1024×1024 map.
const side = 32, p = side * side;
const weights = createRng(2).fillNormal(new Float32Array(p * p)).map((w) => w / Math.sqrt(p));
const frameLocal: Predict = (x) => {
  const out = new Float32Array(x.data.length);
  for (let f = 0; f < x.batch * x.frames; f++) {
    const base = f * p;
    for (let i = 0; i < p; i++) {
      let acc = 0;
      const row = i * p;
      for (let j = 0; j < p; j++) acc += weights[row + j] * x.data[base + j];
      out[base + i] = 0.01 * acc;
    }
  }
  return out;
};
for (const [name, plan] of [["vanilla", vanilla], ["staged", staged]] as const) {
  Deno.bench({
    name: `frame-local model, ${name} (K = ${plan.stageCount})`,
    group: "frame-local model (p = 1)",
    baseline: name === "vanilla",
    n: 5,
    warmup: 1,
    fn: async () =>
      void await sampleStaged(plan, frameLocal, {
        prediction: "velocity",
        solver: "euler",
        start: { height: side, width: side },
        seed: 1,
      }),
  });
}
