import assert from "node:assert/strict";
import { correctedStart, stagePlan } from "../lib/pyramid.ts";
import {
  printedEq15Coefficient,
  renoise,
  spatialUpNearest,
  transitionCoefficients,
} from "../lib/renoise.ts";
import { rectifiedFlow, type Schedule, vpSchedule } from "../lib/schedule.ts";
import { stageEndpoints, stageNoise } from "../lib/stagewise.ts";
import { temporalDown, temporalUp, upFromCoarser } from "../lib/temporal.ts";
import { createRng, gaussianVideo, video } from "../lib/video.ts";
import { assertAllClose, assertClose, assertThrowsWith } from "./helpers.ts";

const rf = rectifiedFlow();

Deno.test("RF transition anchors: e = 1/3 → s = √2 − 1, c = 0.87867966, α = 0.29289322 (§4.9)", () => {
  const s1 = correctedStart(rf, 1 / 3);
  assertClose(s1, Math.SQRT2 - 1, 1e-15);
  const t1 = transitionCoefficients(rf, { from: 1 / 3, to: s1 });
  assertClose(t1.c, 0.87867966, 1e-8);
  assertClose(t1.alpha, 0.29289322, 1e-8);
  const s2 = correctedStart(rf, 2 / 3);
  assertClose(s2, (8 - 2 * Math.SQRT2) / 7, 1e-15);
  const t2 = transitionCoefficients(rf, { from: 2 / 3, to: s2 });
  assertClose(t2.c, 0.78361162, 1e-8);
  assertClose(t2.alpha, 0.52240775, 1e-8);
  // the closed forms c = 1/(√2e + 1 − e) and α = c·e = s/√2
  for (const e of [0.1, 1 / 3, 0.5, 2 / 3, 0.9]) {
    const t = transitionCoefficients(rf, { from: e, to: correctedStart(rf, e) });
    assertClose(t.c, 1 / (Math.SQRT2 * e + 1 - e), 4e-15);
    assertClose(t.alpha, t.c * e, 4e-15);
    assertClose(t.alpha, t.to / Math.SQRT2, 4e-15);
  }
});

Deno.test("VP transition: c = 1/√(2 − ᾱ_e), α = √((1 − ᾱ_e)/(2 − ᾱ_e)); ᾱ_e = 0.6 gives c = 0.84515425", () => {
  const vp = vpSchedule({ beta: "linear" });
  for (const alphaE of [0.3, 0.6, 0.9]) {
    const e = vp.tOfLambda(0.5 * Math.log(alphaE / (1 - alphaE)));
    const t = transitionCoefficients(vp, { from: e, to: correctedStart(vp, e) });
    assertClose(t.c, 1 / Math.sqrt(2 - alphaE), 1e-12);
    assertClose(t.alpha, Math.sqrt((1 - alphaE) / (2 - alphaE)), 1e-12);
    assertClose(2 * t.kappa, t.sigmaTo ** 2, 1e-12, "Eq. 19 at equality: rκ = σ_s²");
  }
  const e = vp.tOfLambda(0.5 * Math.log(0.6 / 0.4));
  assertClose(
    transitionCoefficients(vp, { from: e, to: correctedStart(vp, e) }).c,
    0.84515425,
    1e-8,
  );
});

Deno.test("Pyramid Flow anchors with 2×2 groups (r = 4): c = 0.6, α = 0.69282 and 0.75, 0.43301 (§4.15)", () => {
  for (const [e, s, c, alpha] of [[2 / 3, 0.8, 0.6, 0.69282032], [1 / 3, 0.5, 0.75, 0.4330127]]) {
    const start = correctedStart(rf, e, { groupSize: 4 });
    assertClose(start, s, 1e-14, "corrected start 2e/(1 + e)");
    const t = transitionCoefficients(rf, { from: e, to: start, groupSize: 4 });
    assertClose(t.c, c, 1e-14);
    assertClose(t.alpha, alpha, 1e-8);
  }
});

