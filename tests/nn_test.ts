import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  avgPool2,
  backendCapabilities,
  BackendUnavailableError,
  checkBackendRequest,
  conv2d,
  createDenoiser,
  denoiserConfig,
  fromPatches,
  groupNorm,
  initBackend,
  modelPredict,
  NonFiniteError,
  planForTraining,
  toPatches,
  type TrainConfig,
  Trainer,
  upNearest2,
} from "../lib/nn/mod.ts";
import { createRng, sampleStaged } from "../lib/mod.ts";
import { assertThrowsWith } from "./helpers.ts";

async function values(t: tf.Tensor): Promise<Float32Array> {
  return (await t.data()) as Float32Array;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function convGrads(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  weights: tf.Tensor,
  forwardOnlyGradient: boolean | undefined,
) {
  return tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, { forwardOnlyGradient }), weights))
  )([x, w]);
}

Deno.test("checkBackendRequest() names the allowed backends", () => {
  assert.equal(checkBackendRequest("wasm"), "wasm");
  assertThrowsWith(
    () => checkBackendRequest("gpu"),
    /backend must be one of auto, native, wasm, cpu, webgpu, tensorflow; got "gpu"/,
  );
});

Deno.test("the forward-only conv2d gradient equals tfjs's own gradients on the cpu backend", async () => {
  await initBackend("cpu");
  assert.equal(backendCapabilities().conv2dFilterGradient, true);
  const rng = createRng(5);
  const draw = (shape: number[]) =>
    tf.tensor(rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b))), shape);
  for (const [kh, kw, cin, cout] of [[3, 3, 3, 4], [3, 1, 5, 2], [1, 1, 2, 3], [5, 3, 2, 2]]) {
    const x = draw([2, 7, 6, cin]) as tf.Tensor4D, w = draw([kh, kw, cin, cout]) as tf.Tensor4D;
    const weights = draw([2, 7, 6, cout]);
    const [dxRef, dwRef] = convGrads(x, w, weights, false);
    const [dx, dw] = convGrads(x, w, weights, true);
    const scale = Math.max(...(await values(tf.abs(dwRef))));
    assert.ok(maxDiff(await values(dx), await values(dxRef)) < 1e-4 * scale, `dx ${kh}×${kw}`);
    assert.ok(maxDiff(await values(dw), await values(dwRef)) < 1e-4 * scale, `dw ${kh}×${kw}`);
    assert.deepEqual(dw.shape, w.shape);
  }
  assertThrowsWith(
    () => conv2d(tf.zeros([1, 4, 4, 1]), tf.zeros([2, 2, 1, 1])),
    /kernel sizes must be odd .*; got 2×2/,
  );
});

Deno.test("on wasm (no Conv2DBackpropFilter) conv2d trains, with the cpu backend's gradients", async () => {
  await initBackend("cpu");
  const rng = createRng(6);
  const xs = rng.fillNormal(new Float32Array(2 * 8 * 8 * 3)),
    ws = rng.fillNormal(new Float32Array(27 * 4));
  const ys = rng.fillNormal(new Float32Array(2 * 8 * 8 * 4));
  const run = async () => {
    const [dx, dw] = convGrads(
      tf.tensor4d(xs, [2, 8, 8, 3]),
      tf.tensor4d(ws, [3, 3, 3, 4]),
      tf.tensor(ys, [2, 8, 8, 4]),
      undefined,
    );
    return [await values(dx), await values(dw)];
  };
  const reference = await run();
  await initBackend("wasm");
  assert.equal(backendCapabilities().conv2dFilterGradient, false);
  const onWasm = await run();
  assert.ok(maxDiff(onWasm[0], reference[0]) < 1e-3);
  assert.ok(maxDiff(onWasm[1], reference[1]) < 1e-3);
});

