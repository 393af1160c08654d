import assert from "node:assert/strict";
import { type Stage, stageByIndex, type StagePlan, stagePlan } from "../lib/pyramid.ts";
import { rectifiedFlow, type Schedule, shiftSchedule, vpSchedule } from "../lib/schedule.ts";
import {
  PREDICTION_KINDS,
  predictionCoefficients,
  recoverPair,
  sampleStageAndTime,
  sampleTimeInStage,
  solveStagePair,
  stageEndpoints,
  stageNoise,
  stagePairClosedForm,
  stagePoint,
  stageTarget,
  stageWeight,
  trainingExample,
} from "../lib/stagewise.ts";
import { downToStage, stageDetail, upFromCoarser } from "../lib/temporal.ts";
import { combine, createRng, gaussianVideo, maxAbsDiff, type Video, video } from "../lib/video.ts";
import { assertAllClose, assertClose, assertThrowsWith } from "./helpers.ts";

const SCHEDULES: Schedule[] = [
  rectifiedFlow(),
  vpSchedule({ beta: "linear" }),
  vpSchedule({ beta: "scaled-linear", discrete: true }),
];
const SHAPE = { batch: 3, frames: 8, height: 2, width: 3, channels: 2 };

function setup(schedule: Schedule, stages = 3, seed = 0, down: "stride" | "average" = "stride") {
  const plan = stagePlan({ schedule, frames: 8, stages, down });
  const rng = createRng(seed);
  const x0 = gaussianVideo(SHAPE, rng, "float64");
  const fullNoise = gaussianVideo(SHAPE, rng, "float64");
  return { plan, x0, fullNoise };
}

/** Stage noise, endpoints (Eqs. 7–8) and the solved stage pair (Eq. 11) of one stage. */
function stageCase(x0: Video, fullNoise: Video, plan: StagePlan, stage: Stage) {
  const noise = stageNoise(fullNoise, { plan, stage });
  const { start, end } = stageEndpoints(x0, noise, { plan, stage });
  const pair = solveStagePair({ start, end }, { stage, schedule: plan.schedule });
  return { noise, start, end, pair };
}

Deno.test("Eq. 11 as printed equals the 2×2 solve of the stage pair (§4.1)", () => {
  for (const schedule of SCHEDULES) {
    const { plan, x0, fullNoise } = setup(schedule);
    for (const stage of plan.stages) {
      const { start, end, pair } = stageCase(x0, fullNoise, plan, stage);
      const gs = schedule.gamma(stage.start), ss = schedule.sigma(stage.start);
      const ge = schedule.gamma(stage.end), se = schedule.sigma(stage.end);
      if (gs === 0) continue; // Eq. 11 divides by γ_s; the 2×2 form does not
      const eq11 = start.data.map((xs, i) => (end.data[i] / ge - xs / gs) / (se / ge - ss / gs));
      assertAllClose(pair.epsilon.data, eq11, 1e-12, `${schedule.name} stage ${stage.k}`);
    }
  }
});

Deno.test("Eq. 10 reproduces both endpoints, for RF and VP (§4.2)", () => {
  for (const schedule of SCHEDULES) {
    const { plan, x0, fullNoise } = setup(schedule, 3, 1);
    for (const stage of plan.stages) {
      const { start, end, pair } = stageCase(x0, fullNoise, plan, stage);
      assert.ok(maxAbsDiff(stagePoint(pair, { t: stage.start, schedule }), start) < 1e-12);
      assert.ok(maxAbsDiff(stagePoint(pair, { t: stage.end, schedule }), end) < 1e-12);
    }
  }
});

Deno.test("endpoints follow Eqs. 7–8: x̂_s = γ_s U_k x₀ + σ_s ε, x̂_e = γ_e D_k x₀ + σ_e ε; x̂_e₁ = x₀", () => {
  const schedule = rectifiedFlow();
  const { plan, x0, fullNoise } = setup(schedule, 3, 2);
  for (const stage of plan.stages) {
    const noise = stageNoise(fullNoise, { plan, stage });
    const { start, end } = stageEndpoints(x0, noise, { plan, stage });
    const u = upFromCoarser(x0, stage.k, { stages: 3 }), d = downToStage(x0, stage.k);
    assertAllClose(start.data, combine(1 - stage.start, u, stage.start, noise).data, 1e-15);
    assertAllClose(end.data, combine(1 - stage.end, d, stage.end, noise).data, 1e-15);
  }
  const last = stageByIndex(plan, 1);
  const { end } = stageEndpoints(x0, stageNoise(fullNoise, { plan, stage: last }), {
    plan,
    stage: last,
  });
  assert.deepEqual(end.data, x0.data);
});

