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
