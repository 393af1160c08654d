/**
 * Data-noise alignment (TPDiff Algorithm 1, after Immiscible Diffusion; tpdiff-math.md §1.8).
 *
 * Before noise is added, the batch's noises are permuted so that the total distance between each
 * video and its noise is minimal: π = argmin_π Σᵢ d(xᵢ, ε_π(i)), a batch-level one-to-one linear
 * assignment (not per-sample nearest noise, which would change the noise marginal). The output is a
 * permutation of the input noise, so the batch's noise multiset, and with it the unconditional
 * N(0, I), is unchanged.
 *
 * The distance is the L2 norm of the flattened difference (Immiscible's choice, the default) or
 * its square (equivalent to maximising Σᵢ ⟨xᵢ, ε_π(i)⟩, the OT-CFM choice). The two can differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { alignNoise } from "./align.ts";
 * import { createRng, gaussianVideo } from "./video.ts";
 * const rng = createRng(3);
 * const x = gaussianVideo({ batch: 8, frames: 4, height: 2, width: 2 }, rng);
 * const eps = gaussianVideo({ batch: 8, frames: 4, height: 2, width: 2 }, rng);
 * const { noise, permutation, cost } = alignNoise(x, eps);
 * assert.ok(cost.aligned <= cost.identity); // never worse than the given pairing
 * assert.deepEqual([...permutation].sort(), [0, 1, 2, 3, 4, 5, 6, 7]); // a permutation
 * assert.equal(noise.data.length, eps.data.length);
 * ```
 *
 * @module
 */

import { checkAllFinite, checkOneOf } from "./checks.ts";
import {
  checkSameShape,
  checkVideo,
  newData,
  sampleSize,
  type Video,
  type VideoData,
  videoLike,
} from "./video.ts";

/** The pairwise distance used by the assignment. */
export type AlignMetric = "l2" | "squared-l2";

/**
 * The B×B matrix of distances between each video and each noise, row i for video i, by the
 * matmul formula ‖x‖² + ‖ε‖² − 2x·ε (clamped at 0), accumulated in float64.
 *
 * @param videos a batch of B videos
 * @param noises a batch of B noises of the same shape
 * @param metric `"l2"` (default) or `"squared-l2"`
 * @returns row-major B×B costs
 */
export function pairwiseCost(
  videos: Video,
  noises: Video,
  metric: AlignMetric = "l2",
): Float64Array {
  checkVideo("videos", videos);
  checkVideo("noises", noises);
  checkSameShape("videos", videos, "noises", noises);
  checkOneOf("metric", metric, ["l2", "squared-l2"] as const);
  const n = videos.batch, d = sampleSize(videos);
  const x = videos.data, e = noises.data;
  const sq = (a: VideoData, i: number) => {
    let s = 0;
    for (let k = i * d; k < (i + 1) * d; k++) s += a[k] * a[k];
    return s;
  };
  const nx = Float64Array.from({ length: n }, (_, i) => sq(x, i));
  const ne = Float64Array.from({ length: n }, (_, j) => sq(e, j));
  const dot = pairwiseDot(x, e, n, d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const d2 = Math.max(0, nx[i] + ne[j] - 2 * dot[i * n + j]);
      dot[i * n + j] = metric === "l2" ? Math.sqrt(d2) : d2;
    }
  }
  return dot;
}

/**
 * x·eᵀ for row-major n×d blocks, in float64, 4×4 register-tiled (16 products per 8 loads) and
 * chunked along d: each chunk of both batches is copied to float64 once (one monomorphic element
 * type for the hot loop, and the eight rows of a tile stay in cache). Memory beyond the n×n result
 * is 2·n·512 doubles, whatever d is.
 */
