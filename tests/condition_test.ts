import assert from "node:assert/strict";
import {
  gaussianOracle,
  givenValues,
  guide,
  guidedPredict,
  type PredictionKind,
  recoverPair,
  rectifiedFlow,
  sampleStaged,
  type Schedule,
  stageCondition,
  stagePlan,
  stageTarget,
  video,
  vpSchedule,
} from "../lib/mod.ts";

const rf = rectifiedFlow(), vp = vpSchedule({ beta: "linear" });

Deno.test("guidance in ε, velocity, x₀ and v space gives one guided pair (its weights sum to 1)", () => {
  const plan = stagePlan({ schedule: vp, frames: 4, stages: 2 });
  const stage = plan.stages[1], t = (stage.start + stage.end) / 2;
  const at = { stage, t, schedule: plan.schedule };
  const random = (seed: number) =>
    Float64Array.from({ length: 8 }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 2);
  const x = video({ frames: 4, height: 2 }, random(1));
  const [c, u] = [random(2), random(3)]; // two ε predictions
  const as = (kind: PredictionKind, eps: Float64Array) =>
    stageTarget(recoverPair(x, eps, { ...at, prediction: "epsilon" }), { ...at, prediction: kind })
      .data;
  for (const w of [0, 1, 1.5, 4]) {
    const guidedEps = guide(c, u, w);
    for (const kind of ["velocity", "x0", "v", "stage-velocity"] as PredictionKind[]) {
      const inKind = guide(as(kind, c), as(kind, u), w);
      const viaEps = as(kind, guidedEps as Float64Array);
      const worst = Math.max(...inKind.map((v, i) => Math.abs(v - viaEps[i])));
      assert.ok(worst < 1e-9, `w = ${w}, ${kind}: ${worst}`);
    }
  }
  assert.deepEqual(guide(c, u, 1), c);
  assert.deepEqual(guide(c, u, 0), u);
  assert.throws(() => guide(c, u.subarray(1), 2), /must have one length; got 8 and 7/);
  assert.throws(() => guide(c, u, NaN), /guidance scale/);
});

Deno.test("guidedPredict: scale 1 is the conditional predictor itself; otherwise u + w(c − u)", async () => {
  let unconditionalCalls = 0;
  const conditional = () => new Float64Array([2, 4]);
  const unconditional = () => (unconditionalCalls++, new Float64Array([1, 1]));
  const plan = stagePlan({ schedule: rf, frames: 2, stages: 1 });
  const x = video({ frames: 2 }, new Float64Array(2));
  assert.equal(guidedPredict(conditional, unconditional, 1), conditional);
  const guided = guidedPredict(conditional, unconditional, 2);
  assert.deepEqual(await guided(x, 0.5, plan.stages[0]), new Float64Array([3, 7]));
  assert.equal(unconditionalCalls, 1);
});

