import assert from "node:assert/strict";
import {
  datasetFileName,
  datasetParams,
  encodeDataset,
  generateDataset,
  loadOrCreateDataset,
  toModelSpace,
} from "../lib/data/mod.ts";
import { lostDetail, planFromData, rectifiedFlow, video } from "../lib/mod.ts";
import { planForTraining } from "../lib/nn/mod.ts";
import { checkInChromium } from "../lib/viz/mod.ts";
import { task, TINY } from "./task_helpers.ts";

const hasChromium = (() => {
  try {
    return Deno.statSync("/usr/bin/chromium").isFile;
  } catch {
    return false;
  }
})();

Deno.test("train-small runs end to end, resumes, and sample draws from its checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await task("train_small.ts", [...TINY, "--steps=6", "--out=run"], dir);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /step 6\/6 loss/);
    for (
      const f of [
        "checkpoint/checkpoint.json",
        "checkpoint/tensors.bin",
        "metrics.jsonl",
        "samples.png",
        "sample-1.gif",
        "stages.png",
        "trajectory.json",
        "summary.json",
        "report.html",
      ]
    ) {
      assert.ok(Deno.statSync(`${dir}/run/${f}`).size > 0, f);
    }
    const summary = JSON.parse(await Deno.readTextFile(`${dir}/run/summary.json`));
    assert.equal(summary.steps, 6);
    // The last lines say what to open and how to sample more.
    const last = first.stdout.trim().split("\n").slice(-2);
    assert.match(last[0], new RegExp(`^open the report: +${dir}/run/report\\.html$`));
    assert.match(last[1], /^sample more: +deno task sample --checkpoint run --count 16$/);
    // The report shows real videos beside the samples, labelled strips, and only the settings
    // that apply to a U-Net.
    const html = await Deno.readTextFile(`${dir}/run/report.html`);
    assert.match(html, /<figcaption>real 0<\/figcaption>/);
    assert.equal(html.match(/data:image\/svg\+xml;base64/g)?.length, 3, "samples, real, stages");
    assert.match(html, /<td>model\.temporalKernel<\/td>/);
    assert.doesNotMatch(html, /<td>model\.(heads|depth)<\/td>/);
    assert.ok(
      summary.motion.truth.residualMedian < 1e-3,
      "ground-truth tracks fly straight between bounces",
    );
    const trajectory = JSON.parse(await Deno.readTextFile(`${dir}/run/trajectory.json`));
    assert.deepEqual([...new Set(trajectory.steps.map((s: { frames: number }) => s.frames))], [
      4,
      8,
    ]);
    if (hasChromium) {
      const check = await checkInChromium(`${dir}/run/report.html`);
      assert.deepEqual(check.errors, []);
      assert.equal(check.plotsDrawn, check.plotsExpected);
      assert.ok(check.plotsDrawn >= 3);
    }

    const refused = await task("train_small.ts", [...TINY, "--steps=6", "--out=run"], dir);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /run already holds a run; continue it with --resume run/);

    const resumed = await task("train_small.ts", [
      "--resume=run",
      "--steps=9",
      "--samples=2",
      "--sample-steps=4",
      "--log-every=1",
    ], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming run at step 6 of 9/);
    const steps = (await Deno.readTextFile(`${dir}/run/metrics.jsonl`)).trim().split("\n").map((
      l,
    ) => JSON.parse(l))
      .filter((r) => r.type === "train").map((r) => r.step);
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const changed = await task("train_small.ts", ["--resume=run", "--batch=8"], dir);
    assert.equal(changed.code, 2);
    assert.match(changed.stderr, /--resume continues with the checkpoint's settings; drop --batch/);

    const sampled = await task("sample.ts", [
      "--checkpoint=run",
      "--count=2",
      "--steps=4",
      "--trajectory",
      "--out=s",
    ], dir);
    assert.equal(sampled.code, 0, sampled.stderr);
    const info = JSON.parse(await Deno.readTextFile(`${dir}/s/sampling.json`));
    assert.equal(info.step, 9);
    const stagesPng = Deno.statSync(`${dir}/s/stages.png`).size;
    assert.ok(stagesPng > 0);
    const vanilla = await task("sample.ts", [
      "--checkpoint=run/checkpoint",
      "--count=1",
      "--steps=1",
      "--vanilla",
      "--out=v",
    ], dir);
    // One full-rate stage may take fewer steps than the model's two stages.
    assert.equal(vanilla.code, 0, vanilla.stderr);
    const vt = JSON.parse(await Deno.readTextFile(`${dir}/v/trajectory.json`));
    assert.deepEqual(vt.steps.map((s: { frames: number }) => s.frames), [8]);

    // An EMA-only export samples exactly like its run (same seed, same pixels), at a quarter the size.
    const exported = await task("export.ts", ["--checkpoint=run", "--out=small"], dir);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /EMA weights of step 9 .* sampling only/);
    assert.equal(
      Deno.statSync(`${dir}/small/tensors.bin`).size * 4,
      Deno.statSync(`${dir}/run/checkpoint/tensors.bin`).size,
    );
    const fromExport = await task("sample.ts", [
      "--checkpoint=small",
      "--count=2",
      "--steps=4",
      "--out=e",
    ], dir);
    const fromRun = await task("sample.ts", [
      "--checkpoint=run",
      "--count=2",
      "--steps=4",
      "--out=r",
    ], dir);
    assert.equal(fromExport.code + fromRun.code, 0, fromExport.stderr + fromRun.stderr);
    assert.deepEqual(
      await Deno.readFile(`${dir}/e/samples.png`),
      await Deno.readFile(`${dir}/r/samples.png`),
    );
    const resumeExport = await task("train_small.ts", ["--resume=small", "--steps=12"], dir);
    assert.equal(resumeExport.code, 2);
    assert.match(resumeExport.stderr, /sampling-only export\); it can sample but not resume/);
    const missing = await task("export.ts", ["--checkpoint=run"], dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--checkpoint and --out are both required/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train-small also runs vanilla, without alignment, with DDIM and weighted stages", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [i, extra] of [["--mode=vanilla", "--no-align"], [
        "--form=vp-epsilon",
        "--dataset=glyphs",
        "--stage-weights=1,3",
      ]].entries()
    ) {
      const r = await task(
        "train_small.ts",
        [...TINY, "--steps=2", `--out=run${i}`, ...extra],
        dir,
      );
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(await Deno.readTextFile(`${dir}/run${i}/summary.json`));
      assert.equal(summary.steps, 2);
      const manifest = JSON.parse(
        await Deno.readTextFile(`${dir}/run${i}/checkpoint/checkpoint.json`),
      );
      assert.equal(manifest.train.stages, i === 0 ? 1 : 2);
      assert.equal(manifest.train.align, i !== 0);
      assert.deepEqual(manifest.train.stageWeights, i === 0 ? undefined : [1, 3]);
      const stages = new Set(
        (await Deno.readTextFile(`${dir}/run${i}/metrics.jsonl`)).trim().split("\n").map((l) =>
          JSON.parse(l)
        ).filter((r) => r.type === "train").map((r) => r.k),
      );
      assert.ok([...stages].every((k) => k <= (i === 0 ? 1 : 2)));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train-small --self-condition trains a self-conditioning model; sample --context-guidance guides it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const trained = await task(
      "train_small.ts",
      // No warm-up and a high rate, so that 4 steps leave a model whose frames read each other.
      [...TINY, "--steps=4", "--warmup=0", "--lr=0.02", "--self-condition=2", "--out=run"],
      dir,
    );
    assert.equal(trained.code, 0, trained.stderr);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/run/checkpoint/checkpoint.json`));
    assert.deepEqual(manifest.model.selfCondition, [2]);
    const resumed = await task("train_small.ts", ["--resume=run", "--self-condition=all"], dir);
    assert.equal(resumed.code, 2);
    assert.match(resumed.stderr, /drop --self-condition/);
    const draw = (out: string, ...extra: string[]) =>
      task(
        "sample.ts",
        ["--checkpoint=run", "--count=3", "--steps=4", `--out=${out}`, ...extra],
        dir,
      );
    const [plain, guided] = [await draw("plain"), await draw("guided", "--context-guidance=3")];
    assert.equal(plain.code + guided.code, 0, plain.stderr + guided.stderr);
    const info = JSON.parse(await Deno.readTextFile(`${dir}/guided/sampling.json`));
    assert.deepEqual(
      info.contextGuidance,
      { scale: 3, stages: [2] },
      "the coarsest stage by default",
    );
    assert.notDeepEqual(
      await Deno.readFile(`${dir}/guided/samples.png`),
      await Deno.readFile(`${dir}/plain/samples.png`),
      "guidance changes the samples of the same seed",
    );
    for (
      const [args, message] of [
        [
          ["--context-guidance=3", "--guide-stages=5"],
          /--guide-stages must list stages of the plan \(2, 1\).*got "5"/,
        ],
        [["--guide-stages=2"], /--guide-stages needs --context-guidance W with W ≠ 1/],
        [["--context-guidance=x"], /--context-guidance/],
      ] as const
    ) {
      const bad = await draw("bad", ...args);
      assert.equal(bad.code, 2, args.join(" "));
      assert.match(bad.stderr, message);
    }
    const one = await task(
      "sample.ts",
      ["--checkpoint=run", "--count=1", "--context-guidance=2", "--out=one"],
      dir,
    );
    assert.equal(one.code, 2);
    assert.match(one.stderr, /needs --count of at least 2 \(it reads the other videos\); got 1/);
    for (const d of ["bad", "one"]) {
      assert.throws(() => Deno.statSync(`${dir}/${d}`), "nothing written");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train-small --plan auto plans K and the boundaries from its data, keeps them on resume", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const args = [...TINY.filter((a) => !a.startsWith("--stages")), "--plan=auto", "--speed=4"];
    const r = await task("train_small.ts", [...args, "--steps=2", "--out=run"], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /data-planned schedule: K = \d/);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/run/checkpoint/checkpoint.json`));
    assert.equal(manifest.extra.speed, 4);
    // The same plan from lib, on the same training videos (all 16 of them).
    const params = datasetParams({
      kind: "balls",
      count: 16,
      frames: 8,
      height: 16,
      width: 16,
      seed: 0,
      split: "train",
      speed: 4,
    });
    const { dataset, created } = await loadOrCreateDataset(params, `${dir}/data/generated`);
    assert.equal(created, false); // train-small wrote it, under its speed's own name
    const x = video(
      { batch: 16, frames: 8, height: 16, width: 16 },
      toModelSpace(dataset, Array.from({ length: 16 }, (_, i) => i)),
    );
    const planned = planFromData({
      schedule: rectifiedFlow(),
      frames: 8,
      lost: lostDetail(x),
      steps: 4,
    });
    assert.equal(manifest.train.stages, planned.plan.stageCount);
    assert.equal(manifest.train.stepSplit, "length");
    if (planned.plan.stageCount > 1) {
      assert.deepEqual(manifest.train.boundaries, planned.boundaries);
      assert.deepEqual(manifest.train.stageWeights, planned.stageWeights);
    }
    const plan = planForTraining(manifest.train, 4);
    assert.deepEqual(plan.stages.map((s) => s.steps), planned.plan.stages.map((s) => s.steps));
    // Resuming keeps the plan (and refuses to re-plan); sampling uses it.
    const resumed = await task("train_small.ts", ["--resume=run", "--steps=3"], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    const after = JSON.parse(await Deno.readTextFile(`${dir}/run/checkpoint/checkpoint.json`));
    assert.deepEqual(after.train.boundaries, manifest.train.boundaries);
    const again = await task("train_small.ts", ["--resume=run", "--plan=auto"], dir);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /--resume continues with the checkpoint's settings; drop --plan/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad input: one clear line, exit code 2, nothing written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string, string[], RegExp][] = [
      ["train_small.ts", ["--bogus"], /^error: Unknown option '--bogus'/],
      [
        "train_small.ts",
        ["--frames=18"],
        /--frames must be divisible by 2\^2 = 4 for 3 stages; got 18/,
      ],
      ["train_small.ts", ["--size=40"], /--size must be a multiple of 16; got 40/],
      ["train_small.ts", ["--size=8"], /--size must be an integer in \[16, 256\]; got "8"/],
      [
        "train_small.ts",
        ["--form=fm"],
        /--form must be one of flow-matching, vp-epsilon; got "fm"/,
      ],
      ["train_small.ts", ["--steps=-1"], /--steps must be an integer in \[1, 10000000\]; got "-1"/],
      ["train_small.ts", ["--resume=nowhere"], /--resume nowhere: no checkpoint there/],
      [
        "train_small.ts",
        ["--backend=tpu"],
        /--backend must be one of auto, native, wasm, cpu, webgpu, tensorflow; got "tpu"/,
      ],
      [
        "train_small.ts",
        ["--stage-weights=1,2"],
        /--stage-weights must be 3 non-negative numbers, not all zero/,
      ],
      [
        "train_small.ts",
        ["--boundaries=0.8,0.5"],
        /--boundaries must be 2 increasing numbers in \(0, 1\), comma-separated, for 3 stages; got "0.8,0.5"/,
      ],
      ["train_small.ts", ["--shift=0"], /--shift must be a number in \[0\.1, 10\]; got "0"/],
      [
        "train_small.ts",
        ["--plan=auto", "--stages=3"],
        /--plan auto chooses the stages, their boundaries and weights; drop --stages/,
      ],
      ["train_small.ts", ["--plan=best"], /--plan must be one of uniform, auto; got "best"/],
      ["train_small.ts", ["--plan-fraction=0.2"], /--plan-fraction needs --plan auto/],
      ["train_small.ts", ["--speed=0"], /--speed must be a number in \[0\.01, 64\]; got "0"/],
      [
        "train_small.ts",
        ["--self-condition=4"],
        /--self-condition must be all or distinct stages from 1 to 3, comma-separated; got "4"/,
      ],
      ["train_small.ts", ["--down=median"], /--down must be one of stride, average; got "median"/],
      [
        "train_small.ts",
        ["--time-density=cosine"],
        /--time-density must be one of uniform, logit-normal; got "cosine"/,
      ],
      [
        "train_small.ts",
        ["--temporal-kernel=4"],
        /--temporal-kernel must be odd \(1, 3, 5, …, 15\); got 4/,
      ],
      [
        "train_small.ts",
        ["--temporal-attention=4"],
        /--temporal-attention must be an integer in \[0, 3\]; got "4"/,
      ],
      ["sample.ts", [], /--checkpoint DIR is required/],
      ["sample.ts", ["--checkpoint=nowhere"], /checkpoint nowhere: missing/],
    ];
    for (const [script, args, pattern] of cases) {
      const r = await task(script, [...args, "--out=out"], dir);
      assert.equal(r.code, 2, `${args}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line for ${args}`);
    }
    // A cached dataset file of another format version.
    const params = datasetParams({
      kind: "balls",
      count: 16,
      frames: 8,
      height: 16,
      width: 16,
      seed: 0,
    });
    const bytes = encodeDataset(generateDataset(params));
    const at = new TextDecoder("latin1").decode(bytes.subarray(0, 4096)).indexOf('"version":2');
    bytes.set(new TextEncoder().encode('"version":7'), at);
    await Deno.mkdir(`${dir}/data/generated`, { recursive: true });
    await Deno.writeFile(`${dir}/data/generated/${datasetFileName(params)}`, bytes);
    const r = await task("train_small.ts", [...TINY, "--steps=2", "--out=out"], dir);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /format version 7 is not supported; this build reads version 2/);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["data"],
      "no output folder was made",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
