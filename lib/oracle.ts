/**
 * Exact predictors, usable directly as a sampler's `predict`:
 *
 * - {@link gaussianOracle}: the exact MMSE prediction of a stage's training target for a Gaussian
 *   video prior x₀ ~ N(μ, Σ). On stage k, with stage noise ε ~ N(0, I) independent of x₀,
 *   x_t = M_t x₀ + σ_t ε and target = A_t x₀ + b ε are jointly Gaussian, so
 *   E[target | x_t] = A_t μ + C_tx C_xx⁻¹ (x_t − M_t μ) with C_xx = M_t Σ M_tᵀ + σ_t² I and
 *   C_tx = A_t Σ M_tᵀ + b σ_t I. With this predictor the probability-flow ODE of each stage carries
 *   the exact marginals, so samples reproduce Σ up to discretisation and Monte Carlo error.
 * - {@link cleanOracle}: the exact per-sample target when the clean video is known: it reads the
 *   effective noise off x_t and returns that sample's own target, so the sampler must return x₀.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gaussianOracle } from "./oracle.ts";
 * import { stagePlan } from "./pyramid.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * import { sampleStaged } from "./samplers.ts";
 * const F = 4, cov = new Float64Array(F * F).map((_, i) => 0.9 ** Math.abs((i % F) - Math.floor(i / F)));
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: F, stages: 2, steps: 8 });
 * const predict = gaussianOracle({ mean: new Float64Array(F), covariance: cov, plan, prediction: "velocity" });
 * const x = await sampleStaged(plan, predict, { prediction: "velocity", start: { batch: 16, precision: "float64" } });
 * assert.equal(x.batch * x.frames, 16 * F); // 16 draws of the prior, full rate
 * ```
 *
 * @module
 */

import { checkAllFinite, checkInteger } from "./checks.ts";
import type { Stage, StagePlan } from "./pyramid.ts";
import type { Predict } from "./samplers.ts";
import {
  predictionCoefficients,
  type PredictionKind,
  solveStagePair,
  stageEndpoints,
  stagePoint,
  stageTarget,
} from "./stagewise.ts";
import {
  checkSameShape,
  checkVideo,
  combine,
  describeShape,
  newData,
  sampleSize,
  type Video,
  video,
  type VideoData,
  videoLike,
} from "./video.ts";

/** Options of {@link gaussianOracle}. */
export interface GaussianOracleOptions {
  /** μ: the prior mean of one full-rate video, length N = F·H·W·C. */
  mean: ArrayLike<number>;
  /** Σ: the prior covariance, row-major N×N, symmetric positive definite. */
  covariance: ArrayLike<number>;
  /** The stage plan (its frame count F fixes H·W·C = N/F). */
  plan: StagePlan;
  /** The prediction kind to return. */
  prediction: PredictionKind;
  /**
   * Given frames: their full-rate positions and their values (H·W·C per frame, in the order of
   * `positions`), the same for every video. The oracle then predicts under the conditional prior
   * p(x₀ | those frames), so the staged sampler draws the other frames from their exact
   * conditional (the Schur complement; docs/conditioning.md).
   */
  given?: { positions: readonly number[]; values: ArrayLike<number> };
}

/** Row-major dense matrix helpers in float64 (small dimensions only). */
function matmul(a: Float64Array, b: Float64Array, n: number, m: number, p: number): Float64Array {
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < m; k++) {
      const aik = a[i * m + k];
      if (aik === 0) continue;
      for (let j = 0; j < p; j++) out[i * p + j] += aik * b[k * p + j];
    }
  }
  return out;
}

function transpose(a: Float64Array, n: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[j * n + i] = a[i * m + j];
  return out;
}

/** Cholesky factor L (lower) of an SPD n×n matrix; throws if it is not positive definite. */
export function cholesky(a: ArrayLike<number>, n: number): Float64Array {
  checkInteger("n", n, 1);
  if (a.length !== n * n) {
    throw new RangeError(`matrix must have n×n = ${n * n} entries; got ${a.length}`);
  }
  checkAllFinite("matrix", a);
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] ** 2;
    if (!(d > 0)) {
      throw new RangeError(
        `matrix is not positive definite (pivot ${j} is ${d}); the covariance must be SPD`,
      );
    }
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/** Solves (L Lᵀ) X = B for X, with B n×p row-major. */
function choleskySolve(l: Float64Array, b: Float64Array, n: number, p: number): Float64Array {
  const x = b.slice();
  for (let c = 0; c < p; c++) {
    for (let i = 0; i < n; i++) {
      let s = x[i * p + c];
      for (let k = 0; k < i; k++) s -= l[i * n + k] * x[k * p + c];
      x[i * p + c] = s / l[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = x[i * p + c];
      for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k * p + c];
      x[i * p + c] = s / l[i * n + i];
    }
  }
  return x;
}

