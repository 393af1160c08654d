/**
 * Records a staged sampler's trajectory through its `onStep` / `onTransition` hooks as plain data:
 * the noise level and frame count at every step, the renoising jumps between stages, and
 * (optionally) snapshots of one sample, for figures, reports and notebooks.
 *
 * @module
 */
import type { StagePlan } from "./pyramid.ts";
import type { StepEvent, TransitionEvent } from "./samplers.ts";
import { framePositions } from "./temporal.ts";
import type { Video } from "./video.ts";

/** One sampler step. */
export interface TrajectoryStep {
  /** Global step index, 0-based, over all stages. */
  index: number;
  /** The stage index k. */
  k: number;
  /** The step within the stage. */
  step: number;
  /** t before the step. */
  t: number;
  /** t after the step. */
  tNext: number;
  /** σ(t): the noise level before the step. */
  sigma: number;
  /** σ(t_next). */
  sigmaNext: number;
  /** Frames at this stage. */
  frames: number;
}

/** One renoising transition between stages (Eqs. 14–16, corrected). */
export interface TrajectoryJump {
  /** The global index of the last step before the jump. */
  afterIndex: number;
  /** Stage left. */
  fromK: number;
  /** Stage entered. */
  toK: number;
  /** e of the stage left. */
  tFrom: number;
  /** s of the stage entered. */
  tTo: number;
  /** σ(e). */
  sigmaFrom: number;
  /** σ(s). */
  sigmaTo: number;
  /** The mean coefficient c. */
  c: number;
  /** The corrective noise scale α. */
  alpha: number;
  /** Frames before and after the upsampling. */
  framesFrom: number;
  /** Frames after. */
  framesTo: number;
}

/** A snapshot of one sample. */
export interface TrajectorySnapshot {
  /** `"step"` (x before a step), `"stage-end"` (x̂_e before renoising) or `"final"`. */
  kind: "step" | "stage-end" | "final";
  /** The global step index it belongs to. */
  index: number;
  /** The stage index k. */
  k: number;
  /** t of the snapshot. */
  t: number;
  /** Each frame's position on the full-rate grid. */
  positions: number[];
  /** The sample's values, [frames, height, width, channels]. */
  data: Float32Array;
}

/** A recorded trajectory. */
export interface Trajectory {
  /** The schedule's name. */
  schedule: string;
  /** Full-rate frames. */
  frames: number;
  /** Every step. */
  steps: TrajectoryStep[];
  /** Every transition. */
  jumps: TrajectoryJump[];
  /** Snapshots of sample `sample`, if kept. */
  snapshots: TrajectorySnapshot[];
  /** The sample the snapshots follow. */
  sample: number;
}

/** Options of {@link trajectoryRecorder}. */
export interface RecorderOptions {
  /** Which snapshots to keep: none, stage ends (and final), or every step (default stage ends). */
  keep?: "none" | "stage-ends" | "every-step";
  /** The sample to snapshot (default 0). */
  sample?: number;
}

/**
 * Makes hooks for `sampleStaged` that record its trajectory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cleanOracle, rectifiedFlow, sampleStaged, stagePlan, trajectoryRecorder, video } from "./mod.ts";
 *
 * const plan = stagePlan({ schedule: rectifiedFlow(), frames: 8, stages: 3, steps: 6 });
 * const recorder = trajectoryRecorder(plan);
 * const x0 = video({ frames: 8 }, new Float32Array(8).fill(0.5));
 * const out = await sampleStaged(plan, cleanOracle(x0, { plan, prediction: "velocity" }), {
 *   prediction: "velocity",
 *   ...recorder.hooks,
 * });
 * recorder.finish(out);
 * assert.equal(recorder.trajectory.steps.length, 6); // 2 steps in each of 3 stages
 * assert.equal(recorder.trajectory.jumps.length, 2); // 2 transitions
 * assert.deepEqual(recorder.trajectory.snapshots.map((s) => s.kind), ["stage-end", "stage-end", "final"]);
 * ```
 *
 * @param plan the plan being sampled
 * @param options which snapshots to keep
 * @returns the hooks to pass to the sampler, `finish` for its result, and the trajectory
 */
export function trajectoryRecorder(plan: StagePlan, options: RecorderOptions = {}): {
  hooks: {
    onStep: (event: StepEvent) => void;
    onTransition: (event: TransitionEvent) => void;
  };
  finish: (x: Video) => void;
  trajectory: Trajectory;
} {
  const keep = options.keep ?? "stage-ends", sample = options.sample ?? 0;
  const { schedule } = plan;
  const layout = plan.temporal.layout;
  const trajectory: Trajectory = {
    schedule: schedule.name,
    frames: plan.frames,
    steps: [],
    jumps: [],
    snapshots: [],
    sample,
  };
  const snap = (kind: TrajectorySnapshot["kind"], x: Video, k: number, t: number) => {
    const size = x.frames * x.height * x.width * x.channels;
    if (sample >= x.batch) throw new RangeError(`snapshot sample ${sample} ≥ batch ${x.batch}`);
    trajectory.snapshots.push({
      kind,
      index: trajectory.steps.length - 1,
      k,
      t,
      positions: framePositions(plan.frames, k, { layout }),
      data: Float32Array.from(x.data.subarray(sample * size, (sample + 1) * size)),
    });
  };
  return {
    hooks: {
      onStep: (event) => {
        trajectory.steps.push(stepRecord(event, trajectory.steps.length, schedule));
        if (keep === "every-step") snap("step", event.x, event.stage.k, event.t);
      },
      onTransition: (event) => {
        trajectory.jumps.push(jumpRecord(event, trajectory.steps.length - 1, schedule));
        if (keep !== "none") snap("stage-end", event.before, event.from.k, event.from.end);
      },
    },
    finish: (x) => {
      const last = plan.stages[plan.stageCount - 1];
      if (keep !== "none") snap("final", x, last.k, last.end);
    },
    trajectory,
  };
}

function stepRecord(
  { stage, step, t, tNext }: StepEvent,
  index: number,
  schedule: StagePlan["schedule"],
): TrajectoryStep {
  return {
    index,
    k: stage.k,
    step,
    t,
    tNext,
    sigma: schedule.sigma(t),
    sigmaNext: schedule.sigma(tNext),
    frames: stage.frames,
  };
}

function jumpRecord(
  { from, to, coefficients }: TransitionEvent,
  afterIndex: number,
  schedule: StagePlan["schedule"],
): TrajectoryJump {
  return {
    afterIndex,
    fromK: from.k,
    toK: to.k,
    tFrom: coefficients.from,
    tTo: coefficients.to,
    sigmaFrom: schedule.sigma(coefficients.from),
    sigmaTo: schedule.sigma(coefficients.to),
    c: coefficients.c,
    alpha: coefficients.alpha,
    framesFrom: from.frames,
    framesTo: to.frames,
  };
}
