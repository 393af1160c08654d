/**
 * The train-small targets with interleaved runs, so that machine drift hits both sides alike:
 * each round times one vanilla step and one pyramid step per stage (and, for sampling, one vanilla
 * and one staged pass), and the medians over rounds give the ratios.
 *
 * - training: pyramid mean step cost over vanilla's (target ≤ 0.65; bound 7/12 ≈ 0.583 for K = 3);
 * - sampling at 30 total steps: staged K = 3 speed-up over vanilla (target ≥ 1.6; bound 12/7).
 *
 * Run: `deno task bench:targets [--rounds 9] [--batch 8]` (train-small's default batch is 8). Prints a Markdown table.
 *
 * @module
 */
import { parseArgs } from "node:util";
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

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string" }, batch: { type: "string" } },
  strict: true,
});
const rounds = Number(values.rounds ?? 9);
const batch = Number(values.batch ?? 8);
const backend = await initBackend();
const config: TrainConfig = { ...TRAIN_SMALL, batch };
const modelConfig = trainSmallModel();
const dataset = generateDataset(datasetParams({ kind: "balls", count: 64, seed: 0 }));
const x0 = toModelSpace(dataset, Array.from({ length: batch }, (_, i) => i));
const pyramidPlan = planForTraining(config, 30);
const vanillaPlan = planForTraining({ ...config, mode: "vanilla" }, 30);

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const timed = async (f: () => Promise<unknown>) => {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
};

const { vanilla, perStage } = trainersByStage(config);
for (const t of [vanilla, ...perStage]) await t.trainStep(x0); // warm-up
const train = { vanilla: [] as number[], stages: [[], [], []] as number[][] };
for (let r = 0; r < rounds; r++) {
  train.vanilla.push(await timed(() => vanilla.trainStep(x0)));
  for (const [i, t] of perStage.entries()) train.stages[i].push(await timed(() => t.trainStep(x0)));
}
const vanillaStep = median(train.vanilla);
const stageSteps = train.stages.map(median);
const pyramidStep = stageSteps.reduce((a, b) => a + b, 0) / 3;

const model = createDenoiser(modelConfig, createRng(3));
const draw = (plan: typeof pyramidPlan) =>
  sampleStaged(plan, modelPredict(model, plan), {
    prediction: "stage-velocity",
    start: { batch: 8, height: 32, width: 32 },
    seed: 1,
  });
await draw(vanillaPlan);
await draw(pyramidPlan);
const sampling = { vanilla: [] as number[], staged: [] as number[] };
for (let r = 0; r < Math.max(5, Math.ceil(rounds / 2)); r++) {
  sampling.vanilla.push(await timed(() => draw(vanillaPlan)));
  sampling.staged.push(await timed(() => draw(pyramidPlan)));
}
const vanillaSample = median(sampling.vanilla), stagedSample = median(sampling.staged);

console.log(`backend ${backend.description}; ${rounds} interleaved rounds; medians\n`);
console.log("| measure | vanilla | pyramid | ratio | bound | target |");
console.log("|---|---|---|---|---|---|");
console.log(
  `| training step (batch ${batch}, 16×32×32), ms | ${vanillaStep.toFixed(0)} | ${
    pyramidStep.toFixed(0)
  } ` +
    `(k=3 ${stageSteps[0].toFixed(0)}, k=2 ${stageSteps[1].toFixed(0)}, k=1 ${
      stageSteps[2].toFixed(0)
    }) | ` +
    `${(pyramidStep / vanillaStep).toFixed(3)} of vanilla | ${
      costFraction(pyramidPlan).toFixed(3)
    } | ≤ 0.65 |`,
);
console.log(
  `| sampling 8 videos, 30 steps (Heun), ms | ${vanillaSample.toFixed(0)} | ${
    stagedSample.toFixed(0)
  } | ` +
    `${(vanillaSample / stagedSample).toFixed(3)}× faster | ${
      speedupBound(pyramidPlan).toFixed(3)
    }× | ≥ 1.6× |`,
);
