/**
 * `deno task demo`: the maths library end to end, with nothing to download or train.
 *
 * Builds a stage plan, samples videos from a Gaussian video prior (frames correlated as
 * Σ_ij = ρ^|i−j|) with the exact oracle through the staged sampler, and prints the stage table, the
 * transitions, the covariance error of the samples against Σ, and the same for vanilla sampling and
 * for the paper's printed Eq. 15 coefficient.
 *
 * Flags: --schedule rf|vp  --stages K  --frames F  --steps N  --samples B  --rho ρ  --seed S
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  costFraction,
  formatPlan,
  gaussianOracle,
  type PredictionKind,
  rectifiedFlow,
  sampleStaged,
  speedupBound,
  type StagePlan,
  stagePlan,
  type TransitionCoefficient,
  transitionCoefficients,
  vpSchedule,
} from "../lib/mod.ts";

const USAGE = `usage: deno task demo [--schedule rf|vp] [--stages K] [--frames F] [--steps N]
                      [--samples B] [--rho R] [--seed S]`;

/** Parsed and validated demo options. */
interface DemoOptions {
  schedule: "rf" | "vp";
  stages: number;
  frames: number;
  steps: number;
  samples: number;
  rho: number;
  seed: number;
}

function fail(message: string): never {
  console.error(`demo: ${message}\n${USAGE}`);
  Deno.exit(2);
}

function integerFlag(name: string, text: string, min: number, max: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min || v > max) {
    fail(`--${name} must be an integer in [${min}, ${max}]; got ${JSON.stringify(text)}`);
  }
  return v;
}

function parse(args: string[]): DemoOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        schedule: { type: "string", default: "rf" },
        stages: { type: "string", default: "3" },
        frames: { type: "string", default: "8" },
        steps: { type: "string", default: "" },
        samples: { type: "string", default: "50000" },
        rho: { type: "string", default: "0.9" },
        seed: { type: "string", default: "0" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (values.schedule !== "rf" && values.schedule !== "vp") {
    fail(`--schedule must be "rf" or "vp"; got ${JSON.stringify(values.schedule)}`);
  }
  const rho = Number(values.rho);
  if (!(Math.abs(rho) < 1)) {
    fail(`--rho must be a number in (-1, 1); got ${JSON.stringify(values.rho)}`);
  }
  const stages = integerFlag("stages", values.stages!, 1, 6);
  // DDIM with uniform steps needs many more of them than Heun for the same accuracy.
  const defaultSteps = values.schedule === "rf" ? 10 * stages : 100 * stages;
  return {
    schedule: values.schedule,
    stages,
    frames: integerFlag("frames", values.frames!, 1, 64),
    steps: values.steps ? integerFlag("steps", values.steps, stages, 100_000) : defaultSteps,
    samples: integerFlag("samples", values.samples!, 100, 1_000_000),
    rho,
    seed: integerFlag("seed", values.seed!, 0, 2 ** 31),
  };
}

async function main(): Promise<void> {
  const options = parse(Deno.args);
  const schedule = options.schedule === "rf" ? rectifiedFlow() : vpSchedule({ beta: "linear" });
  const prediction: PredictionKind = options.schedule === "rf" ? "velocity" : "epsilon";
  const F = options.frames;
  const sigma = new Float64Array(F * F).map((_, i) =>
    options.rho ** Math.abs((i % F) - Math.floor(i / F))
  );
  let plan;
  try {
    plan = stagePlan({ schedule, frames: F, stages: options.stages, steps: options.steps });
  } catch (error) {
    fail((error as Error).message);
  }
  console.log(
    `TPDiff demo: ${schedule.name}, K = ${plan.stageCount}, F = ${F}, ${options.steps} steps`,
  );
  console.log(
    `prior: ${F} frames, Σ_ij = ${options.rho}^|i−j|; predictor: exact Gaussian oracle (${prediction})\n`,
  );
  printPlan(plan);
  console.log(
    `\n${options.samples} samples each (Monte Carlo error ≈ ${
      (3 * Math.sqrt(2 / options.samples)).toFixed(3)
    }):`,
  );
  const run = (label: string, which: StagePlan, transition: TransitionCoefficient) =>
    compareCovariance(label, { plan: which, prediction, sigma, transition }, options);
  await run(`TPDiff, K = ${plan.stageCount}, corrected Eq. 15`, plan, "corrected");
  if (plan.stageCount > 1) await run("TPDiff, paper's printed Eq. 15", plan, "printed-eq15");
  const vanilla = stagePlan({ schedule, frames: F, stages: 1, steps: options.steps });
  await run("vanilla (K = 1)", vanilla, "corrected");
}

/** The plan table, its compute against vanilla, and each transition's c and α. */
function printPlan(plan: StagePlan): void {
  console.log(formatPlan(plan));
  console.log(
    `\ncompute vs vanilla: ${costFraction(plan, 1).toFixed(4)} frame-linear (bound ${
      speedupBound(plan, 1).toFixed(3)
    }x), ${costFraction(plan, 2).toFixed(4)} attention (bound ${
      speedupBound(plan, 2).toFixed(3)
    }x)`,
  );
  for (const stage of plan.stages.slice(1)) {
    const previous = plan.stages[stage.index - 1];
    const t = transitionCoefficients(plan.schedule, { from: previous.end, to: stage.start });
    console.log(
      `transition ${previous.k} → ${stage.k}: e = ${t.from.toFixed(6)} → s = ${t.to.toFixed(6)}, ` +
        `c = ${t.c.toFixed(8)}, α = ${t.alpha.toFixed(8)}`,
    );
  }
}

/**
 * Samples the Gaussian prior through the plan with its exact oracle and prints the largest
 * distance between the samples' covariance and Σ.
 */
async function compareCovariance(
  label: string,
  run: {
    plan: StagePlan;
    prediction: PredictionKind;
    sigma: Float64Array;
    transition: TransitionCoefficient;
  },
  options: { samples: number; seed: number },
): Promise<void> {
  const { plan, prediction, sigma } = run;
  const F = plan.frames;
  const predict = gaussianOracle({
    mean: new Float64Array(F),
    covariance: sigma,
    plan,
    prediction,
  });
  const started = performance.now();
  const x = await sampleStaged(plan, predict, {
    prediction,
    solver: prediction === "velocity" ? "heun" : "ddim",
    start: { batch: options.samples, precision: "float64" },
    seed: options.seed,
    transition: run.transition,
  });
  const seconds = (performance.now() - started) / 1000;
  let worst = 0;
  for (let i = 0; i < F; i++) {
    for (let j = 0; j < F; j++) {
      let s = 0;
      for (let b = 0; b < x.batch; b++) s += x.data[b * F + i] * x.data[b * F + j];
      worst = Math.max(worst, Math.abs(s / x.batch - sigma[i * F + j]));
    }
  }
  console.log(`${label.padEnd(34)} max |Ĉ − Σ| = ${worst.toFixed(4)}   (${seconds.toFixed(2)} s)`);
}

if (import.meta.main) await main();
