import assert from "node:assert/strict";
import { cholesky, cleanOracle, gaussianOracle } from "../lib/oracle.ts";
import { stagePlan } from "../lib/pyramid.ts";
import { rectifiedFlow, vpSchedule } from "../lib/schedule.ts";
import {
  solveStagePair,
  stageEndpoints,
  stageNoise,
  stagePoint,
  stageTarget,
  trainingExample,
} from "../lib/stagewise.ts";
import { createRng, gaussianVideo, video } from "../lib/video.ts";
import { ar1Covariance, assertAllClose, assertClose, assertThrowsWith } from "./helpers.ts";

const rf = rectifiedFlow();

Deno.test("gaussianOracle() with K = 1 equals the scalar closed form E[ε − x₀ | x_t]", async () => {
  const v = 2.5, mu = 0.3;
  const plan = stagePlan({ schedule: rf, frames: 1, stages: 1 });
  const predict = gaussianOracle({ mean: [mu], covariance: [v], plan, prediction: "velocity" });
  for (const t of [0.1, 0.5, 0.9, 1]) {
    const x = video({ batch: 3, frames: 1 }, new Float64Array([-1, 0.2, 1.7]));
    const out = await predict(x, t, plan.stages[0]);
    // x_t = (1 − t)x₀ + tε: Cov(ε − x₀, x_t) = t − (1 − t)v, Var(x_t) = (1 − t)²v + t²
    const gain = (t - (1 - t) * v) / ((1 - t) ** 2 * v + t * t);
    const expected = Array.from(x.data, (xi) => -mu + gain * (xi - (1 - t) * mu));
    assertAllClose(out, expected, 1e-12, `t = ${t}`);
  }
});

Deno.test("gaussianOracle() is the regression of the stage target on x_t: residuals are orthogonal to x_t", async () => {
  // Draw (x₀, ε) through lib's own training-example path and check E[(target − prediction) x_tᵀ] = 0
  // and E[target − prediction] = 0, per stage and kind: the defining property of E[target | x_t].
  const frames = 4, n = 40_000;
  const sigma = ar1Covariance(frames, 0.8);
  const l = cholesky(sigma, frames);
  const mean = Float64Array.from([0.5, -0.2, 0.1, 0.3]);
  const rng = createRng(17);
  const x0 = video({ batch: n, frames }, "float64");
  for (let b = 0; b < n; b++) {
    const z = rng.fillNormal(new Float64Array(frames));
    for (let i = 0; i < frames; i++) {
      let s = mean[i];
      for (let j = 0; j <= i; j++) s += l[i * frames + j] * z[j];
      x0.data[b * frames + i] = s;
    }
  }
  const noise = gaussianVideo({ batch: n, frames }, rng, "float64");
  for (const schedule of [rf, vpSchedule({ beta: "cosine" })]) {
    const plan = stagePlan({ schedule, frames, stages: 3 });
    for (const kind of ["velocity", "epsilon", "x0"] as const) {
      const predict = gaussianOracle({ mean, covariance: sigma, plan, prediction: kind });
      for (const stage of plan.stages) {
        const t = 0.3 * stage.start + 0.7 * stage.end;
        const ex = trainingExample(x0, noise, { plan, stage, t, prediction: kind });
        const p = await predict(ex.xt, t, stage);
        const m = stage.frames;
        // each mean is compared against 5 of its own empirical standard errors
        const check = (values: (b: number) => number, what: string) => {
          let s1 = 0, s2 = 0;
          for (let b = 0; b < n; b++) {
            const v = values(b);
            s1 += v;
            s2 += v * v;
          }
          const mean = s1 / n, se = Math.sqrt(Math.max(s2 / n - mean * mean, 0) / n);
          assertClose(mean, 0, 5 * se, `${schedule.name} ${kind} stage ${stage.k} ${what}`);
        };
        for (let i = 0; i < m; i++) {
          const r = (b: number) => ex.target.data[b * m + i] - p[b * m + i];
          check(r, `bias[${i}]`);
          for (let j = 0; j < m; j++) {
            check((b) => r(b) * ex.xt.data[b * m + j], `cross[${i},${j}]`);
          }
        }
      }
    }
  }
});

Deno.test("cleanOracle() returns the sample's own target at any point of its stage path", async () => {
  const plan = stagePlan({ schedule: vpSchedule({ beta: "linear" }), frames: 8, stages: 3 });
  const rng = createRng(3);
  const x0 = gaussianVideo({ batch: 2, frames: 8, height: 2 }, rng, "float64");
  const full = gaussianVideo({ batch: 2, frames: 8, height: 2 }, rng, "float64");
  for (const stage of plan.stages) {
    const noise = stageNoise(full, { plan, stage });
    const { start, end } = stageEndpoints(x0, noise, { plan, stage });
    const pair = solveStagePair({ start, end }, { stage, schedule: plan.schedule });
    for (const kind of ["epsilon", "v", "stage-velocity"] as const) {
      const oracle = cleanOracle(x0, { plan, prediction: kind });
      const t = 0.5 * (stage.start + stage.end);
      const got = await oracle(stagePoint(pair, { t, schedule: plan.schedule }), t, stage);
      assertAllClose(
        got,
        stageTarget(pair, { prediction: kind, stage, t, schedule: plan.schedule }).data,
        1e-10,
        `${kind} stage ${stage.k}`,
      );
    }
  }
});

Deno.test("gaussianOracle() rejects malformed priors with the offending value", () => {
  const plan = stagePlan({ schedule: rf, frames: 2, stages: 2 });
  assertThrowsWith(
    () => gaussianOracle({ mean: [0, 0], covariance: [1, 0, 0], plan, prediction: "velocity" }),
    /covariance must be N×N = 4 entries for a mean of length 2; got 3/,
  );
  assertThrowsWith(
    () =>
      gaussianOracle({ mean: [0, 0], covariance: [1, 0.5, 0.4, 1], plan, prediction: "velocity" }),
    /covariance must be symmetric; entries \(1, 0\) and \(0, 1\) differ/,
  );
  assertThrowsWith(
    () => gaussianOracle({ mean: [0, 0], covariance: [1, 2, 2, 1], plan, prediction: "velocity" }),
    /not positive definite \(pivot 1 is -3\)/,
  );
  assertThrowsWith(
    () =>
      gaussianOracle({
        mean: [0, 0, 0],
        covariance: [1, 0, 0, 0, 1, 0, 0, 0, 1],
        plan,
        prediction: "velocity",
      }),
    /mean length 3 must be a multiple of the plan's 2 frames/,
  );
  assertThrowsWith(
    () =>
      gaussianOracle({ mean: [0, NaN], covariance: [1, 0, 0, 1], plan, prediction: "velocity" }),
    /mean must contain only finite numbers; entry 1 is NaN/,
  );
  const predict = gaussianOracle({
    mean: [0, 0],
    covariance: [1, 0, 0, 1],
    plan,
    prediction: "velocity",
  });
  assertThrowsWith(
    () => predict(video({ frames: 2 }), 0.9, plan.stages[0]),
    /x has 2 elements per video \(1x2x1x1x1\); stage k = 2 of this oracle has 1/,
  );
  assert.throws(() => cholesky([1, 0, 0, -1], 2), /pivot 1 is -1/);
  assertThrowsWith(() => cholesky([1, 0, 0], 2), /matrix must have n×n = 4 entries; got 3/);
});
