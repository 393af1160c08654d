import assert from "node:assert/strict";
import { cleanOracle, gaussianOracle } from "../lib/oracle.ts";
import { stagePlan, stageTimes } from "../lib/pyramid.ts";
import { transitionCoefficients } from "../lib/renoise.ts";
import { sampleStaged, type StepEvent, type TransitionEvent } from "../lib/samplers.ts";
import { rectifiedFlow, type Schedule, vpSchedule } from "../lib/schedule.ts";
import type { PredictionKind } from "../lib/stagewise.ts";
import { createRng, gaussianVideo, maxAbsDiff, type Video } from "../lib/video.ts";
import { ar1Covariance, sampleCovariance } from "./helpers.ts";

const rf = rectifiedFlow();
const vpDiscrete = vpSchedule({ beta: "scaled-linear", discrete: true });
const vpLinear = vpSchedule({ beta: "linear" });
const SHAPE = { batch: 4, height: 2, width: 2, channels: 1 };

Deno.test("with exact per-sample targets the K = 3 sampler returns x₀ for any noise draw (§4.8)", async () => {
  const cases: [Schedule, PredictionKind, "euler" | "heun" | "ddim"][] = [
    [rf, "velocity", "euler"],
    [rf, "stage-velocity", "euler"],
    [rf, "velocity", "heun"],
    [rf, "x0", "ddim"],
    [vpDiscrete, "epsilon", "ddim"],
    [vpDiscrete, "v", "ddim"],
    [vpLinear, "epsilon", "ddim"],
    [vpLinear, "velocity", "ddim"],
  ];
  for (const [schedule, kind, solver] of cases) {
    for (const seed of [1, 2, 3]) {
      const plan = stagePlan({ schedule, frames: 8, stages: 3, steps: [6, 6, 6] });
      const x0 = gaussianVideo({ ...SHAPE, frames: 8 }, createRng(100 + seed), "float64");
      const out = await sampleStaged(plan, cleanOracle(x0, { plan, prediction: kind }), {
        prediction: kind,
        solver,
        start: { ...SHAPE, precision: "float64" },
        seed,
      });
      const err = maxAbsDiff(out, x0);
      assert.ok(err < 1e-12, `${schedule.name} ${kind} ${solver} seed ${seed}: max error ${err}`);
    }
  }
});

Deno.test("reconstruction holds for the keep-first layout and the pair-average Down", async () => {
  for (
    const [frames, options] of [
      [9, { layout: "keep-first" }],
      [17, { layout: "keep-first", down: "average" }],
      [8, { down: "average" }],
    ] as const
  ) {
    const plan = stagePlan({ schedule: rf, frames, stages: 3, steps: 9, ...options });
    const x0 = gaussianVideo({ ...SHAPE, frames }, createRng(frames), "float64");
    const out = await sampleStaged(plan, cleanOracle(x0, { plan, prediction: "velocity" }), {
      prediction: "velocity",
      start: { ...SHAPE, precision: "float64" },
      seed: 4,
    });
    assert.equal(out.frames, frames);
    const err = maxAbsDiff(out, x0);
    assert.ok(err < 1e-12, `${JSON.stringify(options)}: max error ${err}`);
  }
});

Deno.test("in float32 (the default precision) the reconstruction is exact to float32 rounding", async () => {
  const plan = stagePlan({ schedule: rf, frames: 16, stages: 3, steps: 12 });
  const x0 = gaussianVideo({ batch: 2, frames: 16, height: 4, width: 4 }, createRng(5));
  assert.ok(x0.data instanceof Float32Array);
  const out = await sampleStaged(plan, cleanOracle(x0, { plan, prediction: "velocity" }), {
    prediction: "velocity",
    start: { batch: 2, height: 4, width: 4 },
    seed: 6,
  });
  assert.ok(out.data instanceof Float32Array);
  const err = maxAbsDiff(out, x0);
  assert.ok(err < 1e-5, `float32 reconstruction error ${err}`);
});

