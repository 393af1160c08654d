import assert from "node:assert/strict";
import { cleanOracle } from "../lib/oracle.ts";
import { stagePlan } from "../lib/pyramid.ts";
import { transitionCoefficients } from "../lib/renoise.ts";
import { sampleStaged, type TransitionEvent } from "../lib/samplers.ts";
import { vpSchedule } from "../lib/schedule.ts";
import { framePositions } from "../lib/temporal.ts";
import { trajectoryRecorder } from "../lib/trajectory.ts";
import { createRng, gaussianVideo, type Video } from "../lib/video.ts";

const SHAPE = { batch: 3, height: 2, width: 2, channels: 1 };

/** Samples the exact clean oracle of random videos through a recorder (and a witness hook). */
async function record(keep: "none" | "stage-ends" | "every-step", sample = 0, steps = [4, 3, 5]) {
  const schedule = vpSchedule({ beta: "cosine" });
  const plan = stagePlan({ schedule, frames: 8, stages: 3, steps });
  const x0 = gaussianVideo({ ...SHAPE, frames: 8 }, createRng(1), "float64");
  const recorder = trajectoryRecorder(plan, { keep, sample });
  const seen: { before: Video; event: TransitionEvent }[] = [];
  const out = await sampleStaged(plan, cleanOracle(x0, { plan, prediction: "velocity" }), {
    prediction: "velocity",
    start: { ...SHAPE, precision: "float64" },
    seed: 2,
    onStep: recorder.hooks.onStep,
    onTransition: (event) => {
      seen.push({ before: event.before, event });
      recorder.hooks.onTransition(event);
    },
  });
  recorder.finish(out);
  return { plan, out, seen, trajectory: recorder.trajectory };
}

/** Sample `b` of a video, as float32 (the snapshots' precision). */
const sampleOf = (x: Video, b: number) => {
  const n = x.frames * x.height * x.width * x.channels;
  return Float32Array.from(x.data.subarray(b * n, (b + 1) * n));
};

Deno.test("the recorder logs every step in order, with σ from the schedule and each stage's frames", async () => {
  const { plan, trajectory } = await record("none");
  assert.equal(trajectory.steps.length, 4 + 3 + 5);
  assert.equal(trajectory.schedule, plan.schedule.name);
  let index = 0;
  for (const stage of plan.stages) {
    const steps = trajectory.steps.filter((s) => s.k === stage.k);
    assert.deepEqual(steps.map((s) => s.step), [...Array(stage.steps).keys()]);
    assert.equal(steps[0].t, stage.start);
    assert.equal(steps.at(-1)!.tNext, stage.end);
    for (const s of steps) {
      assert.equal(s.index, index++);
      assert.equal(s.frames, stage.frames);
      assert.ok(s.tNext < s.t, `time decreases at step ${s.index}`);
      assert.equal(s.sigma, plan.schedule.sigma(s.t));
      assert.equal(s.sigmaNext, plan.schedule.sigma(s.tNext));
    }
  }
  assert.deepEqual(trajectory.snapshots, [], "keep: none keeps no snapshot");
});

Deno.test("each jump follows its stage's last step and carries the transition's c and α", async () => {
  const { plan, trajectory } = await record("none");
  assert.equal(trajectory.jumps.length, plan.stageCount - 1);
  let last = -1;
  trajectory.jumps.forEach((jump, i) => {
    const from = plan.stages[i], to = plan.stages[i + 1];
    last += from.steps;
    assert.equal(jump.afterIndex, last);
    assert.deepEqual([jump.fromK, jump.toK, jump.framesFrom, jump.framesTo], [
      from.k,
      to.k,
      from.frames,
      to.frames,
    ]);
    const want = transitionCoefficients(plan.schedule, {
      from: from.end,
      to: to.start,
      groupSize: plan.groupSize,
      coefficient: "corrected",
    });
    assert.deepEqual([jump.tFrom, jump.tTo, jump.c, jump.alpha], [
      from.end,
      to.start,
      want.c,
      want.alpha,
    ]);
    assert.equal(jump.sigmaTo, plan.schedule.sigma(to.start));
  });
});

Deno.test("snapshots copy the chosen sample: stage ends before renoising, the final video, or every step", async () => {
  for (const sample of [0, 2]) {
    const { plan, out, seen, trajectory } = await record("stage-ends", sample);
    assert.deepEqual(trajectory.snapshots.map((s) => s.kind), ["stage-end", "stage-end", "final"]);
    seen.forEach(({ before, event }, i) => {
      const snap = trajectory.snapshots[i];
      assert.deepEqual(snap.data, sampleOf(before, sample), `stage end ${i}, sample ${sample}`);
      assert.deepEqual(snap.positions, framePositions(plan.frames, event.from.k));
      assert.equal(snap.t, event.from.end);
    });
    assert.deepEqual(trajectory.snapshots[2].data, sampleOf(out, sample));
    assert.equal(trajectory.sample, sample);
  }
  const every = await record("every-step");
  assert.equal(every.trajectory.snapshots.length, 12 + 2 + 1);
  assert.deepEqual(
    every.trajectory.snapshots.filter((s) => s.kind === "step").map((s) => s.index),
    [...Array(12).keys()],
  );
});

Deno.test("a snapshot of a sample the batch lacks is refused", async () => {
  await assert.rejects(record("stage-ends", 3), /snapshot sample 3 ≥ batch 3/);
  await record("none", 3); // nothing is snapshotted, so nothing to refuse
});