Deno.test("closed forms ε_k = ε − Δ_k/(ν_s − ν_e), x̃₀,k = U_k + ν_s/(ν_s − ν_e)·Δ_k (§4.3)", () => {
  for (const schedule of SCHEDULES) {
    for (const down of ["stride", "average"] as const) {
      const { plan, x0, fullNoise } = setup(schedule, 3, 3, down);
      for (const stage of plan.stages) {
        const { noise, pair: solved } = stageCase(x0, fullNoise, plan, stage);
        const closed = stagePairClosedForm(x0, noise, { plan, stage });
        assertAllClose(
          closed.epsilon.data,
          solved.epsilon.data,
          1e-11,
          `${schedule.name} ε_${stage.k}`,
        );
        assertAllClose(closed.x0.data, solved.x0.data, 1e-11, `${schedule.name} x̃₀,${stage.k}`);
      }
    }
  }
});

Deno.test("inside a stage x_t − γ_t(U_k + w_t Δ_k)x₀ = σ_t ε: the vanilla noise level (§4.4)", () => {
  for (const schedule of SCHEDULES) {
    const { plan, x0, fullNoise } = setup(schedule, 3, 4);
    for (const stage of plan.stages) {
      const { noise, pair } = stageCase(x0, fullNoise, plan, stage);
      const u = upFromCoarser(x0, stage.k, { stages: 3 }),
        delta = stageDetail(x0, stage.k, { stages: 3 });
      let previous = -Infinity;
      for (let i = 0; i <= 10; i++) {
        const t = stage.start + (i / 10) * (stage.end - stage.start);
        const w = stageWeight({ stage, t, schedule });
        assert.ok(w >= previous - 1e-15 && w >= 0 && w <= 1 + 1e-15, `w = ${w} at t = ${t}`);
        previous = w;
        const xt = stagePoint(pair, { t, schedule });
        const residual = xt.data.map((v, j) =>
          v - schedule.gamma(t) * (u.data[j] + w * delta.data[j])
        );
        assertAllClose(
          residual,
          noise.data.map((v) => schedule.sigma(t) * v),
          1e-11,
          `${schedule.name} t=${t}`,
        );
      }
      assert.equal(stageWeight({ stage, t: stage.start, schedule }), 0);
      assertClose(stageWeight({ stage, t: stage.end, schedule }), 1, 1e-15);
    }
  }
});

Deno.test("RF: Eq. 12 ≡ Eq. 10 and Eq. 13's v_k = x̂_s − x̂_e = (s − e)(ε_k − x̃₀,k) (§4.5)", () => {
  const schedule = rectifiedFlow();
  const { plan, x0, fullNoise } = setup(schedule, 3, 5);
  for (const stage of plan.stages) {
    const { start, end, pair } = stageCase(x0, fullNoise, plan, stage);
    for (const local of [0, 0.2, 0.5, 0.9, 1]) {
      const t = stage.end + local * (stage.start - stage.end);
      const eq12 = combine(1 - local, end, local, start);
      assertAllClose(stagePoint(pair, { t, schedule }).data, eq12.data, 1e-14, `t' = ${local}`);
      const v = stageTarget(pair, { prediction: "stage-velocity", stage, t, schedule });
      assertAllClose(v.data, combine(1, start, -1, end).data, 1e-14);
      const global = stageTarget(pair, { prediction: "velocity", stage, t, schedule });
      assertAllClose(global.data, combine(1, pair.epsilon, -1, pair.x0).data, 1e-15);
      assertAllClose(v.data, global.data.map((g) => (stage.start - stage.end) * g), 1e-14);
    }
  }
});

