/**
 * Chooses the denoiser by measurement: trains each candidate with the train-small defaults for the
 * same wall-clock budget on the active backend, then reports ms per training step (pyramid mix),
 * the held-out loss per stage (fixed videos, noise and times) and parameters / FLOPs per frame.
 *
 * Run: `deno task bench:denoiser [--seconds 90]`. Prints a Markdown table.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { datasetParams, loadOrCreateDataset, toModelSpace } from "../lib/data/mod.ts";
import {
  createDenoiser,
  type DenoiserConfig,
  denoiserConfig,
  initBackend,
  TRAIN_SMALL,
  type TrainConfig,
  Trainer,
} from "../lib/nn/mod.ts";
import { createRng } from "../lib/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { seconds: { type: "string" } },
  strict: true,
});
const seconds = Number(values.seconds ?? 90);
const backend = await initBackend();
const common = { frames: 16, height: 32, width: 32 };
const { dataset } = await loadOrCreateDataset(
  datasetParams({ kind: "balls", count: 2048, seed: 0, ...common }),
);
const { dataset: heldOut } = await loadOrCreateDataset(
  datasetParams({ kind: "balls", count: 64, seed: 1_000_003, ...common }),
);
const heldOutX0 = toModelSpace(heldOut, Array.from({ length: 16 }, (_, i) => i));

const candidates: [string, DenoiserConfig][] = [
  [
    "U-Net (2+1)D, patch 4, widths 32-48-64",
    denoiserConfig({ architecture: "unet", height: 32, width: 32, widths: [32, 48, 64], patch: 4 }),
  ],
  [
    "U-Net (2+1)D, patch 2, widths 16-32-48",
    denoiserConfig({ architecture: "unet", height: 32, width: 32, widths: [16, 32, 48], patch: 2 }),
  ],
  [
    "transformer, patch 4, width 64, depth 2",
    denoiserConfig({
      architecture: "transformer",
      height: 32,
      width: 32,
      widths: [64],
      patch: 4,
      depth: 2,
    }),
  ],
];
const train: TrainConfig = { ...TRAIN_SMALL, batch: 4, warmup: 100 };
console.log(
  `backend ${backend.description}, ${seconds} s per candidate, balls 16×32×32, pyramid K = 3, fm, batch 4\n`,
);
console.log(
  "| denoiser | parameters | MFLOP/frame | ms/step | steps in budget | held-out MSE k=3 | k=2 | k=1 | mean |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const [name, config] of candidates) {
  const rng = createRng("train:0");
  const model = createDenoiser(config, rng.split());
  const trainer = new Trainer({ ...train, steps: Math.round(seconds * 5) }, model, rng);
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const indices = Array.from(
      { length: train.batch },
      () => trainer.rng.integer(dataset.shape[0]),
    );
    await trainer.trainStep(toModelSpace(dataset, indices));
  }
  const ms = (performance.now() - start) / trainer.step;
  const ema = await trainer.emaModel(createRng(1));
  const evaluator = new Trainer(train, ema, createRng(2));
  const loss = await evaluator.evaluate(heldOutX0);
  const mean = (loss[3] + loss[2] + loss[1]) / 3;
  console.log(
    `| ${name} | ${model.params.count().toLocaleString("en")} | ${
      (model.flopsPerFrame(16) / 1e6).toFixed(1)
    } | ${ms.toFixed(0)} | ${trainer.step} | ` +
      `${loss[3].toFixed(4)} | ${loss[2].toFixed(4)} | ${loss[1].toFixed(4)} | ${
        mean.toFixed(4)
      } |`,
  );
  ema.params.dispose();
  model.params.dispose();
}
