/**
 * Symbolic derivations with mathjs that show where each coefficient comes from, for a schedule
 * given as expressions γ(t), σ(t), checked against the numeric code ({@link checkDerivations}).
 *
 * - {@link deriveStagePair}: ε_k and x̃₀,k as combinations of x̂_s and x̂_e (Eqs. 10–11).
 * - {@link deriveVelocity}: dγ/dt, dσ/dt and the velocity target γ̇ x̃₀,k + σ̇ ε_k.
 * - {@link deriveTransition}: the transition's c and α and the SNR condition (corrected Eq. 15).
 * - {@link deriveRectifiedFlowStart}: the corrected start for rectified flow in closed form, and why
 *   the printed Eq. 15 coefficient is γ_e rather than γ_s/γ_e.
 *
 * Every result carries its steps as LaTeX strings for notebooks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deriveStagePair } from "./derive.ts";
 * const d = deriveStagePair({ gamma: "1 - t", sigma: "t" });
 * assert.equal(d.det.text, "te - ts"); // γ_s σ_e − γ_e σ_s = e_k − s_k for rectified flow
 * // ε_k = (γ_s x̂_e − γ_e x̂_s)/det: at s = 0.5, e = 0.25 the coefficient of x̂_s is −0.75/−0.25
 * assert.equal(d.evaluate(0.5, 0.25).epsilon.start, 3);
 * ```
 *
 * @module
 */

import { derivative, type MathNode, parse, simplify } from "mathjs";
import { checkFinite } from "./checks.ts";
import { correctedStart } from "./pyramid.ts";
import { transitionCoefficients } from "./renoise.ts";
import { defineSchedule, type Schedule } from "./schedule.ts";
import { solveStagePair } from "./stagewise.ts";
import { video } from "./video.ts";

/** γ(t) and σ(t) as mathjs expressions in the variable `t`. */
export interface ScheduleExpressions {
  /** γ(t), e.g. `"1 - t"` or `"cos(t * pi / 2)"`. */
  gamma: string;
  /** σ(t), e.g. `"t"` or `"sin(t * pi / 2)"`. */
  sigma: string;
}

/** One step of a derivation: a sentence and its formula in LaTeX. */
export interface DerivationStep {
  /** What the step does, in words. */
  description: string;
  /** The formula, LaTeX without delimiters. */
  latex: string;
}

/** Symbol names used inside the derivations and how they print. */
const SYMBOLS: Record<string, string> = { ts: "s_k", te: "e_k", t: "t" };

/** A derived expression: mathjs text (symbols `ts` = s_k, `te` = e_k, `t`) and its LaTeX. */
export interface Expression {
  /** The expression as mathjs prints it, e.g. `"te - ts"`. */
  text: string;
  /** The same expression in LaTeX, with s_k, e_k and t. */
  latex: string;
}

function expression(node: MathNode): Expression {
  return { text: node.toString(), latex: toLatex(node) };
}

/** LaTeX of a mathjs node with the derivation's symbols printed as s_k, e_k and t. */
function toLatex(node: MathNode): string {
  return node.toTex({
    parenthesis: "auto",
    handler: (n: MathNode) => {
      const symbol = n as MathNode & { isSymbolNode?: boolean; name?: string };
      return symbol.isSymbolNode && symbol.name && SYMBOLS[symbol.name]
        ? ` ${SYMBOLS[symbol.name]} `
        : undefined;
    },
  }).replace(/\s+/g, " ").trim();
}

const EXPAND = [
  "n1*(n2+n3) -> n1*n2 + n1*n3",
  "n1*(n2-n3) -> n1*n2 - n1*n3",
  "(n1+n2)*n3 -> n1*n3 + n2*n3",
  "(n1-n2)*n3 -> n1*n3 - n2*n3",
];

const SIGN = ["n * -1 -> -n", "-1 * n -> -n"];