/** The N basis videos of N = frames × perFrame elements, as one batch of N. */
function basisVideos(frames: number, perFrame: number): Video<Float64Array> {
  const n = frames * perFrame;
  const basis = video<Float64Array>({ batch: n, frames, height: perFrame }, "float64");
  for (let b = 0; b < n; b++) basis.data[b * n + b] = 1;
  return basis;
}

/**
 * The matrix (rows: output elements, columns: input elements) of a linear video operator from its
 * outputs on the n basis videos; so the oracle uses lib's own operators.
 */
function operatorMatrix(out: Video, n: number): { matrix: Float64Array; rows: number } {
  const rows = sampleSize(out);
  const matrix = new Float64Array(rows * n);
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < rows; r++) matrix[r * n + b] = out.data[b * rows + r];
  }
  return { matrix, rows };
}

/**
 * The exact MMSE predictor of a stage's training target for a Gaussian video prior (see the module
 * doc). It assumes noise independent of the data, i.e. training without data-noise alignment, which
 * couples ε to x₀. Matrices are cached per stage and time; intended for N up to a few hundred.
 *
 * @param options mean, covariance, plan and prediction kind
 * @returns a `predict` callback for {@link sampleStaged}
 */
export function gaussianOracle(options: GaussianOracleOptions): Predict {
  const { plan, prediction } = options;
  const { N, mu, sigma } = checkedPrior(options);
  const given = options.given === undefined ? undefined : checkedGiven(options.given, plan, N);
  // With zero stage noise, lib's own stage pair gives x̃₀,k = X x₀ and ε_k − ε = E x₀ (§1.5);
  // applied to every basis video it yields the matrices X and E.
  const basis = basisVideos(plan.frames, N / plan.frames);
  const operators = plan.stages.map((stage) => {
    const zero = video<Float64Array>({ ...basis, frames: stage.frames }, "float64");
    const pair = solveStagePair(stageEndpoints(basis, zero, { plan, stage }), {
      stage,
      schedule: plan.schedule,
    });
    return { x0: operatorMatrix(pair.x0, N), epsilon: operatorMatrix(pair.epsilon, N) };
  });
  const cache = new Map<string, OracleAffine>();
  const affine = (stage: Stage, t: number) => {
    const key = `${stage.index}:${t}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const { schedule } = plan;
    const coefficients = predictionCoefficients(prediction, { stage, t, schedule });
    const entry = oracleAffine(operators[stage.index], { mu, sigma, N, given }, {
      ...coefficients,
      gamma: schedule.gamma(t),
      sigma: schedule.sigma(t),
    });
    if (cache.size >= 4096) cache.clear(); // sampling reuses a few hundred times; training does not
    cache.set(key, entry);
    return entry;
  };
  return (x: Video, t: number, stage: Stage) => applyAffine(affine(stage, t), x, stage);
}

/** The prior's mean and covariance as float64, checked: lengths, finite, symmetric, positive definite. */
function checkedPrior(
  options: GaussianOracleOptions,
): { N: number; mu: Float64Array; sigma: Float64Array } {
  const N = options.mean?.length;
  checkInteger("mean length N", N, 1, 4096);
  if (options.covariance?.length !== N * N) {
    throw new RangeError(
      `covariance must be N×N = ${
        N * N
      } entries for a mean of length ${N}; got ${options.covariance?.length}`,
    );
  }
  checkAllFinite("mean", options.mean);
  checkAllFinite("covariance", options.covariance);
  if (N % options.plan.frames !== 0) {
    throw new RangeError(
      `mean length ${N} must be a multiple of the plan's ${options.plan.frames} frames`,
    );
  }
  const mu = Float64Array.from(options.mean), sigma = Float64Array.from(options.covariance);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < i; j++) {
      if (
        Math.abs(sigma[i * N + j] - sigma[j * N + i]) > 1e-10 * (1 + Math.abs(sigma[i * N + j]))
      ) {
        throw new RangeError(
          `covariance must be symmetric; entries (${i}, ${j}) and (${j}, ${i}) differ`,
        );
      }
    }
  }
  cholesky(sigma, N);
  return { N, mu, sigma };
}

