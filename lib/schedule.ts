/**
 * Noise schedules: `x_t = γ(t) x_0 + σ(t) ε` (TPDiff Eq. 6), with `t = 0` data and `t = 1` noise.
 *
 * Every schedule gives γ, σ, their time derivatives, ν = σ/γ (inverse square-root SNR),
 * λ = ln(γ/σ) (half log-SNR, DPM-Solver's λ) and the inverse t(λ). See tpdiff-math.md §0.
 *
 * - {@link rectifiedFlow}: γ = 1 − t, σ = t (Eq. 4).
 * - {@link vpSchedule}: DDIM / VP, γ = √ᾱ, σ = √(1 − ᾱ) (Eq. 1), continuous or as a discrete
 *   T-step table with ᾱ at t = 0 set to one.
 * - {@link shiftSchedule}: the timestep shift σ' = sσ / (1 + (s − 1)σ).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rectifiedFlow } from "./schedule.ts";
 * const rf = rectifiedFlow();
 * assert.deepEqual(rf.at(0.25), { t: 0.25, gamma: 0.75, sigma: 0.25, dGamma: -1, dSigma: 1 });
 * assert.ok(Math.abs(rf.tOfLambda(rf.lambda(0.25)) - 0.25) < 1e-12);
 * ```
 *
 * @module
 */

import { checkFinite, checkInteger, checkOneOf, show } from "./checks.ts";

/** γ, σ and their time derivatives at one time `t` (a small record, as in flow_matching). */
export interface ScheduleCoefficients {
  /** The noise-level time in [0, 1]. */
  t: number;
  /** Signal coefficient γ(t). */
  gamma: number;
  /** Noise coefficient σ(t). */
  sigma: number;
  /** dγ/dt. */
  dGamma: number;
  /** dσ/dt. */
  dSigma: number;
}

/** A noise schedule on t ∈ [0, 1]; γ decreases and σ increases, so λ = ln(γ/σ) decreases. */
export interface Schedule {
  /** A short human-readable name, e.g. `"rectified-flow"` or `"vp-scaled-linear-1000"`. */
  readonly name: string;
  /** γ(t). */
  gamma(t: number): number;
  /** σ(t). */
  sigma(t: number): number;
  /** γ, σ, dγ/dt and dσ/dt at `t`. */
  at(t: number): ScheduleCoefficients;
  /** ν(t) = σ/γ = e^{−λ}: 0 at t = 0, +∞ where γ = 0. */
  nu(t: number): number;
  /** λ(t) = ln(γ/σ): +∞ at t = 0, −∞ where γ = 0. */
  lambda(t: number): number;
  /** The inverse of λ: the t in [0, 1] with λ(t) = `lambda` (accepts ±∞). */
  tOfLambda(lambda: number): number;
  /** γ(t) and σ(t) as mathjs expressions in `t`, when the schedule has a closed form. */
  readonly expressions?: { gamma: string; sigma: string };
  /** For a discrete table: the number of timesteps T and ᾱ for diffusers' indices 0..T−1. */
  readonly table?: { timesteps: number; alphasCumprod: Float64Array };
}

/** Throws unless `t` is a finite time in [0, 1]. */
export function checkTime(name: string, t: unknown): number {
  return checkFinite(name, t, 0, 1);
}

/** The parts from which {@link defineSchedule} builds a schedule. */
export interface ScheduleParts {
  /** A short name. */
  name: string;
  /** γ(t), decreasing, γ(0) = 1 expected. */
  gamma(t: number): number;
  /** σ(t), increasing, σ(0) = 0 expected. */
  sigma(t: number): number;
  /** dγ/dt. */
  dGamma(t: number): number;
  /** dσ/dt. */
  dSigma(t: number): number;
  /** λ(t) = ln(γ/σ), if a more precise form than the default exists. */
  lambda?(t: number): number;
  /** The inverse of λ, if known in closed form; bisection otherwise. */
  tOfLambda?(lambda: number): number;
  /** γ and σ as mathjs expressions in t. */
  expressions?: { gamma: string; sigma: string };
  /** A discrete table, if any. */
  table?: { timesteps: number; alphasCumprod: Float64Array };
}