/** Simplifies with mathjs: expand products, then the default rules; falls back on failure. */
function simplifyExpression(node: MathNode | string): MathNode {
  const input = typeof node === "string" ? parse(node) : node;
  try {
    const expanded = simplify(input, [...EXPAND, ...simplify.rules] as never);
    // mathjs leaves a derivative's sign as a factor "· −1"; fold it into a leading minus.
    return simplify(simplify(expanded), [...simplify.rules, ...SIGN] as never);
  } catch {
    try {
      return simplify(input);
    } catch {
      return input;
    }
  }
}

function parseSchedule(expressions: ScheduleExpressions): { gamma: MathNode; sigma: MathNode } {
  if (
    !expressions || typeof expressions.gamma !== "string" || typeof expressions.sigma !== "string"
  ) {
    throw new TypeError(
      `schedule expressions must be { gamma: string, sigma: string } in the variable t; got ${
        JSON.stringify(expressions)
      }`,
    );
  }
  const read = (name: string, text: string) => {
    try {
      return parse(text);
    } catch (error) {
      throw new SyntaxError(
        `${name}(t) = ${JSON.stringify(text)} is not a mathjs expression: ${
          (error as Error).message
        }`,
      );
    }
  };
  return { gamma: read("gamma", expressions.gamma), sigma: read("sigma", expressions.sigma) };
}

/** Replaces the symbol `t` by `symbol` (a new node; the input is unchanged). */
function at(node: MathNode, symbol: string): MathNode {
  return node.transform((n: MathNode) => {
    const s = n as MathNode & { isSymbolNode?: boolean; name?: string };
    return s.isSymbolNode && s.name === "t" ? parse(symbol) : n;
  });
}

function evaluator(node: MathNode): (scope: Record<string, number>) => number {
  const compiled = node.compile();
  return (scope) => Number(compiled.evaluate({ ...scope }));
}

/** The result of {@link deriveStagePair}. */
export interface StagePairDerivation {
  /** γ_s σ_e − γ_e σ_s, simplified, in the symbols `ts`, `te`. */
  det: Expression;
  /** ε_k = start·x̂_s + end·x̂_e (Eq. 11). */
  epsilon: { start: Expression; end: Expression };
  /** x̃₀,k = start·x̂_s + end·x̂_e. */
  x0: { start: Expression; end: Expression };
  /** The derivation, step by step. */
  steps: DerivationStep[];
  /** Evaluates every coefficient at s_k = `start`, e_k = `end`. */
  evaluate(start: number, end: number): {
    det: number;
    epsilon: { start: number; end: number };
    x0: { start: number; end: number };
  };
}

/**
 * Derives the stage pair by Cramer's rule on the two ends of Eq. 10:
 * γ_s x̃₀ + σ_s ε_k = x̂_s and γ_e x̃₀ + σ_e ε_k = x̂_e.
 *
 * @param expressions γ(t) and σ(t)
 */
