/**
 * Where do a trained model's objects get lost? `deno task bench:permanence --run DIR [--count 64]
 * [--seed 0] [--vanilla] [--context-guidance W [--guide-stages K,…] [--guide-interval LO,HI]]
 * [--out FILE]` draws samples from a train-small run and follows every
 * sample's estimate x̃₀ (recovered from the model's prediction) through the staged sampler:
 *
 * - at the first and the last step of every stage, x̃₀ is detected like a real video, on the
 *   frames that stage holds; its objects per frame and count stability tell whether the stage
 *   already lacks an object (the coarse stage), gains or loses one across a transition (Up plus
 *   renoising), or the full-rate stage erases it;
 * - for every final sample with a permanence break, the first snapshot whose counts on the coarse
 *   stage's frames already disagree with the final video's modal count is recorded;
 * - the model's held-out loss per stage at five noise levels inside each stage, against the same
 *   loss of the vanilla form, shows where the network is weakest.
 *
 * Prints a table and writes the numbers as JSON with `--out`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { toModelSpace, toPixels, writeFileAtomic } from "../lib/data/mod.ts";
import { detectVideos, motionStats, permanenceBreaks } from "../lib/metrics/mod.ts";
import {
  createDenoiser,
  initBackend,
  loadWeights,
  modelPredict,
  planForTraining,
  predictionFor,
  readCheckpoint,
  Trainer,
} from "../lib/nn/mod.ts";
import {
  createRng,
  downToStage,
  framePositions,
  gaussianVideo,
  recoverPair,
  renoise,
  sampleStaged,
  type Solver,
  solveStagePair,
  stageEndpoints,
  stagePlan,
  trainingExample,
  type Video,
  video,
  videoLike,
} from "../lib/mod.ts";
import { encodePng, frameStrip } from "../lib/viz/mod.ts";
import { runHeldOut } from "./suite/runs.ts";
import { contextGuidedPredict } from "../lib/context_guidance.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    run: { type: "string" },
    count: { type: "string", default: "64" },
    seed: { type: "string", default: "0" },
    steps: { type: "string", default: "30" },
    vanilla: { type: "boolean", default: false },
    "real-through": { type: "string" },
    solver: { type: "string" },
    out: { type: "string" },
    strip: { type: "string" },
    "context-guidance": { type: "string", default: "1" },
    "guide-stages": { type: "string" },
    "guide-interval": { type: "string" },
  },
});
if (!values.run) throw new Error("--run DIR is required");
const count = Number(values.count), seed = Number(values.seed), steps = Number(values.steps);

await initBackend();
const checkpoint = await readCheckpoint(`${values.run}/checkpoint`);
const { train, model: modelConfig } = checkpoint.manifest;
const model = createDenoiser(modelConfig, createRng(0));
loadWeights(model, checkpoint, "ema");
let plan = planForTraining(train, steps);
if (values.vanilla) {
  plan = stagePlan({ schedule: plan.schedule, frames: train.frames, stages: 1, steps });
}
const F = train.frames, H = modelConfig.height, W = modelConfig.width;
const size = { width: W, height: H };
const heldOut = await runHeldOut(checkpoint.manifest, { defaultKind: "balls" });
/** The 64 held-out videos in model space, read once. */
const realVideos = video(
  { batch: 64, frames: F, height: H, width: W, channels: 1 },
  toModelSpace(heldOut, Array.from({ length: 64 }, (_, i) => i)),
);

/** The fraction of videos whose object counts agree on all of the given frame positions. */
function agreeOn(found: { length: number }[][], positions: number[], at: number[]): number {
  const same = found.filter((v) => {
    const counts = at.map((p) => v[positions.indexOf(p)].length);
    return counts.every((c) => c === counts[0]);
  });
  return same.length / found.length;
}