Deno.test("K = 1 and static videos reduce to vanilla diffusion: ε_k = ε, x̃₀,k = x₀ (§4.6)", () => {
  for (const schedule of SCHEDULES) {
    const { plan, x0, fullNoise } = setup(schedule, 1, 6);
    const stage = plan.stages[0];
    const ex = trainingExample(x0, fullNoise, { plan, stage, t: 0.4, prediction: "epsilon" });
    assertAllClose(ex.target.data, fullNoise.data, 1e-12);
    const vel = trainingExample(x0, fullNoise, { plan, stage, t: 0.4, prediction: "x0" });
    assertAllClose(vel.target.data, x0.data, 1e-12);
    if (schedule.name === "rectified-flow") {
      const fm = trainingExample(x0, fullNoise, {
        plan,
        stage,
        t: 0.4,
        prediction: "stage-velocity",
      });
      assertAllClose(fm.target.data, combine(1, fullNoise, -1, x0).data, 1e-15);
      assertAllClose(fm.xt.data, combine(0.6, x0, 0.4, fullNoise).data, 1e-15);
    }
  }
  // a temporally constant video: Δ_k = 0 in every stage, so every stage is a vanilla path
  const schedule = vpSchedule({ beta: "linear" });
  const plan = stagePlan({ schedule, frames: 8, stages: 3 });
  const frame = gaussianVideo({ frames: 1, height: 4 }, createRng(7), "float64");
  const x0 = video({ frames: 8, height: 4 }, new Float64Array(32));
  for (let f = 0; f < 8; f++) x0.data.set(frame.data, f * 4);
  const fullNoise = gaussianVideo({ frames: 8, height: 4 }, createRng(8), "float64");
  for (const stage of plan.stages) {
    const { noise, pair } = stageCase(x0, fullNoise, plan, stage);
    assertAllClose(pair.epsilon.data, noise.data, 1e-12);
    assertAllClose(pair.x0.data, downToStage(x0, stage.k).data, 1e-12);
  }
});

Deno.test("one Euler step (RF) or one DDIM step (VP) maps x̂_s to x̂_e exactly (§4.7)", () => {
  for (const schedule of SCHEDULES) {
    const { plan, x0, fullNoise } = setup(schedule, 3, 9);
    for (const stage of plan.stages) {
      const { start, end, pair } = stageCase(x0, fullNoise, plan, stage);
      if (schedule.name === "rectified-flow") {
        const v = stageTarget(pair, { prediction: "velocity", stage, t: stage.start, schedule });
        const euler = combine(1, start, stage.end - stage.start, v);
        assertAllClose(euler.data, end.data, 1e-14, `Euler, stage ${stage.k}`);
      } else {
        const eps = stageTarget(pair, { prediction: "epsilon", stage, t: stage.start, schedule });
        const rec = recoverPair(start, eps.data, {
          prediction: "epsilon",
          stage,
          t: stage.start,
          schedule,
        });
        const ddim = combine(
          schedule.gamma(stage.end),
          rec.x0,
          schedule.sigma(stage.end),
          rec.epsilon,
        );
        assertAllClose(ddim.data, end.data, 1e-11, `DDIM, stage ${stage.k}`);
      }
    }
  }
});

Deno.test("recoverPair() inverts every target kind: (x̃₀, ε) from (x_t, prediction)", () => {
  for (const schedule of SCHEDULES) {
    const { plan, x0, fullNoise } = setup(schedule, 3, 10);
    for (const stage of plan.stages) {
      const { pair } = stageCase(x0, fullNoise, plan, stage);
      const t = 0.5 * (stage.start + stage.end);
      const xt = stagePoint(pair, { t, schedule });
      for (const kind of PREDICTION_KINDS) {
        const p = stageTarget(pair, { prediction: kind, stage, t, schedule });
        const back = recoverPair(xt, p.data, { prediction: kind, stage, t, schedule });
        assertAllClose(back.x0.data, pair.x0.data, 1e-9, `${schedule.name} ${kind} x0`);
        assertAllClose(back.epsilon.data, pair.epsilon.data, 1e-9, `${schedule.name} ${kind} ε`);
      }
    }
  }
});

Deno.test("every prediction kind converts to every other through (x̃₀, ε), exactly", () => {
  // A model of kind A read as kind B: recover (x̃₀, ε) from A's output, then form B's. The result
  // must equal B's own target of the same pair at every point, in every stage, for both schedules.
  for (const schedule of SCHEDULES) {
    const { plan, x0, fullNoise } = setup(schedule, 3, 12);
    for (const stage of plan.stages) {
      const { pair } = stageCase(x0, fullNoise, plan, stage);
      for (const w of [0.2, 0.5, 0.9]) {
        const t = stage.end + w * (stage.start - stage.end);
        const xt = stagePoint(pair, { t, schedule });
        const at = { stage, t, schedule };
        for (const from of PREDICTION_KINDS) {
          const output = stageTarget(pair, { prediction: from, ...at }).data;
          const recovered = recoverPair(xt, output, { prediction: from, ...at });
          for (const to of PREDICTION_KINDS) {
            assertAllClose(
              stageTarget(recovered, { prediction: to, ...at }).data,
              stageTarget(pair, { prediction: to, ...at }).data,
              1e-9,
              `${schedule.name}, k = ${stage.k}, t = ${t.toFixed(3)}: ${from} → ${to}`,
            );
          }
        }
      }
    }
  }
});

