import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  createDenoiser,
  denoiserConfig,
  initBackend,
  modelPredict,
  planForTraining,
  Trainer,
} from "../lib/nn/mod.ts";
import { maxDiff, perturb, tinyData, tinyModel, tinyTrain, values } from "./nn_helpers.ts";
import { createRng, framePositions, recoverPair, sampleStaged, video } from "../lib/mod.ts";

/** A tiny model that reads its own estimate on the two coarse stages (k = 3, 2), not on k = 1. */
const selfConditioned = () => denoiserConfig({ ...tinyModel(), selfCondition: [3, 2] });

Deno.test("modelPredict() feeds a self-conditioning model the x̃₀ of its previous call in the stage, none at a stage's first or on a stage it does not self-condition", async () => {
  await initBackend("wasm");
  const model = perturb(createDenoiser(selfConditioned(), createRng(3)), 30);
  const plan = planForTraining(tinyTrain, 6);
  const prediction = "stage-velocity" as const;
  const predict = modelPredict(model, plan, { prediction });
  const before = tf.memory().numTensors;
  let previous: { stage: number; x0: Float32Array } | undefined;
  let checked = 0;
  await sampleStaged(plan, async (x, t, stage) => {
    const out = await predict(x, t, stage) as Float32Array;
    // The same forward pass, with the estimate given explicitly (zeros: none).
    const shape = [x.batch, x.frames, x.height, x.width, x.channels];
    const expected = tf.tidy(() =>
      model.apply(tf.tensor(x.data as Float32Array, shape), {
        t: new Array(x.batch).fill(t),
        k: stage.k,
        positions: framePositions(plan.frames, stage.k),
        ...(previous?.stage === stage.index && stage.k > 1
          ? { selfCondition: tf.tensor(previous.x0, shape) }
          : {}),
      })
    );
    assert.ok(maxDiff(out, await values(expected)) < 1e-6, `stage ${stage.k}, t ${t}`);
    expected.dispose();
    const x0 = recoverPair(x, out, { prediction, stage, t, schedule: plan.schedule }).x0;
    previous = { stage: stage.index, x0: Float32Array.from(x0.data) };
    checked++;
    return out;
  }, { prediction, start: { batch: 2, height: 16, width: 16 }, seed: 1 });
  assert.equal(checked, 11, "6 Heun steps over 3 stages: 6 calls and 5 corrector calls");
  assert.equal(tf.memory().numTensors, before, "no tensors left behind");
  model.params.dispose();
});

Deno.test("the estimate changes the prediction; a call at a larger t starts afresh", async () => {
  await initBackend("wasm");
  const model = perturb(createDenoiser(selfConditioned(), createRng(4)), 40);
  const plan = planForTraining(tinyTrain, 6);
  const predict = modelPredict(model, plan, { prediction: "stage-velocity" });
  const stage = plan.stages[0];
  const x = video(
    { batch: 2, frames: stage.frames, height: 16, width: 16 },
    createRng(5).fillNormal(new Float32Array(2 * stage.frames * 256)),
  );
  const first = await predict(x, 0.9, stage), second = await predict(x, 0.9, stage);
  assert.ok(maxDiff(first, second) > 1e-4, "the second call reads the first's x̃₀");
  // A call at a larger t starts a new pass of the sampler: no estimate, as from a fresh callback.
  const restarted = await predict(x, 0.95, stage);
  const fresh = await modelPredict(model, plan, { prediction: "stage-velocity" })(x, 0.95, stage);
  assert.ok(maxDiff(restarted, fresh) < 1e-7, "a new pass reads no stale estimate");
  model.params.dispose();
});

Deno.test("a self-conditioning model's held-out loss is its two-pass loss, every video reading its first pass", async () => {
  await initBackend("wasm");
  const model = perturb(createDenoiser(selfConditioned(), createRng(6)), 60);
  const trainer = new Trainer(tinyTrain, model, createRng(7));
  const stage = trainer.plan.stages[1], t = (stage.start + stage.end) / 2;
  const x0 = tinyData(2, 8);
  const loss = await trainer.lossAt(x0, { stage, t, seed: 3 });
  // The same batch by hand: pass 1 without an estimate, x̃₀ recovered, pass 2 reading it.
  const prepared = trainer.prepare(x0, { rng: createRng(`loss-at:3:${stage.k}:${t}`), stage, t });
  const shape = [2, stage.frames, 16, 16, 1];
  const cond = { t: prepared.t, k: stage.k, positions: framePositions(8, stage.k) };
  const xt = video({ batch: 2, frames: stage.frames, height: 16, width: 16 }, prepared.xt);
  const first = tf.tidy(() => model.apply(tf.tensor(prepared.xt, shape), cond));
  const x0Hat = recoverPair(xt, await values(first), {
    prediction: trainer.prediction,
    stage,
    t,
    schedule: trainer.plan.schedule,
  }).x0;
  const second = tf.tidy(() =>
    model.apply(tf.tensor(prepared.xt, shape), {
      ...cond,
      selfCondition: tf.tensor(x0Hat.data as Float32Array, shape),
    })
  );
  const out = await values(second), target = prepared.target;
  let sum = 0;
  for (let i = 0; i < out.length; i++) sum += (out[i] - target[i]) ** 2;
  assert.ok(
    Math.abs(loss - sum / out.length) < 1e-6 * Math.max(1, loss),
    `${loss} vs ${sum / out.length}`,
  );
  tf.dispose([first, second]);
  // A training step runs both passes and changes the weights; the estimate is read, not trained.
  const report = await trainer.trainStep(tinyData(2, 9));
  assert.ok(Number.isFinite(report.loss) && report.gradNorm > 0);
  model.params.dispose();
});

Deno.test("self-conditioning is checked: a plain model takes no estimate, modelPredict needs the prediction kind", async () => {
  await initBackend("wasm");
  const plain = createDenoiser(tinyModel(), createRng(1));
  const x = tf.zeros([1, 2, 16, 16, 1]);
  /** A forward pass of two frames on stage k with an estimate of `frames` frames. */
  const withEstimate = (m: typeof plain, k: number, frames: number) => () =>
    m.apply(x, { t: [0.5], k, positions: [0, 1], selfCondition: tf.zeros([1, frames, 16, 16, 1]) });
  assert.throws(
    withEstimate(plain, 1, 2),
    /reads no estimate of its own on stage k = 1 \(selfCondition \[\]\)/,
  );
  const model = createDenoiser(selfConditioned(), createRng(2));
  assert.throws(withEstimate(model, 2, 1), /shaped like x \[1,2,16,16,1\]; got \[1,1,16,16,1\]/);
  assert.throws(
    withEstimate(model, 1, 2),
    /reads no estimate of its own on stage k = 1 \(selfCondition \[2,3\]\)/,
  );
  assert.deepEqual(denoiserConfig({ ...tinyModel(), selfCondition: [3, 1] }).selfCondition, [1, 3]);
  assert.throws(
    () => denoiserConfig({ ...tinyModel(), selfCondition: [2, 2] }),
    /distinct stages k from 1 to 4; got \[2, 2\]/,
  );
  assert.throws(
    () => modelPredict(model, planForTraining(tinyTrain, 6)),
    /self-conditions: give modelPredict its prediction kind/,
  );
  assert.throws(
    () => denoiserConfig({ ...tinyModel(), selfCondition: "yes" as unknown as number[] }),
    /selfCondition must list distinct stages k from 1 to 4; got "yes"/,
  );
  tf.dispose(x);
  plain.params.dispose();
  model.params.dispose();
});