Deno.test("the printed Eq. 21 holds for RF at any ρ but not for VP; lib's SNR rule holds for both (§4.14)", () => {
  // Eq. 21: γ_e = √(1 − ρ)γ_s / (√(−ρ)σ_s + √(1 − ρ)γ_s). For ρ = −1 it must agree with lib's
  // corrected start: the e whose corrected start is s.
  const eq21 = (gs: number, ss: number, rho: number) =>
    (Math.sqrt(1 - rho) * gs) / (Math.sqrt(-rho) * ss + Math.sqrt(1 - rho) * gs);
  for (const s of [0.3, 0.5, 0.8]) {
    const gammaE = eq21(1 - s, s, -1);
    assertClose(correctedStart(rf, 1 - gammaE), s, 1e-14, `RF, s = ${s}`);
    for (const rho of [-1, -0.5, -0.2]) {
      // Eq. 19 diagonal and off-diagonal with σ_e = 1 − γ_e and α = σ_s/√(1 − ρ)
      const ge = eq21(1 - s, s, rho), c2 = ((1 - s) / ge) ** 2, a2 = s * s / (1 - rho);
      assertClose(c2 * (1 - ge) ** 2 + a2, s * s, 1e-14, "Eq. 19 diagonal (RF)");
      assertClose(c2 * (1 - ge) ** 2 + a2 * rho, 0, 1e-14, "Eq. 19 off-diagonal (RF)");
    }
  }
  const vp = vpSchedule({ beta: "linear" });
  const s = 0.5, gs = vp.gamma(s), ss = vp.sigma(s);
  const printed = eq21(gs, ss, -1);
  const offDiagonal = (gs / printed) ** 2 * (1 - printed ** 2) - (ss * ss) / 2;
  assert.ok(Math.abs(offDiagonal) > 0.05, `printed Eq. 21 unexpectedly satisfies Eq. 19 under VP`);
  const e = vp.tOfLambda(vp.lambda(s) + 0.5 * Math.log(2));
  assertClose(correctedStart(vp, e), s, 1e-12);
  assertClose(vp.gamma(e), gs / Math.sqrt(gs * gs + 0.5 * ss * ss), 1e-12, "corrected VP form");
});

Deno.test("the printed Eq. 15 coefficient equals γ_e, not γ_s/γ_e (§1.9 problem 1)", () => {
  for (const e of [0.2, 1 / 3, 2 / 3]) {
    const s = correctedStart(rf, e);
    assertClose(printedEq15Coefficient(rf, s), 1 - e, 1e-15);
    const printed = transitionCoefficients(rf, { from: e, to: s, coefficient: "printed-eq15" });
    assert.ok(Math.abs(printed.c - (1 - s) / (1 - e)) > 0.1);
  }
});

/** Renoises x̂_e = γ_e m + σ_e z for a fixed clean value m over many samples; returns pair moments. */
function pairMoments(
  schedule: Schedule,
  e: number,
  m: number,
  coefficient: "corrected" | "printed-eq15",
) {
  const n = 100_000, rng = createRng(21);
  const s = correctedStart(schedule, e);
  const xe = video({ batch: n, frames: 1 }, "float64");
  for (let i = 0; i < n; i++) xe.data[i] = schedule.gamma(e) * m + schedule.sigma(e) * rng.normal();
  const xs = renoise(xe, { schedule, from: e, to: s, noise: rng, coefficient });
  let mean = 0, v0 = 0, v1 = 0, c01 = 0;
  for (let i = 0; i < n; i++) mean += (xs.data[2 * i] + xs.data[2 * i + 1]) / (2 * n);
  for (let i = 0; i < n; i++) {
    const a = xs.data[2 * i] - mean, b = xs.data[2 * i + 1] - mean;
    v0 += (a * a) / n;
    v1 += (b * b) / n;
    c01 += (a * b) / n;
  }
  return { s, mean, v0, v1, c01, n };
}

Deno.test("moment matching: mean γ_s m, variance σ_s², zero cross-covariance; the printed Eq. 15 fails (§4.11)", () => {
  const m = 0.7, e = 1 / 3;
  const ok = pairMoments(rf, e, m, "corrected");
  const tol = 4 / Math.sqrt(ok.n);
  assertClose(ok.mean, (1 - ok.s) * m, tol, "mean");
  assertClose(ok.mean, 0.41005, 1e-3);
  assertClose(ok.v0, ok.s ** 2, tol, "variance of the first copy");
  assertClose(ok.v1, ok.s ** 2, tol, "variance of the second copy");
  assertClose(ok.c01, 0, tol, "cross-covariance");
  const bad = pairMoments(rf, e, m, "printed-eq15");
  assertClose(bad.mean, 0.3110, 2e-3, "printed mean");
  assertClose(bad.c01, -0.036, 3e-3, "printed cross-covariance");
  assert.ok(Math.abs(bad.mean - (1 - bad.s) * m) > 0.09, "the printed coefficient misses the mean");
});