Deno.test("predictionCoefficients(): v = γε − σx₀ and velocity = γ̇x₀ + σ̇ε", () => {
  const vp = vpSchedule({ beta: "cosine" }), stage = { start: 0.8, end: 0.2 };
  const c = vp.at(0.5);
  assert.deepEqual(predictionCoefficients("v", { stage, t: 0.5, schedule: vp }), {
    a: -c.sigma,
    b: c.gamma,
  });
  assert.deepEqual(predictionCoefficients("velocity", { stage, t: 0.5, schedule: vp }), {
    a: c.dGamma,
    b: c.dSigma,
  });
  assert.deepEqual(predictionCoefficients("epsilon", { stage, t: 0.5, schedule: vp }), {
    a: 0,
    b: 1,
  });
  assert.deepEqual(predictionCoefficients("x0", { stage, t: 0.5, schedule: vp }), { a: 1, b: 0 });
});

Deno.test("trainingExample() follows Algorithm 2: x_t on the stage path, stage noise = D_k(ε)", () => {
  const schedule = rectifiedFlow();
  const { plan, x0, fullNoise } = setup(schedule, 3, 11);
  const stage = plan.stages[1];
  const ex = trainingExample(x0, fullNoise, { plan, stage, t: 0.5, prediction: "stage-velocity" });
  assert.deepEqual(ex.noise.data, downToStage(fullNoise, stage.k).data);
  const { start, end } = stageEndpoints(x0, ex.noise, { plan, stage });
  const local = (0.5 - stage.end) / (stage.start - stage.end);
  assertAllClose(ex.xt.data, combine(1 - local, end, local, start).data, 1e-14);
  assertAllClose(ex.target.data, combine(1, start, -1, end).data, 1e-14);
  assert.equal(ex.xt.frames, stage.frames);
});

Deno.test("sampleStageAndTime() draws stages uniformly (or by weight) and t in (e_k, s_k]", () => {
  const plan = stagePlan({ schedule: rectifiedFlow(), frames: 8, stages: 3 });
  const rng = createRng(12), counts = [0, 0, 0], n = 30_000;
  for (let i = 0; i < n; i++) {
    const { stage, t } = sampleStageAndTime(plan, rng);
    counts[stage.index]++;
    assert.ok(t > stage.end && t <= stage.start, `t = ${t} outside stage ${stage.k}`);
  }
  for (const c of counts) assert.ok(Math.abs(c - n / 3) < 4 * Math.sqrt((n * 2) / 9), `${counts}`);
  const weighted = [0, 0, 0];
  for (let i = 0; i < 3000; i++) {
    weighted[sampleStageAndTime(plan, rng, { weights: [0, 1, 3] }).stage.index]++;
  }
  assert.equal(weighted[0], 0);
  assert.ok(weighted[2] > 2 * weighted[1]);
});

Deno.test("stage-wise functions reject mismatched shapes, times outside the stage and bad kinds", () => {
  const schedule = rectifiedFlow();
  const { plan, x0, fullNoise } = setup(schedule, 3, 13);
  const stage = plan.stages[0];
  assertThrowsWith(
    () => stageEndpoints(x0, fullNoise, { plan, stage }),
    /noise has shape 3x8x2x3x2, but it must match stage-3 noise \(2 frames\) \(3x2x2x3x2\)/,
  );
  assertThrowsWith(
    () => stageNoise(stageNoise(fullNoise, { plan, stage }), { plan, stage }),
    /noise must be a full-rate video of 8 frames; got 2/,
  );
  assertThrowsWith(
    () => trainingExample(x0, fullNoise, { plan, stage, t: 0.1, prediction: "epsilon" }),
    /t must lie in the stage interval \[0\.666\d*, 1\]; got 0\.1/,
  );
  assertThrowsWith(
    () => predictionCoefficients("score" as never, { stage, t: 0.9, schedule }),
    /prediction must be one of .*; got "score"/,
  );
  const xt = video({ frames: 2 }, new Float64Array([1, 2]));
  assertThrowsWith(
    () =>
      recoverPair(xt, new Float64Array([0, 0]), { prediction: "epsilon", stage, t: 1, schedule }),
    /a epsilon prediction cannot recover x0 and ε at t = 1 \(γ = 0, σ = 1\)/,
  );
  assertThrowsWith(
    () => recoverPair(xt, new Float64Array(3), { prediction: "epsilon", stage, t: 0.9, schedule }),
    /the model output has 3 elements; x_t \(1x2x1x1x1\) has 2/,
  );
  const bad = video(SHAPE, "float64");
  bad.data[5] = Infinity;
  assertThrowsWith(
    () => stageNoise(bad, { plan, stage }),
    /noise\.data must contain only finite numbers; entry 5 is Infinity/,
  );
  assertThrowsWith(
    () => sampleStageAndTime(plan, createRng(1), { weights: [1, 1] }),
    /one entry per stage \(3\)/,
  );
  assertThrowsWith(
    () => sampleStageAndTime(plan, createRng(1), { weights: [0, 0, 0] }),
    /must not all be zero/,
  );
});

