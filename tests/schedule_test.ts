import assert from "node:assert/strict";
import {
  betaTable,
  fromDiffusersTimestep,
  fromFlowMatchingTime,
  rectifiedFlow,
  type Schedule,
  shiftSchedule,
  toDiffusersTimestep,
  toFlowMatchingTime,
  vpSchedule,
} from "../lib/schedule.ts";
import { assertClose, assertThrowsWith } from "./helpers.ts";

const SCHEDULES: Schedule[] = [
  rectifiedFlow(),
  shiftSchedule(rectifiedFlow(), 3),
  vpSchedule({ beta: "linear" }),
  vpSchedule({ beta: "scaled-linear" }),
  vpSchedule({ beta: "cosine" }),
  vpSchedule({ beta: "linear", discrete: true }),
  vpSchedule({ beta: "scaled-linear", discrete: true }),
  vpSchedule({ beta: "cosine", discrete: true, timesteps: 50 }),
  shiftSchedule(vpSchedule({ beta: "linear" }), 0.5),
];
const INTERIOR = [0.013, 0.1, 0.25, 0.37, 0.5, 0.64, 0.8, 0.93, 0.987];

Deno.test("rectifiedFlow() is γ = 1 − t, σ = t with λ = ln((1 − t)/t)", () => {
  const rf = rectifiedFlow();
  for (const t of INTERIOR) {
    assert.deepEqual(rf.at(t), { t, gamma: 1 - t, sigma: t, dGamma: -1, dSigma: 1 });
    assertClose(rf.lambda(t), Math.log((1 - t) / t), 1e-15);
    assertClose(rf.nu(t), t / (1 - t), 1e-15);
  }
  assert.equal(rf.lambda(0), Infinity);
  assert.equal(rf.lambda(1), -Infinity);
  assert.equal(rf.nu(1), Infinity);
});

Deno.test("every schedule inverts λ: t(λ(t)) = t, with λ = ±∞ at the ends", () => {
  for (const s of SCHEDULES) {
    for (const t of INTERIOR) {
      assertClose(s.tOfLambda(s.lambda(t)), t, 1e-12, `${s.name} at t = ${t}`);
    }
    assert.equal(s.tOfLambda(Infinity), 0);
    assert.equal(s.tOfLambda(-Infinity), 1);
    // λ strictly decreases
    const ls = INTERIOR.map((t) => s.lambda(t));
    ls.slice(1).forEach((l, i) =>
      assert.ok(l < ls[i], `${s.name}: λ not decreasing at ${INTERIOR[i]}`)
    );
  }
});

Deno.test("every schedule's dγ/dt and dσ/dt match central finite differences", () => {
  const h = 1e-6;
  for (const s of SCHEDULES) {
    for (const t0 of INTERIOR) {
      // inside a cell of a discrete table, where the interpolation is smooth
      const t = s.table ? (Math.floor(t0 * s.table.timesteps) + 0.5) / s.table.timesteps : t0;
      const c = s.at(t);
      const fdG = (s.gamma(t + h) - s.gamma(t - h)) / (2 * h);
      const fdS = (s.sigma(t + h) - s.sigma(t - h)) / (2 * h);
      assertClose(c.dGamma, fdG, 1e-6 * (1 + Math.abs(fdG)), `${s.name} dγ/dt at ${t}`);
      assertClose(c.dSigma, fdS, 1e-6 * (1 + Math.abs(fdS)), `${s.name} dσ/dt at ${t}`);
    }
  }
});

Deno.test("VP schedules are variance preserving: γ² + σ² = 1, γ(0) = 1", () => {
  for (const s of SCHEDULES.filter((s) => s.name.startsWith("vp"))) {
    for (const t of [0, ...INTERIOR, 1]) {
      assertClose(s.gamma(t) ** 2 + s.sigma(t) ** 2, 1, 1e-14, s.name);
    }
    assert.equal(s.gamma(0), 1);
    assert.equal(s.sigma(0), 0);
  }
});

