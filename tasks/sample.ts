/**
 * `deno task sample --checkpoint DIR`: draws videos from a trained checkpoint with the staged
 * sampler (or `--vanilla`, the full-rate sampler) and writes a PNG frame strip, GIFs, the
 * trajectory, and with `--trajectory` a snapshot of every step. A conditional model takes a class
 * (`--class C --guidance W`) and given frames (`--given FILE` or `--given-from-test`). Temporal
 * context guidance (`--context-guidance W [--guide-stages K,…]`) pushes each frame toward its own
 * video's other frames.
 *
 * @module
 */
import { dirname } from "node:path";
import {
  type Dataset,
  type DatasetKind,
  fitFrame,
  loadOrCreateDataset,
  readClip,
  readDataset,
  removeStaleTemporaries,
  selectVideos,
  splitIndices,
  toModelSpace,
  withLock,
  writeDirAtomic,
} from "../lib/data/mod.ts";
import {
  BACKEND_REQUESTS,
  type CheckpointManifest,
  createDenoiser,
  drawSamples,
  heldOutParams,
  initBackend,
  loadWeights,
  planForTraining,
  predictionFor,
  readCheckpoint,
  type Samples,
  type TrainConfig,
} from "../lib/nn/mod.ts";
import {
  createRng,
  formatPlan,
  type GivenMode,
  givenPositions,
  givenValues,
  SOLVER_NAMES,
  type StagePlan,
  stagePlan,
} from "../lib/mod.ts";
import {
  choiceFlag,
  type FlagSpec,
  helpText,
  intFlag,
  numberFlag,
  parseFlags,
  runTask,
  UsageError,
  usageFrom,
} from "../lib/cli.ts";
import { encodeSamples, encodeVideos } from "../lib/viz/mod.ts";
import { findRun, inspectOutput, isOutputOf, withMp4s, writeSamples } from "./outputs.ts";

