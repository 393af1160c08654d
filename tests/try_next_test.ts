/**
 * Every "What to try next" suggestion in the notebooks, executed. Each entry below edits a notebook
 * the way its bullet says, runs it headless on the repo's Deno kernel with one cell appended, and
 * that cell asserts the effect the bullet promises (it sees the notebook's variables). A first test
 * checks, without a kernel, that every bullet has an entry and every edit applies exactly once.
 *
 * Notebook 05's budget suggestion runs at 30 s against 5 s (not 60 against 600) to fit CI; its
 * claims are about the direction of the change, which is the same.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { task, TINY } from "./task_helpers.ts";

/** One suggestion, as a parameterised re-run of its notebook. */
interface Suggestion {
  /** The notebook's number, e.g. "01". */
  notebook: string;
  /** Words of the bullet this executes (whitespace-insensitive). */
  bullet: string;
  /** [old, new] replacements in the code cells; each old text must occur exactly once. */
  edits: [string, string][];
  /** Environment for the kernel. */
  env?: Record<string, string>;
  /** Run the code cells up to this cell index only (the check needs no more). */
  lastCell?: number;
  /** Prepares files the run needs (in a temporary folder) and returns more environment. */
  setup?: (dir: string) => Promise<Record<string, string>>;
  /** TypeScript appended as the last cell: asserts the promised effect (`assert` is imported). */
  check: string;
}