/** Given frames as element indices into a full-rate video and their values, checked. */
interface GivenElements {
  rows: number[];
  values: Float64Array;
}

function checkedGiven(
  given: NonNullable<GaussianOracleOptions["given"]>,
  plan: StagePlan,
  N: number,
): GivenElements {
  const perFrame = N / plan.frames, positions = [...given.positions];
  positions.forEach((p, i) => checkInteger(`given.positions[${i}]`, p, 0, plan.frames - 1));
  if (new Set(positions).size !== positions.length || positions.length === 0) {
    throw new RangeError(
      `given.positions must be distinct frame positions, at least one; got [${positions}]`,
    );
  }
  if (given.values?.length !== positions.length * perFrame) {
    throw new RangeError(
      `given.values must hold ${positions.length} frames of ${perFrame} values; got ${given.values?.length}`,
    );
  }
  checkAllFinite("given.values", given.values);
  const rows = positions.flatMap((p) =>
    Array.from({ length: perFrame }, (_, e) => p * perFrame + e)
  );
  return { rows, values: Float64Array.from(given.values) };
}

/** E[target | x_t] = gain·x_t + offset on one stage at one time; n values per video. */
interface OracleAffine {
  gain: Float64Array;
  offset: Float64Array;
  n: number;
}

/**
 * The conditional mean's gain and offset: target = a x̃₀,k + b ε_k = A x₀ + b ε and
 * x_t = γ_t x̃₀,k + σ_t ε_k = M x₀ + σ_t ε are jointly Gaussian, so
 * gain = C_tx C_xx⁻¹ and offset = A μ − gain·M μ.
 */
function oracleAffine(
  operators: { x0: { matrix: Float64Array; rows: number }; epsilon: { matrix: Float64Array } },
  prior: { mu: Float64Array; sigma: Float64Array; N: number; given?: GivenElements },
  at: { a: number; b: number; gamma: number; sigma: number },
): OracleAffine {
  if (prior.given) return givenAffine(operators, { ...prior, given: prior.given }, at);
  const { mu, sigma, N } = prior, { a, b, gamma: gt, sigma: st } = at;
  const X = operators.x0, E = operators.epsilon;
  const n = X.rows;
  const A = new Float64Array(n * N), M = new Float64Array(n * N);
  for (let i = 0; i < n * N; i++) {
    A[i] = a * X.matrix[i] + b * E.matrix[i];
    M[i] = gt * X.matrix[i] + st * E.matrix[i];
  }
  const sigmaMt = matmul(sigma, transpose(M, n, N), N, N, n);
  const cxx = matmul(M, sigmaMt, n, N, n);
  const ctx = matmul(A, sigmaMt, n, N, n);
  for (let i = 0; i < n; i++) {
    cxx[i * n + i] += st * st;
    ctx[i * n + i] += b * st;
  }
  const gain = transpose(choleskySolve(cholesky(cxx, n), transpose(ctx, n, n), n, n), n, n);
  const amu = matmul(A, mu, n, N, 1), mmu = matmul(M, mu, n, N, 1);
  const gmmu = matmul(gain, mmu, n, n, 1);
  const offset = amu.map((v, i) => v - gmmu[i]);
  return { gain, offset, n };
}

/**
 * The conditional mean given x_t and the given elements x_G = S x₀ too: with y = (x_t, x_G),
 * C_yy = [[M Σ Mᵀ + σ_t² I, M Σ Sᵀ], [S Σ Mᵀ, S Σ Sᵀ]] and C_ty = [A Σ Mᵀ + b σ_t I, A Σ Sᵀ], so
 * E[target | y] = A μ + C_ty C_yy⁻¹ (y − (M μ, S μ)); x_G is fixed, so its part joins the offset.
 */
