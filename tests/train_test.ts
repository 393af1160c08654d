import assert from "node:assert/strict";
import {
  createDenoiser,
  datasetBatches,
  initBackend,
  type StepReport,
  train,
  Trainer,
} from "../lib/nn/mod.ts";
import { datasetParams, generateDataset } from "../lib/data/mod.ts";
import { createRng } from "../lib/mod.ts";
import { tinyModel, tinyTrain } from "./nn_helpers.ts";

const data = generateDataset(
  datasetParams({ kind: "balls", count: 12, frames: 8, height: 16, width: 16, seed: 3 }),
);
const makeTrainer = (steps = 7) =>
  new Trainer({ ...tinyTrain, steps }, createDenoiser(tinyModel(), createRng(1)), createRng(2));

async function weights(trainer: Trainer): Promise<Float32Array[]> {
  return await Promise.all(
    [...trainer.model.params.variables.values()].map(async (v) => (await v.data()) as Float32Array),
  );
}

Deno.test("train() takes the same steps as a hand-written loop, bit for bit, with or without the worker", async () => {
  await initBackend("wasm");
  const byHand = makeTrainer();
  const batches = datasetBatches(byHand, data, { prefetch: false });
  for (let i = 0; i < 7; i++) await byHand.trainOnBatch(await batches.next());
  for (const prefetch of [false, true]) {
    const trainer = makeTrainer();
    const source = datasetBatches(trainer, data, { prefetch });
    const result = await train(trainer, { batches: source });
    source.close?.();
    assert.equal(result.stopped, "done");
    assert.equal(result.steps, 7);
    assert.deepEqual(await weights(trainer), await weights(byHand), `prefetch ${prefetch}`);
    assert.deepEqual(trainer.rng.state(), byHand.rng.state());
    trainer.model.params.dispose();
  }
  byHand.model.params.dispose();
});

Deno.test("train() calls onStep every step, evaluates and checkpoints on their period and at the last step", async () => {
  await initBackend("wasm");
  const trainer = makeTrainer(7);
  const events: string[] = [];
  const heldOut = new Float32Array(2 * 8 * 16 * 16);
  await train(trainer, {
    batches: datasetBatches(trainer, data, { prefetch: false }),
    heldOut,
    evaluateEvery: 3,
    checkpointEvery: 2,
    onStep: (report: StepReport) => void events.push(`step ${report.step}`),
    onEvaluate: (step, losses) => {
      assert.deepEqual(Object.keys(losses).map(Number).sort(), [1, 2, 3]);
      events.push(`evaluate ${step}`);
    },
    onCheckpoint: (step) => void events.push(`checkpoint ${step}`),
  });
  assert.deepEqual(events.filter((e) => !e.startsWith("step")), [
    "checkpoint 2",
    "evaluate 3",
    "checkpoint 4",
    "evaluate 6",
    "checkpoint 6",
    "evaluate 7",
    "checkpoint 7",
  ]);
  assert.equal(events.filter((e) => e.startsWith("step")).length, 7);
  trainer.model.params.dispose();
});

Deno.test("train() stops after the step in flight when its signal aborts, or when stop() says so", async () => {
  await initBackend("wasm");
  const trainer = makeTrainer(50);
  const controller = new AbortController();
  const aborted = await train(trainer, {
    batches: datasetBatches(trainer, data, { prefetch: false }),
    signal: controller.signal,
    onStep: (report) => {
      if (report.step === 3) controller.abort();
    },
  });
  assert.deepEqual([aborted.stopped, aborted.steps, trainer.step], ["aborted", 3, 3]);
  const stopped = await train(trainer, {
    batches: datasetBatches(trainer, data, { prefetch: false }),
    stop: () => trainer.step >= 5,
  });
  assert.deepEqual([stopped.stopped, stopped.steps, trainer.step], ["stopped", 2, 5]);
  const done = await train(trainer, {
    batches: datasetBatches(trainer, data, { prefetch: false }),
    until: 5,
  });
  assert.deepEqual([done.stopped, done.steps], ["done", 0]);
  trainer.model.params.dispose();
});

Deno.test("train() refuses an evaluation period without held-out videos, and bad periods", async () => {
  const trainer = makeTrainer();
  const batches = datasetBatches(trainer, data, { prefetch: false });
  await assert.rejects(
    train(trainer, { batches, evaluateEvery: 2 }),
    /evaluateEvery needs heldOut/,
  );
  await assert.rejects(
    train(trainer, { batches, checkpointEvery: 0 }),
    /checkpointEvery must be an integer >= 1; got 0/,
  );
  await assert.rejects(train(trainer, { batches, until: 2.5 }), /until must be an integer >= 0/);
  trainer.model.params.dispose();
});