Deno.test("space helpers: patches round-trip, pooling averages, nearest upsampling copies, group norm normalises", async () => {
  await initBackend("wasm");
  const x = tf.tensor4d(Float32Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => Math.sin(i)), [
    2,
    8,
    8,
    3,
  ]);
  assert.deepEqual(await values(fromPatches(toPatches(x, 4), 4)), await values(x));
  const up = upNearest2(x);
  assert.deepEqual(up.shape, [2, 16, 16, 3]);
  assert.ok(
    maxDiff(await values(avgPool2(up)), await values(x)) < 1e-6,
    "pooling undoes nearest upsampling",
  );
  const block = await values(tf.slice(up, [1, 6, 10, 2], [1, 2, 2, 1]));
  assert.ok(block.every((v) => v === block[0]), "each 2×2 block is one copy");
  const n = groupNorm(tf.add(tf.mul(x, 3), 1) as tf.Tensor4D, 3);
  const { mean, variance } = tf.moments(n, [1, 2]);
  assert.ok(Math.max(...(await values(tf.abs(mean)))) < 1e-5);
  assert.ok(maxDiff(await values(variance), [1, 1, 1, 1, 1, 1]) < 1e-3);
});

const tinyModel = (architecture: "unet" | "transformer" = "unet") =>
  denoiserConfig({
    architecture,
    height: 16,
    width: 16,
    widths: architecture === "unet" ? [8, 16] : [16],
    patch: 4,
    depth: 1,
  });

Deno.test("both denoisers accept F/4, F/2 and F frames, keep the shape, and leak no tensors", async () => {
  await initBackend("wasm");
  for (const architecture of ["unet", "transformer"] as const) {
    const model = createDenoiser(tinyModel(architecture), createRng(1));
    const before = tf.memory().numTensors;
    for (const [frames, k] of [[2, 3], [4, 2], [8, 1]]) {
      const x = tf.randomNormal([2, frames, 16, 16, 1]);
      const positions = Array.from({ length: frames }, (_, j) => j * 2 ** (k - 1));
      const y = model.apply(x, { t: [0.3, 0.9], k, positions });
      assert.deepEqual(y.shape, x.shape);
      assert.ok((await values(y)).every(Number.isFinite));
      tf.dispose([x, y]);
    }
    assert.equal(tf.memory().numTensors, before, `${architecture} leaks no tensors`);
    assert.ok(model.flopsPerFrame(8) > 0 && model.params.count() > 1000);
    assertThrowsWith(
      () => model.apply(tf.zeros([1, 2, 8, 8, 1]), { t: [0.5], k: 1, positions: [0, 1] }),
      /denoiser input must be \[batch, frames, 16, 16, 1\]; got \[1,2,8,8,1\]/,
    );
    assertThrowsWith(
      () => model.apply(tf.zeros([1, 2, 16, 16, 1]), { t: [0.5], k: 7, positions: [0, 1] }),
      /stage k must be an integer in \[1, 4\]; got 7/,
    );
    model.params.dispose();
  }
});

Deno.test("the U-Net's FLOPs per frame equal a count over its conv and projection weights", async () => {
  await initBackend("cpu");
  for (const widths of [[32, 48, 64], [8, 16], [8, 16, 16, 24]]) {
    const config = denoiserConfig({ height: 32, width: 32, widths, patch: 2 });
    const model = createDenoiser(config, createRng(1));
    const pixels0 = (32 / 2) ** 2;
    let macs = 0;
    for (const { name, shape } of model.params.specs()) {
      if (!name.endsWith(".w") || /^(cond|skip)\./.test(name) || name.endsWith(".cond.w")) continue;
      const level = /^(stem|out)/.test(name)
        ? 0
        : name.startsWith("mid")
        ? widths.length - 1
        : Number(name.match(/^(?:down|up)(\d)/)![1]) + (name.includes(".to.") ? 1 : 0);
      macs += (pixels0 / 4 ** level) * shape.reduce((a, b) => a * b, 1);
    }
    assert.equal(model.flopsPerFrame(16), 2 * macs);
    assert.equal(model.flopsPerFrame(4), model.flopsPerFrame(16), "a frame-linear network");
    model.params.dispose();
  }
});