function givenAffine(
  operators: { x0: { matrix: Float64Array; rows: number }; epsilon: { matrix: Float64Array } },
  prior: { mu: Float64Array; sigma: Float64Array; N: number; given: GivenElements },
  at: { a: number; b: number; gamma: number; sigma: number },
): OracleAffine {
  const { mu, sigma, N, given } = prior, { a, b, gamma: gt, sigma: st } = at;
  const X = operators.x0, E = operators.epsilon, n = X.rows, g = given.rows.length, m = n + g;
  // Rows of the stacked observation matrix [M; S] and of A, each over the N elements of x₀.
  const obs = new Float64Array(m * N), A = new Float64Array(n * N);
  for (let i = 0; i < n * N; i++) {
    A[i] = a * X.matrix[i] + b * E.matrix[i];
    obs[i] = gt * X.matrix[i] + st * E.matrix[i];
  }
  given.rows.forEach((r, i) => (obs[(n + i) * N + r] = 1));
  const sigmaObsT = matmul(sigma, transpose(obs, m, N), N, N, m);
  const cyy = matmul(obs, sigmaObsT, m, N, m), cty = matmul(A, sigmaObsT, n, N, m);
  for (let i = 0; i < n; i++) {
    cyy[i * m + i] += st * st;
    cty[i * m + i] += b * st;
  }
  const full = transpose(choleskySolve(cholesky(cyy, m), transpose(cty, n, m), m, n), m, n);
  const gain = new Float64Array(n * n), offset = matmul(A, mu, n, N, 1);
  const obsMu = matmul(obs, mu, m, N, 1);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const w = full[i * m + j];
      if (j < n) gain[i * n + j] = w;
      else offset[i] += w * given.values[j - n];
      offset[i] -= w * obsMu[j];
    }
  }
  return { gain, offset, n };
}

/** gain·x + offset for every video of the batch. */
function applyAffine(affine: OracleAffine, x: Video, stage: Stage): VideoData {
  const { gain, offset, n } = affine;
  if (sampleSize(x) !== n) {
    throw new RangeError(
      `x has ${sampleSize(x)} elements per video (${describeShape(x)}); stage k = ${stage.k} ` +
        `of this oracle has ${n}`,
    );
  }
  const out = newData(x.data, x.data.length);
  for (let s = 0; s < x.batch; s++) {
    const base = s * n;
    for (let i = 0; i < n; i++) {
      let acc = offset[i];
      const row = i * n;
      for (let j = 0; j < n; j++) acc += gain[row + j] * x.data[base + j];
      out[base + i] = acc;
    }
  }
  return out;
}

/**
 * The exact per-sample target when the clean videos are known: on stage k at time t it reads the
 * effective noise ε = (x_t − signal_t(x₀))/σ_t off the current point and returns the target of the
 * path through (x₀, ε). Any staged sampler driven by it returns x₀ exactly at e₁ = 0, whatever the
 * noise draws (tpdiff-math.md §4 item 8). Needs σ_t > 0 where it is evaluated.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cleanOracle } from "./oracle.ts";
 * import { stagePlan } from "./pyramid.ts";
 * import { sampleStaged } from "./samplers.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * import { maxAbsDiff, video } from "./video.ts";
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 4, stages: 2, steps: 4 });
 * const x0 = video({ frames: 4 }, new Float64Array([0.1, 0.4, -0.2, 0.3]));
 * const predict = cleanOracle(x0, { plan, prediction: "velocity" });
 * const out = await sampleStaged(plan, predict, { prediction: "velocity", start: { precision: "float64" } });
 * assert.ok(maxAbsDiff(out, x0) < 1e-9); // the exact per-sample targets lead back to x₀
 * ```
 *
 * @param x0 the full-rate clean videos, one per sample of the batch that will be drawn
 * @param options the plan and the prediction kind to return
 */
export function cleanOracle(
  x0: Video,
  options: { plan: StagePlan; prediction: PredictionKind },
): Predict {
  checkVideo("x0", x0);
  const { plan, prediction } = options;
  const { schedule } = plan;
  // The stage pair is linear in (x₀, ε) and ε passes through unchanged (ε_k = E x₀ + ε), so the
  // pair of (x₀, 0) per stage is all that depends on x₀: computed once per stage.
  const signals = plan.stages.map((stage) => {
    const zero = video(
      { ...x0, frames: stage.frames },
      x0.data instanceof Float64Array ? "float64" : "float32",
    );
    return solveStagePair(stageEndpoints(x0, zero, { plan, stage }), { stage, schedule });
  });
  return (x: Video, t: number, stage: Stage) => {
    checkSameShape(`x0 at stage ${stage.k}`, { ...x0, frames: stage.frames }, "x", x);
    const st = schedule.sigma(t);
    if (!(st > 0)) throw new RangeError(`cleanOracle needs σ(t) > 0; got t = ${t}`);
    const signal = signals[stage.index];
    const signalT = stagePoint(signal, { t, schedule });
    const eps = videoLike(x, newData(x.data, x.data.length) as VideoData);
    for (let i = 0; i < eps.data.length; i++) eps.data[i] = (x.data[i] - signalT.data[i]) / st;
    const pair = { x0: signal.x0, epsilon: combine(1, signal.epsilon, 1, eps) };
    return stageTarget(pair, { prediction, stage, t, schedule }).data;
  };
}
