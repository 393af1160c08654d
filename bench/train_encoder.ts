/**
 * `deno task bench:encoder`: trains the fixed video encoder that the benchmarks' Fréchet distance
 * and MMD use, and writes `bench/encoder/encoder.json` (weights and how they were made). Run once;
 * the result is committed. Deterministic from its seed on one backend.
 *
 * Targets (from the generator's ground truth): objects in the video / 3, mean object speed / 2
 * (px/frame), wall bounces / 4, and whether the frames were shuffled (half of every batch is).
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import {
  datasetParams,
  loadOrCreateDataset,
  toModelSpace,
  writeFileAtomic,
} from "../lib/data/mod.ts";
import type { Dataset } from "../lib/data/mod.ts";
import {
  createEncoder,
  encoderToJson,
  initBackend,
  TRAIN_SMALL_DATA,
  trainSmallData,
} from "../lib/nn/mod.ts";
import { createRng, type Rng } from "../lib/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    steps: { type: "string", default: "800" },
    out: { type: "string", default: "bench/encoder/encoder.json" },
  },
  strict: true,
});
const steps = Number(values.steps);
if (!Number.isInteger(steps) || steps < 1) {
  throw new Error(`--steps must be a positive integer; got ${values.steps}`);
}
const backend = await initBackend();
const train = await trainSmallData();
const [, frames, height, width] = train.shape;
const common = { kind: TRAIN_SMALL_DATA.kind, frames, height, width };
const { dataset: val } = await loadOrCreateDataset(
  datasetParams({ ...common, count: 256, seed: 3_000_017 }),
);

/** Ground-truth targets of one video: objects / 3, mean speed / 2, bounces / 4. */
function targets(d: Dataset, n: number): [number, number, number] {
  const [, F] = d.shape;
  const M = d.params.maxObjects;
  let speed = 0, links = 0, bounces = 0;
  for (let m = 0; m < M; m++) {
    for (let f = 0; f < F; f++) {
      bounces += d.bounces[(n * M + m) * F + f];
      if (f === 0) continue;
      const a = ((n * M + m) * F + f - 1) * 2, b = a + 2;
      if (Number.isNaN(d.tracks[a]) || Number.isNaN(d.tracks[b])) continue;
      speed += Math.hypot(d.tracks[b] - d.tracks[a], d.tracks[b + 1] - d.tracks[a + 1]);
      links++;
    }
  }
  return [d.objectCounts[n] / 3, links ? speed / links / 2 : 0, bounces / 4];
}

/** A batch: videos (half with shuffled frames), targets and the shuffled flags. */
function batch(d: Dataset, indices: number[], rng: Rng) {
  const [, F, H, W] = d.shape;
  const size = H * W;
  const x = toModelSpace(d, indices);
  const shuffled = indices.map((_, i) => i % 2);
  for (let i = 0; i < indices.length; i++) {
    if (!shuffled[i]) continue;
    let order: number[];
    do {
      order = Array.from({ length: F }, (_, f) => f);
      for (let f = F - 1; f > 0; f--) {
        const j = rng.integer(f + 1);
        [order[f], order[j]] = [order[j], order[f]];
      }
    } while (order.every((v, f) => v === f));
    const video = x.slice(i * F * size, (i + 1) * F * size);
    order.forEach((src, f) =>
      x.set(video.subarray(src * size, (src + 1) * size), (i * F + f) * size)
    );
  }
  return {
    x: tf.tensor(x, [indices.length, F, H, W, 1]),
    y: tf.tensor2d(indices.map((n) => targets(d, n)), [indices.length, 3]),
    shuffled: tf.tensor1d(shuffled, "float32"),
  };
}

const rng = createRng("encoder:0");
const encoder = createEncoder({ frames, height, width }, rng.split());
const variables = [...encoder.params.variables.values()];
const optimizer = tf.train.adam(2e-3);
const lossOf = (b: ReturnType<typeof batch>) => {
  const out = encoder.heads(encoder.features(b.x));
  const regression = tf.slice(out, [0, 0], [-1, 3]);
  const logit = tf.reshape(tf.slice(out, [0, 3], [-1, 1]), [-1]);
  // Speed and bounces of a shuffled video are not its motion: only the object count counts there.
  const keep = tf.concat([
    tf.ones([b.shuffled.shape[0], 1]),
    tf.tile(tf.reshape(tf.sub(1, b.shuffled), [-1, 1]), [1, 2]),
  ], 1);
  const mse = tf.div(tf.sum(tf.mul(keep, tf.square(tf.sub(regression, b.y)))), tf.sum(keep));
  const bce = tf.losses.sigmoidCrossEntropy(b.shuffled, logit);
  return { loss: tf.add(mse, bce) as tf.Scalar, out };
};

const started = performance.now();
for (let step = 1; step <= steps; step++) {
  const b = batch(train, Array.from({ length: 32 }, () => rng.integer(train.shape[0])), rng);
  const lr = 2e-3 *
    (step < 50 ? step / 50 : 0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * step / steps)));
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
  const loss = optimizer.minimize(() => tf.tidy(() => lossOf(b).loss), true, variables);
  if (step % 50 === 0 || step === steps) {
    console.log(`step ${step}/${steps} loss ${(await loss!.data())[0].toFixed(4)}`);
  }
  loss?.dispose();
  tf.dispose([b.x, b.y, b.shuffled]);
}
const seconds = (performance.now() - started) / 1000;

// Held-out quality: R² of each regression (unshuffled videos) and shuffle accuracy.
const vb = batch(val, Array.from({ length: val.shape[0] }, (_, i) => i), createRng("encoder:val"));
const out = tf.tidy(() => encoder.heads(encoder.features(vb.x)));
const pred = await out.array(), truth = await vb.y.array(), flags = await vb.shuffled.array();
const r2 = ["objects", "speed", "bounces"].map((_, j) => {
  const rows = truth.map((t, i) => [t[j], pred[i][j]]).filter((_, i) => flags[i] === 0);
  const mean = rows.reduce((a, r) => a + r[0], 0) / rows.length;
  const ss = rows.reduce((a, r) => a + (r[0] - mean) ** 2, 0);
  const res = rows.reduce((a, r) => a + (r[0] - r[1]) ** 2, 0);
  return 1 - res / ss;
});
const accuracy = pred.filter((p, i) => (p[3] > 0 ? 1 : 0) === flags[i]).length / pred.length;
const training = {
  command: `deno task bench:encoder --steps ${steps}`,
  backend: backend.description,
  data: "balls 16×32×32: 2048 training videos (seed 0), 256 held out (seed 3000017)",
  steps,
  batch: 32,
  optimizer: "Adam, lr 2e-3, 50 warm-up steps, cosine to 10 %",
  seconds: Number(seconds.toFixed(1)),
  heldOut: {
    r2Objects: Number(r2[0].toFixed(4)),
    r2Speed: Number(r2[1].toFixed(4)),
    r2Bounces: Number(r2[2].toFixed(4)),
    shuffleAccuracy: Number(accuracy.toFixed(4)),
  },
  parameters: encoder.params.count(),
};
await writeFileAtomic(String(values.out), encoderToJson(encoder, training) + "\n");
console.log(JSON.stringify(training, null, 1));
console.log(`wrote ${values.out}`);
