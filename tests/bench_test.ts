import assert from "node:assert/strict";
import { splitsFor } from "../bench/suite/inference.ts";
import { median, timeToReach } from "../bench/suite/util.ts";
import { type BenchResults, curves, upgradeResults } from "../bench/suite/report.ts";
import type { TrainingRun } from "../bench/suite/training.ts";
import { methodConfig } from "../bench/suite/training.ts";
import { splitSteps } from "../lib/mod.ts";

Deno.test("timeToReach() interpolates the first crossing and says never when the curve stays above", () => {
  assert.equal(timeToReach([10, 20, 30], [5, 3, 1], 4), 15);
  assert.equal(timeToReach([10, 20, 30], [5, 3, 1], 2), 25);
  assert.equal(timeToReach([10, 20, 30], [5, 3, 1], 6), 10, "reached at the first evaluation");
  assert.equal(timeToReach([10, 20], [5, 3], 1), undefined);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

Deno.test("splitsFor() gives uniform, coarse-heavy and fine-heavy splits whose steps add up", () => {
  assert.deepEqual(splitsFor(3), [[1, 1, 1], [2, 1, 1], [1, 1, 2]]);
  assert.deepEqual(splitsFor(2), [[1, 1], [2, 1], [1, 2]]);
  for (const K of [2, 3, 4]) {
    for (const split of splitsFor(K)) {
      for (const total of [10, 30]) {
        const steps = splitSteps(total, split);
        assert.equal(steps.reduce((a, b) => a + b, 0), total);
        assert.ok(steps.every((s) => s >= 1));
      }
    }
  }
});

Deno.test("methodConfig() differs between methods only in mode, stages and alignment", () => {
  const v = methodConfig("vp-epsilon", "vanilla", 300),
    a = methodConfig("vp-epsilon", "tpdiff-no-align", 300);
  const b = methodConfig("vp-epsilon", "tpdiff-align", 300);
  assert.deepEqual([v.mode, v.stages, v.align], ["vanilla", 1, false]);
  assert.deepEqual([a.mode, a.stages, a.align], ["pyramid", 3, false]);
  assert.deepEqual([b.mode, b.stages, b.align], ["pyramid", 3, true]);
  for (const c of [v, a, b]) {
    assert.deepEqual(
      [c.form, c.batch, c.learningRate, c.steps, c.warmup],
      ["vp-epsilon", 8, v.learningRate, 300, 60],
    );
  }
  assert.equal(
    methodConfig("flow-matching", "vanilla", 20).warmup,
    4,
    "warm-up is at most a fifth of a short run",
  );
});

Deno.test("curves() averages seeds evaluation by evaluation", () => {
  const run = (method: TrainingRun["method"], seed: number, fds: number[]): TrainingRun => ({
    form: "flow-matching",
    method,
    seed,
    plannedSteps: 10,
    steps: 10,
    msPerStep: 1,
    meanMsPerStep: 1,
    evals: fds.map((fd, i) => ({
      seconds: 10 * (i + 1) + seed,
      step: i,
      quality: { fd, mmd: 2 * fd } as TrainingRun["evals"][number]["quality"],
    })),
  });
  const cs = curves([
    run("vanilla", 0, [4, 2]),
    run("vanilla", 1, [6, 4]),
    run("tpdiff-align", 0, [3, 1]),
    run("tpdiff-align", 1, [3, 1, 0.5]),
    run("tpdiff-no-align", 0, [5, 5]),
  ], "flow-matching");
  const v = cs.find((c) => c.method === "vanilla")!;
  assert.deepEqual(v.fd, [5, 3]);
  assert.deepEqual(v.mmd, [10, 6]);
  assert.deepEqual(v.seconds, [10.5, 20.5]);
  assert.deepEqual(
    cs.find((c) => c.method === "tpdiff-align")!.fd,
    [3, 1],
    "cut to the shortest run",
  );
});

Deno.test("upgradeResults() renames the forms of results saved before they were spelled out", () => {
  const saved = {
    sizes: { training: { forms: ["fm", "ddim"] } },
    training: [{ form: "ddim" }, { form: "fm" }, { form: "flow-matching" }],
  } as unknown as BenchResults;
  const r = upgradeResults(saved);
  assert.deepEqual(r.sizes.training.forms, ["flow-matching", "vp-epsilon"]);
  assert.deepEqual(r.training.map((x) => x.form), ["vp-epsilon", "flow-matching", "flow-matching"]);
});
