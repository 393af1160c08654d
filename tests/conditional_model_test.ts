import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  createDenoiser,
  datasetBatches,
  denoiserConfig,
  drawSamples,
  heldOutParams,
  initBackend,
  modelPredict,
  planForTraining,
  predictionFor,
  Trainer,
} from "../lib/nn/mod.ts";
import { createRng, sampleStaged } from "../lib/mod.ts";
import {
  createDataset,
  datasetClasses,
  datasetParams,
  generateDataset,
  loadOrCreateDataset,
  selectVideos,
  toPixels,
  writeDataset,
} from "../lib/data/mod.ts";
import { encodePng } from "../lib/viz/mod.ts";
import { maxDiff, perturb, tinyData, tinyModel, tinyTrain, values } from "./nn_helpers.ts";

await initBackend("cpu");
const classModel = denoiserConfig({ ...tinyModel(), classes: 3 });

/** A class model with every weight perturbed (a fresh model's zero output layers hide its inputs). */
const perturbed = (seed: number) => perturb(createDenoiser(classModel, createRng(seed)), seed);

Deno.test("a class-conditional denoiser depends on the label; no label is the null class", async () => {
  const model = perturbed(4);
  const x = tf.tensor(tinyData(2, 1).subarray(0, 2 * 4 * 256), [2, 4, 16, 16, 1]);
  const c = { t: [0.5, 0.5], k: 2, positions: [0, 2, 4, 6] };
  const out = async (labels?: number[]) =>
    await values(model.apply(x, { ...c, ...(labels ? { labels } : {}) }));
  const [a, b, none, nullClass] = [
    await out([0, 0]),
    await out([1, 1]),
    await out(),
    await out([3, 3]),
  ];
  assert.ok(maxDiff(a, b) > 1e-4, "labels 0 and 1 give the same output");
  assert.deepEqual(none, nullClass);
  assert.throws(
    () => model.apply(x, { ...c, labels: [0, 4] }),
    /labels must be integers in \[0, 3\] \(3: no label\); got 4/,
  );
  const plain = createDenoiser(tinyModel(), createRng(4));
  assert.throws(
    () => plain.apply(x, { ...c, labels: [0, 0] }),
    /this model has no classes \(classes 0\); give no labels/,
  );
  // An unconditional model draws the same initial weights as before classes existed.
  assert.ok(!plain.params.variables.has("cond.class") && model.params.variables.has("cond.class"));
  x.dispose();
});

Deno.test("label dropout is drawn last: a class model's batch equals an unconditional one's; dropout rate holds", () => {
  const x0 = tinyData(2, 3);
  const plain = new Trainer(tinyTrain, createDenoiser(tinyModel(), createRng(1)), createRng(2));
  const classy = new Trainer(tinyTrain, createDenoiser(classModel, createRng(1)), createRng(2));
  const a = plain.prepare(x0, { rng: createRng(9) });
  const b = classy.prepare(x0, { rng: createRng(9), labels: [2, 1] });
  assert.deepEqual([a.xt, a.target, a.t, a.stage.k], [b.xt, b.target, b.t, b.stage.k]);
  assert.equal(a.labels, undefined);
  const half = new Trainer(
    { ...tinyTrain, labelDropout: 0.5 },
    createDenoiser(classModel, createRng(1)),
    createRng(2),
  );
  let dropped = 0, kept = 0;
  for (let i = 0; i < 400; i++) {
    for (const l of half.prepare(x0, { rng: createRng(i), labels: [2, 1] }).labels!) {
      l === 3 ? dropped++ : kept++;
    }
  }
  assert.ok(
    Math.abs(dropped / (dropped + kept) - 0.5) < 0.06,
    `${dropped} of ${dropped + kept} dropped`,
  );
  const none = new Trainer(
    { ...tinyTrain, labelDropout: 0 },
    createDenoiser(classModel, createRng(1)),
    createRng(2),
  );
  assert.deepEqual(none.prepare(x0, { labels: [2, 1] }).labels, [2, 1]);
  assert.throws(
    () => plain.prepare(x0, { labels: [0, 1] }),
    /labels were given for a model without classes/,
  );
});