Deno.test("stageCondition: a stage sees a given frame only where its Down reads given frames only", () => {
  const plain = stagePlan({ schedule: rf, frames: 8, stages: 3 });
  const given = { positions: [0, 1, 7], values: [10, 20, 11, 21, 17, 27] }; // two values per frame
  const [k3, k2, k1] = plain.stages.map((stage) => stageCondition(given, { plan: plain, stage }));
  assert.deepEqual(k3.mask, [1, 0]); // frames 0 and 4
  assert.deepEqual(k2.mask, [1, 0, 0, 0]); // 0, 2, 4, 6: frame 7 is invisible before stage 1
  assert.deepEqual(k1.mask, [1, 1, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(Array.from(k1.frames.data), [
    10,
    20,
    11,
    21,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    17,
    27,
  ]);
  assert.deepEqual(Array.from(k2.frames.data), [10, 20, 0, 0, 0, 0, 0, 0]);
  // The average Down reads pairs: frame pair (0, 1) is given, (6, 7) is not.
  const average = stagePlan({ schedule: rf, frames: 8, stages: 3, down: "average" });
  const a2 = stageCondition(given, { plan: average, stage: average.stages[1] });
  assert.deepEqual(a2.mask, [1, 0, 0, 0]);
  assert.deepEqual(Array.from(a2.frames.data.subarray(0, 2)), [10.5, 20.5]);
  assert.throws(
    () => stageCondition({ positions: [8], values: [1] }, { plan: plain, stage: plain.stages[0] }),
    /given.positions\[0\] must be an integer in \[0, 7\]; got 8/,
  );
});

/** Σ_ij = ρ^|i−j| over F one-pixel frames. */
const ar1 = (F: number, rho = 0.9) =>
  new Float64Array(F * F).map((_, i) => rho ** Math.abs((i % F) - Math.floor(i / F)));

/** The exact conditional of a zero-mean Gaussian given x_G: mean Σ_·G Σ_GG⁻¹ x_G, covariance Σ − Σ_·G Σ_GG⁻¹ Σ_G· (Schur). */
function schur(cov: Float64Array, F: number, G: number[], xg: number[]) {
  const g = G.length;
  const inv = G.map((
    i,
    r,
  ) => [...G.map((j) => cov[i * F + j]), ...G.map((_, c) => (r === c ? 1 : 0))]);
  for (let c = 0; c < g; c++) {
    const p = inv[c][c];
    inv[c] = inv[c].map((v) => v / p);
    for (let r = 0; r < g; r++) {
      if (r !== c) inv[r] = inv[r].map((v, k) => v - inv[r][c] * inv[c][k]);
    }
  }
  const gain = Array.from(
    { length: F },
    (_, i) => G.map((_, b) => G.reduce((s, gj, a) => s + cov[i * F + gj] * inv[a][g + b], 0)),
  );
  const mean = gain.map((row) => row.reduce((s, k, b) => s + k * xg[b], 0));
  const covariance = cov.map((v, ij) => {
    const i = Math.floor(ij / F), j = ij % F;
    return v - gain[i].reduce((s, k, b) => s + k * cov[G[b] * F + j], 0);
  });
  return { mean, covariance };
}

async function conditionalError(
  schedule: Schedule,
  kind: PredictionKind,
  solver: "heun" | "ddim",
  steps: number,
  given: { positions: number[]; values: number[] },
  layout: { frames?: number; layout?: "plain" | "keep-first"; down?: "stride" | "average" } = {},
) {
  const F = layout.frames ?? 8, n = 50_000, cov = ar1(F);
  const plan = stagePlan({
    schedule,
    frames: F,
    stages: 3,
    steps: [steps, steps, steps],
    ...layout,
  });
  const predict = gaussianOracle({
    mean: new Float64Array(F),
    covariance: cov,
    plan,
    prediction: kind,
    given,
  });
  const x = await sampleStaged(plan, predict, {
    prediction: kind,
    solver,
    start: { batch: n, precision: "float64" },
    seed: 2025,
  });
  const exact = schur(cov, F, given.positions, given.values);
  const mean = Array.from({ length: F }, (_, f) => {
    let s = 0;
    for (let b = 0; b < n; b++) s += x.data[b * F + f];
    return s / n;
  });
  const covariance = new Float64Array(F * F).map((_, ij) => {
    const i = Math.floor(ij / F), j = ij % F;
    let s = 0;
    for (let b = 0; b < n; b++) s += (x.data[b * F + i] - mean[i]) * (x.data[b * F + j] - mean[j]);
    return s / n;
  });
  let givenDeviation = 0;
  given.positions.forEach((p, a) => {
    for (let b = 0; b < n; b++) {
      givenDeviation = Math.max(givenDeviation, Math.abs(x.data[b * F + p] - given.values[a]));
    }
  });
  return {
    mean: Math.max(...mean.map((v, i) => Math.abs(v - exact.mean[i]))),
    covariance: Math.max(...covariance.map((v, i) => Math.abs(v - exact.covariance[i]))),
    given: givenDeviation,
  };
}

const MODES = {
  "first frame": { positions: [0], values: [1] },
  "prefix 2": { positions: [0, 1], values: [0.8, 1.2] },
  "keyframes (first and last)": { positions: [0, 7], values: [1, -0.5] },
  "a middle frame": { positions: [3], values: [-1] },
};

Deno.test("given frames, K = 3, RF with Heun: the samples follow the exact conditional (Schur complement)", async () => {
  for (const [name, given] of Object.entries(MODES)) {
    const err = await conditionalError(rf, "velocity", "heun", 20, given);
    assert.ok(err.covariance < 0.02 && err.mean < 0.02, `${name}: ${JSON.stringify(err)}`);
    assert.ok(err.given < 1e-9, `${name}: the given frames move by ${err.given}`);
  }
});

Deno.test("given frames, K = 3, VP with DDIM (ε-prediction): the exact conditional too", async () => {
  for (const name of ["first frame", "keyframes (first and last)"] as const) {
    const err = await conditionalError(vp, "epsilon", "ddim", 300, MODES[name]);
    assert.ok(err.covariance < 0.02 && err.mean < 0.02, `${name}: ${JSON.stringify(err)}`);
    assert.ok(err.given < 1e-9, `${name}: the given frames move by ${err.given}`);
  }
});

Deno.test("given frames with the keep-first layout and the average Down: the exact conditional", async () => {
  const keepFirst = await conditionalError(rf, "velocity", "heun", 20, MODES["first frame"], {
    frames: 9,
    layout: "keep-first",
  });
  assert.ok(keepFirst.covariance < 0.02 && keepFirst.given < 1e-9, JSON.stringify(keepFirst));
  const average = await conditionalError(rf, "velocity", "heun", 20, MODES["prefix 2"], {
    down: "average",
  });
  assert.ok(average.covariance < 0.02 && average.given < 1e-9, JSON.stringify(average));
});

Deno.test("negative test: the unconditional oracle does not give the conditional", async () => {
  const F = 8, cov = ar1(F), n = 20_000;
  const plan = stagePlan({ schedule: rf, frames: F, stages: 3, steps: 20 });
  const x = await sampleStaged(
    plan,
    gaussianOracle({ mean: new Float64Array(F), covariance: cov, plan, prediction: "velocity" }),
    { prediction: "velocity", start: { batch: n, precision: "float64" }, seed: 2025 },
  );
  let m1 = 0;
  for (let b = 0; b < n; b++) m1 += x.data[b * F + 1] / n;
  const exact = schur(cov, F, [0], [1]);
  assert.ok(Math.abs(m1 - exact.mean[1]) > 0.5, `frame 1's mean ${m1} against ${exact.mean[1]}`);
  assert.throws(
    () =>
      gaussianOracle({
        mean: new Float64Array(F),
        covariance: cov,
        plan,
        prediction: "velocity",
        given: { positions: [0, 0], values: [1, 1] },
      }),
    /given.positions must be distinct frame positions, at least one; got \[0,0\]/,
  );
});

Deno.test("givenValues: each sample takes its video's frames (cycling), and bad shapes are named", () => {
  // Two videos of 4 frames of 2 values: video v, frame f holds 100 v + 10 f + e.
  const videos = Float32Array.from({ length: 16 }, (_, i) => {
    const v = Math.floor(i / 8), f = Math.floor((i % 8) / 2), e = i % 2;
    return 100 * v + 10 * f + e;
  });
  const out = givenValues(videos, { frames: 4, frameSize: 2, positions: [1, 3], count: 3 });
  assert.deepEqual([...out], [10, 11, 30, 31, 110, 111, 130, 131, 10, 11, 30, 31]);
  assert.throws(
    () => givenValues(videos.subarray(1), { frames: 4, frameSize: 2, positions: [0], count: 1 }),
    /whole videos of 4 frames × 2 values; got 15 values/,
  );
  assert.throws(
    () => givenValues(videos, { frames: 4, frameSize: 2, positions: [4], count: 1 }),
    /positions\[0\]/,
  );
});

Deno.test("stageCondition with slots: each stage frame holds its window's given frames; 1 slot is the grid", () => {
  const plan = stagePlan({ schedule: rectifiedFlow(), frames: 16, stages: 3 });
  const given = { positions: [0, 1, 2, 3], values: [1, 2, 3, 4] }; // prefix:4, one pixel per frame
  const [k3, k2, k1] = plan.stages;
  const coarse = stageCondition(given, { plan, stage: k3, slots: 4 });
  assert.deepEqual(coarse.mask, [1, 1, 1, 1, ...new Array(12).fill(0)]);
  assert.deepEqual([...coarse.frames.data].slice(0, 4), [1, 2, 3, 4]);
  const middle = stageCondition(given, { plan, stage: k2, slots: 4 });
  // k = 2 frames 0, 2, …: windows of two, so slots 2 and 3 stay empty.
  assert.deepEqual(middle.mask.slice(0, 8), [1, 1, 0, 0, 1, 1, 0, 0]);
  const full = stageCondition(given, { plan, stage: k1, slots: 4 });
  assert.deepEqual(full.mask.filter((_, i) => i % 4 === 0).slice(0, 5), [1, 1, 1, 1, 0]);
  assert.ok(full.mask.every((m, i) => i % 4 === 0 || m === 0));
  // One slot: the grid only (k = 3 sees frame 0 alone).
  assert.deepEqual(stageCondition(given, { plan, stage: k3 }).mask, [1, 0, 0, 0]);
  assert.throws(() => stageCondition(given, { plan, stage: k3, slots: 0 }), /slots/);
});