// --real-through m: the stages k ≥ m are replaced by their exact end point on real held-out
// videos, x̂_e = γ(e)·D_k x₀ + σ(e)·D_k ε, renoised into stage m − 1 as the sampler would; only the
// later stages run the model. A final video that keeps its objects then acquits those later
// stages and their transitions, and the replaced ones are where objects get lost.
let initial: Video | undefined;
if (values["real-through"] !== undefined) {
  const m = Number(values["real-through"]);
  const from = plan.stages.find((st) => st.k === m);
  if (!from || from.k === 1 || count !== 64) {
    throw new Error(`--real-through needs a stage k ≥ 2 of the plan and --count 64; got ${m}`);
  }
  const { layout, down } = plan.temporal;
  const clean = downToStage(realVideos, m, { layout, down });
  const noise = downToStage(gaussianVideo(realVideos, createRng(`real-through:${seed}`)), m, {
    layout,
    down,
    noise: true,
  });
  const g = plan.schedule.gamma(from.end), sg = plan.schedule.sigma(from.end);
  const end = videoLike(clean, clean.data.map((v, i) => g * v + sg * noise.data[i]));
  const to = plan.stages[from.index + 1];
  initial = renoise(end, {
    from: from.end,
    to: to.start,
    groupSize: plan.groupSize,
    schedule: plan.schedule,
    noise: createRng(`real-through-renoise:${seed}`),
    layout,
  });
  const rest = plan.stages.slice(from.index + 1).map((st, i) => ({ ...st, index: i }));
  plan = { ...plan, stages: rest, stageCount: rest.length };
}

/** x̃₀ snapshots: name, the full-rate positions of its frames, and the data. */
const snapshots: { name: string; positions: number[]; x0: Float32Array }[] = [];
const t0 = performance.now();
const prediction = predictionFor(train.form);
const guided = contextGuidedPredict(modelPredict(model, plan, { prediction }), {
  scale: Number(values["context-guidance"]),
  stages: values["guide-stages"]?.split(",").map(Number),
  interval: values["guide-interval"]?.split(",").map(Number) as [number, number] | undefined,
}, modelPredict(model, plan, { prediction }));
const final = await sampleStaged(plan, guided, {
  prediction,
  seed,
  solver: values.solver as Solver | undefined,
  start: initial ? { x: initial } : { batch: count, height: H, width: W, channels: 1 },
  onStep: ({ stage, step, t, x0 }) => {
    // The first stage's first x̃₀ is pure noise's estimate: nothing to detect.
    if ((step !== 0 || stage.index === 0) && step !== stage.steps - 1) return;
    snapshots.push({
      name: `k=${stage.k} ${step === 0 ? "first" : "last"} step (t=${t.toFixed(3)})`,
      positions: framePositions(F, stage.k, { layout: plan.temporal.layout }),
      x0: Float32Array.from(x0.data),
    });
  },
});
const sampleMs = performance.now() - t0;
snapshots.push({
  name: "final video",
  positions: Array.from({ length: F }, (_, i) => i),
  x0: final.data as Float32Array,
});

const detected = snapshots.map((s) =>
  detectVideos(toPixels(s.x0), { videos: count, frames: s.positions.length, height: H, width: W })
);
const coarse = framePositions(F, plan.stages[0].k, { layout: plan.temporal.layout });
const finalVideos = detected[detected.length - 1];
const rows = snapshots.map((s, i) => {
  const stats = motionStats(detected[i], { size });
  return {
    snapshot: s.name,
    frames: s.positions.length,
    objectsPerFrame: stats.objectsPerFrame,
    countStability: stats.countStability,
    // Counts on the coarse stage's frames only, the frames every snapshot holds.
    coarseFramesAgree: agreeOn(detected[i], s.positions, coarse),
  };
});
// The same counts on real videos brought to each stage's frame rate (D_k x₀), for reference.
const realRows = plan.stages.map((stage) => {
  const positions = framePositions(F, stage.k, { layout: plan.temporal.layout });
  const down = downToStage(realVideos, stage.k, plan.temporal);
  const found = detectVideos(toPixels(down.data as Float32Array), {
    videos: 64,
    frames: positions.length,
    height: H,
    width: W,
  });
  const stats = motionStats(found, { size });
  return {
    snapshot: `real videos at k=${stage.k} (D_k x₀)`,
    frames: positions.length,
    objectsPerFrame: stats.objectsPerFrame,
    countStability: stats.countStability,
    coarseFramesAgree: agreeOn(found, positions, coarse),
  };
});
rows.push(...realRows);

