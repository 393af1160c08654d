import assert from "node:assert/strict";
import { linearSumAssignment } from "linear-sum-assignment";
import { alignNoise, assignmentCost, linearAssignment, pairwiseCost } from "../lib/align.ts";
import { createRng, gaussianVideo, type Rng, sampleSize, video } from "../lib/video.ts";
import { assertAllClose, assertClose, assertThrowsWith } from "./helpers.ts";

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) =>
    Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)])
  );
}

function bruteForceMinimum(cost: Float64Array, n: number): number {
  let best = Infinity;
  for (const p of permutations(n)) best = Math.min(best, assignmentCost(cost, p));
  return best;
}

function randomMatrix(n: number, rng: Rng, kind: "uniform" | "integer" = "uniform") {
  return Float64Array.from(
    { length: n * n },
    () => kind === "uniform" ? rng.uniform() : rng.integer(4),
  );
}

function isPermutation(p: ArrayLike<number>): boolean {
  return Array.from(p).sort((a, b) => a - b).every((v, i) => v === i);
}

Deno.test("linearAssignment() equals brute force over all permutations for B ≤ 7", () => {
  const rng = createRng(1);
  for (let n = 1; n <= 7; n++) {
    for (let trial = 0; trial < (n < 6 ? 20 : 4); trial++) {
      // integer costs exercise ties; uniform costs the generic case
      const cost = randomMatrix(n, rng, trial % 2 ? "integer" : "uniform");
      const p = linearAssignment(cost, n);
      assert.ok(isPermutation(p));
      assertClose(assignmentCost(cost, p), bruteForceMinimum(cost, n), 1e-12, `n = ${n}`);
    }
  }
});

Deno.test("alignNoise() on real video batches matches brute force for B ≤ 7, both metrics", () => {
  const rng = createRng(2);
  for (let b = 1; b <= 7; b++) {
    const x = gaussianVideo({ batch: b, frames: 4, height: 3, width: 3 }, rng);
    const e = gaussianVideo({ batch: b, frames: 4, height: 3, width: 3 }, rng);
    for (const metric of ["l2", "squared-l2"] as const) {
      const cost = pairwiseCost(x, e, metric);
      const { cost: total } = alignNoise(x, e, { metric });
      assertClose(total.aligned, bruteForceMinimum(cost, b), 1e-9, `B = ${b} ${metric}`);
    }
  }
});

Deno.test("linearAssignment() agrees with the independent npm linear-sum-assignment solver", () => {
  const rng = createRng(3);
  for (const n of [8, 20, 50]) {
    const cost = randomMatrix(n, rng);
    const rows = Array.from({ length: n }, (_, i) => Array.from(cost.subarray(i * n, (i + 1) * n)));
    const theirs = linearSumAssignment(rows, { maximaze: false });
    assertClose(assignmentCost(cost, linearAssignment(cost, n)), theirs.gain, 1e-9, `n = ${n}`);
  }
});

Deno.test("linearAssignment() reproduces SciPy's linear_sum_assignment on a committed fixture", async () => {
  // tests/fixtures/scipy_assignment.json: SciPy's optimal cost and assignment for matrices that
  // are rebuilt here from their seeds (the fixture's "generator" field says how it was made).
  const fixture = JSON.parse(
    await Deno.readTextFile(new URL("./fixtures/scipy_assignment.json", import.meta.url)),
  ) as {
    cases: {
      seed: string;
      n: number;
      kind: string;
      cost: number;
      assignment: number[];
      checksum: number;
    }[];
  };
  assert.ok(fixture.cases.length >= 6);
  for (const c of fixture.cases) {
    const rng = createRng(c.seed);
    const cost = Float64Array.from(
      { length: c.n * c.n },
      () => c.kind === "uniform" ? rng.uniform() : rng.integer(10),
    );
    assertClose(cost.reduce((a, b) => a + b, 0), c.checksum, 1e-9 * c.n * c.n, `${c.seed} rebuilt`);
    const ours = linearAssignment(cost, c.n);
    assertClose(assignmentCost(cost, ours), c.cost, 1e-9, `${c.seed}: n = ${c.n}`);
    // uniform costs have a unique optimum almost surely, so the pairing itself must agree
    if (c.kind === "uniform") assert.deepEqual(Array.from(ours), c.assignment);
  }
});

