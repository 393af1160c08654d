/**
 * How well conditional train-small models follow their condition:
 * `deno task bench:conditioning --run DIR [--run DIR …] [--count 64] [--seed 0] [--out FILE]`.
 *
 * For each run (pyramid and vanilla runs of equal training wall-clock side by side):
 *
 * - **class accuracy against the guidance scale** (a `--condition class` run): `count` samples with
 *   the labels 0, 1, 2, … in turn, at each guidance scale w (default 1, 1.5, 2, 3, 4) and without
 *   a label. On balls the class is the number of balls and the detector reads it (a video's most
 *   common per-frame count); on Moving MNIST the class is the first digit, and the committed digit
 *   classifier (`bench/classifier/`) reads every detected object: a sample is right when one of
 *   its objects is read as the label. Beside it the Fréchet distance on the committed encoder's
 *   features (balls of 16 × 32 × 32 only), and the same accuracy for the real held-out videos
 *   (what the reader gets right on real data: the ceiling), overall and class by class;
 * - **prediction and interpolation error** (a run with given frames): the first `count` held-out
 *   test videos' frames are given (first-frame, prefix:2, prefix:4, keyframes) and the objects
 *   detected in every other frame are paired with the generator's true positions: the position
 *   error (px) per frame and pooled, a true object not found within 8 px counting 8 px (the
 *   capped error), with the share of such misses and the mean error of the found ones. Beside
 *   it: the same model with no frames given (how much the frames tell it), holding the nearest given
 *   frame still (the error of not moving), and the real videos detected alike (the detector's floor).
 *
 * Prints Markdown tables and writes every number as JSON with `--out`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { datasetClasses, toModelSpace, writeFileAtomic } from "../lib/data/mod.ts";
import {
  detectVideos,
  modalObjectCount,
  type PositionErrors,
  positionErrors,
  trackPositions,
} from "../lib/metrics/mod.ts";
import { drawSamples, initBackend, predictionFor } from "../lib/nn/mod.ts";
import { type GivenMode, givenPositions, givenValues } from "../lib/mod.ts";
import { loadReference, measureQuality, type Reference } from "./suite/quality.ts";
import { type DigitReader, loadDigitReader, readDigits } from "./classifier/reader.ts";
import { openTrainedRun, type TrainedRun } from "./suite/runs.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    run: { type: "string", multiple: true },
    count: { type: "string", default: "64" },
    seed: { type: "string", default: "0" },
    steps: { type: "string", default: "30" },
    guidance: { type: "string", default: "1,1.5,2,3,4" },
    out: { type: "string" },
  },
  strict: true,
});
const runs = values.run ?? [];
if (runs.length === 0) {
  throw new Error("give at least one --run DIR (a conditional train-small run)");
}
const count = Number(values.count), seed = Number(values.seed), steps = Number(values.steps);
if (!Number.isInteger(count) || count < 3 || count > 64) {
  throw new RangeError(`--count must be an integer in [3, 64] (the held-out set); got ${count}`);
}
const scales = values.guidance.split(",").map(Number);
const GIVEN_MODES: GivenMode[] = ["first-frame", "prefix:2", "prefix:4", "keyframes"];

const backend = await initBackend();
console.log(`bench:conditioning on ${backend.description}, ${count} samples per set, seed ${seed}`);
let reference: Reference | undefined;
let reader: DigitReader | undefined;

/** One run, with the first `count` held-out videos' true object positions per frame. */
interface Run extends TrainedRun {
  label: string;
  truth: { x: number; y: number }[][][];
}

async function openRun(dir: string): Promise<Run> {
  const run = await openTrainedRun(dir, steps);
  const { train, heldOut } = run;
  return {
    ...run,
    label: `${
      train.mode === "vanilla" ? "vanilla" : `pyramid K=${train.stages}`
    }, ${run.step} steps`,
    truth: trackPositions(heldOut.tracks, {
      count: heldOut.shape[0],
      maxObjects: heldOut.params.maxObjects,
      frames: train.frames,
    }, count),
  };
}

const shapeOf = (run: Run) => ({
  videos: count,
  frames: run.train.frames,
  height: run.model.config.height,
  width: run.model.config.width,
});