/**
 * Builds a schedule from its parts: your own γ(t), σ(t) and their derivatives. λ, ν and the
 * inverse t(λ) (by bisection, λ must decrease strictly) are filled in.
 *
 * @param parts name, γ, σ, dγ/dt, dσ/dt and optional λ, t(λ), expressions
 * @returns the schedule
 */
export function defineSchedule(parts: ScheduleParts): Schedule {
  for (const key of ["gamma", "sigma", "dGamma", "dSigma"] as const) {
    if (typeof parts?.[key] !== "function") {
      throw new TypeError(
        `schedule part ${key} must be a function of t; got ${show(parts?.[key])}`,
      );
    }
  }
  for (const t of [0, 0.5, 1]) {
    const g = parts.gamma(t), s = parts.sigma(t);
    if (!(g >= 0 && s >= 0 && Number.isFinite(g) && Number.isFinite(s))) {
      throw new RangeError(
        `schedule ${parts.name}: γ(${t}) and σ(${t}) must be finite and non-negative; got ${g} and ${s}`,
      );
    }
  }
  return makeSchedule(parts);
}

function makeSchedule(parts: ScheduleParts): Schedule {
  const lambda = parts.lambda ??
    ((t: number) => Math.log(parts.gamma(t)) - Math.log(parts.sigma(t)));
  const schedule: Schedule = {
    name: parts.name,
    gamma: (t) => parts.gamma(checkTime("t", t)),
    sigma: (t) => parts.sigma(checkTime("t", t)),
    at(t) {
      checkTime("t", t);
      return {
        t,
        gamma: parts.gamma(t),
        sigma: parts.sigma(t),
        dGamma: parts.dGamma(t),
        dSigma: parts.dSigma(t),
      };
    },
    nu(t) {
      checkTime("t", t);
      const g = parts.gamma(t);
      return g === 0 ? Infinity : parts.sigma(t) / g;
    },
    lambda: (t) => lambda(checkTime("t", t)),
    tOfLambda(l) {
      if (typeof l !== "number" || Number.isNaN(l)) {
        throw new RangeError(`lambda must be a number (±Infinity allowed); got ${show(l)}`);
      }
      if (l === Infinity) return 0;
      if (l === -Infinity) return 1;
      return parts.tOfLambda ? parts.tOfLambda(l) : invertDecreasing(lambda, l);
    },
    ...(parts.expressions ? { expressions: parts.expressions } : {}),
    ...(parts.table ? { table: parts.table } : {}),
  };
  return Object.freeze(schedule);
}

