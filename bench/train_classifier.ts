/**
 * `deno task bench:classifier`: trains the digit reader that scores class-conditional Moving MNIST
 * samples (`bench/classifier/reader.ts`) and writes `bench/classifier/classifier.json`. Run once;
 * the result is committed. Deterministic from its seed on one backend.
 *
 * Each example is a training-pool digit at 14 px, drawn at a random sub-pixel position into a
 * 24 × 24 frame as Moving MNIST draws it, found by the benchmarks' detector and cropped at the
 * largest object's centroid, as samples are read; the centroid is jittered by up to 1 px and
 * Gaussian speckle is added, since samples are less clean than the data. Held-out accuracy is
 * measured on the test pool's digits, cropped the same way without jitter or speckle.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import {
  digitImage,
  loadMnistDigits,
  type MnistDigits,
  stampDigit,
  writeFileAtomic,
} from "../lib/data/mod.ts";
import { findObjects } from "../lib/metrics/mod.ts";
import { initBackend } from "../lib/nn/mod.ts";
import { createRng, type Rng } from "../lib/mod.ts";
import { CROP, cropAt, HIDDEN, READER_PATH, readerToJson } from "./classifier/reader.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { epochs: { type: "string", default: "12" }, out: { type: "string" } },
  strict: true,
});
const epochs = Number(values.epochs);
if (!Number.isInteger(epochs) || epochs < 1) {
  throw new Error(`--epochs must be a positive integer; got ${values.epochs}`);
}
const backend = await initBackend();
const digits = await loadMnistDigits();
const SIDE = 24;

/** One digit as the reader sees it: drawn, detected, cropped. */
function example(d: MnistDigits, index: number, rng: Rng | undefined): Float32Array {
  const canvas = new Float32Array(SIDE * SIDE);
  const left = 5 + (rng ? rng.uniform() : 0.5), top = 5 + (rng ? rng.uniform() : 0.5);
  stampDigit(canvas, digitImage(d, index, CROP), {
    left,
    top,
    size: CROP,
    height: SIDE,
    width: SIDE,
  });
  const bytes = Uint8Array.from(canvas, (v) => Math.round(255 * v));
  const size = { height: SIDE, width: SIDE };
  const blobs = findObjects(bytes, size).sort((a, b) => b.area - a.area);
  const at = blobs[0] ?? { x: left + CROP / 2, y: top + CROP / 2 };
  const jitter = rng ? { x: 2 * rng.uniform() - 1, y: 2 * rng.uniform() - 1 } : { x: 0, y: 0 };
  const crop = cropAt(bytes, size, { x: at.x + jitter.x, y: at.y + jitter.y });
  if (rng) {
    for (let i = 0; i < crop.length; i++) {
      crop[i] = Math.min(1, Math.max(0, crop[i] + 0.05 * rng.normal()));
    }
  }
  return crop;
}

function examples(pool: Uint32Array, rng: Rng | undefined): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(pool.length * CROP * CROP), y = new Int32Array(pool.length);
  pool.forEach((index, n) => {
    x.set(example(digits, index, rng), n * CROP * CROP);
    y[n] = digits.labels[index];
  });
  return { x, y };
}

const model = tf.sequential({
  layers: [
    tf.layers.dense({
      inputShape: [CROP * CROP],
      units: HIDDEN,
      activation: "relu",
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    }),
    tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
  ],
});
model.compile({
  optimizer: tf.train.adam(2e-3),
  loss: (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits),
});
const rng = createRng("digit-reader");
const started = performance.now();
const test = examples(digits.pools.test, undefined);
const accuracyOn = (set: { x: Float32Array; y: Int32Array }) =>
  tf.tidy(() => {
    const logits = model.predict(tf.tensor2d(set.x, [set.y.length, CROP * CROP])) as tf.Tensor;
    const guess = logits.argMax(1).dataSync();
    return guess.filter((g, i) => g === set.y[i]).length / set.y.length;
  });
for (let epoch = 0; epoch < epochs; epoch++) {
  // A seeded shuffle (the pool is in label order), fresh positions, jitter and speckle.
  const order = Uint32Array.from(digits.pools.train);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.integer(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const train = examples(order, rng);
  const xs = tf.tensor2d(train.x, [train.y.length, CROP * CROP]);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(train.y, "int32"), 10).toFloat());
  const history = await model.fit(xs, ys, {
    batchSize: 128,
    epochs: 1,
    shuffle: false,
    verbose: 0,
  });
  xs.dispose();
  ys.dispose();
  console.log(
    `epoch ${epoch + 1}/${epochs}: loss ${
      (history.history.loss[0] as number).toFixed(4)
    }, held-out accuracy ${accuracyOn(test).toFixed(4)}`,
  );
}
const heldOutAccuracy = accuracyOn(test);
const [w1, b1, w2, b2] = model.getWeights().map((w) => w.dataSync() as Float32Array);
const out = values.out ?? READER_PATH.pathname;
await writeFileAtomic(
  out,
  readerToJson({
    w1,
    b1,
    w2,
    b2,
    training: {
      command: `deno task bench:classifier --epochs ${epochs}`,
      backend: backend.description,
      data: `the mnist package's training pool (${digits.pools.train.length} digits at 14 px), ` +
        `redrawn every epoch at random sub-pixel positions, centroid jitter ≤ 1 px, speckle σ 0.05`,
      epochs,
      optimizer: "Adam, lr 2e-3, batch 128",
      seconds: Math.round((performance.now() - started) / 1000),
      heldOutDigits: digits.pools.test.length,
      heldOutAccuracy: Number(heldOutAccuracy.toFixed(4)),
    },
  }),
);
console.log(`wrote ${out}: held-out accuracy ${heldOutAccuracy.toFixed(4)}`);
