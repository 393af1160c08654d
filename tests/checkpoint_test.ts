import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  CheckpointError,
  createDenoiser,
  denoiserConfig,
  initBackend,
  loadWeights,
  readCheckpoint,
  restoreTrainer,
  saveCheckpoint,
  type TrainConfig,
  Trainer,
} from "../lib/nn/mod.ts";
import { createRng } from "../lib/mod.ts";
import { loadDnnl } from "../lib/nn/native/mod.ts";

const modelConfig = denoiserConfig({ height: 16, width: 16, widths: [8, 16], patch: 4 });
const config: TrainConfig = {
  mode: "pyramid",
  form: "vp-epsilon",
  stages: 2,
  frames: 4,
  batch: 2,
  steps: 8,
  learningRate: 2e-3,
  warmup: 2,
  clip: 1,
  emaDecay: 0.9,
  align: true,
};
const dataset = createRng(77).fillNormal(new Float32Array(6 * 4 * 256)).map(Math.tanh);

/** Draws the batch from the trainer's own RNG, as train-small does. */
function batch(trainer: Trainer): Float32Array {
  const out = new Float32Array(2 * 4 * 256);
  for (let b = 0; b < 2; b++) {
    const n = trainer.rng.integer(6);
    out.set(dataset.subarray(n * 1024, (n + 1) * 1024), b * 1024);
  }
  return out;
}

async function flat(map: Map<string, tf.Variable>): Promise<Float32Array[]> {
  return await Promise.all(
    [...map.values()].map(async (v) => Float32Array.from(await v.data() as Float32Array)),
  );
}

const nativeLoads = (() => {
  try {
    loadDnnl();
    return true;
  } catch {
    return false;
  }
})();

for (const backend of ["wasm", "native"] as const) {
  Deno.test({
    name: `resuming from a checkpoint continues exactly on ${backend}: 2N steps straight = N + N`,
    ignore: backend === "native" && !nativeLoads,
    fn: () => resumeExactly(backend),
  });
}