export function deriveStagePair(expressions: ScheduleExpressions): StagePairDerivation {
  const { gamma, sigma } = parseSchedule(expressions);
  const gs = at(gamma, "ts"), ge = at(gamma, "te"), ss = at(sigma, "ts"), se = at(sigma, "te");
  const detRaw = parse(`(${gs}) * (${se}) - (${ge}) * (${ss})`);
  const det = simplifyExpression(detRaw);
  const over = (num: string) => simplifyExpression(parse(`(${num}) / (${det})`));
  const epsilon = { start: over(`-(${ge})`), end: over(`${gs}`) };
  const x0 = { start: over(`${se}`), end: over(`-(${ss})`) };
  const fns = {
    det: evaluator(det),
    es: evaluator(epsilon.start),
    ee: evaluator(epsilon.end),
    xs: evaluator(x0.start),
    xe: evaluator(x0.end),
  };
  const steps: DerivationStep[] = [
    {
      description:
        "Eq. 10 says the stage path is a vanilla path with its own data and noise; evaluate it at both ends",
      latex: String
        .raw`\gamma(s_k)\,\tilde x_{0,k} + \sigma(s_k)\,\epsilon_k = \hat x_{s_k},\qquad \gamma(e_k)\,\tilde x_{0,k} + \sigma(e_k)\,\epsilon_k = \hat x_{e_k}`,
    },
    {
      description: "Cramer's rule on this 2×2 system (the first line is Eq. 11)",
      latex: String
        .raw`\epsilon_k = \frac{\gamma(s_k)\,\hat x_{e_k} - \gamma(e_k)\,\hat x_{s_k}}{\gamma(s_k)\sigma(e_k) - \gamma(e_k)\sigma(s_k)},\qquad \tilde x_{0,k} = \frac{\sigma(e_k)\,\hat x_{s_k} - \sigma(s_k)\,\hat x_{e_k}}{\gamma(s_k)\sigma(e_k) - \gamma(e_k)\sigma(s_k)}`,
    },
    {
      description:
        `With γ(t) = ${expressions.gamma} and σ(t) = ${expressions.sigma}, the determinant is`,
      latex: String.raw`\gamma(s_k)\sigma(e_k) - \gamma(e_k)\sigma(s_k) = ${toLatex(det)}`,
    },
    {
      description: "so the stage noise is",
      latex: String.raw`\epsilon_k = \left(${toLatex(epsilon.start)}\right)\hat x_{s_k} + \left(${
        toLatex(epsilon.end)
      }\right)\hat x_{e_k}`,
    },
    {
      description: "and the stage data is",
      latex: String.raw`\tilde x_{0,k} = \left(${toLatex(x0.start)}\right)\hat x_{s_k} + \left(${
        toLatex(x0.end)
      }\right)\hat x_{e_k}`,
    },
  ];
  return {
    det: expression(det),
    epsilon: { start: expression(epsilon.start), end: expression(epsilon.end) },
    x0: { start: expression(x0.start), end: expression(x0.end) },
    steps,
    evaluate(start, end) {
      const scope = { ts: start, te: end };
      return {
        det: fns.det(scope),
        epsilon: { start: fns.es(scope), end: fns.ee(scope) },
        x0: { start: fns.xs(scope), end: fns.xe(scope) },
      };
    },
  };
}

/** The result of {@link deriveVelocity}. */
export interface VelocityDerivation {
  /** dγ/dt. */
  dGamma: Expression;
  /** dσ/dt. */
  dSigma: Expression;
  /** The derivation, step by step. */
  steps: DerivationStep[];
  /** Evaluates dγ/dt and dσ/dt at t. */
  evaluate(t: number): { dGamma: number; dSigma: number };
}

/**
 * Differentiates the schedule: the global-time velocity target is dx_t/dt = γ̇ x̃₀,k + σ̇ ε_k
 * (tpdiff-math.md §1.6 (c)); for rectified flow it is ε_k − x̃₀,k = (x̂_s − x̂_e)/(s_k − e_k), Eq. 13
 * divided by the stage length.
 *
 * @param expressions γ(t) and σ(t)
 */
export function deriveVelocity(expressions: ScheduleExpressions): VelocityDerivation {
  const { gamma, sigma } = parseSchedule(expressions);
  const dg = simplifyExpression(derivative(gamma, "t"));
  const ds = simplifyExpression(derivative(sigma, "t"));
  const fg = evaluator(dg), fs = evaluator(ds);
  return {
    dGamma: expression(dg),
    dSigma: expression(ds),
    steps: [
      {
        description:
          "Differentiate x_t = γ(t) x̃₀,k + σ(t) ε_k in t, with x̃₀,k and ε_k fixed on the stage",
        latex: String
          .raw`\frac{dx_t}{dt} = \dot\gamma(t)\,\tilde x_{0,k} + \dot\sigma(t)\,\epsilon_k`,
      },
      {
        description: "For this schedule",
        latex: String.raw`\dot\gamma(t) = ${toLatex(dg)},\qquad \dot\sigma(t) = ${toLatex(ds)}`,
      },
      {
        description:
          "In the stage's local time t' = (t − e_k)/(s_k − e_k) the velocity is (s_k − e_k) times this (Eq. 13)",
        latex: String.raw`\frac{dx_t}{dt'} = (s_k - e_k)\,\frac{dx_t}{dt}`,
      },
    ],
    evaluate: (t) => ({ dGamma: fg({ t }), dSigma: fs({ t }) }),
  };
}