function pairwiseDot(x: VideoData, e: VideoData, n: number, d: number): Float64Array {
  const out = new Float64Array(n * n);
  const chunk = Math.min(512, d);
  const xs = new Float64Array(n * chunk), es = new Float64Array(n * chunk);
  const rowOf = (i: number) => Math.min(i, n - 1) * chunk;
  for (let k0 = 0; k0 < d; k0 += chunk) {
    const width = Math.min(d, k0 + chunk) - k0;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < width; k++) {
        xs[i * chunk + k] = x[i * d + k0 + k];
        es[i * chunk + k] = e[i * d + k0 + k];
      }
    }
    for (let i = 0; i < n; i += 4) {
      const a0 = rowOf(i), a1 = rowOf(i + 1), a2 = rowOf(i + 2), a3 = rowOf(i + 3);
      for (let j = 0; j < n; j += 4) {
        const b0 = rowOf(j), b1 = rowOf(j + 1), b2 = rowOf(j + 2), b3 = rowOf(j + 3);
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
        for (let k = 0; k < width; k++) {
          const x0 = xs[a0 + k], x1 = xs[a1 + k], x2 = xs[a2 + k], x3 = xs[a3 + k];
          const e0 = es[b0 + k], e1 = es[b1 + k], e2 = es[b2 + k], e3 = es[b3 + k];
          s00 += x0 * e0, s01 += x0 * e1, s02 += x0 * e2, s03 += x0 * e3;
          s10 += x1 * e0, s11 += x1 * e1, s12 += x1 * e2, s13 += x1 * e3;
          s20 += x2 * e0, s21 += x2 * e1, s22 += x2 * e2, s23 += x2 * e3;
          s30 += x3 * e0, s31 += x3 * e1, s32 += x3 * e2, s33 += x3 * e3;
        }
        const tile = [
          s00,
          s01,
          s02,
          s03,
          s10,
          s11,
          s12,
          s13,
          s20,
          s21,
          s22,
          s23,
          s30,
          s31,
          s32,
          s33,
        ];
        for (let p = 0; p < 4 && i + p < n; p++) {
          for (let q = 0; q < 4 && j + q < n; q++) out[(i + p) * n + j + q] += tile[p * 4 + q];
        }
      }
    }
  }
  return out;
}

/**
 * An exact minimum-cost perfect matching of a square cost matrix: the shortest augmenting path
 * method of Jonker and Volgenant in the form of Crouse (2016), the algorithm behind SciPy's
 * `linear_sum_assignment`. O(n³) in the worst case.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linearAssignment } from "./align.ts";
 * // Row i takes column a[i]; the cheapest total here is 1 + 2 = 3 (the identity costs 4 + 3).
 * assert.deepEqual([...linearAssignment([4, 1, 2, 3], 2)], [1, 0]);
 * ```
 *
 * @param cost row-major n×n costs (finite)
 * @param n the number of rows and columns
 * @returns `assignment[row] = column`
 */
export function linearAssignment(cost: ArrayLike<number>, n: number): Int32Array {
  checkCostMatrix(cost, n);
  const c = cost instanceof Float64Array ? cost : Float64Array.from(cost);
  const u = new Float64Array(n), v = new Float64Array(n);
  const shortest = new Float64Array(n);
  const path = new Int32Array(n).fill(-1);
  const col4row = new Int32Array(n).fill(-1), row4col = new Int32Array(n).fill(-1);
  const remaining = new Int32Array(n);
  const scannedRows = new Uint8Array(n), scannedCols = new Uint8Array(n);
  // Column reduction: v_j = min_i c_ij is a feasible dual start (all reduced costs ≥ 0) and
  // shortens the first searches.
  v.fill(Infinity);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) v[j] = Math.min(v[j], c[i * n + j]);

  for (let current = 0; current < n; current++) {
    shortest.fill(Infinity);
    scannedRows.fill(0);
    scannedCols.fill(0);
    for (let j = 0; j < n; j++) remaining[j] = n - 1 - j;
    let left = n, minVal = 0, i = current, sink = -1;
    while (sink === -1) {
      scannedRows[i] = 1;
      let index = -1, lowest = Infinity;
      const base = minVal - u[i], row = i * n;
      for (let it = 0; it < left; it++) {
        const j = remaining[it];
        let sj = shortest[j];
        const r = base + c[row + j] - v[j];
        if (r < sj) {
          path[j] = i;
          shortest[j] = sj = r;
        }
        if (sj < lowest || (sj === lowest && row4col[j] === -1)) {
          lowest = sj;
          index = it;
        }
      }
      minVal = lowest;
      const j = remaining[index];
      if (row4col[j] === -1) sink = j;
      else i = row4col[j];
      scannedCols[j] = 1;
      remaining[index] = remaining[--left];
    }
    u[current] += minVal;
    for (let r = 0; r < n; r++) {
      if (scannedRows[r] && r !== current) u[r] += minVal - shortest[col4row[r]];
    }
    for (let c = 0; c < n; c++) if (scannedCols[c]) v[c] -= minVal - shortest[c];
    augment({ path, col4row, row4col }, current, sink);
  }
  return col4row;
}