Deno.test("recoverPair() at t = 1 inverts every kind that carries (x̃₀, ε) there, for every schedule", () => {
  const schedules = [
    ...SCHEDULES,
    vpSchedule({ beta: "cosine" }),
    shiftSchedule(rectifiedFlow(), 3),
  ];
  for (const schedule of schedules) {
    const { plan, x0, fullNoise } = setup(schedule, 3, 10);
    const stage = plan.stages[0];
    assert.equal(stage.start, 1);
    const { pair } = stageCase(x0, fullNoise, plan, stage);
    const xt = stagePoint(pair, { t: 1, schedule });
    const g = schedule.gamma(1);
    for (const kind of PREDICTION_KINDS) {
      const p = stageTarget(pair, { prediction: kind, stage, t: 1, schedule });
      // ε carries no x₀ where γ = 0: the only kind that cannot be recovered at t = 1.
      if (kind === "epsilon" && g === 0) {
        assertThrowsWith(
          () => recoverPair(xt, p.data, { prediction: kind, stage, t: 1, schedule }),
          /cannot recover x0/,
        );
        continue;
      }
      const back = recoverPair(xt, p.data, { prediction: kind, stage, t: 1, schedule });
      // x₀ is read through 1/γ(1) for ε-prediction; that amplifies rounding where γ(1) is small.
      const tol = kind === "epsilon" ? 1e-12 / g : 1e-9;
      assertAllClose(back.x0.data, pair.x0.data, tol, `${schedule.name} ${kind} x0 at t = 1`);
      assertAllClose(back.epsilon.data, pair.epsilon.data, 1e-9, `${schedule.name} ${kind} ε`);
    }
  }
});

Deno.test("sampleTimeInStage(): logit-normal times follow the logit-normal law restricted to (e_k, s_k]", () => {
  const plan = stagePlan({ schedule: rectifiedFlow(), frames: 16, stages: 3 });
  // Φ by the Abramowitz–Stegun 7.1.26 erf (error < 1.5e-7), the exact restricted CDF.
  const erf = (x: number) => {
    const s = Math.sign(x), a = Math.abs(x), t = 1 / (1 + 0.3275911 * a);
    const y = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t +
      0.254829592) * t;
    return s * (1 - y * Math.exp(-a * a));
  };
  const phi = (t: number) => 0.5 * (1 + erf(Math.log(t / (1 - t)) / Math.SQRT2));
  const n = 20000;
  for (const stage of plan.stages) {
    const rng = createRng(`density:${stage.k}`);
    const times = Array.from({ length: n }, () => sampleTimeInStage(stage, rng, "logit-normal"))
      .sort((a, b) => a - b);
    assert.ok(
      times[0] > stage.end && times[n - 1] <= stage.start,
      `k = ${stage.k} inside its interval`,
    );
    const lo = phi(stage.end), hi = stage.start >= 1 ? 1 : phi(stage.start);
    // Kolmogorov–Smirnov distance against the exact CDF; 1.63/√n is the 1 % critical value.
    let ks = 0;
    times.forEach((t, i) => {
      const cdf = (phi(t) - lo) / (hi - lo);
      ks = Math.max(ks, Math.abs(cdf - i / n), Math.abs(cdf - (i + 1) / n));
    });
    assert.ok(ks < 1.63 / Math.sqrt(n), `k = ${stage.k}: KS distance ${ks}`);
    // Uniform draws would fail the same test in the widest stage.
  }
  const stage = plan.stages[1];
  const rng = createRng("uniform");
  const uniform = Array.from({ length: n }, () => sampleTimeInStage(stage, rng)).sort((a, b) =>
    a - b
  );
  const lo = phi(stage.end), hi = phi(stage.start);
  const ks = Math.max(...uniform.map((t, i) => Math.abs((phi(t) - lo) / (hi - lo) - i / n)));
  assert.ok(ks > 1.63 / Math.sqrt(n), `the test tells the densities apart (${ks})`);
  assertThrowsWith(
    () => sampleTimeInStage(stage, rng, "cosine" as "uniform"),
    /density must be one of "uniform", "logit-normal"; got "cosine"/,
  );
});