/** The result of {@link deriveTransition}. */
export interface TransitionDerivation {
  /** c = γ(s)/γ(e), in `ts` (= s) and `te` (= e). */
  c: Expression;
  /** α = σ(s)·√((r − 1)/r), the corrective noise scale at equality. */
  alpha: Expression;
  /** The derivation, step by step. */
  steps: DerivationStep[];
  /** Evaluates c and α for the transition from e (`from`) to s (`to`). */
  evaluate(from: number, to: number): { c: number; alpha: number };
}

/**
 * Derives the corrected transition (tpdiff-math.md §1.9): matching the mean of c·Up(x̂_e) + w to
 * γ_s U x₀ gives c = γ_s/γ_e; matching the covariance within a group of r copies,
 * c²σ_e² 11ᵀ + Cov(w) = σ_s² I, with zero-sum noise needs c²σ_e² = σ_s²/r, i.e.
 * SNR_s = SNR_e / r, and then α = σ_s √((r − 1)/r) (σ_s/√2 for pairs).
 *
 * @param expressions γ(t) and σ(t)
 * @param groupSize r (2 for a temporal ×2)
 */
export function deriveTransition(
  expressions: ScheduleExpressions,
  groupSize = 2,
): TransitionDerivation {
  const { gamma, sigma } = parseSchedule(expressions);
  const r = checkFinite("groupSize", groupSize, 1);
  const c = simplifyExpression(parse(`(${at(gamma, "ts")}) / (${at(gamma, "te")})`));
  const alpha = parse(`(${at(sigma, "ts")}) * sqrt(${(r - 1) / r})`);
  const fc = evaluator(c), fa = evaluator(alpha);
  return {
    c: expression(c),
    alpha: expression(alpha),
    steps: [
      {
        description:
          "The renoised start (Eq. 14 with the corrected indices of tpdiff-math.md §1.9)",
        latex: String
          .raw`\hat x_{s} = c\,\mathrm{Up}(\hat x_{e}) + \alpha\,n',\qquad n' \sim \mathcal N(0, \Sigma')`,
      },
      {
        description: "Mean matching against the training start γ_s U x₀",
        latex: String
          .raw`c\,\gamma_e = \gamma_s \;\Rightarrow\; c = \frac{\gamma(s)}{\gamma(e)} = ${
          toLatex(c)
        }`
          .replace(/s_k/g, "s").replace(/e_k/g, "e"),
      },
      {
        description: `Covariance matching inside a group of r = ${r} copies (Eq. 19)`,
        latex: String.raw`c^2\sigma_e^2\,\mathbf 1\mathbf 1^\top + \alpha^2\Sigma' = \sigma_s^2 I`,
      },
      {
        description:
          "Zero-sum noise (ρ = −1/(r − 1)) solves it exactly when the SNR halves per doubling",
        latex: String
          .raw`c^2\sigma_e^2 = \frac{\sigma_s^2}{r} \;\Leftrightarrow\; \mathrm{SNR}_s = \frac{\mathrm{SNR}_e}{r},\qquad \alpha = \sigma_s\sqrt{\tfrac{r-1}{r}}`,
      },
    ],
    evaluate: (from, to) => ({ c: fc({ ts: to, te: from }), alpha: fa({ ts: to, te: from }) }),
  };
}