/** The files `deno task sample` writes into its folder. */
const SAMPLE_FILES =
  /^(samples\.png|real\.png|sample-\d+\.(gif|mp4)|stages\.png|trajectory\.json|sampling\.json)$/;

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { type: "string", help: "a run folder or its checkpoint/ folder (required)" },
  count: { type: "string", help: "videos to draw", default: "8" },
  steps: { type: "string", help: "sampling steps in total", default: "30" },
  solver: {
    type: "string",
    help: SOLVER_NAMES.join(" | "),
    default: "heun for flow-matching, ddim for vp-epsilon",
  },
  vanilla: { type: "boolean", help: "sample every step at full frame rate (one stage)" },
  trajectory: { type: "boolean", help: "keep a snapshot of sample 0 at every step (stages.png)" },
  weights: { type: "string", help: "ema | weights", default: "ema" },
  seed: { type: "string", help: "sampling seed", default: "0" },
  out: { type: "string", help: "output folder", default: "<run>/samples-<seed>" },
  backend: {
    type: "string",
    help: `tfjs backend: ${BACKEND_REQUESTS.join(" | ")}`,
    default: "TFJS_BACKEND or auto",
  },
  class: {
    type: "string",
    help:
      "a class-conditional model's class to draw (0 … classes − 1; default none: unconditional)",
  },
  "given-from-test": {
    type: "boolean",
    help:
      "give each sample the frames of a held-out test video (a frame-conditioned model); real.png shows those videos",
  },
  given: {
    type: "string",
    help:
      "give every sample the frames of FILE: a PNG, GIF, video or folder of PNG frames (fitted to the model's size), or a .tpv file (sample i gets video i, cycling)",
  },
  "given-mode": {
    type: "string",
    help: "which frames --given or --given-from-test gives: first-frame, prefix:N or keyframes",
    default: "the model's first training mode",
  },
  guidance: {
    type: "string",
    help: "classifier-free guidance scale w with --class (1: the conditional model)",
    default: "1",
  },
  "context-guidance": {
    type: "string",
    help:
      "guide every frame toward its own video with scale w (1: off; fewer breaks, fewer and slower objects; README)",
    default: "1",
  },
  "guide-stages": {
    type: "string",
    help: "the stages k that --context-guidance guides, comma-separated",
    default: "the coarsest stage",
  },
  help: { type: "boolean", help: "show this help" },
};

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, FLAGS);
  if (flags.help) {
    console.log(helpText("deno task sample --checkpoint DIR [flags]", FLAGS));
    return 0;
  }
  if (flags.checkpoint === undefined) {
    throw new UsageError("--checkpoint DIR is required (a run folder from train-small)");
  }
  const path = String(flags.checkpoint);
  // A folder without a checkpoint is left to readCheckpoint, which says what is missing.
  const { runDir, checkpointDir } = findRun(path) ??
    { runDir: `${path}/..`, checkpointDir: path };
  const count = intFlag("count", flags.count, 8, 1, 256);
  const seed = intFlag("seed", flags.seed, 0, 0, 2 ** 31);
  const weights = choiceFlag("weights", flags.weights, "ema", ["ema", "weights"] as const);
  const checkpoint = await readCheckpoint(checkpointDir);
  const { train, model: modelConfig } = checkpoint.manifest;
  const vanilla = flags.vanilla === true;
  const steps = intFlag("steps", flags.steps, 30, vanilla ? 1 : train.stages, 100_000);
  const solver = flags.solver === undefined
    ? undefined
    : choiceFlag("solver", flags.solver, "heun", SOLVER_NAMES);
  const backend = await initBackend(
    flags.backend === undefined
      ? undefined
      : choiceFlag("backend", flags.backend, "auto", BACKEND_REQUESTS),
  );
  if (backend.fallback) console.log(`note: ${backend.fallback}`);
  if (flags["given-from-test"] === true && flags.given !== undefined) {
    throw new UsageError("give frames with --given FILE or --given-from-test, not both");
  }
  const given = flags["given-from-test"] === true || flags.given !== undefined
    ? await givenFrames(checkpoint.manifest, flags, count)
    : undefined;
  if (given === undefined && flags["given-mode"] !== undefined) {
    throw new UsageError("--given-mode needs --given FILE or --given-from-test");
  }
  const plan = samplingPlan(train, steps, vanilla);
  const contextGuidance = contextFlags(flags, plan, { count, given: given !== undefined });
  const conditioning = {
    ...classFlags(flags, modelConfig.classes, given !== undefined),
    ...(given ? { given: given.given } : {}),
    ...(contextGuidance ? { contextGuidance } : {}),
  };
  const model = createDenoiser(modelConfig, createRng(0));
  loadWeights(model, checkpoint, weights);
  const outFlag = String(flags.out ?? `${runDir}/samples-${vanilla ? "vanilla-" : ""}${seed}`);
  const out = checkSampleFolder(outFlag);
  console.log(`sampling ${count} videos on ${backend.description}\n${formatPlan(plan)}`);
  const samples = await drawSamples(model, {
    plan,
    prediction: predictionFor(train.form),
    count,
    seed,
    solver,
    keep: flags.trajectory ? "every-step" : "stage-ends",
    ...conditioning,
  });
  model.params.dispose();
  const { given: _, ...asked } = conditioning;
  const info = {
    checkpoint: checkpointDir,
    step: checkpoint.manifest.step,
    count,
    steps,
    seed,
    ...asked,
    ...(given
      ? {
        givenFrom: flags.given === undefined ? "held-out test videos" : String(flags.given),
        givenMode: given.mode,
        givenPositions: given.given.positions,
      }
      : {}),
  };
  const files = await writeSampleFolder(out, samples, {
    shape: {
      frames: train.frames,
      height: modelConfig.height,
      width: modelConfig.width,
      channels: modelConfig.channels,
    },
    info: { ...info, vanilla, ms: samples.ms },
    ...(given ? { real: given.real } : {}),
  });
  console.log(
    `drew ${count} videos in ${samples.ms.toFixed(0)} ms; wrote ${outFlag}/{${
      files.slice(0, 3).join(", ")
    }, …}`,
  );
  return 0;
}