async function resumeExactly(backend: "wasm" | "native"): Promise<void> {
  await initBackend(backend);
  const N = 4;
  const straight = new Trainer(config, createDenoiser(modelConfig, createRng(1)), createRng(2));
  const lossesStraight: number[] = [];
  for (let i = 0; i < 2 * N; i++) {
    lossesStraight.push((await straight.trainStep(batch(straight))).loss);
  }

  const dir = await Deno.makeTempDir();
  try {
    const first = new Trainer(config, createDenoiser(modelConfig, createRng(1)), createRng(2));
    const losses: number[] = [];
    for (let i = 0; i < N; i++) losses.push((await first.trainStep(batch(first))).loss);
    await saveCheckpoint(`${dir}/ckpt`, first, { note: "half-way" });
    await saveCheckpoint(`${dir}/run/checkpoint`, first, { note: "half-way" });
    first.model.params.dispose();

    const checkpoint = await readCheckpoint(`${dir}/ckpt`);
    assert.equal(checkpoint.manifest.step, N);
    // A run folder reads as the checkpoint/ folder inside it.
    const viaRun = await readCheckpoint(`${dir}/run`);
    assert.deepEqual(viaRun.manifest, checkpoint.manifest);
    assert.deepEqual(checkpoint.manifest.extra, { note: "half-way" });
    // A fresh model with other initial weights and another RNG: everything must come from disk.
    const resumed = new Trainer(
      checkpoint.manifest.train,
      createDenoiser(checkpoint.manifest.model, createRng(99)),
      createRng(98),
    );
    restoreTrainer(resumed, checkpoint);
    for (let i = 0; i < N; i++) losses.push((await resumed.trainStep(batch(resumed))).loss);

    assert.deepEqual(losses, lossesStraight);
    assert.deepEqual(
      await flat(resumed.model.params.variables),
      await flat(straight.model.params.variables),
    );
    assert.deepEqual(resumed.state.ema, straight.state.ema);
    assert.deepEqual(resumed.state.m, straight.state.m);
    assert.deepEqual(resumed.state.v, straight.state.v);

    const sampler = createDenoiser(modelConfig, createRng(5));
    loadWeights(sampler, checkpoint, "ema");
    const emaOnDisk = checkpoint.values.ema.get("stem.w")!;
    assert.deepEqual(await sampler.params.get("stem.w").data(), emaOnDisk);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a missing, truncated, foreign or mismatched checkpoint is a clear CheckpointError", async () => {
  await initBackend("wasm");
  const dir = await Deno.makeTempDir();
  try {
    const trainer = new Trainer(config, createDenoiser(modelConfig, createRng(1)), createRng(2));
    await saveCheckpoint(`${dir}/c`, trainer);
    await assert.rejects(readCheckpoint(`${dir}/none`), /checkpoint .*none: missing/);
    const bytes = await Deno.readFile(`${dir}/c/tensors.bin`);
    await Deno.writeFile(`${dir}/c/tensors.bin`, bytes.subarray(0, bytes.length - 4));
    await assert.rejects(readCheckpoint(`${dir}/c`), (e: Error) => {
      assert.ok(e instanceof CheckpointError);
      assert.match(
        e.message,
        /tensors\.bin has \d+ bytes, expected \d+ \(truncated, extended or corrupt\)/,
      );
      return true;
    });
    await Deno.writeFile(`${dir}/c/tensors.bin`, bytes);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/c/checkpoint.json`));
    await Deno.writeTextFile(
      `${dir}/c/checkpoint.json`,
      JSON.stringify({ ...manifest, version: 3 }),
    );
    await assert.rejects(
      readCheckpoint(`${dir}/c`),
      /version 3 is not supported; this build reads versions 1 and 2/,
    );
    await Deno.writeTextFile(`${dir}/c/checkpoint.json`, "{");
    await assert.rejects(readCheckpoint(`${dir}/c`), /checkpoint\.json is not valid JSON/);
    await Deno.writeTextFile(`${dir}/c/checkpoint.json`, JSON.stringify(manifest));
    const restored = await readCheckpoint(`${dir}/c`);
    const wider = createDenoiser(
      denoiserConfig({ height: 16, width: 16, widths: [16, 16], patch: 4 }),
      createRng(1),
    );
    assert.throws(
      () => loadWeights(wider, restored),
      /parameter stem\.w has \d+ values, the model needs \d+/,
    );
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["c"],
      "no temporary directories left",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an EMA-only export is a quarter of the size, samples like the full checkpoint, and refuses to resume", async () => {
  await initBackend("wasm");
  const dir = await Deno.makeTempDir();
  try {
    const trainer = new Trainer(config, createDenoiser(modelConfig, createRng(1)), createRng(2));
    for (let i = 0; i < 3; i++) await trainer.trainStep(batch(trainer));
    await saveCheckpoint(`${dir}/full`, trainer);
    await saveCheckpoint(`${dir}/ema`, trainer, {}, { groups: ["ema"] });
    const full = await Deno.readFile(`${dir}/full/tensors.bin`);
    const ema = await Deno.readFile(`${dir}/ema/tensors.bin`);
    assert.equal(ema.length * 4, full.length);
    const [a, b] = [await readCheckpoint(`${dir}/full`), await readCheckpoint(`${dir}/ema`)];
    const load = async (c: typeof a) => {
      const m = createDenoiser(c.manifest.model, createRng(5));
      loadWeights(m, c, "ema");
      return await flat(m.params.variables);
    };
    assert.deepEqual(await load(b), await load(a));
    assert.throws(() => loadWeights(createDenoiser(modelConfig, createRng(1)), b, "weights"), {
      name: "CheckpointError",
      message: /holds no "weights" tensors; it holds ema/,
    });
    const again = new Trainer(config, createDenoiser(modelConfig, createRng(1)), createRng(2));
    assert.throws(
      () => restoreTrainer(again, b),
      /holds no weights, adam\.m, adam\.v tensors.*not resume/,
    );
    await assert.rejects(
      saveCheckpoint(`${dir}/bad`, trainer, {}, { groups: ["adam.w" as "ema"] }),
      /groups must be a non-empty subset of weights, ema, adam\.m, adam\.v; got \["adam\.w"\]/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a checkpoint written before the temporal-kernel and temporal-attention fields and the spelled-out forms loads with their defaults", async () => {
  await initBackend("wasm");
  // notebooks/checkpoints/balls-pyramid-fm was exported before those fields existed.
  const dir = new URL("../notebooks/checkpoints/balls-pyramid-fm", import.meta.url).pathname;
  const raw = JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.json`));
  assert.equal(raw.model.temporalKernel, undefined);
  assert.equal(raw.train.form, "fm");
  const checkpoint = await readCheckpoint(dir);
  assert.equal(checkpoint.manifest.train.form, "flow-matching");
  assert.equal(checkpoint.manifest.model.temporalKernel, 3);
  assert.equal(checkpoint.manifest.model.temporalAttention, 0);
  const model = createDenoiser(checkpoint.manifest.model, createRng(0));
  loadWeights(model, checkpoint, "ema");
  assert.equal(model.params.count(), 362_865);
  model.params.dispose();
});