Deno.test("corrective noise sums to zero in every group: Down_avg(x̂_s) = c·x̂_e exactly (§4.12)", () => {
  const x = gaussianVideo({ batch: 3, frames: 4, height: 2, width: 2 }, createRng(1), "float64");
  const s = correctedStart(rf, 1 / 3);
  const { c } = transitionCoefficients(rf, { from: 1 / 3, to: s });
  const up = renoise(x, { schedule: rf, from: 1 / 3, to: s, noise: createRng(2) });
  assertAllClose(temporalDown(up, { down: "average" }).data, x.data.map((v) => c * v), 1e-15);
  // Pyramid Flow's 2×2 blocks, r = 4, ρ = −1/3: the block mean is c times the coarse pixel
  const s4 = correctedStart(rf, 1 / 3, { groupSize: 4 });
  const c4 = transitionCoefficients(rf, { from: 1 / 3, to: s4, groupSize: 4 }).c;
  const sp = renoise(x, { schedule: rf, from: 1 / 3, to: s4, axis: "space", noise: createRng(3) });
  assert.equal(sp.height, 4);
  for (let f = 0; f < 12; f++) {
    for (let y = 0; y < 2; y++) {
      for (let xx = 0; xx < 2; xx++) {
        const at = (yy: number, xq: number) => sp.data[(f * 4 + yy) * 4 + xq];
        const mean = (at(2 * y, 2 * xx) + at(2 * y, 2 * xx + 1) + at(2 * y + 1, 2 * xx) +
          at(2 * y + 1, 2 * xx + 1)) / 4;
        assertClose(mean, c4 * x.data[(f * 2 + y) * 2 + xx], 1e-15);
      }
    }
  }
});

Deno.test("pairs at equality get α·(u, −u) with α = σ_s/√2 (Eq. 16 with ρ = −1)", () => {
  const x = video({ frames: 1 }, new Float64Array([0]));
  const s = correctedStart(rf, 0.5);
  const z = new Float64Array([1.3, -0.4]);
  const out = renoise(x, { schedule: rf, from: 0.5, to: s, noise: z });
  const u = (z[0] - z[1]) / 2;
  assertAllClose(out.data, [s * u, -s * u], 1e-15);
  assertClose(
    Math.abs(out.data[0]),
    (s / Math.SQRT2) * Math.abs((z[0] - z[1]) / Math.SQRT2),
    1e-15,
  );
});

Deno.test("group noise has covariance σ_s² I − κ11ᵀ for r ∈ {1, 2, 4}, at and beyond equality (§4.13)", () => {
  const n = 60_000;
  for (const [axis, r] of [["time", 2], ["space", 4]] as const) {
    for (const extra of [0, 0.1]) {
      const e = 0.4, s = Math.min(0.99, correctedStart(rf, e, { groupSize: r }) + extra);
      const coarse = video({ batch: n, frames: 1, height: 1, width: 1 }, "float64");
      const out = renoise(coarse, {
        schedule: rf,
        from: e,
        to: s,
        noise: createRng(30 + r),
        axis,
        groupSize: r,
      });
      const { kappa } = transitionCoefficients(rf, { from: e, to: s, groupSize: r });
      let diag = 0, off = 0;
      for (let b = 0; b < n; b++) {
        const g = out.data.subarray(b * r, (b + 1) * r);
        diag += (g[0] * g[0]) / n;
        off += (g[0] * g[1]) / n;
      }
      const tol = 5 * s * s / Math.sqrt(n);
      assertClose(diag, s * s - kappa, tol, `${axis} r=${r} diagonal`);
      assertClose(off, -kappa, tol, `${axis} r=${r} off-diagonal`);
    }
  }
  // singletons of the keep-first layout: variance σ_s² − κ = σ_s²/2 at equality
  const coarse = video({ batch: n, frames: 2 }, "float64");
  const s = correctedStart(rf, 0.4);
  const out = renoise(coarse, {
    schedule: rf,
    from: 0.4,
    to: s,
    noise: createRng(40),
    layout: "keep-first",
  });
  assert.equal(out.frames, 3);
  let v0 = 0, c12 = 0;
  for (let b = 0; b < n; b++) {
    v0 += out.data[3 * b] ** 2 / n;
    c12 += (out.data[3 * b + 1] * out.data[3 * b + 2]) / n;
  }
  assertClose(v0, (s * s) / 2, 5 * s * s / Math.sqrt(n), "singleton variance");
  assertClose(c12, -(s * s) / 2, 5 * s * s / Math.sqrt(n), "pair covariance");
});