/** --context-guidance and --guide-stages, checked against the plan (undefined: off). */
function contextFlags(
  flags: Record<string, unknown>,
  plan: { stages: readonly { k: number }[] },
  asked: { count: number; given: boolean },
): { scale: number; stages: number[] } | undefined {
  const scale = numberFlag("context-guidance", flags["context-guidance"], 1, 0, 20);
  if (scale === 1) {
    if (flags["guide-stages"] !== undefined) {
      throw new UsageError("--guide-stages needs --context-guidance W with W ≠ 1");
    }
    return undefined;
  }
  if (asked.given) throw new UsageError("--context-guidance cannot be combined with given frames");
  if (asked.count < 2) {
    throw new UsageError(
      `--context-guidance needs --count of at least 2 (it reads the other videos); got ${asked.count}`,
    );
  }
  const ks = plan.stages.map((s) => s.k);
  if (flags["guide-stages"] === undefined) return { scale, stages: [ks[0]] };
  const text = String(flags["guide-stages"]);
  const stages = text.split(",").map((v) => Number(v.trim()));
  if (stages.some((k) => !ks.includes(k))) {
    throw new UsageError(
      `--guide-stages must list stages of the plan (${
        ks.join(", ")
      }), comma-separated; got "${text}"`,
    );
  }
  return { scale, stages };
}

/** --class and --guidance, checked against the model's classes. */
function classFlags(
  flags: Record<string, unknown>,
  classes: number,
  frames: boolean,
): { label?: number; guidance?: number } {
  if (flags.class === undefined) {
    if (flags.guidance === undefined) return {};
    if (!frames) throw new UsageError("--guidance needs --class, --given or --given-from-test");
    return { guidance: numberFlag("guidance", flags.guidance, 1, 0, 20) };
  }
  if (classes === 0) {
    throw new UsageError(
      "--class: this model is not class-conditional; train one with train-small --condition class",
    );
  }
  return {
    label: intFlag("class", flags.class, 0, 0, classes - 1),
    guidance: numberFlag("guidance", flags.guidance, 1, 0, 20),
  };
}

/** Given frames for `count` samples, their mode, and the videos they came from where whole. */
interface Given {
  mode: GivenMode;
  given: { positions: number[]; values: Float32Array };
  real?: Uint8Array;
}

/**
 * The given frames of `--given FILE` or `--given-from-test` (the run's held-out test videos,
 * rebuilt from its checkpoint), for a frame-conditioned model, in the mode asked or the model's
 * first.
 */
async function givenFrames(
  manifest: CheckpointManifest,
  flags: Record<string, unknown>,
  count: number,
): Promise<Given> {
  const { train, model, extra } = manifest;
  const source = flags.given === undefined ? "--given-from-test" : "--given";
  if (!model.frameCondition) {
    throw new UsageError(
      `${source}: this model reads no given frames; train one with train-small --condition first-frame (or prefix:N, keyframes)`,
    );
  }
  const modeFlag = flags["given-mode"];
  const mode =
    (modeFlag === undefined
      ? train.givenModes?.[0] ?? "first-frame"
      : String(modeFlag)) as GivenMode;
  const positions = usageFrom("--given-mode: ", () => givenPositions(mode, train.frames));
  const shape = { frames: train.frames, height: model.height, width: model.width };
  let videos: Pick<Dataset, "shape" | "pixels">, whole = true;
  if (flags.given === undefined) {
    videos = await heldOutVideos(extra, shape);
    if (videos.shape[0] < count) {
      throw new UsageError(
        `--given-from-test: the run holds ${videos.shape[0]} held-out videos; ask for --count ${
          videos.shape[0]
        } or fewer`,
      );
    }
  } else {
    ({ videos, whole } = await givenFile(String(flags.given), shape, model.channels, positions));
  }
  const [n, F, H, W, C] = videos.shape;
  const per = H * W * C;
  const cycle = Array.from({ length: count }, (_, i) => i % n);
  const x0 = toModelSpace(videos, cycle);
  const values = givenValues(x0, { frames: F, frameSize: per, positions, count });
  const real = new Uint8Array(count * F * per);
  cycle.forEach((v, b) =>
    real.set(videos.pixels.subarray(v * F * per, (v + 1) * F * per), b * F * per)
  );
  return { mode, given: { positions, values }, ...(whole ? { real } : {}) };
}

/**
 * The videos of `--given FILE`: a `.tpv` file's videos (of the model's shape), or one clip fitted
 * to the model's size and channels; a clip shorter than the model's frames must hold every given
 * position (its other frames are left black and no real.png is written).
 */