Deno.test("datasetClasses: balls by count, Moving MNIST by its first digit; clips have none", async () => {
  const balls = generateDataset(datasetParams({ kind: "balls", count: 50, frames: 4, seed: 1 }));
  const b = datasetClasses(balls);
  assert.deepEqual(Array.from(b.labels), Array.from(balls.objectCounts, (c) => c - 1));
  assert.deepEqual(b.names, ["1 ball", "2 balls", "3 balls"]);
  const mm = await createDataset(
    datasetParams({ kind: "moving-mnist", count: 20, frames: 4, seed: 1 }),
  );
  assert.deepEqual(
    Array.from(datasetClasses(mm).labels),
    Array.from({ length: 20 }, (_, n) => mm.objects[n * 4] - 20),
  );
  assert.throws(
    () => datasetClasses({ ...balls, params: { ...balls.params, kind: "imported" } }),
    /an imported dataset has no classes/,
  );
});

Deno.test("class batches: the worker and the main thread draw the same labels, bit for bit", async () => {
  const data = generateDataset(
    datasetParams({ kind: "balls", count: 32, frames: 8, height: 16, width: 16, seed: 2 }),
  );
  const make = () => new Trainer(tinyTrain, createDenoiser(classModel, createRng(1)), createRng(2));
  const [ahead, inline] = [make(), make()];
  const [a, b] = [
    datasetBatches(ahead, data, { prefetch: true }),
    datasetBatches(inline, data, { prefetch: false }),
  ];
  try {
    const labels = datasetClasses(data).labels;
    let seen = 0;
    for (let i = 0; i < 6; i++) {
      const [x, y] = [await a.next(), await b.next()];
      assert.deepEqual(x.labels, y.labels);
      assert.deepEqual(x.xt, y.xt);
      assert.ok(x.labels!.every((l) => l === 3 || labels.includes(l)));
      seen += x.labels!.filter((l) => l !== 3).length;
    }
    assert.ok(seen > 6, "most labels are kept");
  } finally {
    a.close?.();
  }
});

Deno.test("guidance 1 samples the conditional model exactly; other scales differ", async () => {
  const model = perturbed(7);
  const plan = planForTraining(tinyTrain, 6);
  const prediction = predictionFor("flow-matching");
  const common = { plan, prediction, count: 2, seed: 5 };
  const guided1 = await drawSamples(model, { ...common, label: 1, guidance: 1 });
  const direct = await sampleStaged(plan, modelPredict(model, plan, { labels: 1 }), {
    prediction,
    start: { batch: 2, height: 16, width: 16, channels: 1 },
    seed: 5,
  });
  assert.deepEqual(guided1.pixels, toPixels(direct.data));
  const guided3 = await drawSamples(model, { ...common, label: 1, guidance: 3 });
  const unconditional = await drawSamples(model, common);
  assert.notDeepEqual(guided3.pixels, guided1.pixels);
  assert.notDeepEqual(unconditional.pixels, guided1.pixels);
  await assert.rejects(
    drawSamples(createDenoiser(tinyModel(), createRng(7)), { ...common, label: 1 }),
    /this model is not class-conditional/,
  );
});

Deno.test("a training step moves the class embedding (its gradient flows)", async () => {
  const trainer = new Trainer(tinyTrain, createDenoiser(classModel, createRng(1)), createRng(2));
  const before = await values(trainer.model.params.get("cond.class"));
  // The zero-initialised output layer passes no gradient back on the first step; the next ones do.
  for (let i = 0; i < 3; i++) {
    await trainer.trainOnBatch(trainer.prepare(tinyData(2, 3), { labels: [0, 2] }));
  }
  assert.ok(maxDiff(before, await values(trainer.model.params.get("cond.class"))) > 0);
});

