/**
 * Where does the pyramid break, and does a data-planned schedule avoid it?
 * `deno task bench:plans --run DIR [--run DIR …] [--count 64] [--seed 0] [--steps 30] [--out FILE]`
 *
 * Give it train-small runs on balls (or Moving MNIST) at several `--speed`s: for each speed a uniform pyramid
 * (K = 3), a data-planned one (`--plan auto`) and vanilla diffusion, trained for the same
 * wall-clock. For every run it draws `count` samples with the run's own plan and reports, against
 * real held-out videos of the same speed detected the same way:
 *
 * - motion quality: objects per frame, count stability, median constant-velocity residual,
 *   object permanence and the share of samples with an object vanishing or appearing (objects
 *   linked within max(6, 3 + 2.5·speed) px, the fastest ball's step plus 3 px);
 * - on balls, the Fréchet distance on the committed encoder's features against 1024 real videos
 *   of that speed (the encoder was trained on speed 1; a second set of 64 real videos gives the
 *   floor);
 * - the sampling wall-clock of 16 videos (the median of 3 rounds, the runs interleaved), its
 *   speed-up against the vanilla run of the same speed (same network, same process), and the
 *   plan's bound 1 / costFraction.
 *
 * Prints a Markdown table per speed and writes every number as JSON with `--out`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../lib/data/mod.ts";
import { detectVideos, type MotionStats, motionStats } from "../lib/metrics/mod.ts";
import { drawSamples, initBackend, predictionFor } from "../lib/nn/mod.ts";
import { costFraction, densityCost, planBoundaries } from "../lib/mod.ts";
import { loadReference, measureQuality } from "./suite/quality.ts";
import { openTrainedRun, type TrainedRun } from "./suite/runs.ts";
import { median } from "./suite/util.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    run: { type: "string", multiple: true },
    count: { type: "string", default: "64" },
    seed: { type: "string", default: "0" },
    steps: { type: "string", default: "30" },
    out: { type: "string" },
  },
  strict: true,
});
const runs = values.run ?? [];
if (runs.length === 0) throw new Error("give at least one --run DIR (a train-small run on balls)");
const count = Number(values.count), seed = Number(values.seed), steps = Number(values.steps);
if (!Number.isInteger(count) || count < 2 || count > 64) {
  throw new RangeError(`--count must be an integer in [2, 64] (the held-out set); got ${count}`);
}
if (!Number.isInteger(steps) || steps < 4) {
  throw new RangeError(`--steps must be an integer ≥ 4; got ${values.steps}`);
}

/** Videos per timed sampling round, and rounds (the median counts). */
const TIME_COUNT = 16, TIME_ROUNDS = 3;

const backend = await initBackend();
console.log(`bench:plans on ${backend.description}, ${count} samples per run, seed ${seed}`);

/** One run, and which of the three plans it trained with. */
interface Run extends TrainedRun {
  kind: "uniform" | "planned" | "vanilla";
}

async function openRun(dir: string): Promise<Run> {
  const run = await openTrainedRun(dir, steps);
  if (run.dataset !== "balls" && run.dataset !== "moving-mnist") {
    throw new Error(
      `${dir}: bench:plans measures runs on balls or moving-mnist; got ${run.dataset}`,
    );
  }
  const { mode, stepSplit } = run.train;
  return {
    ...run,
    kind: mode === "vanilla" ? "vanilla" : stepSplit === "length" ? "planned" : "uniform",
  };
}

/** Motion of detected videos, linked within the fastest ball's step plus 3 px. */
function motion(pixels: Uint8Array, videos: number, run: Run): MotionStats {
  const [, F, H, W] = run.heldOut.shape;
  return motionStats(detectVideos(pixels, { videos, frames: F, height: H, width: W }), {
    size: { width: W, height: H },
    maxJump: Math.max(6, 3 + run.heldOut.params.speedRange[1]),
  });
}

