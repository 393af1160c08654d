import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { createDenoiser, initBackend, modelPredict, planForTraining } from "../lib/nn/mod.ts";
import { tinyModel, tinyTrain } from "./nn_helpers.ts";
import { createRng, sampleStaged } from "../lib/mod.ts";

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
