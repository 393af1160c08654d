import assert from "node:assert/strict";
import {
  frameDifferenceStats,
  frechetDistance,
  gaussianFit,
  mmdPolynomial,
  symmetricEigen,
  wasserstein1,
} from "../lib/metrics/distribution.ts";
import { createRng } from "../lib/mod.ts";

const close = (a: number, b: number, tol: number, what = "") =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tol ${tol})`);

Deno.test("symmetricEigen() reconstructs A = V diag(λ) Vᵀ with orthonormal V, and finds [[2,1],[1,2]]'s 1 and 3", () => {
  const { values } = symmetricEigen([2, 1, 1, 2], 2);
  close(values[0], 1, 1e-14);
  close(values[1], 3, 1e-14);
  const d = 7, rng = createRng(4);
  const b = rng.fillNormal(new Float64Array(d * d));
  const a = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) a[i * d + j] = b[i * d + j] + b[j * d + i];
  }
  const { values: l, vectors: v } = symmetricEigen(a, d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let r = 0, o = 0;
      for (let k = 0; k < d; k++) {
        r += v[i * d + k] * l[k] * v[j * d + k];
        o += v[k * d + i] * v[k * d + j];
      }
      close(r, a[i * d + j], 1e-12, `A[${i},${j}]`);
      close(o, i === j ? 1 : 0, 1e-12, `VᵀV[${i},${j}]`);
    }
  }
  assert.ok(l.every((x, i) => i === 0 || l[i - 1] <= x), "ascending");
  assert.throws(() => symmetricEigen([1, 2, 3, 4], 2), /not symmetric at \(1, 0\)/);
});

const fit = (mean: number[], covariance: number[]) => ({
  dim: mean.length,
  count: 100,
  mean: Float64Array.from(mean),
  covariance: Float64Array.from(covariance),
});

Deno.test("frechetDistance() is 0 for equal Gaussians and matches the closed forms for commuting and 2 × 2 covariances", () => {
  const a = fit([1, -2, 0.5], [2, 0.3, 0, 0.3, 1, 0.2, 0, 0.2, 0.5]);
  close(frechetDistance(a, a), 0, 1e-10, "equal");
  // Diagonal (commuting) covariances: ‖Δμ‖² + Σ (√a_i − √b_i)².
  const d1 = fit([0, 0, 0], [4, 0, 0, 0, 1, 0, 0, 0, 9]);
  const d2 = fit([1, 2, 0], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  close(frechetDistance(d1, d2), 5 + 1 + 0 + 4, 1e-12, "diagonal");
  // Non-commuting 2 × 2: tr √M for M = Σ_a^{1/2} Σ_b Σ_a^{1/2} is √(tr M + 2√det M), and
  // tr M = tr(Σ_a Σ_b), det M = det Σ_a det Σ_b.
  const sa = [2, 0.9, 0.9, 1], sb = [1, -0.4, -0.4, 3];
  const trAB = sa[0] * sb[0] + sa[1] * sb[2] + sa[2] * sb[1] + sa[3] * sb[3];
  const det = (m: number[]) => m[0] * m[3] - m[1] * m[2];
  const expected = 0.25 + sa[0] + sa[3] + sb[0] + sb[3] -
    2 * Math.sqrt(trAB + 2 * Math.sqrt(det(sa) * det(sb)));
  close(frechetDistance(fit([0.5, 0], sa), fit([0, 0], sb)), expected, 1e-12, "2 × 2");
  close(
    frechetDistance(fit([0.5, 0], sa), fit([0, 0], sb)),
    frechetDistance(fit([0, 0], sb), fit([0.5, 0], sa)),
    1e-12,
    "symmetric",
  );
});

Deno.test("gaussianFit() recovers a known Gaussian, and FD between two samples of it shrinks with n", () => {
  const rng = createRng(9);
  const sample = (n: number) => {
    const out = new Float64Array(n * 2);
    for (let r = 0; r < n; r++) {
      const [u, v] = [rng.normal(), rng.normal()];
      out[2 * r] = 1 + 2 * u;
      out[2 * r + 1] = -1 + 0.5 * u + v; // cov [[4, 1], [1, 1.25]]
    }
    return out;
  };
  const big = gaussianFit(sample(40_000), 2);
  close(big.mean[0], 1, 0.04);
  close(big.mean[1], -1, 0.03);
  close(big.covariance[0], 4, 0.1);
  close(big.covariance[1], 1, 0.05);
  close(big.covariance[3], 1.25, 0.04);
  const fd = (n: number) => frechetDistance(gaussianFit(sample(n), 2), gaussianFit(sample(n), 2));
  assert.ok(fd(50) > fd(20_000), "FD between two samples of one law falls with n");
  assert.throws(() => gaussianFit([1, 2, 3], 2), /3 values do not form whole rows of dim 2/);
  assert.throws(() => gaussianFit([1, NaN, 3, 4], 2), /feature value 1 is NaN/);
});

Deno.test("mmdPolynomial() equals the unbiased formula on a hand-sized case and is near 0 for one law", () => {
  const k = (a: number, b: number) => (a * b + 1) ** 3; // d = 1, gamma 1
  const [x1, x2, y1, y2, y3] = [0.5, -1, 2, 0.25, 1];
  const expected = (2 * k(x1, x2)) / 2 + (2 * (k(y1, y2) + k(y1, y3) + k(y2, y3))) / 6 -
    (2 * [x1, x2].reduce((s, x) => s + k(x, y1) + k(x, y2) + k(x, y3), 0)) / 6;
  close(mmdPolynomial([x1, x2], [y1, y2, y3], 1), expected, 1e-12);
  const rng = createRng(2);
  const draw = (n: number, shift: number) =>
    Float64Array.from({ length: n * 4 }, () => rng.normal() + shift);
  const same = mmdPolynomial(draw(300, 0), draw(300, 0), 4);
  const shifted = mmdPolynomial(draw(300, 0), draw(300, 0.5), 4);
  assert.ok(Math.abs(same) < 0.02 && shifted > 0.1, `${same} ${shifted}`);
});

Deno.test("frameDifferenceStats() and wasserstein1(): exact on constructed videos; a shift of s bins is W1 = s", () => {
  // One video, 3 frames of 2 pixels: |Δ| = [10, 40], [0, 200].
  const stats = frameDifferenceStats(Uint8Array.from([0, 50, 10, 10, 10, 210]), {
    videos: 1,
    frames: 3,
    height: 1,
    width: 2,
  });
  assert.equal(stats.meanAbs, (10 + 40 + 0 + 200) / 4);
  assert.equal(stats.movingFraction, 0.5);
  assert.equal(
    stats.histogram[10] + stats.histogram[40] + stats.histogram[0] + stats.histogram[200],
    4,
  );
  const h = new Float64Array(256), g = new Float64Array(256);
  h[3] = 2, h[10] = 1, g[8] = 2, g[15] = 1;
  close(wasserstein1(h, g), 5, 1e-12, "W1");
  assert.equal(wasserstein1(h, h), 0);
  assert.throws(
    () => frameDifferenceStats(new Uint8Array(3), { videos: 1, frames: 1, height: 1, width: 3 }),
    /≥ 2 frames/,
  );
});