const SUGGESTIONS: Suggestion[] = [
  // ---- 01 · From one diffusion to K stages
  {
    notebook: "01",
    bullet: "Set `STAGES = 4` or `FRAMES = 32`",
    edits: [["const FRAMES = 16, STAGES = 3,", "const FRAMES = 16, STAGES = 4,"]],
    check: `
      assert.deepEqual(plan.stages.map((s) => s.frames), [2, 4, 8, 16]);
      assert.equal(labels.length, 4); // the interval plot
      assert.deepEqual(costRows.map((r) => r[1]), ["16", "8 → 16", "4 → 8 → 16", "2 → 4 → 8 → 16"]);
      assert.deepEqual(detail.map((d) => d.stage.k), [4, 3, 2]); // the dropped-detail plot`,
  },
  {
    notebook: "01",
    bullet: "Set `STAGES = 4` or `FRAMES = 32`",
    edits: [["const FRAMES = 16, STAGES = 3,", "const FRAMES = 32, STAGES = 3,"]],
    check: `
      assert.deepEqual(plan.stages.map((s) => s.frames), [8, 16, 32]);
      assert.deepEqual(costRows.map((r) => r[1]), ["32", "16 → 32", "8 → 16 → 32", "4 → 8 → 16 → 32"]);
      assert.equal(x0.frames, 32);
      assert.deepEqual(detail.map((d) => d.stage.k), [3, 2]);`,
  },
  {
    notebook: "01",
    bullet: 'Set `SCHEDULE = vpSchedule({ beta: "cosine" })`',
    edits: [["SCHEDULE = rectifiedFlow();", 'SCHEDULE = vpSchedule({ beta: "cosine" });']],
    check: `
      const rf = stagePlan({ schedule: rectifiedFlow(), frames: FRAMES, stages: STAGES, steps: 30 });
      // The corrected starts move ...
      for (const [i, s] of plan.stages.entries()) {
        if (s.k < STAGES) assert.ok(Math.abs(s.start - rf.stages[i].start) > 1e-3, \`k = \${s.k}\`);
      }
      // ... and λ(s_{k−1}) = λ(e_k) − ½ ln 2 still holds at every transition.
      for (let i = 1; i < plan.stages.length; i++) {
        const e = plan.stages[i - 1].end, s = plan.stages[i].start;
        assert.ok(Math.abs(SCHEDULE.lambda(s) - (SCHEDULE.lambda(e) - Math.log(2) / 2)) < 1e-8);
      }
      assert.match(schedule.name, /cosine/); // the dropped-detail plot follows`,
  },
  {
    notebook: "01",
    bullet: "Pass `boundaries: [0.2, 0.5]` to `stagePlan`",
    edits: [[
      "stages: STAGES, steps: 30 });",
      "stages: STAGES, steps: 30, boundaries: [0.2, 0.5] });",
    ]],
    check: `
      const uniform = stagePlan({ schedule: SCHEDULE, frames: FRAMES, stages: STAGES, steps: 30 });
      const full = (p: typeof plan) => p.stages.find((s) => s.k === 1)!;
      assert.equal(full(plan).nominalStart, 0.2);
      assert.ok(full(plan).start - full(plan).end < full(uniform).start - full(uniform).end);`,
  },
  // ---- 02 · The partitioned PF-ODE
  {
    notebook: "02",
    bullet: 'Try `gamma: "1 - t", sigma: "t"`',
    edits: [[
      'const expressions = { gamma: "cos(pi * t / 2)", sigma: "sin(pi * t / 2)" };',
      'const expressions = { gamma: "1 - t", sigma: "t" };',
    ]],
    check: `
      assert.match(pair.steps[2].latex, /= e_k - s_k$/); // the determinant
      // Eq. 13: (s − e)·(ε_k − x̃₀,k) has coefficient 1 on x̂_s and −1 on x̂_e, at any (s, e).
      for (const [s, e] of [[1, 0.6], [0.7, 0.3], [0.4, 0]]) {
        const c = pair.evaluate(s, e);
        assert.ok(Math.abs((s - e) * (c.epsilon.start - c.x0.start) - 1) < 1e-12);
        assert.ok(Math.abs((s - e) * (c.epsilon.end - c.x0.end) + 1) < 1e-12);
      }`,
  },
  {
    notebook: "02",
    bullet: "Try a shifted schedule",
    edits: [[
      'const expressions = { gamma: "cos(pi * t / 2)", sigma: "sin(pi * t / 2)" };',
      'const expressions = { gamma: "1 - 3*t/(1 + 2*t)", sigma: "3*t/(1 + 2*t)" };',
    ]],
    check: `
      assert.ok(check.stagePair < 1e-9, \`stage pair \${check.stagePair}\`);
      assert.ok(check.velocity < 1e-9, \`velocity \${check.velocity}\`);`,
  },
  // ---- 03 · Stage transitions
  {
    notebook: "03",
    bullet: 'Set `transition: "printed-eq15"` with only 2 stages',
    edits: [[
      "const plan = stagePlan({ schedule, frames, stages: 3, steps: 60 });",
      "const plan = stagePlan({ schedule, frames, stages: 2, steps: 60 });",
    ]],
    check: `
      const worst = (name: string) =>
        Math.max(...estimates[name].map((v, i) => Math.abs(v - covariance[i])));
      assert.equal(plan.stages.length, 2);
      assert.ok(worst("TPDiff, corrected") < 0.05, \`corrected \${worst("TPDiff, corrected")}\`);
      assert.ok(worst("TPDiff, printed Eq. 15") > 0.2, \`printed \${worst("TPDiff, printed Eq. 15")}\`);`,
  },
  {
    notebook: "03",
    bullet: "Change $\\Sigma$ to $0.5^{|i-j|}$",
    edits: [["0.9 ** Math.abs(", "0.5 ** Math.abs("]],
    check: `
      const worst = (name: string) =>
        Math.max(...estimates[name].map((v, i) => Math.abs(v - covariance[i])));
      assert.ok(worst("TPDiff, corrected") < 0.05, \`corrected \${worst("TPDiff, corrected")}\`);
      const printed = estimates["TPDiff, printed Eq. 15"];
      [0.26, 0.53, 0.36, 0.64, 0.26, 0.53, 0.36, 0.71].forEach((v, f) => {
        const variance = printed[f * frames + f];
        assert.ok(Math.abs(variance - v) < 0.03, \`frame \${f}: \${variance}\`);
      });`,
  },
  // ---- 04 · Data-noise alignment
  {
    notebook: "04",
    bullet: 'Set `METRIC = "squared-l2"` and use `createRng(35)`',
    edits: [
      ['METRIC: AlignMetric = "l2"', 'METRIC: AlignMetric = "squared-l2"'],
      ["createRng(3)", "createRng(35)"],
    ],
    lastCell: 3,
    check: `
      const byL2 = alignNoise(x, noise, { metric: "l2" }).permutation;
      assert.notDeepEqual(Array.from(aligned.permutation), Array.from(byL2));
      // The heatmap shows squared distances, and the printout says so.
      const d = x.data.length / B;
      let first = 0;
      for (let i = 0; i < d; i++) first += (x.data[i] - noise.data[i]) ** 2;
      assert.ok(Math.abs(cost[0] - first) < 1e-9 * first);
      assert.equal(distance, "‖x − ε‖²");`,
  },
  {
    notebook: "04",
    bullet: "Make the videos smaller",
    edits: [[
      "size = { frames: 8, height: 16, width: 16 }",
      "size = { frames: 4, height: 8, width: 8 }",
    ]],
    lastCell: 2,
    check: `
      const gain = (a: typeof aligned) => 1 - a.cost.aligned / a.cost.identity;
      const before = { frames: 8, height: 16, width: 16 }, s = { batch: B, ...before, channels: 1 };
      const videos = generateDataset(datasetParams({ kind: "balls", count: B, ...before, seed: 2 }));
      const x16 = video(s, toModelSpace(videos, Array.from({ length: B }, (_, i) => i)));
      const a16 = alignNoise(x16, gaussianVideo(s, createRng(3)), { metric: "l2" });
      assert.ok(gain(aligned) > 2 * gain(a16), \`\${gain(aligned)} against \${gain(a16)}\`);`,
  },
  // ---- 05 · Train a small pyramid model
  {
    notebook: "05",
    bullet: "Raise `TPDIFF_NB_TRAIN_SECONDS`",
    edits: [],
    env: { TPDIFF_NB_TRAIN_SECONDS: "30" },
    lastCell: 16,
    check: `
      const shortPyramid = await trainFor(pyramidConfig, 5);
      const shortVanilla = await trainFor(vanillaConfig, 5);
      assert.ok(pyramid.trainer.step > 3 * shortPyramid.trainer.step);
      assert.ok(vanilla.trainer.step > 3 * shortVanilla.trainer.step);
      const shortVal = await shortPyramid.trainer.evaluate(heldOutX0);
      for (const s of pyramid.trainer.plan.stages) {
        assert.ok(pyramidVal[s.k] < shortVal[s.k], \`k = \${s.k}: \${pyramidVal[s.k]} ≥ \${shortVal[s.k]}\`);
      }`,
  },
  {
    notebook: "05",
    bullet: 'Change `form: "vp-epsilon"`',
    edits: [[
      "{ ...TRAIN_SMALL, emaDecay: 0.98 }",
      '{ ...TRAIN_SMALL, emaDecay: 0.98, form: "vp-epsilon" }',
    ]],
    env: { TPDIFF_NB_TRAIN_SECONDS: "5" },
    lastCell: 9,
    check: `
      assert.equal(probe.prediction, "epsilon");
      const vp = probe.plan.schedule;
      for (const t of [0.1, 0.5, 0.9]) assert.ok(Math.abs(vp.gamma(t) ** 2 + vp.sigma(t) ** 2 - 1) < 1e-9);
      // The targets are the stage noise ε_k: unit variance at every stage (a velocity's is not).
      for (const stage of probe.plan.stages) {
        const { target } = probe.prepare(x0, { rng: createRng(\`check:\${stage.k}\`), stage });
        const meanSquare = target.reduce((a, v) => a + v * v, 0) / target.length;
        assert.ok(Math.abs(meanSquare - 1) < 0.05, \`k = \${stage.k}: \${meanSquare}\`);
      }`,
  },
  {
    notebook: "05",
    bullet: "Set `align: false`",
    edits: [[
      "{ ...TRAIN_SMALL, emaDecay: 0.98 }",
      "{ ...TRAIN_SMALL, emaDecay: 0.98, align: false }",
    ]],
    env: { TPDIFF_NB_TRAIN_SECONDS: "5" },
    lastCell: 9,
    check: `
      const aligning = new Trainer({ ...TRAIN_SMALL }, createDenoiser(trainSmallModel(), createRng(1)), createRng(2));
      assert.ok(aligning.prepare(x0, { rng: createRng(5) }).alignment !== undefined);
      assert.equal(probe.prepare(x0, { rng: createRng(5) }).alignment, undefined);`,
  },
  {
    notebook: "05",
    bullet: "Set `align: false`",
    edits: [[
      "{ ...TRAIN_SMALL, emaDecay: 0.98 }",
      "{ ...TRAIN_SMALL, emaDecay: 0.98, stageWeights: [1, 1, 2] }",
    ]],
    env: { TPDIFF_NB_TRAIN_SECONDS: "5" },
    lastCell: 9,
    check: `
      const counts = new Map<number, number>();
      const draws = 1000, tiny = x0.subarray(0, x0.length / pyramidConfig.batch);
      const drawing = new Trainer({ ...pyramidConfig, batch: 1 }, createDenoiser(trainSmallModel(), createRng(1)), createRng(2));
      for (let i = 0; i < draws; i++) {
        const k = drawing.prepare(tiny).stage.k;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      assert.ok(Math.abs(counts.get(1)! / draws - 0.5) < 0.06, \`k = 1: \${counts.get(1)}\`);
      for (const k of [2, 3]) assert.ok(Math.abs(counts.get(k)! / draws - 0.25) < 0.05, \`k = \${k}: \${counts.get(k)}\`);
      const weighted = stagePlan({ schedule: plan.schedule, frames: FRAMES, stages: 3, steps: [1, 1, 2] });
      assert.equal(costFraction(weighted), 0.6875);
      assert.equal(costFraction(plan).toFixed(3), "0.583");`,
  },
  {
    notebook: "05",
    bullet: "`deno task train-small` runs the same recipe",
    edits: [],
    env: { TPDIFF_NB_TRAIN_SECONDS: "5" },
    lastCell: 6,
    check: `
      const { trainSmallSteps } = await import("../lib/nn/mod.ts");
      assert.equal(trainSmallSteps("native"), 4000);
      assert.equal(trainSmallSteps("wasm"), 900);
      assert.deepEqual({ ...pyramidConfig, emaDecay: TRAIN_SMALL.emaDecay }, TRAIN_SMALL);`,
  },
  // ---- 06 · Per-stage trajectories
  {
    notebook: "06",
    bullet: "Change `steps: 30` in `planForTraining(train, 30)` to 12 or 60",
    edits: [["planForTraining(train, 30)", "planForTraining(train, 12)"]],
    lastCell: 10,
    check: `
      assert.deepEqual(plan.stages.map((s) => s.steps), [4, 4, 4]);
      assert.equal(samples.trajectory.snapshots.filter((s) => s.kind === "step").length, 12);`,
  },
  {
    notebook: "06",
    bullet: "`planForTraining(train, [15, 8, 7])`",
    edits: [["planForTraining(train, 30)", "planForTraining(train, [15, 8, 7])"]],
    lastCell: 10,
    check: `
      assert.equal(plan.stages[0].k, 3);
      const steps = samples.trajectory.snapshots.filter((s) => s.kind === "step");
      assert.equal(steps.filter((s) => s.k === 3).length, 15);`,
  },
  {
    notebook: "06",
    bullet: 'Sample the oracle with `transition: "printed-eq15"`',
    edits: [[
      "seed: 3, ...recorder.hooks }",
      'seed: 3, transition: "printed-eq15", ...recorder.hooks }',
    ]],
    lastCell: 5,
    check: `
      const { printedEq15Coefficient } = await import("../lib/mod.ts");
      const schedule = oraclePlan.schedule;
      for (const j of oracleTrajectory.jumps) {
        assert.ok(Math.abs(j.c - printedEq15Coefficient(schedule, j.tTo)) < 1e-12);
        assert.ok(Math.abs(j.c - schedule.gamma(j.tTo) / schedule.gamma(j.tFrom)) > 0.1);
      }`,
  },
  {
    notebook: "06",
    bullet: "Point `TPDIFF_CHECKPOINT` at a default train-small run",
    edits: [],
    lastCell: 16,
    setup: async (dir) => {
      const args = [...TINY, "--size=16", "--frames=16", "--stages=3", "--steps=2"];
      const run = await task("train_small.ts", [...args, "--form=vp-epsilon", "--out=ddim"], dir);
      assert.equal(run.code, 0, run.stderr);
      return { TPDIFF_CHECKPOINT: join(dir, "ddim") };
    },
    check: `
      assert.equal(train.form, "vp-epsilon");
      assert.equal(pyramid.manifest.step, 2);
      assert.equal(stageEnds.snapshots.length, train.stages); // the coarse stages' ends and the final video
      assert.equal(estimates.length, train.stages + 1);`,
  },
  {
    notebook: "06",
    bullet: "guide only the noisiest part of the coarse stage: add `interval: [0.85, 1]`",
    edits: [
      ["stages: [plan.stages[0].k] }", "stages: [plan.stages[0].k], interval: [0.85, 1] }"],
      ["for (const scale of [1, 2, 3])", "for (const scale of [1, 5])"],
    ],
    lastCell: 18,
    // The notebook's own run, w = 3 over the whole stage: 15 of 32 broken at 1.26 px/frame.
    check: `
      const [off, high] = guidedRuns;
      const seen = JSON.stringify(guidedRuns.map((r) => [r.scale, r.broken, r.stats.speed]));
      assert.equal(guidedRuns.length, 2);
      assert.ok(off.broken - high.broken >= 9, seen);
      assert.ok(Math.abs(high.broken - 15) <= 3, seen);
      assert.ok(Math.abs(high.stats.speed - 1.26) <= 0.06, seen);`,
  },
  {
    notebook: "06",
    bullet: "`deno task sample --checkpoint RUN --trajectory`",
    edits: [],
    lastCell: 9,
    check: `
      const out = await Deno.makeTempDir();
      try {
        const r = await new Deno.Command(Deno.execPath(), {
          args: ["task", "sample", "--checkpoint", Deno.realPathSync(CHECKPOINT), "--trajectory",
            "--count", "2", "--out", \`\${out}/s\`],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
        assert.ok(Deno.statSync(\`\${out}/s/stages.png\`).size > 0);
        const trajectory = JSON.parse(Deno.readTextFileSync(\`\${out}/s/trajectory.json\`));
        assert.equal(trajectory.steps.length, 30);
      } finally {
        await Deno.remove(out, { recursive: true });
      }`,
  },
  // ---- 07 · Moving MNIST
  {
    notebook: "07",
    bullet: "Raise `TPDIFF_NB_TRAIN_SECONDS` (300",
    edits: [],
    env: { TPDIFF_NB_TRAIN_SECONDS: "20" },
    lastCell: 10,
    check: `
      const quick = await trainFor(5);
      assert.ok(trainer.step > 2 * quick.step, \`\${trainer.step} against \${quick.step}\`);
      const quickLoss = await quick.evaluate(heldOutX0);
      for (const s of trainer.plan.stages) {
        assert.ok(heldOutLoss[s.k] < quickLoss[s.k], \`k = \${s.k}: \${heldOutLoss[s.k]} ≥ \${quickLoss[s.k]}\`);
      }`,
  },
  {
    notebook: "07",
    bullet: "Set `DIGITS = 3`",
    edits: [["DIGITS = 2", "DIGITS = 3"]],
    lastCell: 6,
    check: `
      const { datasetMotion } = await import("../lib/metrics/mod.ts");
      assert.ok(dataset.objectCounts.every((n) => n === 3) && heldOut.objectCounts.every((n) => n === 3));
      const two = await createDataset(datasetParams({ ...common, minObjects: 2, maxObjects: 2, count: 64, seed: 1_000_003, split: "test" }));
      const three = datasetMotion(heldOut).real.objectsPerFrame, pair = datasetMotion(two).real.objectsPerFrame;
      assert.ok(three > pair + 0.05, \`\${three} against \${pair}\`);`,
  },
  {
    notebook: "07",
    bullet: "Set `SIZE = 64`",
    edits: [["SIZE = 32,", "SIZE = 64,"]],
    lastCell: 6,
    check: `
      assert.equal(dataset.params.digitSize, 28);
      assert.deepEqual(heldOut.shape, [64, FRAMES, 64, 64, 1]);
      const flops = (size: number) =>
        createDenoiser(trainSmallModel({ height: size, width: size }), createRng(0)).flopsPerFrame(FRAMES);
      const ratio = flops(64) / flops(32);
      assert.ok(ratio > 3.5 && ratio < 4.5, \`\${ratio}\`);`,
  },
  {
    notebook: "07",
    bullet: "`deno task train-small --dataset moving-mnist` trains the same recipe",
    edits: [],
    lastCell: 6,
    check: `
      const out = await Deno.makeTempDir();
      try {
        const run = (args: string[]) =>
          new Deno.Command(Deno.execPath(), { args: ["task", ...args], stdout: "piped", stderr: "piped" }).output();
        const tiny = ["--size=16", "--frames=8", "--stages=2", "--videos=16", "--batch=2", "--widths=8,16", "--steps=2", "--samples=2", "--sample-steps=4"];
        const trained = await run(["train-small", "--dataset", "moving-mnist", ...tiny, "--out", \`\${out}/mm\`]);
        assert.equal(trained.code, 0, new TextDecoder().decode(trained.stderr));
        const summary = JSON.parse(Deno.readTextFileSync(\`\${out}/mm/summary.json\`));
        assert.ok(summary.motion.real.objectsPerFrame > 1); // digits, tracked
        Deno.writeFileSync(\`\${out}/clip.gif\`, encodeGif(heldOut.pixels.subarray(0, frameSize), { frames: FRAMES, height: SIZE, width: SIZE }, { zoom: 1 }));
        const imported = await run(["import-videos", \`\${out}/clip.gif\`, "--out", \`\${out}/clip.tpv\`, "--frames", "8"]);
        assert.equal(imported.code, 0, new TextDecoder().decode(imported.stderr));
        const data = await run(["train-small", "--data", \`\${out}/clip.tpv\`, "--stages=2", "--batch=2", "--widths=8,16", "--steps=2", "--samples=1", "--sample-steps=4", "--out", \`\${out}/own\`]);
        assert.equal(data.code, 0, new TextDecoder().decode(data.stderr));
      } finally {
        await Deno.remove(out, { recursive: true });
      }`,
  },
  // ---- 08 · Conditioning
  {
    notebook: "08",
    bullet: "Set `GIVEN = { positions: [0, 3, 7], values: [1.5, 0, -1] }`",
    edits: [[
      "const GIVEN = { positions: [0, 7], values: [1.5, -1] };",
      "const GIVEN = { positions: [0, 3, 7], values: [1.5, 0, -1] };",
    ]],
    lastCell: 5,
    check: `
      assert.ok(exact.sd[3] < 1e-9 && sampled.sd[3] < 1e-6, \`\${sampled.sd[3]}\`);
      assert.ok(Math.abs(sampled.mean[3]) < 1e-6);
      assert.ok(worst < 0.02, \`largest gap \${worst}\`);`,
  },
  {
    notebook: "08",
    bullet: "Set `RHO = 0.5`",
    edits: [["RHO = 0.9;", "RHO = 0.5;"]],
    lastCell: 5,
    check: `
      assert.ok(exact.mean[2] < 0.4 && exact.mean[3] < 0.2, \`\${exact.mean}\`);
      assert.ok(sampled.sd[3] > 0.95 && sampled.sd[4] > 0.95, \`\${sampled.sd}\`);
      assert.ok(worst < 0.02, \`largest gap \${worst}\`);`,
  },
  {
    notebook: "08",
    bullet: "Set `SCALES = [0, 1, 8]`",
    edits: [["const SCALES = [0, 1, 2, 4];", "const SCALES = [0, 1, 8];"]],
    lastCell: 7,
    check: `
      const eight = guided.find((g) => g.w === 8)!;
      assert.ok(Math.abs(eight.mean[7] + 1) > 5 && Math.abs(eight.mean[0] - 1.5) > 2, \`\${eight.mean}\`);
      assert.ok(eight.mean[1] > exact.mean[1] + 0.3, \`\${eight.mean[1]} against \${exact.mean[1]}\`);`,
  },
  // ---- 09 · When the pyramid breaks
  {
    notebook: "09",
    bullet: "Set `FRACTION = 0.3`",
    edits: [[
      "const SPEEDS = [1, 2, 4, 8], FRACTION = 0.1, MEASURED = 256;",
      "const SPEEDS = [1, 2, 4, 8], FRACTION = 0.3, MEASURED = 256;",
    ]],
    lastCell: 11,
    check: `
      for (const p of planned) {
        const strict = planFromData({ schedule, frames: 16, lost: p.lost, fraction: 0.1 });
        assert.equal(p.planned.plan.stageCount, strict.plan.stageCount, p.name);
        p.planned.boundaries.forEach((b, i) => assert.ok(b < strict.boundaries[i] - 0.1, \`\${p.name}: \${b}\`));
        const slow = p.kind === "moving-mnist" || p.speed <= 2;
        assert.equal(densityCost(p.planned.plan) < densityCost(uniform), slow, p.name);
      }`,
  },
  {
    notebook: "09",
    bullet: "Set `SPEEDS = [1, 8, 16]`",
    edits: [[
      "const SPEEDS = [1, 2, 4, 8], FRACTION = 0.1, MEASURED = 256;",
      "const SPEEDS = [1, 8, 16], FRACTION = 0.1, MEASURED = 256;",
    ]],
    lastCell: 11,
    check: `
      const at = (speed: number) => planned.find((p) => p.kind === "balls" && p.speed === speed)!;
      at(16).lost.slice(0, 3).forEach((l, i) => {
        const e8 = at(8).lost[i].energy;
        assert.ok(Math.abs(l.energy - e8) < 0.05 * e8, \`level \${i + 1}: \${l.energy} against \${e8}\`);
      });
      at(16).planned.boundaries.forEach((b, i) => assert.ok(Math.abs(b - at(8).planned.boundaries[i]) < 0.01));
      assert.ok(at(1).planned.boundaries[0] < at(8).planned.boundaries[0] - 0.1);`,
  },
];

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const notebookDir = join(root, "notebooks");

interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: unknown[];
  execution_count?: number | null;
  metadata?: Record<string, unknown>;
  id?: string;
}
const text = (s: string | string[]) => (Array.isArray(s) ? s.join("") : s);
const squash = (s: string) => s.replace(/\s+/g, " ");

function notebookFile(number: string): string {
  const name = [...Deno.readDirSync(notebookDir)].map((e) => e.name)
    .find((n) => n.startsWith(`${number}_`) && n.endsWith(".ipynb"));
  assert.ok(name, `no notebook ${number}`);
  return join(notebookDir, name);
}

/** The bullets of a notebook's "What to try next", without the "Next:" pointer. */
function bullets(cells: Cell[]): string[] {
  const last = text(cells.at(-1)!.source);
  const list = last.slice(last.indexOf("## What to try next"));
  return list.split(/\n- /).slice(1).map(squash).filter((b) => !b.startsWith("Next:"));
}

/** The notebook with the suggestion's edits, cut after `lastCell`, and its check appended. */
function variant(s: Suggestion): { nb: Record<string, unknown>; cells: Cell[] } {
  const nb = JSON.parse(Deno.readTextFileSync(notebookFile(s.notebook)));
  let cells: Cell[] = nb.cells;
  for (const [from, to] of s.edits) {
    const hits = cells.filter((c) => c.cell_type === "code" && text(c.source).includes(from));
    const count = hits.reduce((n, c) => n + text(c.source).split(from).length - 1, 0);
    assert.equal(count, 1, `${s.notebook}: ${JSON.stringify(from)} occurs ${count} times`);
    hits[0].source = text(hits[0].source).replace(from, () => to);
  }
  if (s.lastCell !== undefined) cells = cells.slice(0, s.lastCell + 1);
  cells.push({
    cell_type: "code",
    source: `import assert from "node:assert/strict";\n{\n${s.check.replace(/^\n/, "")}\n}\n`,
    outputs: [],
    execution_count: null,
    metadata: {},
  });
  cells.forEach((c, i) => (c.id = `cell-${i}`));
  return { nb: { ...nb, cells }, cells };
}