/** Bisection for a strictly decreasing `f` on [0, 1]: the t with f(t) = y, to full precision. */
function invertDecreasing(f: (t: number) => number, y: number): number {
  let lo = 0, hi = 1;
  if (f(hi) >= y) return 1;
  if (f(lo) <= y) return 0;
  for (let i = 0; i < 200 && hi - lo > 0; i++) {
    const mid = 0.5 * (lo + hi);
    if (mid === lo || mid === hi) break;
    if (f(mid) > y) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/**
 * Rectified flow / flow matching: γ = 1 − t, σ = t (TPDiff Eq. 4), λ = ln((1 − t)/t) and
 * t(λ) = 1 / (1 + e^λ).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rectifiedFlow } from "./schedule.ts";
 * const rf = rectifiedFlow();
 * assert.deepEqual([rf.gamma(0.25), rf.sigma(0.25)], [0.75, 0.25]); // x_t = (1 − t)x₀ + tε
 * ```
 *
 * @returns the schedule
 */
export function rectifiedFlow(): Schedule {
  return makeSchedule({
    name: "rectified-flow",
    gamma: (t) => 1 - t,
    sigma: (t) => t,
    dGamma: () => -1,
    dSigma: () => 1,
    tOfLambda: (l) => 1 / (1 + Math.exp(l)),
    expressions: { gamma: "1 - t", sigma: "t" },
  });
}

/** The β families of {@link vpSchedule}. */
export type BetaSchedule = "linear" | "scaled-linear" | "cosine";

/** Options of {@link vpSchedule}. */
export interface VpScheduleOptions {
  /** `"linear"` (DDPM), `"scaled-linear"` (Stable Diffusion) or `"cosine"` (Nichol & Dhariwal). */
  beta: BetaSchedule;
  /** First β of the table (linear: 1e-4, scaled-linear: 0.00085). */
  betaStart?: number;
  /** Last β of the table (linear: 0.02, scaled-linear: 0.012). */
  betaEnd?: number;
  /** Offset s of the cosine schedule (default 0.008). */
  cosineOffset?: number;
  /** Number of training timesteps T (default 1000); sets the β scale of the continuous form too. */
  timesteps?: number;
  /**
   * `true`: a discrete T-step table (diffusers' `alphas_cumprod`) with ᾱ at t = 0 set to one,
   * timestep j at t = (j + 1)/T, and log ᾱ interpolated linearly between grid points.
   * `false` (default): the continuous-time limit.
   */
  discrete?: boolean;
}

/**
 * A variance-preserving (DDIM) schedule, γ = √ᾱ(t), σ = √(1 − ᾱ(t)) (TPDiff Eq. 1).
 *
 * Continuous forms (T = `timesteps`): linear log ᾱ = −T(β₀t + ½(β₁ − β₀)t²); scaled-linear
 * log ᾱ = −T((a + (b − a)t)³ − a³)/(3(b − a)) with a = √β₀, b = √β₁; cosine
 * ᾱ = cos²(((t + s)/(1 + s))·π/2) / cos²((s/(1 + s))·π/2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vpSchedule } from "./schedule.ts";
 * const vp = vpSchedule({ beta: "cosine" });
 * for (const t of [0.1, 0.5, 0.9]) assert.ok(Math.abs(vp.gamma(t) ** 2 + vp.sigma(t) ** 2 - 1) < 1e-12);
 * ```
 *
 * @param options the β family and its parameters
 * @returns the schedule
 * @example
 * ```ts
 * import { vpSchedule } from "./schedule.ts";
 * const ddim = vpSchedule({ beta: "scaled-linear", discrete: true });
 * console.log(ddim.gamma(0)); // 1: ᾱ at t = 0 is set to one
 * ```
 */
export function vpSchedule(options: VpScheduleOptions): Schedule {
  const beta = checkOneOf("beta", options?.beta, ["linear", "scaled-linear", "cosine"] as const);
  const T = checkInteger("timesteps", options.timesteps ?? 1000, 2, 1_000_000);
  const defaults = beta === "linear" ? [1e-4, 0.02] : [0.00085, 0.012];
  const b0 = checkFinite("betaStart", options.betaStart ?? defaults[0], 0, 1);
  const b1 = checkFinite("betaEnd", options.betaEnd ?? defaults[1], 0, 1);
  const s = checkFinite("cosineOffset", options.cosineOffset ?? 0.008, 0, 1);
  if (beta !== "cosine" && !(b1 > b0 && b0 > 0 && b1 < 1)) {
    throw new RangeError(
      `betaStart and betaEnd must satisfy 0 < betaStart < betaEnd < 1; got ${b0} and ${b1}`,
    );
  }
  if (options.discrete) return discreteVp(beta, T, b0, b1, s);

  let logAlphaBar: (t: number) => number;
  let dLogAlphaBar: (t: number) => number;
  let gammaExpr: string;
  if (beta === "linear") {
    const c0 = T * b0, c1 = T * b1;
    logAlphaBar = (t) => -(c0 * t + 0.5 * (c1 - c0) * t * t);
    dLogAlphaBar = (t) => -(c0 + (c1 - c0) * t);
    gammaExpr = `exp(-(${c0} * t + ${0.5 * (c1 - c0)} * t^2) / 2)`;
  } else if (beta === "scaled-linear") {
    const a = Math.sqrt(b0), b = Math.sqrt(b1), k = T / (3 * (b - a));
    logAlphaBar = (t) => -k * ((a + (b - a) * t) ** 3 - a ** 3);
    dLogAlphaBar = (t) => -T * (a + (b - a) * t) ** 2;
    gammaExpr = `exp(-${k} * ((${a} + ${b - a} * t)^3 - ${a ** 3}) / 2)`;
  } else {
    const phi = (t: number) => ((t + s) / (1 + s)) * Math.PI / 2;
    const cos0 = Math.cos(phi(0)), logC0 = 2 * Math.log(cos0);
    logAlphaBar = (t) => t === 1 ? -Infinity : 2 * Math.log(Math.cos(phi(t))) - logC0;
    dLogAlphaBar = (t) => -Math.tan(phi(t)) * Math.PI / (1 + s);
    gammaExpr = `cos((t + ${s}) / ${1 + s} * pi / 2) / cos(${s / (1 + s)} * pi / 2)`;
    // γ = cos φ / cos φ₀ differentiated directly: ½·(d log ᾱ/dt)·√ᾱ is ∞ · 0 at t = 1, where
    // the true value is −(π/2) / ((1 + s)·cos φ₀).
    const dGamma = (t: number) => -Math.sin(phi(t)) * Math.PI / (2 * (1 + s) * cos0);
    return vpFromLogAlphaBar(
      `vp-${beta}`,
      logAlphaBar,
      dLogAlphaBar,
      {
        gamma: gammaExpr,
        sigma: `sqrt(1 - (${gammaExpr})^2)`,
      },
      undefined,
      dGamma,
    );
  }
  return vpFromLogAlphaBar(`vp-${beta}`, logAlphaBar, dLogAlphaBar, {
    gamma: gammaExpr,
    sigma: `sqrt(1 - (${gammaExpr})^2)`,
  });
}

function vpFromLogAlphaBar(
  name: string,
  logAlphaBar: (t: number) => number,
  dLogAlphaBar: (t: number) => number,
  expressions?: { gamma: string; sigma: string },
  table?: { timesteps: number; alphasCumprod: Float64Array },
  dGamma?: (t: number) => number,
): Schedule {
  // σ² = 1 − ᾱ = −expm1(log ᾱ) keeps full precision near t = 0, where ᾱ ≈ 1.
  const sigma2 = (t: number) => Math.max(0, -Math.expm1(logAlphaBar(t)));
  const gamma = (t: number) => Math.exp(0.5 * logAlphaBar(t));
  const dGammaOf = dGamma ?? ((t: number) => 0.5 * dLogAlphaBar(t) * gamma(t));
  return makeSchedule({
    name,
    gamma,
    sigma: (t) => Math.sqrt(sigma2(t)),
    dGamma: dGammaOf,
    // dσ/dt = −γ·γ̇/σ: 0 where γ = 0 (t = 1 of the cosine schedule), +∞ where σ = 0 (t = 0).
    dSigma: (t) => {
      const g = gamma(t);
      return g === 0 ? 0 : -g * dGammaOf(t) / Math.sqrt(sigma2(t));
    },
    lambda: (t) => 0.5 * (logAlphaBar(t) - Math.log(sigma2(t))),
    expressions,
    table,
  });
}

/**
 * diffusers' β table for a family (the cosine one through `betas_for_alpha_bar`, β ≤ 0.999).
 *
 * @param options the β family, T and the family's parameters (defaults as in {@link vpSchedule})
 * @returns β_j for the diffusers timesteps j = 0, …, T − 1
 */
export function betaTable(options: Omit<VpScheduleOptions, "discrete">): Float64Array {
  const beta = checkOneOf("beta", options?.beta, ["linear", "scaled-linear", "cosine"] as const);
  const T = checkInteger("timesteps", options.timesteps ?? 1000, 2, 1_000_000);
  const defaults = beta === "linear" ? [1e-4, 0.02] : [0.00085, 0.012];
  const b0 = checkFinite("betaStart", options.betaStart ?? defaults[0], 0, 1);
  const b1 = checkFinite("betaEnd", options.betaEnd ?? defaults[1], 0, 1);
  const cosineOffset = checkFinite("cosineOffset", options.cosineOffset ?? 0.008, 0, 1);
  const betas = new Float64Array(T);
  for (let j = 0; j < T; j++) {
    const u = j / (T - 1);
    if (beta === "linear") betas[j] = b0 + u * (b1 - b0);
    else if (beta === "scaled-linear") {
      betas[j] = (Math.sqrt(b0) + u * (Math.sqrt(b1) - Math.sqrt(b0))) ** 2;
    } else {
      const f = (t: number) =>
        Math.cos(((t + cosineOffset) / (1 + cosineOffset)) * Math.PI / 2) ** 2;
      betas[j] = Math.min(1 - f((j + 1) / T) / f(j / T), 0.999);
    }
  }
  return betas;
}

function discreteVp(beta: BetaSchedule, T: number, b0: number, b1: number, s: number): Schedule {
  const betas = betaTable({
    beta,
    timesteps: T,
    betaStart: b0,
    betaEnd: b1,
    cosineOffset: s,
  });
  const alphasCumprod = new Float64Array(T);
  // grid[i] = log ᾱ at t = i/T; grid[0] = 0 is "ᾱ at t = 0 set to one" (set_alpha_to_one).
  const grid = new Float64Array(T + 1);
  let log = 0;
  for (let j = 0; j < T; j++) {
    log += Math.log1p(-betas[j]);
    grid[j + 1] = log;
    alphasCumprod[j] = Math.exp(log);
  }
  const cell = (t: number) => Math.min(T - 1, Math.floor(t * T));
  const logAlphaBar = (t: number) => {
    const i = cell(t), u = t * T - i;
    return grid[i] + u * (grid[i + 1] - grid[i]);
  };
  const dLogAlphaBar = (t: number) => {
    const i = cell(t);
    return (grid[i + 1] - grid[i]) * T;
  };
  return vpFromLogAlphaBar(
    `vp-${beta}-${T}`,
    logAlphaBar,
    dLogAlphaBar,
    undefined,
    { timesteps: T, alphasCumprod },
  );
}

/**
 * The timestep shift used by SD3-style flow models: time is warped by
 * ψ(t) = s·t / (1 + (s − 1)·t), so that for rectified flow σ'(t) = sσ / (1 + (s − 1)σ).
 * `s > 1` spends more of [0, 1] at high noise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rectifiedFlow, shiftSchedule } from "./schedule.ts";
 * const shifted = shiftSchedule(rectifiedFlow(), 3);
 * assert.ok(Math.abs(shifted.sigma(0.5) - 0.75) < 1e-12); // t ↦ 3t/(1 + 2t): more time at high noise
 * ```
 *
 * @param base the schedule to warp
 * @param shift s > 0 (1 is the identity)
 * @returns the warped schedule
 */
export function shiftSchedule(base: Schedule, shift: number): Schedule {
  const s = checkFinite("shift", shift, Number.MIN_VALUE);
  const warp = (t: number) => (s * t) / (1 + (s - 1) * t);
  const dWarp = (t: number) => s / (1 + (s - 1) * t) ** 2;
  const unwarp = (u: number) => u / (s - (s - 1) * u);
  const substitute = (expr: string) => expr.replace(/\bt\b/g, `(${s} * t / (1 + ${s - 1} * t))`);
  return makeSchedule({
    name: `${base.name}-shift-${s}`,
    gamma: (t) => base.gamma(warp(t)),
    sigma: (t) => base.sigma(warp(t)),
    dGamma: (t) => base.at(warp(t)).dGamma * dWarp(t),
    dSigma: (t) => base.at(warp(t)).dSigma * dWarp(t),
    lambda: (t) => base.lambda(warp(t)),
    tOfLambda: (l) => unwarp(base.tOfLambda(l)),
    expressions: base.expressions && {
      gamma: substitute(base.expressions.gamma),
      sigma: substitute(base.expressions.sigma),
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Adapters to other libraries' time conventions (never a silent flip inside lib).

/** facebookresearch/flow_matching time (t = 1 is data) from ours (t = 0 is data): 1 − t. */
export function toFlowMatchingTime(t: number): number {
  return 1 - checkTime("t", t);
}

/** Our time from flow_matching's (t = 1 is data): 1 − t. */
export function fromFlowMatchingTime(tFlowMatching: number): number {
  return 1 - checkTime("flow_matching time", tFlowMatching);
}

/**
 * diffusers' discrete timestep index j ∈ {−1, …, T − 1} from our t: j = t·T − 1 (j = −1 is the
 * clean end, where `set_alpha_to_one` puts ᾱ = 1). Non-grid times give fractional indices.
 */
export function toDiffusersTimestep(t: number, timesteps: number): number {
  checkInteger("timesteps", timesteps, 1);
  return checkTime("t", t) * timesteps - 1;
}

/** Our t from diffusers' timestep index j ∈ [−1, T − 1]: t = (j + 1)/T. */
export function fromDiffusersTimestep(timestep: number, timesteps: number): number {
  checkInteger("timesteps", timesteps, 1);
  checkFinite("timestep", timestep, -1, timesteps - 1);
  return (timestep + 1) / timesteps;
}