Deno.test("train-small --condition class trains a class model that resumes; sample --class --guidance draws from it", async () => {
  const { task, TINY } = await import("./task_helpers.ts");
  const dir = await Deno.makeTempDir();
  try {
    const run = await task("train_small.ts", [
      ...TINY,
      "--steps=2",
      "--out=run",
      "--condition=class",
    ], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /3 classes \(labels dropped 10 %\)/);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/run/checkpoint/checkpoint.json`));
    assert.equal(manifest.model.classes, 3);
    assert.equal(manifest.train.labelDropout, 0.1);
    const resumed = await task("train_small.ts", ["--resume=run", "--steps=3"], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    const drawn = await task("sample.ts", [
      "--checkpoint=run",
      "--class=1",
      "--guidance=2",
      "--count=2",
      "--steps=4",
      "--out=s",
    ], dir);
    assert.equal(drawn.code, 0, drawn.stderr);
    const info = JSON.parse(await Deno.readTextFile(`${dir}/s/sampling.json`));
    assert.deepEqual([info.label, info.guidance], [1, 2]);
    const bad: [string, string[], RegExp][] = [
      [
        "sample.ts",
        ["--checkpoint=run", "--class=3"],
        /--class must be an integer in \[0, 2\]; got "3"/,
      ],
      ["sample.ts", ["--checkpoint=run", "--guidance=2"], /--guidance needs --class/],
      [
        "train_small.ts",
        [...TINY, "--out=x", "--label-dropout=0.2"],
        /--label-dropout needs --condition class/,
      ],
      [
        "train_small.ts",
        [...TINY, "--out=x", "--condition=frames"],
        /--condition takes class, first-frame, keyframes and prefix:N \(1 ≤ N < 8\), comma-separated; got "frames"/,
      ],
    ];
    for (const [script, args, message] of bad) {
      const r = await task(script, args, dir);
      assert.equal(r.code, 2, `${args}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const frameModel = denoiserConfig({ ...tinyModel(), frameCondition: true });

Deno.test("a frame-conditioned denoiser reads the given frames and mask; none given is all zeros", async () => {
  const model = perturb(createDenoiser(frameModel, createRng(4)), 40);
  const x = tf.tensor(tinyData(1, 1).subarray(0, 4 * 256), [1, 4, 16, 16, 1]);
  const c = { t: [0.5], k: 2, positions: [0, 2, 4, 6] };
  const frames = tinyData(1, 2).subarray(0, 4 * 256).map((v, p) => (p < 256 ? v : 0));
  const given = (mask: number[], f = frames) =>
    values(model.apply(x, { ...c, given: { frames: f, mask: Float32Array.from(mask) } }));
  const none = await values(model.apply(x, c));
  assert.deepEqual(none, await given([0, 0, 0, 0], new Float32Array(4 * 256)));
  assert.ok(maxDiff(none, await given([1, 0, 0, 0])) > 1e-4, "the given frame changes nothing");
  assert.throws(
    () =>
      createDenoiser(tinyModel(), createRng(1)).apply(x, {
        ...c,
        given: { frames, mask: new Float32Array(4) },
      }),
    /reads no given frames/,
  );
  x.dispose();
});

Deno.test("given frames in a batch: each stage sees its own, drawn last; dropout gives none", () => {
  const x0 = tinyData(2, 3);
  const make = (config: Partial<typeof tinyTrain>, model = frameModel) =>
    new Trainer({ ...tinyTrain, ...config }, createDenoiser(model, createRng(1)), createRng(2));
  const keyframes = make({ givenModes: ["keyframes"], givenDropout: 0 });
  const [k3, k1] = [keyframes.plan.stages[0], keyframes.plan.stages[2]];
  const coarse = keyframes.prepare(x0, { rng: createRng(1), stage: k3 }).given!;
  assert.deepEqual(Array.from(coarse.mask), [1, 0, 1, 0]); // frames 0 and 4: frame 7 not on the grid
  const full = keyframes.prepare(x0, { rng: createRng(1), stage: k1 }).given!;
  assert.deepEqual(Array.from(full.mask.subarray(0, 8)), [1, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(full.frames.subarray(0, 256), x0.subarray(0, 256)); // video 0, frame 0
  assert.deepEqual(full.frames.subarray(7 * 256, 8 * 256), x0.subarray(7 * 256, 8 * 256)); // frame 7
  assert.ok(full.frames.subarray(256, 7 * 256).every((v) => v === 0));
  const dropped = make({ givenDropout: 0.999999 }).prepare(x0, { rng: createRng(1) }).given!;
  assert.ok(dropped.mask.every((m) => m === 0) && dropped.frames.every((v) => v === 0));
  const plain = make({}, tinyModel()).prepare(x0, { rng: createRng(9) });
  const framed = make({}).prepare(x0, { rng: createRng(9) });
  assert.deepEqual([plain.xt, plain.target, plain.t], [framed.xt, framed.target, framed.t]);
});

Deno.test("frame batches: the worker and the main thread give the same frames, bit for bit", async () => {
  const data = generateDataset(
    datasetParams({ kind: "balls", count: 16, frames: 8, height: 16, width: 16, seed: 2 }),
  );
  const make = () =>
    new Trainer(
      { ...tinyTrain, givenModes: ["first-frame", "prefix:3", "keyframes"] },
      createDenoiser(frameModel, createRng(1)),
      createRng(2),
    );
  const [a, b] = [
    datasetBatches(make(), data, { prefetch: true }),
    datasetBatches(make(), data, { prefetch: false }),
  ];
  try {
    for (let i = 0; i < 5; i++) {
      const [x, y] = [await a.next(), await b.next()];
      assert.deepEqual(x.given, y.given);
    }
  } finally {
    a.close?.();
  }
});

Deno.test("window slots: the coarsest stage sees every given frame, the model reads them, the worker agrees", async () => {
  const slotModel = denoiserConfig({ ...tinyModel(), frameCondition: true, givenSlots: 4 });
  const x0 = tinyData(2, 3);
  const make = () =>
    new Trainer(
      { ...tinyTrain, givenModes: ["keyframes"], givenDropout: 0 },
      createDenoiser(slotModel, createRng(1)),
      createRng(2),
    );
  const trainer = make();
  const k3 = trainer.plan.stages[0]; // frames 0 and 4, standing for 0–3 and 4–7
  const coarse = trainer.prepare(x0, { rng: createRng(1), stage: k3 }).given!;
  assert.deepEqual(Array.from(coarse.mask.subarray(0, 8)), [1, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(coarse.frames.subarray(0, 256), x0.subarray(0, 256)); // slot (0, 0): frame 0
  assert.deepEqual(coarse.frames.subarray(7 * 256, 8 * 256), x0.subarray(7 * 256, 8 * 256)); // (1, 3): frame 7
  // The network reads slot (1, 3): changing only frame 7 changes its stage-3 output.
  const model = perturb(createDenoiser(slotModel, createRng(4)), 41);
  const x = tf.tensor(tinyData(1, 5).subarray(0, 2 * 256), [1, 2, 16, 16, 1]);
  const c = { t: [0.8], k: 3, positions: [0, 4] };
  const at = async (frames: Float32Array) =>
    await values(model.apply(x, { ...c, given: { frames, mask: coarse.mask.subarray(0, 8) } }));
  const moved = coarse.frames.slice(0, 8 * 256);
  moved.subarray(7 * 256, 8 * 256).fill(0.9);
  assert.ok(maxDiff(await at(coarse.frames.slice(0, 8 * 256)), await at(moved)) > 1e-4);
  assert.throws(
    () =>
      model.apply(x, { ...c, given: { frames: new Float32Array(512), mask: new Float32Array(2) } }),
    /given frames must have 2048 values and their mask 8 \(4 slots per frame\)/,
  );
  const data = generateDataset(
    datasetParams({ kind: "balls", count: 16, frames: 8, height: 16, width: 16, seed: 2 }),
  );
  const [a, b] = [
    datasetBatches(make(), data, { prefetch: true }),
    datasetBatches(make(), data, { prefetch: false }),
  ];
  try {
    for (let i = 0; i < 3; i++) assert.deepEqual((await a.next()).given, (await b.next()).given);
  } finally {
    a.close?.();
  }
});

Deno.test("sampling with given frames: deterministic, and guidance 1 is the conditioned model itself", async () => {
  const model = perturb(createDenoiser(frameModel, createRng(7)), 70);
  const plan = planForTraining(tinyTrain, 6);
  const given = { positions: [0], values: tinyData(2, 4).subarray(0, 2 * 256) };
  const common = { plan, prediction: predictionFor("flow-matching"), count: 2, seed: 5, given };
  const a = await drawSamples(model, common),
    b = await drawSamples(model, { ...common, guidance: 1 });
  assert.deepEqual(a.pixels, b.pixels);
  const direct = await sampleStaged(plan, modelPredict(model, plan, { given }), {
    prediction: common.prediction,
    start: { batch: 2, height: 16, width: 16, channels: 1 },
    seed: 5,
  });
  assert.deepEqual(a.pixels, toPixels(direct.data));
  const free = await drawSamples(model, { ...common, given: undefined });
  assert.notDeepEqual(a.pixels, free.pixels);
  const guided = await drawSamples(model, { ...common, guidance: 2 });
  assert.notDeepEqual(guided.pixels, a.pixels);
});

Deno.test("train-small --condition with given frames, and sample --given-from-test beside the real videos", async () => {
  const { task, TINY } = await import("./task_helpers.ts");
  const dir = await Deno.makeTempDir();
  try {
    const args = [...TINY, "--steps=2", "--out=run", "--condition=class,prefix:2,keyframes"];
    const run = await task("train_small.ts", args, dir);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /given frames prefix:2 \| keyframes \(dropped 10 %, 2 slots per stage frame\)/,
    );
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/run/checkpoint/checkpoint.json`));
    assert.deepEqual(
      [manifest.model.frameCondition, manifest.model.classes, manifest.model.givenSlots],
      [true, 3, 2],
    );
    assert.deepEqual(manifest.train.givenModes, ["prefix:2", "keyframes"]);
    // The run's own samples are given the held-out videos' frames, in the first mode.
    const report = await Deno.readTextFile(`${dir}/run/report.html`);
    assert.match(
      report,
      /sample i is given held-out video i&#39;s frames 0, 1 \(prefix:2\)|sample i is given held-out video i's frames 0, 1 \(prefix:2\)/,
    );
    const resumed = await task("train_small.ts", ["--resume=run", "--steps=3"], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    const drawn = await task("sample.ts", [
      ...["--checkpoint=run", "--given-from-test", "--given-mode=keyframes", "--class=2"],
      ...["--guidance=2", "--count=2", "--steps=4", "--out=s"],
    ], dir);
    assert.equal(drawn.code, 0, drawn.stderr);
    const info = JSON.parse(await Deno.readTextFile(`${dir}/s/sampling.json`));
    assert.deepEqual([info.givenMode, info.givenPositions, info.label, info.guidance], [
      "keyframes",
      [0, 7],
      2,
      2,
    ]);
    assert.ok((await Deno.stat(`${dir}/s/real.png`)).size > 0);
    // --given FILE: a .tpv of the same held-out videos gives the very same samples and real.png;
    // one video cycles over the samples, as a PNG of its first frame does (then without real.png).
    const { dataset: heldOut } = await loadOrCreateDataset(
      heldOutParams({ kind: "balls", seed: 0, frames: 8, height: 16, width: 16 }),
      `${dir}/data/generated`,
    );
    await writeDataset(`${dir}/two.tpv`, selectVideos(heldOut, [0, 1]));
    await writeDataset(`${dir}/one.tpv`, selectVideos(heldOut, [0]));
    await Deno.writeFile(
      `${dir}/first.png`,
      encodePng(heldOut.pixels.subarray(0, 256), { width: 16, height: 16 }),
    );
    // A few more steps at a high rate, so that the given frames change the samples' pixels.
    const framed = await task("train_small.ts", [
      ...[...TINY, "--steps=40", "--lr=0.02", "--warmup=1", "--out=framed"],
      "--condition=first-frame",
    ], dir);
    assert.equal(framed.code, 0, framed.stderr);
    const common = ["--checkpoint=framed", "--count=2", "--steps=4"];
    const draws: [string, string[]][] = [
      ["test", ["--given-from-test"]],
      ["two", ["--given=two.tpv"]],
      ["one", ["--given=one.tpv"]],
      ["png", ["--given=first.png"]],
    ];
    for (const [out, a] of draws) {
      const r = await task("sample.ts", [...common, ...a, `--out=${out}`], dir);
      assert.equal(r.code, 0, r.stderr);
    }
    const read = (f: string) => Deno.readFile(`${dir}/${f}`);
    assert.deepEqual(await read("two/samples.png"), await read("test/samples.png"));
    assert.deepEqual(await read("two/real.png"), await read("test/real.png"));
    assert.notDeepEqual(await read("one/samples.png"), await read("two/samples.png"));
    assert.deepEqual(await read("png/samples.png"), await read("one/samples.png"));
    await assert.rejects(Deno.stat(`${dir}/png/real.png`), Deno.errors.NotFound);
    const pngInfo = JSON.parse(await Deno.readTextFile(`${dir}/png/sampling.json`));
    assert.equal(pngInfo.givenFrom, "first.png");
    const plain = await task("train_small.ts", [...TINY, "--steps=1", "--out=plain"], dir);
    assert.equal(plain.code, 0, plain.stderr);
    const bad: [string, string[], RegExp][] = [
      [
        "sample.ts",
        ["--checkpoint=plain", "--given-from-test"],
        /this model reads no given frames/,
      ],
      [
        "sample.ts",
        ["--checkpoint=run", "--given-mode=first-frame"],
        /--given-mode needs --given FILE or --given-from-test/,
      ],
      [
        "sample.ts",
        ["--checkpoint=plain", "--guidance=2"],
        /--guidance needs --class, --given or --given-from-test/,
      ],
      [
        "sample.ts",
        ["--checkpoint=run", "--given=first.png", "--given-mode=keyframes"],
        /--given first\.png: the clip has 1 frame; the given frames are at positions 0, 7, so it needs 8/,
      ],
      [
        "sample.ts",
        ["--checkpoint=run", "--given=first.png", "--given-from-test"],
        /--given FILE or --given-from-test, not both/,
      ],
      [
        "sample.ts",
        ["--checkpoint=run", "--given=missing.gif"],
        /missing\.gif: no such file or folder/,
      ],
      [
        "train_small.ts",
        [...TINY, "--out=x", "--condition=prefix:8"],
        /prefix:N \(1 ≤ N < 8\), comma-separated; got "prefix:8"/,
      ],
      [
        "train_small.ts",
        [...TINY, "--out=x", "--given-dropout=0.2"],
        /--given-dropout needs given frames/,
      ],
      [
        "train_small.ts",
        [...TINY, "--out=x", "--condition=class,class"],
        /--condition lists each mode once/,
      ],
    ];
    for (const [script, a, message] of bad) {
      const r = await task(script, a, dir);
      assert.equal(r.code, 2, `${a}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
