import assert from "node:assert/strict";
import {
  correctedStart,
  createRng,
  densityCost,
  earliestEnd,
  gaussianVideo,
  lostDetail,
  planBoundaries,
  planFromData,
  rectifiedFlow,
  stagePlan,
  video,
  vpSchedule,
} from "../lib/mod.ts";
import { assertThrowsWith } from "./helpers.ts";

const rf = rectifiedFlow();

Deno.test("lostDetail equals the brute-force hold of every 2^ℓ-th frame, per frame and in all", () => {
  const x = gaussianVideo({ batch: 3, frames: 16, height: 2, width: 3 }, createRng(4), "float64");
  const n = 6;
  for (const loss of lostDetail(x)) {
    const stride = 2 ** loss.level;
    const perFrame = new Array(16).fill(0);
    for (let b = 0; b < 3; b++) {
      for (let f = 0; f < 16; f++) {
        const held = f - (f % stride); // nearest Up of the stride-kept frames holds the last kept
        for (let i = 0; i < n; i++) {
          const d = x.data[(b * 16 + f) * n + i] - x.data[(b * 16 + held) * n + i];
          perFrame[f] += (d * d) / (n * 3);
        }
      }
    }
    perFrame.forEach((p, f) => assert.ok(Math.abs(p - loss.perFrame[f]) < 1e-12, `frame ${f}`));
    assert.ok(Math.abs(loss.energy - perFrame.reduce((a, b) => a + b) / 16) < 1e-12);
    assert.equal(loss.stride, stride);
  }
  assert.equal(lostDetail(x).length, 4); // 16 frames halve four times
});

Deno.test("lostDetail of white noise is 2(1 − 2^−ℓ) per element; of a still video 0", () => {
  const x = gaussianVideo({ batch: 256, frames: 8, height: 8, width: 8 }, createRng(9));
  const lost = lostDetail(x);
  lost.forEach((l) => {
    const expected = 2 * (1 - 2 ** -l.level);
    assert.ok(Math.abs(l.energy - expected) < 0.02, `level ${l.level}: ${l.energy} vs ${expected}`);
  });
  const still = video({ batch: 2, frames: 8, width: 5 }, new Float64Array(80).fill(-0.3));
  assert.deepEqual(lostDetail(still).map((l) => l.energy), [0, 0, 0]);
});

Deno.test("earliestEnd solves γ(t)²E = f σ(t)² exactly, for rectified flow and a VP schedule", () => {
  const vp = vpSchedule({ beta: "scaled-linear" });
  for (const schedule of [rf, vp]) {
    for (const [energy, f] of [[0.07, 0.1], [0.5, 0.03], [2, 1]]) {
      const t = earliestEnd(schedule, energy, f);
      const snr = (schedule.gamma(t) / schedule.sigma(t)) ** 2;
      assert.ok(Math.abs(snr * energy - f) < 1e-9 * f, `${schedule.name} E=${energy} f=${f}`);
    }
  }
  // Rectified flow in closed form: t = 1 / (1 + √(f/E)).
  assert.ok(Math.abs(earliestEnd(rf, 0.07, 0.1) - 1 / (1 + Math.sqrt(0.1 / 0.07))) < 1e-12);
  assert.equal(earliestEnd(rf, 0, 0.1), 0);
});

Deno.test("densityCost of the uniform three-stage plan is the closed form with corrected starts", () => {
  const plan = stagePlan({ schedule: rf, frames: 16, stages: 3 });
  const s = (e: number) => (Math.SQRT2 * e) / (1 - e + Math.SQRT2 * e);
  const expected = (1 - 2 / 3) / 4 + (s(2 / 3) - 1 / 3) / 2 + s(1 / 3);
  assert.ok(Math.abs(densityCost(plan) - expected) < 1e-12);
  assert.equal(densityCost(stagePlan({ schedule: rf, frames: 16, stages: 1 })), 1);
});

Deno.test("planFromData: a still video gets the coarsest plan the gaps allow", () => {
  const lost = [1, 2, 3].map((level) => ({ level, energy: 0 }));
  const planned = planFromData({ schedule: rf, frames: 16, lost, minGap: 0.05 });
  assert.equal(planned.plan.stageCount, 4);
  assert.deepEqual(planned.boundaries.map((b) => +b.toFixed(12)), [0.05, 0.1, 0.15]);
  assert.deepEqual(planBoundaries(planned.plan), planned.boundaries);
  planned.trades.forEach((t) => assert.equal(t.lostOverNoise, 0));
});

