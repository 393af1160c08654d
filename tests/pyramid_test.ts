import assert from "node:assert/strict";
import {
  correctedStart,
  costFraction,
  formatPlan,
  nominalBoundaries,
  speedupBound,
  splitSteps,
  stageByIndex,
  stagePlan,
  stageTimes,
} from "../lib/pyramid.ts";
import { rectifiedFlow, vpSchedule } from "../lib/schedule.ts";
import { assertClose, assertThrowsWith } from "./helpers.ts";

const rf = rectifiedFlow();

Deno.test("stagePlan() for RF, K = 3, uniform: corrected starts (8 − 2√2)/7 and √2 − 1 (§4.9)", () => {
  const plan = stagePlan({ schedule: rf, frames: 16, stages: 3, steps: 30 });
  assert.deepEqual(plan.stages.map((s) => s.k), [3, 2, 1]);
  assert.deepEqual(plan.stages.map((s) => s.frames), [4, 8, 16]);
  assert.deepEqual(plan.stages.map((s) => s.stride), [4, 2, 1]);
  assert.deepEqual(plan.stages.map((s) => s.steps), [10, 10, 10]);
  assert.deepEqual(plan.stages.map((s) => s.end), [2 / 3, 1 / 3, 0]);
  assert.deepEqual(plan.stages.map((s) => s.nominalStart), [1, 2 / 3, 1 / 3]);
  assert.equal(plan.stages[0].start, 1);
  assertClose(plan.stages[1].start, (8 - 2 * Math.SQRT2) / 7, 1e-15, "s₂");
  assertClose(plan.stages[2].start, Math.SQRT2 - 1, 1e-15, "s₁");
  assertClose(plan.stages[1].start, 0.73879612, 1e-8);
  assertClose(plan.stages[2].start, 0.41421356, 1e-8);
  assert.equal(stageByIndex(plan, 1), plan.stages[2]);
  assert.match(formatPlan(plan), /0\.414214/);
});

Deno.test("corrected starts satisfy SNR(s_k) = SNR(e_{k+1}) / 2 for RF and VP (§4.10)", () => {
  for (
    const schedule of [
      rf,
      vpSchedule({ beta: "linear" }),
      vpSchedule({ beta: "scaled-linear", discrete: true }),
    ]
  ) {
    const plan = stagePlan({ schedule, frames: 8, stages: 4 });
    for (const stage of plan.stages.slice(1)) {
      const snr = (t: number) => (schedule.gamma(t) / schedule.sigma(t)) ** 2;
      assertClose(
        snr(stage.start),
        snr(stage.nominalStart) / 2,
        1e-10 * snr(stage.nominalStart),
        schedule.name,
      );
      assert.ok(stage.start > stage.nominalStart, "the corrected start is noisier");
    }
  }
});

Deno.test("VP closed form: ᾱ_s = ᾱ_e / (2 − ᾱ_e); ᾱ_e = 0.6 gives 3/7 (§4.10)", () => {
  const vp = vpSchedule({ beta: "linear" });
  for (const alphaE of [0.2, 0.6, 0.95]) {
    const e = vp.tOfLambda(0.5 * Math.log(alphaE / (1 - alphaE)));
    assertClose(vp.gamma(e) ** 2, alphaE, 1e-12);
    const s = correctedStart(vp, e);
    assertClose(vp.gamma(s) ** 2, alphaE / (2 - alphaE), 1e-12, `ᾱ_s for ᾱ_e = ${alphaE}`);
  }
  const e = vp.tOfLambda(0.5 * Math.log(0.6 / 0.4));
  assertClose(vp.gamma(correctedStart(vp, e)) ** 2, 3 / 7, 1e-12);
});

Deno.test("costFraction(): 7/12 frame-linear and 21/48 attention for uniform K = 3 (§4.22)", () => {
  const plan = stagePlan({ schedule: rf, frames: 16, stages: 3, steps: 30 });
  assertClose(costFraction(plan), 7 / 12, 1e-15);
  assertClose(costFraction(plan, 2), 21 / 48, 1e-15);
  assertClose(speedupBound(plan), 12 / 7, 1e-14);
  assertClose(speedupBound(plan, 2), 48 / 21, 1e-14);
});

Deno.test("costFraction() for allocations 1-1-2 (0.6875) and 2-1-1 (0.5); K = 1 is 1 (§4.24–25)", () => {
  const frac = (steps: number[]) =>
    costFraction(stagePlan({ schedule: rf, frames: 16, stages: 3, steps }));
  assertClose(frac([1, 1, 2]), 0.6875, 1e-15);
  assertClose(frac([2, 1, 1]), 0.5, 1e-15);
  assert.equal(costFraction(stagePlan({ schedule: rf, frames: 16, stages: 1, steps: 30 })), 1);
  const byK = [1, 2, 3, 4, 5].map((K) =>
    costFraction(stagePlan({ schedule: rf, frames: 32, stages: K, steps: 60 }))
  );
  byK.slice(1).forEach((f, i) =>
    assert.ok(f < byK[i], `fraction not decreasing at K = ${i + 2}: ${byK}`)
  );
});