Deno.test("the renoised latent is the training start γ_s U x₀ + σ_s ε'' with ε'' from §1.10", () => {
  const plan = stagePlan({ schedule: rf, frames: 8, stages: 3 });
  const rng = createRng(50);
  const x0 = gaussianVideo({ batch: 2, frames: 8, height: 3 }, rng, "float64");
  const coarse = plan.stages[0], fine = plan.stages[1];
  const eps = stageNoise(gaussianVideo({ batch: 2, frames: 8, height: 3 }, rng, "float64"), {
    plan,
    stage: coarse,
  });
  const { end } = stageEndpoints(x0, eps, { plan, stage: coarse });
  const z = rng.fillNormal(new Float64Array(2 * fine.frames * 3));
  const after = renoise(end, { schedule: rf, from: coarse.end, to: fine.start, noise: z });
  const { c } = transitionCoefficients(rf, { from: coarse.end, to: fine.start });
  // ε'' = (c σ_e Up(ε) + w)/σ_s, where w = after − c·Up(x̂_e)
  const upEnd = temporalUp(end), upEps = temporalUp(eps);
  const se = rf.sigma(coarse.end), ss = rf.sigma(fine.start);
  const effective = after.data.map((v, i) =>
    (c * se * upEps.data[i] + (v - c * upEnd.data[i])) / ss
  );
  const u = upFromCoarser(x0, fine.k, { stages: 3 });
  assertAllClose(
    after.data,
    u.data.map((v, i) => rf.gamma(fine.start) * v + ss * effective[i]),
    1e-14,
  );
});

Deno.test("renoise() rejects transitions that add too little noise and malformed noise", () => {
  const x = video({ frames: 2 }, new Float64Array([0.1, 0.2]));
  assertThrowsWith(
    () => renoise(x, { schedule: rf, from: 1 / 3, to: 1 / 3, noise: createRng(1) }),
    /to = 0\.333\d* must exceed from = 0\.333/,
  );
  assertThrowsWith(
    () => renoise(x, { schedule: rf, from: 1 / 3, to: 0.4, noise: createRng(1) }),
    /adds too little noise for groups of 2: it needs SNR\(s\) <= SNR\(e\) \/ 2/,
  );
  assertThrowsWith(
    () => renoise(x, { schedule: rf, from: 1 / 3, to: 0.5, noise: new Float64Array(3) }),
    /one draw per upsampled element \(4\); got 3/,
  );
  assertThrowsWith(
    () =>
      renoise(x, {
        schedule: rf,
        from: 0.3,
        to: 0.5,
        noise: createRng(1),
        coefficient: "eq15" as never,
      }),
    /coefficient must be one of "corrected", "printed-eq15"; got "eq15"/,
  );
  assertThrowsWith(
    () => renoise(x, { schedule: rf, from: 0.3, to: 0.5, noise: createRng(1), groupSize: 3 }),
    /temporal ×2 transition has groups of 2; got groupSize 3/,
  );
  assert.equal(spatialUpNearest(video({ frames: 1, height: 2, width: 3 })).data.length, 24);
});

Deno.test("renoise() refuses noise draws that are not finite, naming the entry", () => {
  const x = gaussianVideo({ batch: 1, frames: 2, height: 2, width: 2 }, createRng(4), "float64");
  const s = correctedStart(rf, 1 / 3);
  const noise = new Float64Array(16).fill(0.5);
  noise[9] = NaN;
  assertThrowsWith(
    () => renoise(x, { schedule: rf, from: 1 / 3, to: s, noise }),
    /noise must contain only finite numbers; entry 9 is NaN/,
  );
  noise[9] = 0.5;
  assert.equal(renoise(x, { schedule: rf, from: 1 / 3, to: s, noise }).frames, 4);
});