Deno.test("planFromData: white noise across the data range gets K = 1 (vanilla)", () => {
  const x = gaussianVideo({ batch: 128, frames: 16, height: 4, width: 4 }, createRng(2));
  const planned = planFromData({ schedule: rf, frames: 16, lost: lostDetail(x) });
  assert.equal(planned.plan.stageCount, 1);
  assert.deepEqual(planned.boundaries, []);
  // Every pyramid was considered, and none saves the 10 % a stage must.
  assert.ok(planned.candidates.slice(1).every((c) => !(c.cost <= 0.9)));
  assert.ok(planned.candidates.slice(1).some((c) => c.cost < 1));
});

Deno.test("planFromData: each stage ends where its lost detail is f of the noise, no earlier", () => {
  // A bar moving one element per frame: what a level loses grows with its stride.
  const F = 16, W = 32, batch = 4;
  const moving = (speed: number) => {
    const x = video({ batch, frames: F, width: W }, "float64").data.fill(-1);
    for (let b = 0; b < batch; b++) {
      for (let f = 0; f < F; f++) {
        const at = Math.floor(b * 3 + f * speed) % W;
        x[(b * F + f) * W + at] = 1;
      }
    }
    return video({ batch, frames: F, width: W }, x);
  };
  const slow = planFromData({
    schedule: rf,
    frames: F,
    lost: lostDetail(moving(1)),
    fraction: 0.1,
  });
  for (const t of slow.trades) {
    assert.ok(t.lostOverNoise <= 0.1 + 1e-9, `stage ${t.k}: ${t.lostOverNoise}`);
    if (t.end === t.earliest) assert.ok(Math.abs(t.lostOverNoise - 0.1) < 1e-9);
  }
  // The chosen K has the lowest cost of all candidates, and its steps follow the stage lengths.
  const costs = slow.candidates.filter((c) => !Number.isNaN(c.cost)).map((c) => c.cost);
  assert.equal(densityCost(slow.plan), Math.min(...costs));
  const lengths = slow.plan.stages.map((s) => s.start - s.end);
  const total = lengths.reduce((a, b) => a + b);
  slow.stageWeights.forEach((w, i) => assert.ok(Math.abs(w - lengths[i] / total) < 1e-12));
  assert.equal(slow.plan.stages.reduce((a, s) => a + s.steps, 0), 30);
  // A smaller fraction asks for more noise at every boundary.
  const strict = planFromData({
    schedule: rf,
    frames: F,
    lost: lostDetail(moving(1)),
    fraction: 0.02,
    maxStages: slow.plan.stageCount,
    minGain: 0,
  });
  strict.boundaries.forEach((b, i) =>
    assert.ok(b >= slow.boundaries[i], `${b} < ${slow.boundaries[i]}`)
  );
  // Starts after the first are the corrected starts of the SNR rule.
  for (const s of slow.plan.stages.slice(1)) {
    assert.ok(Math.abs(s.start - correctedStart(rf, s.nominalStart)) < 1e-12);
  }
});

Deno.test("planFromData and lostDetail name the bad value and what is allowed", () => {
  const lost = [{ level: 1, energy: 0.1 }];
  assertThrowsWith(
    () => planFromData({ schedule: rf, frames: 16, lost, fraction: 0 }),
    /fraction f/,
  );
  assertThrowsWith(
    () => planFromData({ schedule: rf, frames: 16, lost: [{ level: 2, energy: 0.1 }] }),
    /lost\[0\] must be level 1/,
  );
  assertThrowsWith(
    () => planFromData({ schedule: rf, frames: 16, lost: [{ level: 1, energy: -1 }] }),
    /energy/,
  );
  assertThrowsWith(
    () => planFromData({ schedule: rf, frames: 16, lost, maxStages: 5 }),
    /maxStages must be/,
  );
  assertThrowsWith(
    () => lostDetail(video({ frames: 8 }), { levels: 4 }),
    /levels must be at most 3/,
  );
  assertThrowsWith(() => lostDetail(video({ frames: 3 })), /halves at least once/);
});