Deno.test("path consistency: any number of steps reaches the same stage end points (§4.7)", async () => {
  const x0 = gaussianVideo({ ...SHAPE, frames: 8 }, createRng(7), "float64");
  for (
    const [schedule, kind, solver] of [[rf, "velocity", "euler"], [
      vpDiscrete,
      "epsilon",
      "ddim",
    ]] as const
  ) {
    const ends: Video[][] = [];
    for (const steps of [[1, 1, 1], [7, 3, 5]]) {
      const plan = stagePlan({ schedule, frames: 8, stages: 3, steps });
      const record: Video[] = [];
      await sampleStaged(plan, cleanOracle(x0, { plan, prediction: kind }), {
        prediction: kind,
        solver,
        start: { ...SHAPE, precision: "float64" },
        seed: 11,
        onTransition: (e) => void record.push(e.before),
      });
      ends.push(record);
    }
    assert.equal(ends[0].length, 2);
    ends[0].forEach((v, i) =>
      assert.ok(maxAbsDiff(v, ends[1][i]) < 1e-12, `${schedule.name} stage end ${i}`)
    );
  }
});

Deno.test("onStep sees every step with its stage, time and frame count; onTransition every jump", async () => {
  const plan = stagePlan({ schedule: rf, frames: 8, stages: 3, steps: [2, 3, 4] });
  const steps: StepEvent[] = [], jumps: TransitionEvent[] = [];
  let calls = 0;
  const x0 = gaussianVideo({ batch: 2, frames: 8 }, createRng(3), "float64");
  const oracle = cleanOracle(x0, { plan, prediction: "velocity" });
  await sampleStaged(plan, (x, t, stage) => (calls++, oracle(x, t, stage)), {
    prediction: "velocity",
    solver: "heun",
    start: { batch: 2, precision: "float64" },
    onStep: (e) => void steps.push(e),
    onTransition: (e) => void jumps.push(e),
  });
  assert.equal(steps.length, 9);
  // Heun evaluates twice per step except for the last step into σ = 0
  assert.equal(calls, 2 * 9 - 1);
  for (const stage of plan.stages) {
    const mine = steps.filter((s) => s.stage === stage);
    assert.deepEqual(mine.map((s) => s.t), stageTimes(stage).slice(0, -1));
    assert.deepEqual(mine.map((s) => s.tNext), stageTimes(stage).slice(1));
    assert.ok(
      mine.every((s) => s.x.frames === stage.frames && s.prediction.length === 2 * stage.frames),
    );
  }
  assert.deepEqual(jumps.map((j) => [j.from.k, j.to.k]), [[3, 2], [2, 1]]);
  for (const j of jumps) {
    const expected = transitionCoefficients(rf, { from: j.from.end, to: j.to.start });
    assert.equal(j.coefficients.c, expected.c);
    assert.equal(j.after.frames, 2 * j.before.frames);
  }
});

Deno.test("vanilla sampling is the K = 1 plan: no transition, full frame rate throughout", async () => {
  const plan = stagePlan({ schedule: rf, frames: 8, stages: 1, steps: 5 });
  const x0 = gaussianVideo({ batch: 2, frames: 8 }, createRng(4), "float64");
  let jumps = 0;
  const frames = new Set<number>();
  const out = await sampleStaged(plan, cleanOracle(x0, { plan, prediction: "velocity" }), {
    prediction: "velocity",
    solver: "euler",
    start: { batch: 2, precision: "float64" },
    onStep: (e) => void frames.add(e.x.frames),
    onTransition: () => void jumps++,
  });
  assert.equal(jumps, 0);
  assert.deepEqual([...frames], [8]);
  assert.ok(maxAbsDiff(out, x0) < 1e-12);
});

async function covarianceError(
  schedule: Schedule,
  kind: PredictionKind,
  solver: "heun" | "ddim",
  steps: number,
  transition: "corrected" | "printed-eq15" = "corrected",
  layout: { frames?: number; layout?: "plain" | "keep-first"; down?: "stride" | "average" } = {},
) {
  const frames = layout.frames ?? 8, samples = 50_000;
  const sigma = ar1Covariance(frames, 0.9);
  const plan = stagePlan({
    schedule,
    frames,
    stages: 3,
    steps: [steps, steps, steps],
    layout: layout.layout,
    down: layout.down,
  });
  const predict = gaussianOracle({
    mean: new Float64Array(frames),
    covariance: sigma,
    plan,
    prediction: kind,
  });
  const x = await sampleStaged(plan, predict, {
    prediction: kind,
    solver,
    start: { batch: samples, precision: "float64" },
    seed: 2025,
    transition,
  });
  const cov = sampleCovariance(x.data, frames);
  return Math.max(...cov.map((v, i) => Math.abs(v - sigma[i])));
}