async function givenFile(
  path: string,
  shape: { frames: number; height: number; width: number },
  channels: number,
  positions: number[],
): Promise<{ videos: Pick<Dataset, "shape" | "pixels">; whole: boolean }> {
  if (path.endsWith(".tpv")) {
    const dataset = await readDataset(path, shape);
    if (dataset.shape[4] !== channels) {
      throw new UsageError(
        `--given ${path}: its videos have ${
          dataset.shape[4]
        } channels; the model reads ${channels}`,
      );
    }
    return { videos: dataset, whole: true };
  }
  const clip = await readClip(path);
  const last = Math.max(...positions);
  if (clip.frames.length <= last) {
    throw new UsageError(
      `--given ${path}: the clip has ${clip.frames.length} frame${
        clip.frames.length === 1 ? "" : "s"
      }; the given frames are at positions ${positions.join(", ")}, so it needs ${last + 1}`,
    );
  }
  const { frames, height, width } = shape;
  const per = height * width * channels;
  const pixels = new Uint8Array(frames * per);
  const target = { height, width, channels: channels as 1 | 3 };
  for (let f = 0; f < Math.min(frames, clip.frames.length); f++) {
    pixels.set(fitFrame(clip.frames[f], clip, target), f * per);
  }
  return {
    videos: { shape: [1, frames, height, width, channels], pixels },
    whole: clip.frames.length >= frames,
  };
}

/** The run's held-out videos: from its data file, or regenerated from its dataset settings. */
async function heldOutVideos(
  extra: Record<string, unknown>,
  size: { frames: number; height: number; width: number },
): Promise<Dataset> {
  if (typeof extra.data === "string") {
    const all = await readDataset(extra.data, size);
    return selectVideos(all, splitIndices(all).heldOut);
  }
  const { dataset: kind, seed, speed } = extra as {
    dataset: DatasetKind;
    seed: number;
    speed?: number;
  };
  const { dataset: heldOut } = await loadOrCreateDataset(
    heldOutParams({ kind, seed, ...size, ...(speed === undefined ? {} : { speed }) }),
  );
  return heldOut;
}

/** The staged plan the model was trained for, or one full-rate stage with `--vanilla`. */
function samplingPlan(train: TrainConfig, steps: number, vanilla: boolean): StagePlan {
  // The schedule does not depend on the step count; a vanilla run may take fewer steps than stages.
  const trained = planForTraining(train, Math.max(steps, train.stages));
  if (!vanilla) return trained;
  if (train.stages > 1) {
    console.log(
      "note: --vanilla runs one full-rate stage over t ∈ (0, 1]; a pyramid model was trained at full rate " +
        "only for its last stage, so expect worse samples than the staged sampler.",
    );
  }
  return stagePlan({ schedule: trained.schedule, frames: train.frames, stages: 1, steps });
}

/** The output folder, refused when it holds files that an earlier `sample` did not write. */
function checkSampleFolder(outFlag: string): string {
  const { path: out, state } = inspectOutput("out", outFlag);
  // An earlier sample's folder is replaced as a whole; anything else is left alone.
  if (state === "full" && !isOutputOf(out, "sampling.json", SAMPLE_FILES)) {
    throw new UsageError(
      `--out ${outFlag} already holds files that \`deno task sample\` did not write; choose a new or empty folder`,
    );
  }
  return out;
}

/** Writes the samples and sampling.json into the folder as a whole, under its lock. */
async function writeSampleFolder(
  out: string,
  samples: Samples,
  what: {
    shape: { frames: number; height: number; width: number; channels: number };
    info: object;
    real?: Uint8Array;
  },
): Promise<string[]> {
  const media = await withMp4s(encodeSamples(samples, what.shape), samples, what.shape);
  let files: string[] = [];
  await Deno.mkdir(dirname(out), { recursive: true });
  await withLock(`${out}.lock`, "sample", async () => {
    await removeStaleTemporaries(out, { locked: true });
    await writeDirAtomic(out, async (dir) => {
      files = await writeSamples(dir, samples, media);
      if (what.real) {
        // The held-out videos whose frames were given: the truth beside the samples.
        const real = encodeVideos(what.real, { count: samples.count, ...what.shape });
        await Deno.writeFile(`${dir}/real.png`, real.strip);
        files.push("real.png");
      }
      await Deno.writeTextFile(`${dir}/sampling.json`, JSON.stringify(what.info, null, 1));
    });
  });
  return files;
}

if (import.meta.main) await runTask(main);