const real = motionStats(
  detectVideos(heldOut.pixels, { videos: 64, frames: F, height: H, width: W }),
  { size },
);
const samples = motionStats(finalVideos, { size });

// For each broken final sample: the first snapshot whose counts on the coarse frames disagree
// with the final video's most common count.
const firstWrong: Record<string, number> = {};
const broken: { sample: number; breaks: ReturnType<typeof permanenceBreaks>["breaks"] }[] = [];
finalVideos.forEach((video, n) => {
  const { breaks } = permanenceBreaks(video, { size });
  if (breaks.length === 0) return;
  broken.push({ sample: n, breaks });
  const counts = video.map((f) => f.length);
  const modal = [...counts].sort((a, b) =>
    counts.filter((c) =>
      c === b
    ).length - counts.filter((c) => c === a).length
  )[0];
  const at = snapshots.findIndex((s, i) =>
    coarse.some((p) => detected[i][n][s.positions.indexOf(p)].length !== modal)
  );
  const name = at < 0 ? "only between coarse frames" : snapshots[at].name.replace(/ \(t=.*\)/, "");
  firstWrong[name] = (firstWrong[name] ?? 0) + 1;
});

// Held-out loss per stage at five noise levels inside each stage.
const trainer = new Trainer(train, model, createRng(3));
const x0 = realVideos.data.subarray(0, 32 * F * H * W) as Float32Array;
const lossByLevel: { k: number; t: number; loss: number }[] = [];
for (const stage of trainer.plan.stages) {
  for (const u of [0.1, 0.3, 0.5, 0.7, 0.9]) {
    const t = stage.end + u * (stage.start - stage.end);
    const loss = await trainer.lossAt(x0, { stage, t, seed: 5 });
    lossByLevel.push({ k: stage.k, t, loss });
  }
}

// How much the model's estimate of one frame uses the other frames: x̃₀ of the middle frame with
// the video's own other frames, against the same with the other frames taken from another video
// at the same noise level (same marginals, no shared content). The gain is 1 − error with context
// / error without, the error against the exact stage pair's x̃₀,k (0: the frame is estimated alone).
const contextGain: { k: number; t: number; gain: number }[] = [];
{
  const n = 32;
  const clean = video({ batch: n, frames: F, height: H, width: W, channels: 1 }, x0);
  // A fresh callback per estimate; a self-conditioning model is called twice, the second call
  // reading the first's x̃₀, as it is evaluated and sampled.
  const predictOnce = async (xt: Video, t: number, stage: (typeof trainer.plan.stages)[number]) => {
    const predictFor = modelPredict(model, trainer.plan, { prediction });
    if (modelConfig.selfCondition.includes(stage.k)) await predictFor(xt, t, stage);
    return await predictFor(xt, t, stage);
  };
  for (const stage of trainer.plan.stages) {
    for (const u of [0.25, 0.75]) {
      const t = stage.end + u * (stage.start - stage.end);
      const noise = gaussianVideo(clean, createRng(`context:${stage.k}:${u}`));
      const ex = trainingExample(clean, noise, {
        plan: trainer.plan,
        stage,
        t,
        prediction: prediction,
      });
      const truth = solveStagePair(stageEndpoints(clean, ex.noise, { plan: trainer.plan, stage }), {
        stage,
        schedule: trainer.plan.schedule,
      }).x0;
      const j = stage.frames >> 1, per = H * W, frameSize = stage.frames * per;
      const shuffled = videoLike(ex.xt, ex.xt.data.slice());
      for (let b = 0; b < n; b++) {
        const other = (b + 1) % n;
        for (let f = 0; f < stage.frames; f++) {
          if (f === j) continue;
          shuffled.data.set(
            ex.xt.data.subarray(other * frameSize + f * per, other * frameSize + (f + 1) * per),
            b * frameSize + f * per,
          );
        }
      }
      const errorAt = async (xt: Video) => {
        const out = await predictOnce(xt, t, stage);
        const est =
          recoverPair(xt, out, { prediction, stage, t, schedule: trainer.plan.schedule }).x0;
        let sum = 0;
        for (let b = 0; b < n; b++) {
          for (let i = 0; i < per; i++) {
            const at = b * frameSize + j * per + i;
            sum += (est.data[at] - truth.data[at]) ** 2;
          }
        }
        return sum / (n * per);
      };
      const withContext = await errorAt(ex.xt), without = await errorAt(shuffled);
      contextGain.push({ k: stage.k, t, gain: 1 - withContext / without });
    }
  }
}