Deno.test("the aligned cost never exceeds the identity or random permutations (§4.18)", () => {
  const rng = createRng(4);
  for (const b of [16, 64]) {
    const x = gaussianVideo({ batch: b, frames: 4, height: 4, width: 4 }, rng);
    const e = gaussianVideo({ batch: b, frames: 4, height: 4, width: 4 }, rng);
    const cost = pairwiseCost(x, e);
    const { cost: total } = alignNoise(x, e);
    assert.ok(total.aligned <= total.identity + 1e-9);
    for (let trial = 0; trial < 50; trial++) {
      const p = Array.from({ length: b }, (_, i) => i);
      for (let i = b - 1; i > 0; i--) {
        const j = rng.integer(i + 1);
        [p[i], p[j]] = [p[j], p[i]];
      }
      assert.ok(total.aligned <= assignmentCost(cost, p) + 1e-9);
    }
  }
});

Deno.test("the output is a permutation of the input noise; B = 1 is the identity (§4.17, §4.19)", () => {
  const rng = createRng(5);
  const x = gaussianVideo({ batch: 12, frames: 8, height: 2 }, rng);
  const e = gaussianVideo({ batch: 12, frames: 8, height: 2 }, rng);
  const { noise, permutation } = alignNoise(x, e);
  assert.ok(isPermutation(permutation));
  const d = sampleSize(e);
  for (let i = 0; i < 12; i++) {
    assert.deepEqual(
      noise.data.subarray(i * d, (i + 1) * d),
      e.data.subarray(permutation[i] * d, (permutation[i] + 1) * d),
    );
  }
  assert.deepEqual(Array.from(noise.data).sort(), Array.from(e.data).sort());
  const first = (v: typeof x) => video({ ...v, batch: 1 }, v.data.slice(0, d));
  const one = alignNoise(first(x), first(e));
  assert.deepEqual(Array.from(one.permutation), [0]);
  assert.deepEqual(one.noise.data, e.data.slice(0, d));
});

Deno.test("alignment is permutation-equivariant in the data batch (§4.20)", () => {
  const rng = createRng(6);
  const b = 10, shape = { batch: b, frames: 4, height: 3 };
  const x = gaussianVideo(shape, rng, "float64"), e = gaussianVideo(shape, rng, "float64");
  const base = alignNoise(x, e);
  const sigma = [3, 7, 0, 9, 1, 4, 8, 2, 6, 5], d = sampleSize(x);
  const xp = video(shape, new Float64Array(x.data.length));
  sigma.forEach((src, i) => xp.data.set(x.data.subarray(src * d, (src + 1) * d), i * d));
  const permuted = alignNoise(xp, e);
  sigma.forEach((src, i) => assert.equal(permuted.permutation[i], base.permutation[src]));
});

Deno.test("scaling both batches (Immiscible's 0.1) leaves the assignment unchanged (§4.21)", () => {
  const rng = createRng(7);
  const shape = { batch: 24, frames: 4, height: 4 };
  const x = gaussianVideo(shape, rng, "float64"), e = gaussianVideo(shape, rng, "float64");
  for (const metric of ["l2", "squared-l2"] as const) {
    const a = alignNoise(x, e, { metric });
    const scaled = alignNoise(
      { ...x, data: x.data.map((v) => 0.1 * v) },
      { ...e, data: e.data.map((v) => 0.1 * v) },
      { metric },
    );
    assert.deepEqual(scaled.permutation, a.permutation);
  }
});

Deno.test("squared-L2 alignment maximises Σ⟨x_i, ε_π(i)⟩ (the OT-CFM choice)", () => {
  const rng = createRng(8);
  const shape = { batch: 6, frames: 2, height: 3 };
  const x = gaussianVideo(shape, rng, "float64"), e = gaussianVideo(shape, rng, "float64");
  const d = sampleSize(x);
  const dots = new Float64Array(36);
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < 6; j++) {
      for (let k = 0; k < d; k++) dots[i * 6 + j] -= x.data[i * d + k] * e.data[j * d + k];
    }
  }
  const { permutation } = alignNoise(x, e, { metric: "squared-l2" });
  assertClose(assignmentCost(dots, permutation), bruteForceMinimum(dots, 6), 1e-10);
});