Deno.test("Gaussian prior Σ_ij = 0.9^|i−j|, K = 3, RF with Heun: sample covariance within 0.02 of Σ", async () => {
  const err = await covarianceError(rf, "velocity", "heun", 20);
  assert.ok(err < 0.02, `max |Ĉ − Σ| = ${err}`);
});

Deno.test("Gaussian prior, K = 3, VP with DDIM (ε-prediction): sample covariance within 0.02 of Σ", async () => {
  const err = await covarianceError(vpLinear, "epsilon", "ddim", 300);
  assert.ok(err < 0.02, `max |Ĉ − Σ| = ${err}`);
});

Deno.test("the keep-first layout (singleton frame 0) and the pair-average Down also reproduce Σ", async () => {
  const keepFirst = await covarianceError(rf, "velocity", "heun", 20, "corrected", {
    frames: 9,
    layout: "keep-first",
  });
  assert.ok(keepFirst < 0.02, `keep-first: max |Ĉ − Σ| = ${keepFirst}`);
  const average = await covarianceError(rf, "velocity", "heun", 20, "corrected", {
    down: "average",
  });
  assert.ok(average < 0.02, `average Down: max |Ĉ − Σ| = ${average}`);
});

Deno.test("negative test: the paper's printed Eq. 15 coefficient does not reproduce Σ", async () => {
  // Documented failure (tpdiff-math.md §1.9 problem 1): the same run as the RF test above with
  // c = √2γ_s/(σ_s + √2γ_s) = γ_e instead of γ_s/γ_e shrinks the signal at every jump.
  const err = await covarianceError(rf, "velocity", "heun", 20, "printed-eq15");
  assert.ok(err > 0.2, `the printed coefficient unexpectedly matched Σ (max error ${err})`);
});

Deno.test("sampleStaged() rejects bad callbacks, kinds, shapes and unrecoverable predictions", async () => {
  const plan = stagePlan({ schedule: rf, frames: 8, stages: 3, steps: 6 });
  await assert.rejects(
    sampleStaged(plan, () => new Float32Array(3), { prediction: "velocity" }),
    /predict must return a Float32Array or Float64Array of 2 elements for x of shape 1x2x1x1x1; got "Float32Array" of length 3/,
  );
  await assert.rejects(
    sampleStaged(plan, (x) => x.data, { prediction: "score" as never }),
    /prediction must be one of "velocity", "stage-velocity", "epsilon", "x0", "v"; got "score"/,
  );
  await assert.rejects(
    sampleStaged(plan, (x) => x.data, { prediction: "velocity", solver: "rk4" as never }),
    /solver must be one of "euler", "heun", "ddim"; got "rk4"/,
  );
  await assert.rejects(
    sampleStaged(plan, (x) => x.data, {
      prediction: "velocity",
      start: { x: gaussianVideo({ frames: 8 }, createRng(1)) },
    }),
    /start\.x must have the first stage's 2 frames; got 1x8x1x1x1/,
  );
  // ε at t = 1 of rectified flow carries no information about x₀
  await assert.rejects(
    sampleStaged(plan, (x) => x.data, { prediction: "epsilon", solver: "ddim" }),
    /a epsilon prediction cannot recover x0 and ε at t = 1/,
  );
  await assert.rejects(
    sampleStaged(plan, (x, t) => x.data.map((v) => (t < 0.5 ? NaN : v)), {
      prediction: "velocity",
      solver: "euler",
    }),
    /predict returned a non-finite value \(NaN\) at stage k = 1, t = 0\.414\d*, entry 0; the model output must be finite/,
  );
  const uncorrected = stagePlan({
    schedule: rf,
    frames: 8,
    stages: 3,
    steps: 6,
    correctStarts: false,
  });
  await assert.rejects(
    sampleStaged(uncorrected, (x) => x.data, { prediction: "velocity" }),
    /a transition must go to a noisier time: to = 0\.666\d* must exceed from = 0\.666/,
  );
});