/** `count` samples from a run with the benchmark's seed and steps, conditioned as asked. */
function draw(
  run: Run,
  condition: Pick<Parameters<typeof drawSamples>[1], "label" | "guidance" | "given">,
) {
  return drawSamples(run.model, {
    plan: run.plan,
    prediction: predictionFor(run.train.form),
    count,
    seed,
    keep: "none",
    ...condition,
  });
}

/** The classes a reader finds in each video: balls by count, digits by the classifier. */
function readClasses(run: Run, pixels: Uint8Array, videos: number): number[][] {
  const shape = { ...shapeOf(run), videos };
  const found = detectVideos(pixels, shape);
  if (run.dataset === "balls") {
    return found.map((v) => [modalObjectCount(v) - run.heldOut.params.minObjects]);
  }
  if (run.dataset === "moving-mnist" && reader) {
    return readDigits(reader, pixels, found, { ...shape, digitSize: run.heldOut.params.digitSize });
  }
  throw new Error(`${run.dir}: no class reader for ${run.dataset}`);
}

async function classAccuracy(run: Run) {
  const classes = run.model.config.classes;
  if (run.dataset === "moving-mnist") reader ??= await loadDigitReader();
  const labels = Array.from({ length: count }, (_, i) => i % classes);
  const real = datasetClasses(run.heldOut).labels;
  const realRead = readClasses(run, run.heldOut.pixels, count);
  const realAccuracy = realRead.filter((r, i) => r.includes(real[i])).length / count;
  const balls16 = run.dataset === "balls" && run.train.frames === 16 &&
    run.model.config.height === 32;
  if (balls16) reference ??= await loadReference(1024, count);
  const rows: {
    guidance: number | null;
    accuracy: number;
    perClass: number[];
    fd: number;
    ms: number;
  }[] = [];
  for (const w of [null, ...scales]) {
    const samples = await draw(run, w === null ? {} : { label: labels, guidance: w });
    const read = readClasses(run, samples.pixels, count);
    const right = read.map((r, i) => r.includes(labels[i]));
    const accuracy = right.filter(Boolean).length / count;
    const perClass = Array.from({ length: classes }, (_, c) => {
      const asked = labels.map((l, i) => (l === c ? i : -1)).filter((i) => i >= 0);
      return asked.filter((i) => right[i]).length / asked.length;
    });
    // The encoder knows balls of 16 × 32 × 32 only.
    const fd = balls16 && reference ? measureQuality(samples.pixels, count, reference).fd : NaN;
    rows.push({ guidance: w, accuracy, perClass, fd, ms: samples.ms });
    console.log(
      `  ${w === null ? "no label" : `w = ${w}`}: accuracy ${accuracy.toFixed(3)} (by class ${
        perClass.map((a) => a.toFixed(2)).join(", ")
      }), FD ${fd.toFixed(2)} (${(samples.ms / 1000).toFixed(1)} s)`,
    );
  }
  return { realAccuracy, floorFd: balls16 && reference ? reference.floor.fd : NaN, rows };
}

/** Errors of a set of videos against the held-out videos' true positions on the free frames. */
function errorsOf(run: Run, pixels: Uint8Array, free: number[]): PositionErrors {
  return positionErrors(detectVideos(pixels, shapeOf(run)), run.truth, { frames: free });
}

