import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { createDenoiser, initBackend, NonFiniteError, Trainer } from "../lib/nn/mod.ts";
import { maxDiff, tinyData, tinyModel, tinyTrain, values } from "./nn_helpers.ts";
import { createRng } from "../lib/mod.ts";

Deno.test("one Adam step from zero state moves every weight by lr·g/(|g| + ε), and the EMA follows", async () => {
  await initBackend("wasm");
  const model = createDenoiser(tinyModel(), createRng(3));
  const trainer = new Trainer({ ...tinyTrain, steps: 1_000_000 }, model, createRng(4));
  const w0 = new Map<string, Float32Array>();
  for (const [n, v] of model.params.variables) w0.set(n, Float32Array.from(await values(v)));
  // The same batch and draws as trainStep will make: replay with a copy of the RNG.
  const x0 = tinyData(2, 1);
  const replay = new Trainer(
    { ...tinyTrain, steps: 1_000_000 },
    createDenoiser(tinyModel(), createRng(3)),
    createRng(4),
  );
  const prepared = replay.prepare(x0);
  const shape = [2, prepared.stage.frames, 16, 16, 1];
  const positions = Array.from(
    { length: prepared.stage.frames },
    (_, j) => j * prepared.stage.stride,
  );
  const grads = tf.variableGrads(() =>
    tf.mean(tf.squaredDifference(
      replay.model.apply(tf.tensor(prepared.xt, shape), {
        t: prepared.t,
        k: prepared.stage.k,
        positions,
      }),
      tf.tensor(prepared.target, shape),
    )) as tf.Scalar, [...replay.model.params.variables.values()]);
  const lr = trainer.learningRate();
  await trainer.trainStep(x0);
  let checked = 0;
  const emaValues = await trainer.stateValues("ema");
  for (const [name, v] of model.params.variables) {
    const g = await values(grads.grads[replay.model.params.get(name).name]);
    const w1 = await values(v),
      before = w0.get(name)!,
      ema = emaValues.get(name)!;
    for (let i = 0; i < g.length; i += 7) {
      const expected = before[i] - (lr * g[i]) / (Math.abs(g[i]) + 1e-8);
      assert.ok(Math.abs(w1[i] - expected) < 1e-6 + 1e-3 * lr, `${name}[${i}]`);
      assert.ok(Math.abs(ema[i] - (0.9 * before[i] + 0.1 * w1[i])) < 1e-6, `ema ${name}[${i}]`);
      checked++;
    }
  }
  assert.ok(checked > 100);
});

Deno.test("gradient clipping scales the gradient before Adam (a tiny clip makes ε dominate)", async () => {
  await initBackend("wasm");
  const moved = async (clip: number) => {
    const model = createDenoiser(tinyModel(), createRng(3));
    const trainer = new Trainer({ ...tinyTrain, clip }, model, createRng(4));
    // The output layer starts at zero, so only it has a gradient on the first step.
    const before = Float32Array.from(await values(model.params.get("out.w")));
    const report = await trainer.trainStep(tinyData(2, 1));
    const after = await values(model.params.get("out.w"));
    return { delta: maxDiff(before, after), norm: report.gradNorm };
  };
  const free = await moved(1e9), clipped = await moved(1e-12);
  assert.equal(free.norm, clipped.norm, "the reported norm is the one before clipping");
  assert.ok(clipped.delta < free.delta / 100, `${clipped.delta} vs ${free.delta}`);
});

Deno.test("a training step leaks no tensors: numTensors is the same after every step", async () => {
  await initBackend("wasm");
  const model = createDenoiser(tinyModel(), createRng(3));
  const trainer = new Trainer(tinyTrain, model, createRng(4));
  await trainer.trainStep(tinyData(2, 0));
  const counts: number[] = [];
  for (let i = 1; i <= 4; i++) {
    await trainer.trainStep(tinyData(2, i));
    counts.push(tf.memory().numTensors);
  }
  await trainer.evaluate(tinyData(2, 9));
  counts.push(tf.memory().numTensors);
  assert.deepEqual(counts, new Array(5).fill(counts[0]));
});