Deno.test("discrete VP tables equal the β products of DDPM and Stable Diffusion", () => {
  const T = 1000;
  for (
    const [beta, b0, b1] of [["linear", 1e-4, 0.02], ["scaled-linear", 0.00085, 0.012]] as const
  ) {
    const s = vpSchedule({ beta, discrete: true });
    let prod = 1;
    for (let j = 0; j < T; j++) {
      const u = j / (T - 1);
      const bj = beta === "linear"
        ? b0 + u * (b1 - b0)
        : (Math.sqrt(b0) + u * (Math.sqrt(b1) - Math.sqrt(b0))) ** 2;
      prod *= 1 - bj;
      assertClose(s.table!.alphasCumprod[j], prod, 1e-12 * prod + 1e-300, `${beta} ᾱ[${j}]`);
      // timestep j sits at t = (j + 1)/T
      assertClose(s.gamma((j + 1) / T) ** 2, prod, 1e-12, `${beta} γ² at timestep ${j}`);
    }
  }
  // scaled-linear ᾱ_T is the well-known ≈ 0.0047 (γ_T ≈ 0.068, tpdiff-math.md §1.4)
  assertClose(vpSchedule({ beta: "scaled-linear", discrete: true }).gamma(1), 0.068, 0.001);
});

Deno.test("the discrete cosine table follows cos² ratios until β is clipped at 0.999", () => {
  const T = 50, off = 0.008, s = vpSchedule({ beta: "cosine", discrete: true, timesteps: T });
  const f = (t: number) => Math.cos(((t + off) / (1 + off)) * Math.PI / 2) ** 2;
  const betas = betaTable({ beta: "cosine", timesteps: T });
  for (let j = 0; j < T; j++) {
    if (betas[j] >= 0.999) continue;
    let clipped = false;
    for (let i = 0; i <= j; i++) clipped ||= betas[i] >= 0.999;
    if (!clipped) assertClose(s.table!.alphasCumprod[j], f((j + 1) / T) / f(0), 1e-12);
  }
  assert.equal(betas[T - 1], 0.999);
});

Deno.test("continuous VP forms are the T → ∞ limit of their tables", () => {
  for (const beta of ["linear", "scaled-linear", "cosine"] as const) {
    const c = vpSchedule({ beta }), d = vpSchedule({ beta, discrete: true });
    for (const t of [0.1, 0.3, 0.5, 0.7]) {
      assertClose(d.lambda(t), c.lambda(t), 0.02, `${beta} λ at ${t}`);
    }
  }
});

Deno.test("shiftSchedule() on rectified flow gives σ' = sσ / (1 + (s − 1)σ); s = 1 is the identity", () => {
  const rf = rectifiedFlow();
  for (const shift of [0.5, 1, 3]) {
    const sh = shiftSchedule(rf, shift);
    for (const t of INTERIOR) {
      assertClose(sh.sigma(t), (shift * t) / (1 + (shift - 1) * t), 1e-15);
      assertClose(sh.gamma(t) + sh.sigma(t), 1, 1e-15);
    }
  }
});

Deno.test("time adapters round-trip: flow_matching (1 − t) and diffusers (t·T − 1)", () => {
  for (const t of [0, ...INTERIOR, 1]) {
    assertClose(fromFlowMatchingTime(toFlowMatchingTime(t)), t, 2 ** -53);
    assertClose(fromDiffusersTimestep(toDiffusersTimestep(t, 1000), 1000), t, 1e-15);
  }
  const d = vpSchedule({ beta: "scaled-linear", discrete: true });
  for (const j of [0, 1, 500, 999]) {
    assertClose(d.gamma(fromDiffusersTimestep(j, 1000)) ** 2, d.table!.alphasCumprod[j], 1e-12);
  }
  assert.equal(fromDiffusersTimestep(-1, 1000), 0); // set_alpha_to_one's "previous" timestep
  assert.equal(toFlowMatchingTime(0), 1); // data is t = 1 over there
});

