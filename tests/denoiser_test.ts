import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { createDenoiser, denoiserConfig, initBackend, planForTraining } from "../lib/nn/mod.ts";
import { maxDiff, tinyModel, tinyTrain, values } from "./nn_helpers.ts";
import { createRng } from "../lib/mod.ts";
import { assertThrowsWith } from "./helpers.ts";

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