/** The result of {@link deriveRectifiedFlowStart}. */
export interface RectifiedFlowStartDerivation {
  /** s(e) = √2 e / (1 − e + √2 e). */
  start: Expression;
  /** c(e) = 1 / (1 − e + √2 e). */
  c: Expression;
  /** α(e) = s(e)/√2. */
  alpha: Expression;
  /** The paper's printed Eq. 15 coefficient √2γ_s/(σ_s + √2γ_s) as a function of e. */
  printed: Expression;
  /** The derivation, step by step. */
  steps: DerivationStep[];
  /** Evaluates s, c, α and the printed coefficient at end time e. */
  evaluate(end: number): { start: number; c: number; alpha: number; printed: number };
}

/**
 * The corrected start of rectified flow in closed form (tpdiff-math.md §1.9): from
 * ((1 − s)/s)² = ((1 − e)/e)² / 2 follows s = √2 e/(1 − e + √2 e), c = (1 − s)/(1 − e) =
 * 1/(1 − e + √2 e) and α = c e = s/√2. The printed Eq. 15 coefficient evaluates to 1 − e = γ_e.
 */
export function deriveRectifiedFlowStart(): RectifiedFlowStartDerivation {
  const start = parse("sqrt(2) * te / (1 - te + sqrt(2) * te)");
  const c = parse("1 / (1 - te + sqrt(2) * te)");
  const alpha = parse("te / (1 - te + sqrt(2) * te)");
  const printed = parse(
    `sqrt(2) * (1 - (${start})) / ((${start}) + sqrt(2) * (1 - (${start})))`,
  );
  const f = { s: evaluator(start), c: evaluator(c), a: evaluator(alpha), p: evaluator(printed) };
  return {
    start: expression(start),
    c: expression(c),
    alpha: expression(alpha),
    printed: expression(printed),
    steps: [
      {
        description:
          "Rectified flow: γ = 1 − t, σ = t, so SNR(t) = ((1 − t)/t)²; require SNR(s) = SNR(e)/2",
        latex: String.raw`\frac{1-s}{s} = \frac{1-e}{\sqrt2\,e}`,
      },
      {
        description: "Solve for s",
        latex: String.raw`s = ${toLatex(start)}`.replace(/e_k/g, "e"),
      },
      {
        description: "The mean coefficient c = γ(s)/γ(e) = (1 − s)/(1 − e)",
        latex: String.raw`c = ${toLatex(c)}`.replace(/e_k/g, "e"),
      },
      {
        description: "The corrective noise scale α = σ(s)/√2 = c·σ(e)",
        latex: String.raw`\alpha = ${toLatex(alpha)} = \frac{s}{\sqrt 2}`.replace(/e_k/g, "e"),
      },
      {
        description:
          "The paper's printed Eq. 15 coefficient is the solved end signal γ_e itself, not the ratio γ_s/γ_e",
        latex: String
          .raw`\frac{\sqrt2\,\gamma_s}{\sigma_s + \sqrt2\,\gamma_s} = 1 - e = \gamma_e \neq \frac{\gamma_s}{\gamma_e}`,
      },
    ],
    evaluate(end) {
      const scope = { te: checkFinite("end", end, 0, 1) };
      return { start: f.s(scope), c: f.c(scope), alpha: f.a(scope), printed: f.p(scope) };
    },
  };
}

/** Largest absolute differences between each derivation and the numeric code. */
export interface DerivationCheck {
  /** ε_k and x̃₀,k coefficients against `solveStagePair`. */
  stagePair: number;
  /** dγ/dt and dσ/dt against `schedule.at(t)`. */
  velocity: number;
  /** c and α against `transitionCoefficients` at corrected starts. */
  transition: number;
  /** s, c, α of the closed form against `correctedStart` and `transitionCoefficients` (rectified flow only). */
  rectifiedFlowStart?: number;
}

/**
 * Evaluates every derivation for `schedule` (which must carry `expressions`) at `points` interior
 * times and returns the largest absolute error of each against the numeric functions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkDerivations } from "./derive.ts";
 * import { rectifiedFlow } from "./schedule.ts";
 * const check = checkDerivations(rectifiedFlow());
 * // The symbolic coefficients match the numeric library's at every point checked.
 * assert.ok(Math.max(check.stagePair, check.velocity, check.transition) < 1e-9);
 * ```
 *
 * @param schedule a schedule with `expressions`
 * @param points number of evaluation points (default 7)
 */