const result = {
  run: values.run,
  step: checkpoint.manifest.step,
  count,
  seed,
  sampleMs,
  samples,
  real,
  rows,
  firstWrong,
  broken: broken.map((b) => ({ sample: b.sample, breaks: b.breaks.length, first: b.breaks[0] })),
  lossByLevel,
  contextGain,
};
const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : "—");
console.log(`${values.run} (step ${checkpoint.manifest.step}), ${count} samples, seed ${seed}`);
console.log("| snapshot | frames | objects/frame | count stability | coarse frames agree |");
for (const r of rows) {
  console.log(
    `| ${r.snapshot} | ${r.frames} | ${f3(r.objectsPerFrame)} | ${f3(r.countStability)} | ${
      f3(r.coarseFramesAgree)
    } |`,
  );
}
const line = (name: string, m: typeof samples) =>
  `| ${name} | ${f3(m.objectsPerFrame)} | ${f3(m.countStability)} | ${f3(m.speed)} | ${
    f3(m.residualMedian)
  } | ${f3(m.linkedFraction)} | ${f3(m.permanence)} | ${f3(m.brokenVideos)} |`;
console.log(
  "| videos | objects/frame | count stability | speed | CV residual median | linked | permanence | broken videos |",
);
console.log(line("samples", samples));
console.log(line("real", real));
console.log("first snapshot wrong, per broken sample:", JSON.stringify(firstWrong));
console.log(
  "held-out loss by stage and level:",
  lossByLevel.map((l) => `k${l.k} t=${l.t.toFixed(2)}: ${l.loss.toFixed(4)}`).join(", "),
);
// A strip of the first broken samples: one row per snapshot, frames at their full-rate positions.
if (values.strip) {
  const shown = broken.slice(0, 4).map((b) => b.sample);
  const rowsOut = shown.length * snapshots.length;
  const pixels = new Uint8Array(rowsOut * F * H * W).fill(40);
  shown.forEach((n, i) =>
    snapshots.forEach((s, r) => {
      const bytes = toPixels(s.x0);
      const per = s.positions.length * H * W;
      s.positions.forEach((p, j) =>
        pixels.set(
          bytes.subarray(n * per + j * H * W, n * per + (j + 1) * H * W),
          ((i * snapshots.length + r) * F + p) * H * W,
        )
      );
    })
  );
  const strip = frameStrip(pixels, { videos: rowsOut, frames: F, height: H, width: W });
  await writeFileAtomic(values.strip, encodePng(strip.pixels, strip));
  console.log(
    `strip of samples ${shown.join(", ")}: rows ${snapshots.map((s) => s.name).join(" | ")}`,
  );
}
console.log(
  "context gain (1 − x̃₀ error with the other frames / without):",
  contextGain.map((c) => `k${c.k} t=${c.t.toFixed(2)}: ${c.gain.toFixed(3)}`).join(", "),
);
if (values.out) await writeFileAtomic(values.out, JSON.stringify(result, null, 1));