async function givenFrameErrors(run: Run) {
  const { frames: F, height: H, width: W } = shapeOf(run);
  const per = H * W * run.model.config.channels;
  const x0 = toModelSpace(run.heldOut, Array.from({ length: count }, (_, i) => i));
  const real = run.heldOut.pixels.subarray(0, count * F * per);
  const rows = [];
  for (const mode of GIVEN_MODES) {
    const positions = givenPositions(mode, F);
    const free = Array.from({ length: F }, (_, f) => f).filter((f) => !positions.includes(f));
    const values = givenValues(x0, { frames: F, frameSize: per, positions, count });
    const samples = await draw(run, { given: { positions, values } });
    // Holding the nearest given frame still (the earlier one on a tie).
    const still = new Uint8Array(real.length);
    for (let b = 0; b < count; b++) {
      for (let f = 0; f < F; f++) {
        const near = positions.reduce((a, p) => (Math.abs(p - f) < Math.abs(a - f) ? p : a));
        still.set(real.subarray((b * F + near) * per, (b * F + near + 1) * per), (b * F + f) * per);
      }
    }
    const row = {
      mode,
      positions,
      model: errorsOf(run, samples.pixels, free),
      still: errorsOf(run, still, free),
      realDetected: errorsOf(run, real, free),
      ms: samples.ms,
    };
    rows.push(row);
    console.log(
      `  ${mode}: capped error ${row.model.capped.toFixed(2)} px (missed ${
        row.model.missed.toFixed(3)
      }, found ${row.model.mean.toFixed(2)} px), still ${
        row.still.capped.toFixed(2)
      } px, real detected ${row.realDetected.capped.toFixed(2)} px`,
    );
  }
  const free = await draw(run, {});
  const all = Array.from({ length: F - 1 }, (_, f) => f + 1);
  const none = errorsOf(run, free.pixels, all);
  console.log(
    `  no frames given: capped error ${none.capped.toFixed(2)} px (missed ${
      none.missed.toFixed(3)
    })`,
  );
  return { rows, none };
}

const results = [];
for (const dir of runs) {
  const run = await openRun(dir);
  console.log(`${dir}: ${run.label}, ${run.dataset}, trained ${run.trainSeconds.toFixed(0)} s`);
  const result: Record<string, unknown> = {
    run: dir,
    label: run.label,
    mode: run.train.mode,
    stages: run.train.stages,
    dataset: run.dataset,
    step: run.step,
    trainSeconds: run.trainSeconds,
  };
  if (run.model.config.classes > 0) result.classes = await classAccuracy(run);
  if (run.model.config.frameCondition) result.given = await givenFrameErrors(run);
  run.model.params.dispose();
  results.push(result);
}

// Markdown tables: accuracy and FD against w, then errors by mode.
const f = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : "—");
type ClassResult = Awaited<ReturnType<typeof classAccuracy>>;
type GivenResult = Awaited<ReturnType<typeof givenFrameErrors>>;
const withClasses = results.filter((r) => r.classes);
if (withClasses.length > 0) {
  console.log(
    `\n| run | trained | ${
      ["no label", ...scales.map((w) => `w = ${w}`)].join(" | ")
    } | real, read alike |`,
  );
  console.log(`|---|---|${[null, ...scales].map(() => "---").join("|")}|---|`);
  for (const r of withClasses) {
    const c = r.classes as ClassResult;
    console.log(
      `| ${r.label} (${r.dataset}) | ${f(r.trainSeconds as number, 0)} s | ${
        c.rows.map((row) => `${f(row.accuracy)} / FD ${f(row.fd, 1)}`).join(" | ")
      } | ${f(c.realAccuracy)} / FD ${f(c.floorFd, 1)} |`,
    );
  }
}
const withGiven = results.filter((r) => r.given);
if (withGiven.length > 0) {
  console.log(
    `\n| run | trained | ${
      GIVEN_MODES.join(" | ")
    } | no frames | (capped error px, missed share) |`,
  );
  console.log(`|---|---|${GIVEN_MODES.map(() => "---").join("|")}|---|---|`);
  for (const r of withGiven) {
    const g = r.given as GivenResult;
    console.log(
      `| ${r.label} | ${f(r.trainSeconds as number, 0)} s | ${
        g.rows.map((row) => `${f(row.model.capped)} (${f(row.model.missed)})`).join(" | ")
      } | ${f(g.none.capped)} (${f(g.none.missed)}) | |`,
    );
  }
  const g = withGiven[0].given as GivenResult;
  console.log(
    `| still (nearest given frame) | — | ${
      g.rows.map((row) => `${f(row.still.capped)} (${f(row.still.missed)})`).join(" | ")
    } | | |`,
  );
  console.log(
    `| real videos, detected | — | ${
      g.rows.map((row) => `${f(row.realDetected.capped)} (${f(row.realDetected.missed)})`).join(
        " | ",
      )
    } | | |`,
  );
}
if (values.out) {
  await writeFileAtomic(
    values.out,
    JSON.stringify({ backend: backend.description, count, seed, steps, results }, null, 1),
  );
  console.log(`wrote ${values.out}`);
}