Deno.test("the denoiser's output depends on t, the stage and the frame positions", async () => {
  await initBackend("wasm");
  const model = createDenoiser(tinyModel(), createRng(2));
  // Zero-initialised output layers make a fresh model output 0: perturb every weight first.
  for (const v of model.params.variables.values()) {
    v.assign(tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 1, "float32", 1), 0.1)));
  }
  const x = tf.randomNormal([1, 4, 16, 16, 1], 0, 1, "float32", 3);
  const out = (t: number, k: number, positions: number[]) =>
    values(model.apply(x, { t: [t], k, positions }));
  const base = await out(0.5, 2, [0, 2, 4, 6]);
  assert.ok(maxDiff(base, await out(0.6, 2, [0, 2, 4, 6])) > 1e-4, "t");
  assert.ok(maxDiff(base, await out(0.5, 1, [0, 2, 4, 6])) > 1e-4, "stage");
  assert.ok(maxDiff(base, await out(0.5, 2, [0, 1, 2, 3])) > 1e-4, "positions");
  model.params.dispose();
});

Deno.test("temporal attention lets a frame see every other; without it, frames beyond the temporal convolutions' reach stay exactly unchanged", async () => {
  await initBackend("wasm");
  // Widths [8, 16]: four kernel-3 temporal convolutions reach 4 frames; frame 11 is 11 away.
  const config = (temporalAttention: number) =>
    denoiserConfig({ height: 16, width: 16, widths: [8, 16], patch: 2, temporalAttention });
  const x = tf.randomNormal([1, 12, 16, 16, 1], 0, 1, "float32", 4);
  const bumped = tf.tidy(() =>
    tf.concat([tf.add(tf.slice(x, [0, 0], [1, 1]), 1), tf.slice(x, [0, 1])], 1)
  );
  const positions = Array.from({ length: 12 }, (_, j) => j);
  const lastFrameChange = async (temporalAttention: number) => {
    const model = createDenoiser(config(temporalAttention), createRng(5));
    for (const v of model.params.variables.values()) {
      v.assign(tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 1, "float32", 6), 0.1)));
    }
    const run = (input: tf.Tensor) =>
      values(tf.slice(model.apply(input, { t: [0.5], k: 1, positions }), [0, 11], [1, 1]));
    const change = maxDiff(await run(x), await run(bumped));
    model.params.dispose();
    return change;
  };
  assert.equal(await lastFrameChange(0), 0);
  assert.ok((await lastFrameChange(1)) > 1e-4);
  assertThrowsWith(
    () => config(3),
    /temporalAttention must be an integer from 0 to 2 \(the U-Net's levels\); got 3/,
  );
  tf.dispose([x, bumped]);
});

Deno.test("a temporal kernel of 1 keeps every frame to itself exactly; planForTraining follows the config's boundaries", async () => {
  await initBackend("wasm");
  const model = createDenoiser(
    denoiserConfig({ height: 16, width: 16, widths: [8, 16], patch: 2, temporalKernel: 1 }),
    createRng(5),
  );
  for (const v of model.params.variables.values()) {
    v.assign(tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 1, "float32", 6), 0.1)));
  }
  const x = tf.randomNormal([1, 4, 16, 16, 1], 0, 1, "float32", 4);
  const bumped = tf.tidy(() =>
    tf.concat([tf.add(tf.slice(x, [0, 0], [1, 1]), 1), tf.slice(x, [0, 1])], 1)
  );
  const c = { t: [0.5], k: 1, positions: [0, 1, 2, 3] };
  const rest = (input: tf.Tensor) => values(tf.slice(model.apply(input, c), [0, 1], [1, 3]));
  assert.equal(maxDiff(await rest(x), await rest(bumped)), 0);
  assert.equal(
    model.flopsPerFrame(4),
    createDenoiser(
      denoiserConfig({ height: 16, width: 16, widths: [8, 16], patch: 2 }),
      createRng(5),
    )
      .flopsPerFrame(4) - 2 * 2 * ((16 / 2) ** 2 * 2 * 8 * 8 + (16 / 4) ** 2 * 2 * 16 * 16),
    "two fewer c×c temporal taps per block",
  );
  assertThrowsWith(
    () => denoiserConfig({ height: 16, width: 16, temporalKernel: 4 }),
    /temporalKernel must be an odd integer from 1 to 15; got 4/,
  );
  tf.dispose([x, bumped]);
  model.params.dispose();
  const config = { ...tinyTrain, boundaries: [0.25, 0.85] };
  assert.deepEqual(
    planForTraining(config).stages.map((s) => [s.nominalStart, s.end]),
    [[1, 0.85], [0.85, 0.25], [0.25, 0]],
  );
  assert.equal(planForTraining({ ...config, mode: "vanilla" }).stageCount, 1);
  // A shift of 3 warps t to 3t/(1 + 2t): σ(1/2) of rectified flow becomes 0.75.
  const shifted = planForTraining({ ...tinyTrain, shift: 3 });
  assert.ok(Math.abs(shifted.schedule.sigma(0.5) - 0.75) < 1e-12);
  assert.equal(planForTraining({ ...tinyTrain, shift: 1 }).schedule.sigma(0.5), 0.5);
});