Deno.test("every 'What to try next' bullet has an executed suggestion, and every edit applies once", () => {
  const numbers = [...new Set(SUGGESTIONS.map((s) => s.notebook))];
  const all = [...Deno.readDirSync(notebookDir)].map((e) => e.name)
    .filter((n) => /^\d\d_.*\.ipynb$/.test(n)).map((n) => n.slice(0, 2)).sort();
  assert.deepEqual(numbers, all);
  for (const number of all) {
    const cells: Cell[] = JSON.parse(Deno.readTextFileSync(notebookFile(number))).cells;
    const mine = SUGGESTIONS.filter((s) => s.notebook === number);
    for (const bullet of bullets(cells)) {
      const covering = mine.filter((s) => bullet.includes(squash(s.bullet)));
      assert.ok(covering.length > 0, `${number}: no executed suggestion for "${bullet}"`);
    }
    for (const s of mine) {
      const matched = bullets(cells).filter((b) => b.includes(squash(s.bullet)));
      assert.equal(matched.length, 1, `${number}: "${s.bullet}" matches ${matched.length} bullets`);
      const { cells: edited } = variant(s);
      assert.ok(edited.length >= 2);
    }
  }
});

const python = "/usr/bin/python3";
const hasJupyter = (() => {
  try {
    return new Deno.Command(python, {
      args: ["-c", "import jupyter_client, nbformat"],
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** Runs one suggestion's notebook; resolves to an error message, or undefined when its check passed. */
async function execute(s: Suggestion, dir: string, index: number): Promise<string | undefined> {
  const env: Record<string, string> = {
    PATH: `${join(Deno.execPath(), "..")}:${Deno.env.get("PATH") ?? ""}`,
    JUPYTER_PATH: join(root, "jupyter"),
    TPDIFF_INLINE_PLOTLY: "0",
    NO_COLOR: "1",
    ...s.env,
  };
  const work = join(dir, `s${index}`);
  await Deno.mkdir(work);
  Object.assign(env, await s.setup?.(work));
  const file = join(work, "variant.ipynb");
  await Deno.writeTextFile(file, JSON.stringify(variant(s).nb));
  const run = await new Deno.Command(python, {
    args: [join(root, "tasks", "run_notebooks.py"), "--cwd", notebookDir, file],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (run.code === 0) return undefined;
  const err = new TextDecoder().decode(run.stderr); // NO_COLOR is set: plain text
  const from = err.indexOf("error in ");
  return `${s.notebook} · "${s.bullet}":\n${(from < 0 ? err : err.slice(from)).slice(0, 3000)}`;
}

for (const number of [...new Set(SUGGESTIONS.map((s) => s.notebook))]) {
  Deno.test({
    name: `notebook ${number}: every suggestion, executed, shows what it promises`,
    ignore: !hasJupyter,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "tpdiff-try-next-" });
      try {
        const mine = SUGGESTIONS.filter((s) => s.notebook === number);
        const failures: string[] = [];
        // Two at a time: each kernel is mostly one busy thread.
        for (let i = 0; i < mine.length; i += 2) {
          const results = await Promise.all(
            mine.slice(i, i + 2).map((s, j) => execute(s, dir, i + j)),
          );
          failures.push(...results.filter((r): r is string => r !== undefined));
        }
        assert.deepEqual(failures, [], failures.join("\n\n"));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
