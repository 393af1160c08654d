/**
 * Small assertion helpers shared by the test modules.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { TrainConfig } from "../lib/nn/mod.ts";

/**
 * A tiny pyramid training config for the model-layer tests: 2 stages over 8 frames, flow matching
 * with alignment, 6 steps, no warm-up; `changes` override any field.
 */
export function tinyTrainConfig(changes: Partial<TrainConfig> = {}): TrainConfig {
  return {
    mode: "pyramid",
    form: "flow-matching",
    stages: 2,
    frames: 8,
    batch: 4,
    steps: 6,
    learningRate: 2e-3,
    warmup: 0,
    clip: 1,
    emaDecay: 0.9,
    align: true,
    ...changes,
  };
}

/** Asserts |actual − expected| ≤ tol, with both values in the message. */
export function assertClose(actual: number, expected: number, tol: number, what = "value"): void {
  const err = Math.abs(actual - expected);
  assert.ok(
    err <= tol,
    `${what}: expected ${expected}, got ${actual} (|error| ${err.toExponential(3)} > ${tol})`,
  );
}

/** Asserts that two arrays agree elementwise within tol. */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what = "array",
): void {
  assert.equal(actual.length, expected.length, `${what}: lengths differ`);
  let worst = 0, at = -1;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  assert.ok(
    worst <= tol,
    `${what}: entry ${at} is ${actual[at]}, expected ${expected[at]} (|error| ${worst} > ${tol})`,
  );
}

/** Asserts that `fn` throws an error whose message matches every pattern. */
export function assertThrowsWith(fn: () => unknown, ...patterns: RegExp[]): void {
  let message: string | undefined;
  try {
    fn();
  } catch (error) {
    message = (error as Error).message;
  }
  assert.ok(message !== undefined, "expected an error, but none was thrown");
  for (const p of patterns) assert.match(message!, p);
}

/** Sample covariance E[x xᵀ] − mean meanᵀ of a batch of n-vectors stored row-major. */
export function sampleCovariance(data: ArrayLike<number>, n: number): Float64Array {
  const batch = data.length / n;
  const mean = new Float64Array(n), cov = new Float64Array(n * n);
  for (let b = 0; b < batch; b++) for (let i = 0; i < n; i++) mean[i] += data[b * n + i] / batch;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < n; i++) {
      const di = data[b * n + i] - mean[i];
      for (let j = 0; j < n; j++) cov[i * n + j] += (di * (data[b * n + j] - mean[j])) / batch;
    }
  }
  return cov;
}

/** The AR(1) covariance Σ_ij = ρ^|i−j| of n frames. */
export function ar1Covariance(n: number, rho: number): Float64Array {
  return new Float64Array(n * n).map((_, k) => rho ** Math.abs((k % n) - Math.floor(k / n)));
}