Deno.test("pairwiseCost() by the matmul formula equals the direct distance", () => {
  const rng = createRng(9);
  const x = gaussianVideo({ batch: 7, frames: 3, height: 5 }, rng);
  const e = gaussianVideo({ batch: 7, frames: 3, height: 5 }, rng);
  const d = sampleSize(x), direct = new Float64Array(49);
  for (let i = 0; i < 7; i++) {
    for (let j = 0; j < 7; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (x.data[i * d + k] - e.data[j * d + k]) ** 2;
      direct[i * 7 + j] = s;
    }
  }
  assertAllClose(pairwiseCost(x, e, "squared-l2"), direct, 1e-9);
  assertAllClose(pairwiseCost(x, e, "l2"), direct.map(Math.sqrt), 1e-9);
});

Deno.test("alignNoise() accepts a precomputed cost matrix and gives the same pairing", () => {
  const rng = createRng(10);
  const x = gaussianVideo({ batch: 9, frames: 4 }, rng),
    e = gaussianVideo({ batch: 9, frames: 4 }, rng);
  const cost = pairwiseCost(x, e, "squared-l2");
  assert.deepEqual(
    alignNoise(x, e, { cost }).permutation,
    alignNoise(x, e, { metric: "squared-l2" }).permutation,
  );
  assertThrowsWith(
    () => alignNoise(x, e, { cost: new Float64Array(80) }),
    /B×B = 81 entries; got 80/,
  );
});

Deno.test("alignment rejects non-square, non-finite and mismatched input", () => {
  assertThrowsWith(
    () => linearAssignment(new Float64Array(6), 2),
    /square n×n matrix; got 6 entries for n = 2/,
  );
  assertThrowsWith(
    () => linearAssignment(new Float64Array([0, 1, NaN, 2]), 2),
    /cost must be finite; entry 2 \(row 1\) is NaN/,
  );
  assertThrowsWith(
    () => assignmentCost(new Float64Array(5), [0, 1]),
    /cost must be n×n = 4 entries for an assignment of 2 rows; got 5/,
  );
  const a = video({ batch: 2, frames: 2 }), b = video({ batch: 3, frames: 2 });
  assertThrowsWith(
    () => alignNoise(a, b),
    /noises has shape 3x2x1x1x1, but it must match videos \(2x2x1x1x1\)/,
  );
  assertThrowsWith(
    () => pairwiseCost(a, a, "l1" as never),
    /metric must be one of "l2", "squared-l2"; got "l1"/,
  );
});

Deno.test("alignNoise() names bad input: null videos, NaN noise with or without a cost matrix", () => {
  const rng = createRng(11);
  const shape = { batch: 4, frames: 2, height: 2, width: 2 };
  const x = gaussianVideo(shape, rng), e = gaussianVideo(shape, rng);
  assertThrowsWith(() => alignNoise(null as never, e), /videos must be a Video/);
  const nan = gaussianVideo(shape, rng);
  nan.data[5] = NaN;
  assertThrowsWith(
    () => alignNoise(x, nan),
    /noises\.data must contain only finite numbers; entry 5/,
  );
  const cost = pairwiseCost(x, e);
  assertThrowsWith(
    () => alignNoise(x, nan, { cost }),
    /noises\.data must contain only finite numbers; entry 5 is NaN/,
  );
  cost[3] = NaN;
  assertThrowsWith(
    () => alignNoise(x, e, { cost }),
    /cost must contain only finite numbers; entry 3/,
  );
});

Deno.test("pairwiseCost() built in chunks equals the brute-force distances, for d across chunks", () => {
  const rng = createRng(12);
  // d = 3·9·13 = 1053 spans three 512-wide chunks with a ragged last one; B = 7 leaves a partial tile.
  const shape = { batch: 7, frames: 3, height: 9, width: 13 };
  const x = gaussianVideo(shape, rng), e = gaussianVideo(shape, rng);
  const d = sampleSize(x), cost = pairwiseCost(x, e, "squared-l2");
  for (let i = 0; i < 7; i++) {
    for (let j = 0; j < 7; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (x.data[i * d + k] - e.data[j * d + k]) ** 2;
      assertClose(cost[i * 7 + j], s, 1e-9 * s, `cost[${i}, ${j}]`);
    }
  }
});
