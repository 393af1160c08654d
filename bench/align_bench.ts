/**
 * Data-noise alignment cost (TPDiff Algorithm 1) at B = 64, 256, 1024 with 16×32×32 videos: the
 * pairwise L2 cost matrix and the exact assignment are timed separately, and our Jonker–Volgenant
 * solver is measured against the npm package `linear-sum-assignment` on the same matrices.
 *
 * Run: `deno task bench` (or `deno bench --allow-read --allow-env bench/align_bench.ts`).
 *
 * @module
 */

import { linearSumAssignment } from "linear-sum-assignment";
import { linearAssignment, pairwiseCost } from "../lib/align.ts";
import { createRng, gaussianVideo, type Video, video } from "../lib/video.ts";

/** A batch of moving squares on a dark background: structured data, not noise. */
function movingSquares(batch: number, seed: number): Video {
  const frames = 16, h = 32, w = 32;
  const rng = createRng(seed);
  const v = video({ batch, frames, height: h, width: w });
  for (let b = 0; b < batch; b++) {
    const size = 4 + rng.integer(6);
    let y = rng.uniform() * (h - size), x = rng.uniform() * (w - size);
    const vy = 2 * rng.uniform() - 1, vx = 2 * rng.uniform() - 1;
    for (let f = 0; f < frames; f++) {
      const y0 = Math.round(y), x0 = Math.round(x);
      for (let i = 0; i < size; i++) {
        for (let j = 0; j < size; j++) v.data[((b * frames + f) * h + y0 + i) * w + x0 + j] = 1;
      }
      y = Math.min(h - size, Math.max(0, y + vy));
      x = Math.min(w - size, Math.max(0, x + vx));
    }
  }
  for (let i = 0; i < v.data.length; i++) v.data[i] = 2 * v.data[i] - 1;
  return v;
}

for (const batch of [64, 256, 1024]) {
  const videos = movingSquares(batch, batch);
  const noises = gaussianVideo({ batch, frames: 16, height: 32, width: 32 }, createRng(batch + 1));
  const cost = pairwiseCost(videos, noises);
  const rows = Array.from({ length: batch }, (_, i) => cost.subarray(i * batch, (i + 1) * batch));
  const n = batch === 1024 ? 3 : batch === 256 ? 10 : 50;
  Deno.bench({
    name: `cost matrix (L2), B = ${batch}`,
    group: `cost B=${batch}`,
    n,
    warmup: 1,
    fn: () => void pairwiseCost(videos, noises),
  });
  Deno.bench({
    name: `assignment, ours (JV), B = ${batch}`,
    group: `assignment B=${batch}`,
    baseline: true,
    n,
    warmup: 1,
    fn: () => void linearAssignment(cost, batch),
  });
  Deno.bench({
    name: `assignment, npm linear-sum-assignment, B = ${batch}`,
    group: `assignment B=${batch}`,
    n,
    warmup: 1,
    fn: () => void linearSumAssignment(rows, { maximaze: false }),
  });
}