export function checkDerivations(schedule: Schedule, points = 7): DerivationCheck {
  if (!schedule.expressions) {
    throw new TypeError(`schedule ${schedule.name} has no closed-form expressions to derive from`);
  }
  const pair = deriveStagePair(schedule.expressions);
  const vel = deriveVelocity(schedule.expressions);
  const trans = deriveTransition(schedule.expressions, 2);
  const unit = (value: number) => video({ frames: 1 }, new Float64Array([value]));
  let stagePair = 0, velocity = 0, transition = 0;
  for (let i = 1; i <= points; i++) {
    const e = (0.9 * i) / (points + 1), s = Math.min(0.999, e + 0.05 + 0.3 * (i / points));
    const symbolic = pair.evaluate(s, e);
    const stage = { start: s, end: e };
    const fromStart = solveStagePair({ start: unit(1), end: unit(0) }, { stage, schedule });
    const fromEnd = solveStagePair({ start: unit(0), end: unit(1) }, { stage, schedule });
    stagePair = Math.max(
      stagePair,
      Math.abs(symbolic.epsilon.start - fromStart.epsilon.data[0]),
      Math.abs(symbolic.epsilon.end - fromEnd.epsilon.data[0]),
      Math.abs(symbolic.x0.start - fromStart.x0.data[0]),
      Math.abs(symbolic.x0.end - fromEnd.x0.data[0]),
    );
    const t = i / (points + 1), numeric = schedule.at(t), d = vel.evaluate(t);
    velocity = Math.max(
      velocity,
      Math.abs(d.dGamma - numeric.dGamma),
      Math.abs(d.dSigma - numeric.dSigma),
    );
    const to = correctedStart(schedule, e);
    const coefficients = transitionCoefficients(schedule, { from: e, to });
    const derived = trans.evaluate(e, to);
    transition = Math.max(
      transition,
      Math.abs(derived.c - coefficients.c),
      Math.abs(derived.alpha - coefficients.alpha),
    );
  }
  const result: DerivationCheck = { stagePair, velocity, transition };
  if (
    schedule.expressions.gamma.replace(/\s/g, "") === "1-t" &&
    schedule.expressions.sigma.trim() === "t"
  ) {
    const rf = deriveRectifiedFlowStart();
    let err = 0;
    for (let i = 1; i <= points; i++) {
      const e = i / (points + 1), closed = rf.evaluate(e);
      const to = correctedStart(schedule, e);
      const coefficients = transitionCoefficients(schedule, { from: e, to });
      err = Math.max(
        err,
        Math.abs(closed.start - to),
        Math.abs(closed.c - coefficients.c),
        Math.abs(closed.alpha - coefficients.alpha),
      );
    }
    result.rectifiedFlowStart = err;
  }
  return result;
}

/**
 * A numeric schedule from expressions γ(t), σ(t) (for the notebooks' "your own schedule" cell):
 * compiled with mathjs, differentiated symbolically, λ inverted by bisection.
 *
 * @param expressions γ(t) and σ(t)
 * @param name an optional name
 * @returns the schedule, carrying `expressions`
 */
export function scheduleFromExpressions(
  expressions: ScheduleExpressions,
  name = "custom",
): Schedule {
  const { gamma, sigma } = parseSchedule(expressions);
  const g = evaluator(gamma), s = evaluator(sigma);
  const dg = evaluator(derivative(gamma, "t")), ds = evaluator(derivative(sigma, "t"));
  return defineSchedule({
    name,
    gamma: (t) => g({ t }),
    sigma: (t) => s({ t }),
    dGamma: (t) => dg({ t }),
    dSigma: (t) => ds({ t }),
    expressions,
  });
}