const opened: Run[] = [];
for (const dir of runs) opened.push(await openRun(dir));
const groups = [...new Set(opened.map((r) => `${r.dataset} ${r.speed}`))].map((key) =>
  opened.filter((r) => `${r.dataset} ${r.speed}` === key)
).sort((a, b) => a[0].dataset.localeCompare(b[0].dataset) || a[0].speed - b[0].speed);
const results: Record<string, unknown>[] = [];
for (const group of groups) {
  const { speed, dataset } = group[0];
  // The committed encoder reads 16 × 32 × 32 balls; other data get no FD.
  const reference = dataset === "balls" ? await loadReference(1024, count, { speed }) : undefined;
  const real = motion(group[0].heldOut.pixels, count, group[0]);
  console.log(`\n### ${dataset} at speed ${speed}×\n`);
  console.log(
    "| run | steps | train s | plan (boundaries) | objects/frame | count stability | residual px | permanence | broken | FD | sampling 16, s | speed-up (bound) |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
  const rows = [];
  for (const run of group) {
    const samples = await drawSamples(run.model, {
      plan: run.plan,
      prediction: predictionFor(run.train.form),
      count,
      seed,
      keep: "none",
    });
    const m = motion(samples.pixels, count, run);
    const fd = reference && run.train.frames === 16 && run.model.config.height === 32
      ? measureQuality(samples.pixels, count, reference).fd
      : NaN;
    rows.push({ run, m, fd, ms: NaN });
  }
  // Sampling time: the runs of a group share one network, so their times differ by the plan only.
  // Each run draws TIME_COUNT videos in TIME_ROUNDS interleaved rounds after a warm-up; the median
  // round counts, so that a moment of contention on the machine does not decide the ratio.
  const times = rows.map(() => [] as number[]);
  for (let round = -1; round < TIME_ROUNDS; round++) {
    for (const [i, { run }] of rows.entries()) {
      const { ms } = await drawSamples(run.model, {
        plan: run.plan,
        prediction: predictionFor(run.train.form),
        count: round < 0 ? 1 : TIME_COUNT,
        seed,
        keep: "none",
      });
      if (round >= 0) times[i].push(ms);
    }
  }
  rows.forEach((row, i) => (row.ms = median(times[i])));
  const vanillaMs = rows.find((r) => r.run.kind === "vanilla")?.ms ?? NaN;
  for (const { run, m, fd, ms } of rows) {
    const boundaries = planBoundaries(run.plan).map((b) => b.toFixed(2));
    const bound = 1 / costFraction(run.plan);
    const cells = [
      run.kind,
      run.step,
      run.trainSeconds.toFixed(0),
      `K = ${run.plan.stageCount}${boundaries.length ? ` (${boundaries.join(", ")})` : ""}`,
      m.objectsPerFrame.toFixed(2),
      m.countStability.toFixed(2),
      m.residualMedian.toFixed(2),
      m.permanence.toFixed(3),
      `${Math.round(m.brokenVideos * m.videos)}/${m.videos}`,
      fd.toFixed(2),
      (ms / 1000).toFixed(1),
      `${(vanillaMs / ms).toFixed(2)} (${bound.toFixed(2)})`,
    ];
    console.log(`| ${cells.join(" | ")} |`);
    results.push({
      dataset,
      speed,
      run: run.dir,
      kind: run.kind,
      steps: run.step,
      trainSeconds: run.trainSeconds,
      stages: run.plan.stageCount,
      boundaries: planBoundaries(run.plan),
      speedupBound: bound,
      densityCost: densityCost(run.plan),
      samplingMs: ms,
      speedup: vanillaMs / ms,
      fd,
      motion: m,
    });
  }
  console.log(
    `| real, detected | | | | ${real.objectsPerFrame.toFixed(2)} | ${
      real.countStability.toFixed(2)
    } | ${real.residualMedian.toFixed(2)} | ${real.permanence.toFixed(3)} | ${
      Math.round(real.brokenVideos * real.videos)
    }/${real.videos} | ${(reference?.floor.fd ?? NaN).toFixed(2)} | | |`,
  );
  results.push({ dataset, speed, kind: "real", motion: real, fd: reference?.floor.fd ?? NaN });
}

if (values.out) {
  await writeFileAtomic(
    values.out,
    JSON.stringify({ backend: backend.description, count, seed, steps, results }, null, 1) + "\n",
  );
  console.log(`\nwrote ${values.out}`);
}