Deno.test("splitSteps() splits by weight, giving remainders to the later, full-rate stages", () => {
  assert.deepEqual(splitSteps(30, [1, 1, 1]), [10, 10, 10]);
  assert.deepEqual(splitSteps(10, [1, 1, 1]), [3, 3, 4]);
  assert.deepEqual(splitSteps(10, [1, 1, 2]), [2, 3, 5]);
  assert.deepEqual(splitSteps(10, [2, 1, 1]), [5, 2, 3]);
  assert.deepEqual(splitSteps(3, [100, 1, 1]), [1, 1, 1]);
  for (const total of [3, 7, 30, 31]) {
    for (const w of [[1, 1, 1], [2, 1, 1], [1, 1, 2], [1, 5, 2]]) {
      const s = splitSteps(total, w);
      assert.equal(s.reduce((a, b) => a + b, 0), total);
      assert.ok(s.every((n) => n >= 1));
    }
  }
});

Deno.test("custom boundaries and per-stage steps are honoured; stageTimes() ends exactly at e_k", () => {
  const plan = stagePlan({
    schedule: rf,
    frames: 8,
    stages: 3,
    boundaries: [0.2, 0.5],
    steps: [4, 3, 5],
  });
  assert.deepEqual(plan.stages.map((s) => s.end), [0.5, 0.2, 0]);
  assert.deepEqual(plan.stages.map((s) => s.steps), [4, 3, 5]);
  for (const stage of plan.stages) {
    const times = stageTimes(stage);
    assert.equal(times.length, stage.steps + 1);
    assert.equal(times[0], stage.start);
    assert.equal(times.at(-1), stage.end);
    times.slice(1).forEach((t, i) => assert.ok(t < times[i]));
  }
  const nominal = stagePlan({ schedule: rf, frames: 8, stages: 3, correctStarts: false });
  assert.deepEqual(nominal.stages.map((s) => s.start), [1, 2 / 3, 1 / 3]);
  assert.deepEqual(nominalBoundaries(4), [0, 0.25, 0.5, 0.75, 1]);
  const keepFirst = stagePlan({ schedule: rf, frames: 9, stages: 3, layout: "keep-first" });
  assert.deepEqual(keepFirst.stages.map((s) => s.frames), [3, 5, 9]);
});

Deno.test("stagePlan() rejects K < 1, bad frames, boundaries out of order and bad steps", () => {
  assertThrowsWith(
    () => stagePlan({ schedule: rf, frames: 8, stages: 0 }),
    /stages K must be an integer in \[1, 16\]; got 0/,
  );
  assertThrowsWith(
    () => stagePlan({ schedule: rf, frames: 18, stages: 3 }),
    /frames must be divisible by 2\^2 = 4 for 3 stages; got 18/,
  );
  assertThrowsWith(
    () => stagePlan({ schedule: rf, frames: 8, stages: 3, boundaries: [0.6, 0.3] }),
    /boundaries must increase strictly inside \(0, 1\); got \[0\.6, 0\.3\]/,
  );
  assertThrowsWith(
    () => stagePlan({ schedule: rf, frames: 8, stages: 3, boundaries: [0.5] }),
    /K − 1 = 2 interior boundaries; got \[0\.5\]/,
  );
  assertThrowsWith(
    () => stagePlan({ schedule: rf, frames: 8, stages: 3, boundaries: [0.5, 1.5] }),
    /boundaries\[1\] must be a finite number in \[0, 1\]; got 1\.5/,
  );
  assertThrowsWith(
    () => stagePlan({ schedule: rf, frames: 8, stages: 3, steps: 2 }),
    /at least one per stage \(>= 3\); got 2/,
  );
  assertThrowsWith(
    () => stagePlan({ schedule: rf, frames: 8, stages: 3, steps: [1, 2] }),
    /one count per stage \(3 numbers\)/,
  );
  assertThrowsWith(
    () => stagePlan({ schedule: rf, frames: 8, stages: 3, steps: [1, 0, 2] }),
    /steps\[1\] must be an integer >= 1; got 0/,
  );
  assertThrowsWith(
    () => stagePlan({ schedule: {} as never, frames: 8, stages: 3 }),
    /schedule must be a Schedule/,
  );
  assertThrowsWith(
    () => stagePlan({ schedule: rf, frames: 8, stages: 3, layout: "causal" as never }),
    /layout must be "plain" or "keep-first"; got "causal"/,
  );
  assertThrowsWith(
    () => costFraction(stagePlan({ schedule: rf, frames: 8, stages: 3 }), NaN),
    /cost exponent p must be a finite number/,
  );
  assertThrowsWith(() => splitSteps(2, [1, 1, 1]), /total steps must be an integer >= 3; got 2/);
});