Deno.test("the U-Net's FLOPs count temporal attention: four c×c projections per pixel, and 2·F·c for scores and mixing", async () => {
  await initBackend("cpu");
  const plain = createDenoiser(
    denoiserConfig({ height: 32, width: 32, widths: [16, 24, 32], patch: 4 }),
    createRng(1),
  );
  const attending = createDenoiser(
    denoiserConfig({ height: 32, width: 32, widths: [16, 24, 32], patch: 4, temporalAttention: 2 }),
    createRng(1),
  );
  // Levels 1 (4×4 pixels, c = 24: down and up blocks) and 2 (2×2 pixels, c = 32: down and mid).
  for (const frames of [4, 16]) {
    const extra = (pixels: number, c: number, blocks: number) =>
      blocks * pixels * (4 * c * c + 2 * frames * c);
    assert.equal(
      attending.flopsPerFrame(frames) - plain.flopsPerFrame(frames),
      2 * (extra(16, 24, 2) + extra(4, 32, 2)),
    );
  }
  assert.equal(
    attending.params.count() - plain.params.count(),
    2 * 4 * (24 * 24 + 24) + 2 * 4 * (32 * 32 + 32),
  );
  plain.params.dispose();
  attending.params.dispose();
});

const tinyTrain: TrainConfig = {
  mode: "pyramid",
  form: "fm",
  stages: 3,
  frames: 8,
  batch: 2,
  steps: 100,
  learningRate: 1e-3,
  warmup: 0,
  clip: 1e9,
  emaDecay: 0.9,
  align: true,
};

function tinyData(batch: number, seed: number): Float32Array {
  return createRng(seed).fillNormal(new Float32Array(batch * 8 * 16 * 16)).map((v) => Math.tanh(v));
}

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
  const emaValues = trainer.stateValues("ema");
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

Deno.test("modelPredict() feeds the staged sampler every stage's frames and leaks no tensors", async () => {
  await initBackend("wasm");
  const model = createDenoiser(tinyModel(), createRng(3));
  const plan = planForTraining(tinyTrain, 6);
  const seen: number[] = [];
  const predict = modelPredict(model, plan);
  const before = tf.memory().numTensors;
  const out = await sampleStaged(plan, async (x, t, stage) => {
    seen.push(x.frames);
    return await predict(x, t, stage);
  }, { prediction: "stage-velocity", start: { batch: 2, height: 16, width: 16 }, seed: 1 });
  assert.deepEqual([...new Set(seen)], [2, 4, 8], "coarse to fine");
  assert.ok(seen.every((f, i) => i === 0 || f >= seen[i - 1]));
  assert.equal(out.frames, 8);
  assert.equal(tf.memory().numTensors, before);
  model.params.dispose();
});

Deno.test("the tensorflow backend is opt-in: without tfjs-node it fails with one clear message", async () => {
  try {
    const info = await initBackend("tensorflow");
    assert.equal(info.name, "tensorflow", "where tfjs-node is installed, it is used");
  } catch (error) {
    assert.ok(error instanceof BackendUnavailableError, String(error));
    assert.match(
      error.message,
      /needs npm:@tensorflow\/tfjs-node-gpu or npm:@tensorflow\/tfjs-node/,
    );
    assert.match(error.message, /--allow-scripts=npm:@tensorflow\/tfjs-node/);
    assert.ok(!error.message.includes("\n"), "one line");
  }
  await initBackend("wasm");
});