Deno.test("a NaN loss stops with NonFiniteError and leaves weights, moments and step untouched", async () => {
  await initBackend("wasm");
  const model = createDenoiser(tinyModel(), createRng(3));
  const trainer = new Trainer(tinyTrain, model, createRng(4));
  await trainer.trainStep(tinyData(2, 0));
  const poisoned = model.params.get("out.b");
  poisoned.assign(tf.fill(poisoned.shape, NaN));
  const snapshot = Float32Array.from(await values(model.params.get("stem.w")));
  const m = trainer.state.m.slice();
  await assert.rejects(trainer.trainStep(tinyData(2, 1)), (e: Error) => {
    assert.ok(e instanceof NonFiniteError);
    assert.match(e.message, /non-finite loss at step 2 \(stage k = \d\): loss NaN/);
    return true;
  });
  assert.equal(trainer.step, 1);
  assert.deepEqual(await values(model.params.get("stem.w")), snapshot);
  assert.deepEqual(trainer.state.m, m);
});

Deno.test("training lowers the held-out loss on a fixed tiny dataset (pyramid and vanilla)", async () => {
  await initBackend("wasm");
  for (const mode of ["pyramid", "vanilla"] as const) {
    const model = createDenoiser(tinyModel(), createRng(3));
    const trainer = new Trainer(
      {
        ...tinyTrain,
        mode,
        stages: mode === "vanilla" ? 1 : 3,
        learningRate: 3e-3,
        warmup: 5,
        clip: 1,
      },
      model,
      createRng(4),
    );
    // Smooth, repeated videos: easy to learn.
    const data = Float32Array.from(
      { length: 2 * 8 * 256 },
      (_, i) => Math.sin((i % 256) / 20 + Math.floor(i / 2048)),
    );
    const before = await trainer.evaluate(data);
    for (let i = 0; i < 60; i++) await trainer.trainStep(data);
    const after = await trainer.evaluate(data);
    for (const k of Object.keys(before)) {
      assert.ok(
        after[Number(k)] < 0.7 * before[Number(k)],
        `${mode} stage ${k}: ${before[Number(k)]} → ${after[Number(k)]}`,
      );
    }
    model.params.dispose();
  }
});

Deno.test("prepare() with the caller's generator draws the stage from it and leaves the trainer's alone", async () => {
  await initBackend("wasm");
  const trainer = new Trainer(tinyTrain, createDenoiser(tinyModel(), createRng(3)), createRng(4));
  const before = trainer.rng.state();
  const stages = Array.from({ length: 12 }, (_, i) =>
    trainer.prepare(tinyData(2, 1), {
      rng: createRng(`caller:${i}`),
    }).stage.k);
  assert.deepEqual(trainer.rng.state(), before, "the trainer's generator did not move");
  assert.ok(new Set(stages).size > 1, `the caller's seeds draw different stages: ${stages}`);
  const again = trainer.prepare(tinyData(2, 1), { rng: createRng("caller:5") });
  assert.equal(again.stage.k, stages[5], "the same seed draws the same stage");
  trainer.model.params.dispose();
});

Deno.test("before the first step the EMA equals the weights, read asynchronously", async () => {
  await initBackend("wasm");
  const trainer = new Trainer(tinyTrain, createDenoiser(tinyModel(), createRng(3)), createRng(4));
  const ema = await trainer.stateValues("ema");
  for (const [name, v] of trainer.model.params.variables) {
    assert.deepEqual(ema.get(name), await values(v), name);
  }
  const copy = await trainer.emaModel(createRng(9));
  for (const [name, v] of copy.params.variables) {
    assert.deepEqual(await values(v), ema.get(name), `EMA model ${name}`);
  }
  copy.params.dispose();
  trainer.model.params.dispose();
});
