/**
 * The train-small targets, measured side by side on the active backend with the default config
 * (balls 16×32×32, batch 8, U-Net 32-48-64, flow matching, alignment on):
 *
 * - training: one iteration is three optimiser steps, one per stage (k = 3, 2, 1) for the pyramid
 *   and three full-rate steps for vanilla, so the ratio is the pyramid's mean step cost over
 *   vanilla's (target ≤ 0.65; the cost model's bound for a frame-linear network is 7/12 ≈ 0.583);
 * - sampling: 8 videos at 30 total steps (Heun) with the same network, staged K = 3 against vanilla
 *   (target ≥ 1.6×; bound 12/7 ≈ 1.714).
 *
 * `deno bench` prints each group's ratio to its vanilla baseline.
 *
 * @module
 */
import { datasetParams, generateDataset, toModelSpace } from "../lib/data/mod.ts";
import {
  createDenoiser,
  initBackend,
  modelPredict,
  planForTraining,
  TRAIN_SMALL,
  type TrainConfig,
  trainersByStage,
  trainSmallModel,
} from "../lib/nn/mod.ts";
import { costFraction, createRng, sampleStaged, speedupBound } from "../lib/mod.ts";

const backend = await initBackend();
const config: TrainConfig = { ...TRAIN_SMALL };
const modelConfig = trainSmallModel();
const dataset = generateDataset(datasetParams({ kind: "balls", count: 64, seed: 0 }));
const x0 = toModelSpace(dataset, [0, 1, 2, 3, 4, 5, 6, 7]);
const pyramidPlan = planForTraining(config, 30),
  vanillaPlan = planForTraining({ ...config, mode: "vanilla" }, 30);
console.log(
  `backend ${backend.description}; bounds: training cost ${
    costFraction(pyramidPlan).toFixed(3)
  } of vanilla, ` +
    `sampling speed-up ${speedupBound(pyramidPlan).toFixed(3)}×`,
);

const { vanilla, perStage } = trainersByStage(config);
Deno.bench({
  name: "vanilla: 3 full-rate steps",
  group: "training step",
  baseline: true,
  n: 8,
  warmup: 2,
  async fn() {
    for (let i = 0; i < 3; i++) await vanilla.trainStep(x0);
  },
});
Deno.bench({
  name: "pyramid: one step per stage (k = 3, 2, 1)",
  group: "training step",
  n: 8,
  warmup: 2,
  async fn() {
    for (const t of perStage) await t.trainStep(x0);
  },
});
for (const [i, t] of perStage.entries()) {
  Deno.bench({
    name: `pyramid stage k = ${3 - i} alone (${t.plan.stages[i].frames} frames)`,
    group: "training step by stage",
    n: 8,
    warmup: 2,
    async fn() {
      await t.trainStep(x0);
    },
  });
}

const model = createDenoiser(modelConfig, createRng(3));
for (
  const [name, plan] of [["vanilla (K = 1)", vanillaPlan], ["staged (K = 3)", pyramidPlan]] as const
) {
  Deno.bench({
    name: `sampling 8 videos, 30 steps, ${name}`,
    group: "sampling",
    baseline: plan.stageCount === 1,
    n: 5,
    warmup: 1,
    async fn() {
      await sampleStaged(plan, modelPredict(model, plan), {
        prediction: "stage-velocity",
        start: { batch: 8, height: 32, width: 32 },
        seed: 1,
      });
    },
  });
}
