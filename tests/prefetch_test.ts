import assert from "node:assert/strict";
import { datasetParams, generateDataset, toModelSpace } from "../lib/data/mod.ts";
import {
  BatchPrefetcher,
  createDenoiser,
  denoiserConfig,
  initBackend,
  Trainer,
} from "../lib/nn/mod.ts";
import { createRng } from "../lib/mod.ts";
import { tinyTrainConfig } from "./helpers.ts";

Deno.test("BatchPrefetcher prepares the sequential loop's batches exactly, and the trainer's generator follows", async () => {
  await initBackend("wasm");
  const data = generateDataset(
    datasetParams({ kind: "balls", count: 12, frames: 8, height: 16, width: 16, seed: 4 }),
  );
  const config = tinyTrainConfig({ batch: 3, stageWeights: [1, 2] });
  const modelConfig = denoiserConfig({ height: 16, width: 16, widths: [8, 16], patch: 4 });
  const sequential = new Trainer(config, createDenoiser(modelConfig, createRng(1)), createRng(2));
  const ahead = new Trainer(config, createDenoiser(modelConfig, createRng(1)), createRng(2));
  const prefetcher = new BatchPrefetcher(ahead, data);
  try {
    for (let step = 0; step < 5; step++) {
      const indices = Array.from({ length: 3 }, () => sequential.rng.integer(12));
      const want = sequential.prepare(toModelSpace(data, indices));
      const got = await prefetcher.next();
      assert.deepEqual(got.indices, indices, `step ${step + 1}: the same videos`);
      assert.equal(got.prepared.stage.k, want.stage.k, "the same stage");
      assert.ok(ahead.plan.stages.includes(got.prepared.stage), "a stage of the trainer's plan");
      assert.deepEqual(got.prepared.t, want.t);
      assert.deepEqual(got.prepared.xt, want.xt);
      assert.deepEqual(got.prepared.target, want.target);
      assert.deepEqual(got.prepared.alignment, want.alignment);
      assert.deepEqual(ahead.rng.state(), sequential.rng.state(), "the generator moved alike");
      const [a, b] = [
        await sequential.trainOnBatch(want),
        await ahead.trainOnBatch(got.prepared),
      ];
      assert.equal(b.loss, a.loss, `step ${step + 1}: the same loss, bit for bit`);
    }
  } finally {
    prefetcher.close();
    sequential.model.params.dispose();
    ahead.model.params.dispose();
  }
});