Deno.test("schedules reject times outside [0, 1] and bad parameters, naming them", () => {
  const rf = rectifiedFlow();
  assertThrowsWith(() => rf.gamma(1.5), /t must be a finite number in \[0, 1\]; got 1\.5/);
  assertThrowsWith(() => rf.at(NaN), /t must be .*; got NaN/);
  assertThrowsWith(() => rf.tOfLambda(NaN), /lambda must be a number/);
  assertThrowsWith(
    () => vpSchedule({ beta: "quadratic" as never }),
    /beta must be one of "linear", "scaled-linear", "cosine"; got "quadratic"/,
  );
  assertThrowsWith(
    () => vpSchedule({ beta: "linear", betaStart: 0.02, betaEnd: 0.01 }),
    /0 < betaStart < betaEnd < 1; got 0\.02 and 0\.01/,
  );
  assertThrowsWith(
    () => vpSchedule({ beta: "linear", timesteps: 1 }),
    /timesteps must be an integer in \[2/,
  );
  assertThrowsWith(() => shiftSchedule(rf, 0), /shift must be a finite number/);
  assertThrowsWith(
    () => fromDiffusersTimestep(1000, 1000),
    /timestep must be a finite number in \[-1, 999\]/,
  );
});

Deno.test("dγ/dt and dσ/dt at t = 0 and t = 1 equal their closed forms for every schedule", () => {
  const T = 1000, c0 = T * 1e-4, c1 = T * 0.02;
  const a = Math.sqrt(0.00085), b = Math.sqrt(0.012);
  const s = 0.008, phi0 = (s / (1 + s)) * Math.PI / 2;
  // Continuous VP: γ̇ = ½·(d log ᾱ/dt)·γ, σ̇ = −γ·γ̇/σ, σ̇(0) = +∞ because σ ~ √t near 0.
  const vpEnds = (logAbar1: number, dLog0: number, dLog1: number) => {
    const g1 = Math.exp(logAbar1 / 2), s1 = Math.sqrt(-Math.expm1(logAbar1));
    return {
      0: { dGamma: dLog0 / 2, dSigma: Infinity },
      1: { dGamma: (dLog1 / 2) * g1, dSigma: (-g1 * (dLog1 / 2) * g1) / s1 },
    };
  };
  const discreteEnds = (betas: Float64Array) => {
    const logAbar1 = betas.reduce((acc, beta) => acc + Math.log1p(-beta), 0);
    return vpEnds(logAbar1, T * Math.log1p(-betas[0]), T * Math.log1p(-betas[T - 1]));
  };
  const cases: [Schedule, Record<0 | 1, { dGamma: number; dSigma: number }>][] = [
    [rectifiedFlow(), { 0: { dGamma: -1, dSigma: 1 }, 1: { dGamma: -1, dSigma: 1 } }],
    // ψ(t) = 3t/(1 + 2t): ψ'(0) = 3, ψ'(1) = 1/3.
    [shiftSchedule(rectifiedFlow(), 3), {
      0: { dGamma: -3, dSigma: 3 },
      1: { dGamma: -1 / 3, dSigma: 1 / 3 },
    }],
    [vpSchedule({ beta: "linear" }), vpEnds(-(c0 + 0.5 * (c1 - c0)), -c0, -c1)],
    [
      vpSchedule({ beta: "scaled-linear" }),
      vpEnds(-(T / (3 * (b - a))) * (b ** 3 - a ** 3), -T * a * a, -T * b * b),
    ],
    [vpSchedule({ beta: "cosine" }), {
      0: { dGamma: -Math.tan(phi0) * Math.PI / (2 * (1 + s)), dSigma: Infinity },
      // γ = cos φ / cos φ₀ reaches 0 at t = 1 with slope −(π/2)/((1 + s)·cos φ₀); σ̇ = 0 there.
      1: { dGamma: -(Math.PI / 2) / ((1 + s) * Math.cos(phi0)), dSigma: 0 },
    }],
    [vpSchedule({ beta: "linear", discrete: true }), discreteEnds(betaTable({ beta: "linear" }))],
    [
      vpSchedule({ beta: "scaled-linear", discrete: true }),
      discreteEnds(betaTable({ beta: "scaled-linear" })),
    ],
    [vpSchedule({ beta: "cosine", discrete: true }), discreteEnds(betaTable({ beta: "cosine" }))],
  ];
  for (const [schedule, ends] of cases) {
    for (const t of [0, 1] as const) {
      const c = schedule.at(t);
      for (const key of ["dGamma", "dSigma"] as const) {
        const want = ends[t][key], got = c[key];
        if (want === Infinity) assert.equal(got, Infinity, `${schedule.name} ${key} at t = ${t}`);
        else assertClose(got, want, 1e-12 * (1 + Math.abs(want)), `${schedule.name} ${key}(${t})`);
      }
    }
  }
  // The cosine value at t = 1 is the limit of the interior values (the issue's −1.5584508).
  assertClose(vpSchedule({ beta: "cosine" }).at(1).dGamma, -1.5584508, 1e-7, "cosine dγ(1)");
});