/** Throws unless `cost` is a finite n×n matrix. */
function checkCostMatrix(cost: ArrayLike<number>, n: number): void {
  if (!Number.isInteger(n) || n < 0 || cost.length !== n * n) {
    throw new RangeError(
      `cost must be a square n×n matrix; got ${cost.length} entries for n = ${n}`,
    );
  }
  for (let i = 0; i < cost.length; i++) {
    if (!Number.isFinite(cost[i])) {
      throw new RangeError(
        `cost must be finite; entry ${i} (row ${Math.floor(i / n)}) is ${cost[i]}`,
      );
    }
  }
}

/** Flips the matching along the shortest path from the sink back to row `current`. */
function augment(
  m: { path: Int32Array; col4row: Int32Array; row4col: Int32Array },
  current: number,
  sink: number,
): void {
  const { path, col4row, row4col } = m;
  let j = sink;
  while (true) {
    const r = path[j];
    row4col[j] = r;
    const previous = col4row[r];
    col4row[r] = j;
    j = previous;
    if (r === current) break;
  }
}

/** Σᵢ cost[i, assignment[i]]. */
export function assignmentCost(cost: ArrayLike<number>, assignment: ArrayLike<number>): number {
  const n = assignment.length;
  if (cost.length !== n * n) {
    throw new RangeError(
      `cost must be n×n = ${n * n} entries for an assignment of ${n} rows; got ${cost.length}`,
    );
  }
  let total = 0;
  for (let i = 0; i < n; i++) total += cost[i * n + assignment[i]];
  return total;
}

/** Options of {@link alignNoise}. */
export interface AlignOptions {
  /** The distance (default `"l2"`). */
  metric?: AlignMetric;
  /**
   * A precomputed B×B cost matrix (row i: video i), e.g. from a GPU matmul; when given, `metric`
   * is not used and the matrix is trusted to match the batches.
   */
  cost?: Float64Array;
}

/** What {@link alignNoise} returns. */
export interface AlignedNoise<D extends VideoData = VideoData> {
  /** The permuted noise: `noise[i] = noises[permutation[i]]`. */
  noise: Video<D>;
  /** The assignment π: video i gets noise π(i). */
  permutation: Int32Array;
  /** Total distance of the identity pairing and of the aligned one (same metric). */
  cost: { identity: number; aligned: number };
}

/**
 * Algorithm 1 of TPDiff: pairs each video of the batch with a noise by an exact linear assignment
 * on `metric` and returns the permuted noise. Align full-rate videos with full-rate noise, then
 * derive each stage's noise with `stageNoise` (the same temporal operator), which keeps it N(0, I).
 *
 * Cost: the B×B distance matrix takes B²·d multiply-adds (d = F·H·W·C) and 8·B² bytes, plus
 * 8·B·1024 bytes of scratch; the assignment is O(B³) in the worst case. Measured on one core of
 * this project's 2-core machine at d = 16·32·32 (float32 inputs): B = 256 in 0.5 s, B = 1024 in
 * 7 s, B = 3000 in 54 s with 215 MB of memory beyond the inputs (it was 1.4 GB before the matrix
 * was built in chunks). Training batches (B ≤ 64) cost milliseconds; for thousands of videos, pass
 * a `cost` matrix computed elsewhere (a GPU matmul).
 *
 * @param videos a batch of B clean videos
 * @param noises B noises of the same shape
 * @param options `metric` (default `"l2"`) or a precomputed `cost` matrix (finite)
 */
export function alignNoise<D extends VideoData>(
  videos: Video,
  noises: Video<D>,
  options: AlignOptions = {},
): AlignedNoise<D> {
  checkVideo("videos", videos);
  checkVideo("noises", noises);
  const n = videos.batch;
  let cost: Float64Array;
  if (options?.cost === undefined) cost = pairwiseCost(videos, noises, options?.metric ?? "l2");
  else {
    checkSameShape("videos", videos, "noises", noises);
    if (!(options.cost instanceof Float64Array) || options.cost.length !== n * n) {
      throw new RangeError(
        `cost must be a Float64Array of B×B = ${n * n} entries; got ${options.cost?.length}`,
      );
    }
    checkAllFinite("cost", options.cost);
    cost = options.cost;
  }
  const permutation = linearAssignment(cost, n);
  const d = sampleSize(noises);
  const out = newData(noises.data, noises.data.length);
  for (let i = 0; i < n; i++) {
    out.set(noises.data.subarray(permutation[i] * d, (permutation[i] + 1) * d), i * d);
  }
  const identity = Int32Array.from({ length: n }, (_, i) => i);
  return {
    noise: videoLike(noises, out),
    permutation,
    cost: { identity: assignmentCost(cost, identity), aligned: assignmentCost(cost, permutation) },
  };
}
