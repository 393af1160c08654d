/**
 * `deno task train-small`: trains a small temporal-pyramid video diffusion model on a procedural
 * dataset (about five minutes on a 2-core CPU with the defaults), then draws samples with the staged
 * sampler and writes a checkpoint, samples, metrics and an HTML report.
 *
 * @module
 */
import {
  classNames,
  type Dataset,
  DATASET_KINDS,
  type DatasetKind,
  datasetParams,
  IMPORTED,
  loadOrCreateDataset,
  readDataset,
  removeStaleTemporaries,
  selectVideos,
  splitIndices,
  toModelSpace,
  withLock,
  writeFileAtomic,
} from "../lib/data/mod.ts";
import { resolve } from "node:path";
import {
  BACKEND_REQUESTS,
  CheckpointError,
  checkResumable,
  createDenoiser,
  datasetBatches,
  type DenoiserConfig,
  DIFFUSION_FORMS,
  drawSamples,
  heldOutParams,
  initBackend,
  NonFiniteError,
  planForTraining,
  readCheckpoint,
  restoreTrainer,
  type Samples,
  saveCheckpoint,
  type StepReport,
  train,
  TRAIN_SMALL,
  TRAIN_SMALL_DATA,
  type TrainConfig,
  Trainer,
  trainingSchedule,
  trainSmallModel,
  trainSmallSteps,
} from "../lib/nn/mod.ts";
import {
  costFraction,
  createRng,
  DOWN_METHODS,
  formatPlan,
  formatPlannedSchedule,
  type GivenMode,
  givenPositions,
  givenValues,
  lostDetail,
  PLAN_FRACTION,
  planFromData,
  speedupBound,
  TIME_DENSITIES,
  video,
} from "../lib/mod.ts";
import { show } from "../lib/checks.ts";
import type { LossRecord } from "../lib/viz/mod.ts";
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
import { compareMotion, type MotionComparison, type MotionStats } from "../lib/metrics/mod.ts";
import { encodeSamples, encodeVideos } from "../lib/viz/mod.ts";
import { findRun, inspectOutput, withMp4s, writeReport, writeSamples } from "./outputs.ts";

const DEFAULT_WIDTHS = trainSmallModel().widths.join(",");

const FLAGS: Record<string, FlagSpec> = {
  condition: {
    type: "string",
    help:
      "class (each video's class: balls, how many; digits, the first one) and/or given frames: " +
      "first-frame, prefix:N, keyframes (one drawn per batch), comma-separated",
  },
  "given-dropout": {
    type: "string",
    help: "with given frames: how often a video's given frames are all dropped",
    default: "0.1",
  },
  "label-dropout": {
    type: "string",
    help: "with --condition class: how often a label is replaced by the null class",
    default: "0.1",
  },
  data: {
    type: "string",
    help: "train on a .tpv file (deno task import-videos); it sets frames, size and channels",
  },
  dataset: {
    type: "string",
    help: `procedural dataset: ${DATASET_KINDS.join(" | ")}`,
    default: TRAIN_SMALL_DATA.kind,
  },
  frames: {
    type: "string",
    help: "frames per video F (divisible by 2^(stages−1))",
    default: String(TRAIN_SMALL.frames),
  },
  size: {
    type: "string",
    help: "frame height and width (a multiple of 16)",
    default: String(TRAIN_SMALL_DATA.size),
  },
  stages: { type: "string", help: "pyramid stages K (1–4)", default: String(TRAIN_SMALL.stages) },
  form: {
    type: "string",
    help: "training form: flow-matching | vp-epsilon (the paper's DDIM: VP schedule, ε target)",
    default: "flow-matching",
  },
  mode: {
    type: "string",
    help: "pyramid | vanilla (one full-rate stage, same network)",
    default: "pyramid",
  },
  "stage-weights": {
    type: "string",
    help: "how often each stage is drawn, coarsest first, e.g. 1,1,2",
    default: "uniform",
  },
  boundaries: {
    type: "string",
    help: "the K − 1 interior stage boundaries in t, increasing, e.g. 0.333,0.8",
    default: "uniform k/K",
  },
  plan: {
    type: "string",
    help: "stage plan: uniform (K from --stages, --boundaries) | auto (K and boundaries from " +
      "what the data's frame rates lose, docs/planning.md)",
    default: "uniform",
  },
  "plan-fraction": {
    type: "string",
    help: "--plan auto: the largest lost-detail-to-noise ratio allowed at a stage's end",
    default: String(PLAN_FRACTION),
  },
  speed: {
    type: "string",
    help: "procedural data: motion speed, a multiple of the default (e.g. 2, 4, 8)",
    default: "1",
  },
  shift: {
    type: "string",
    help:
      "SD3 timestep shift of the schedule (> 1 spends more of training and sampling at high noise)",
    default: "1",
  },
  down: {
    type: "string",
    help: "the temporal Down between stages: stride (keep every other frame) | average (of pairs)",
    default: "stride",
  },
  "time-density": {
    type: "string",
    help: `how t is drawn inside a stage: ${TIME_DENSITIES.join(" | ")}`,
    default: "uniform",
  },
  "no-align": { type: "boolean", help: "turn data-noise alignment off (on by default)" },
  "no-prefetch": {
    type: "boolean",
    help: "prepare each batch on the main thread instead of one step ahead in a worker",
  },
  batch: { type: "string", help: "videos per batch", default: String(TRAIN_SMALL.batch) },
  steps: {
    type: "string",
    help: "optimiser steps (about five minutes on either backend)",
    default: `4000 on native, ${TRAIN_SMALL.steps} on wasm`,
  },
  lr: { type: "string", help: "peak learning rate", default: String(TRAIN_SMALL.learningRate) },
  warmup: {
    type: "string",
    help: "learning-rate warm-up steps",
    default: String(TRAIN_SMALL.warmup),
  },
  clip: { type: "string", help: "gradient global-norm clip", default: String(TRAIN_SMALL.clip) },
  ema: { type: "string", help: "EMA decay of the weights", default: String(TRAIN_SMALL.emaDecay) },
  arch: { type: "string", help: "denoiser: unet | transformer", default: "unet" },
  widths: {
    type: "string",
    help: "channel widths per level, comma-separated",
    default: DEFAULT_WIDTHS,
  },
  "temporal-kernel": {
    type: "string",
    help: "U-Net temporal convolution kernel in frames (odd)",
    default: "3",
  },
  "self-condition": {
    type: "string",
    help:
      "stages k on which the model also reads its own previous estimate x̃₀, comma-separated, or all",
    default: "none",
  },
  "temporal-attention": {
    type: "string",
    help: "U-Net levels, from the lowest resolution up, with attention across frames",
    default: "0",
  },
  videos: {
    type: "string",
    help: "training videos in the dataset",
    default: String(TRAIN_SMALL_DATA.videos),
  },
  samples: { type: "string", help: "videos to draw at the end", default: "8" },
  "sample-steps": { type: "string", help: "sampling steps in total", default: "30" },
  "checkpoint-every": { type: "string", help: "steps between checkpoints", default: "200" },
  "log-every": {
    type: "string",
    help: "steps between log lines when not on a terminal",
    default: "50",
  },
  seed: {
    type: "string",
    help: "seed of the dataset, weights and training",
    default: String(TRAIN_SMALL_DATA.seed),
  },
  out: { type: "string", help: "output folder", default: "runs/<time>-<dataset>-<mode>-<form>" },
  resume: { type: "string", help: "continue a run from its folder (or its checkpoint folder)" },
  backend: {
    type: "string",
    help: `tfjs backend: ${BACKEND_REQUESTS.join(" | ")}`,
    default: "TFJS_BACKEND or auto",
  },
  help: { type: "boolean", help: "show this help" },
};

const USAGE =
  "deno task train-small [flags]\n\nTrains a small temporal-pyramid video diffusion model and " +
  "writes checkpoint/, samples, metrics.jsonl and report.html to the output folder.";

const TRAINING_FLAGS = [
  "plan",
  "plan-fraction",
  "speed",
  "stage-weights",
  "shift",
  "down",
  "boundaries",
  "time-density",
  "dataset",
  "frames",
  "size",
  "stages",
  "form",
  "mode",
  "no-align",
  "batch",
  "lr",
  "warmup",
  "clip",
  "ema",
  "arch",
  "widths",
  "temporal-attention",
  "temporal-kernel",
  "self-condition",
  "videos",
  "seed",
  "data",
  "condition",
  "label-dropout",
  "given-dropout",
];

interface RunSettings {
  train: TrainConfig;
  model: DenoiserConfig;
  /** The generator, or "imported" for clips from a file. */
  dataset: DatasetKind | typeof IMPORTED;
  videos: number;
  seed: number;
  /** Procedural data: the speed multiple (default 1). */
  speed?: number;
  /** A dataset file to train on (its absolute path) instead of a generated set. */
  data?: string;
  /** `--plan auto`: plan K and the boundaries from the data before training, with this f. */
  autoPlan?: { fraction: number };
}

/** What a --data file fixes: its kind, size, channels and training videos. */
interface DataFile {
  path: string;
  kind: DatasetKind | typeof IMPORTED;
  frames: number;
  height: number;
  width: number;
  channels: number;
  trainVideos: number;
}

/** Reads a --data file's header and checks that train-small can train on it. */
async function dataFileFrom(v: Flags): Promise<DataFile | undefined> {
  if (v.data === undefined) return undefined;
  const clashing = ["dataset", "videos", "frames", "size"].filter((f) => v[f] !== undefined);
  if (clashing.length > 0) {
    throw new UsageError(
      `--data sets the dataset, its videos, frames and size; drop ${
        clashing.map((f) => `--${f}`).join(", ")
      }`,
    );
  }
  const path = resolve(String(v.data));
  const d = await readDataset(path);
  const [, frames, height, width, channels] = d.shape;
  if (height % 16 !== 0 || width % 16 !== 0) {
    throw new UsageError(
      `${v.data}: frames are ${height} × ${width}; the model needs multiples of 16 (import with --size 32 or 64)`,
    );
  }
  const trainVideos = d.split ? d.split.filter((x) => x === 0).length : d.shape[0];
  return { path, kind: d.params.kind, frames, height, width, channels, trainVideos };
}

type Flags = Record<string, string | boolean | undefined>;

function settingsFromFlags(v: Flags, defaultSteps: number, file?: DataFile): RunSettings {
  const train = trainConfigFromFlags(v, defaultSteps, file?.frames);
  // lib's plan checks that the stages' frame rates divide the frames; its message names the value.
  usageFrom(file ? `${file.path}: ` : "--", () => planForTraining(train, train.stages));
  const dataset = file?.kind ??
    choiceFlag("dataset", v.dataset, TRAIN_SMALL_DATA.kind, DATASET_KINDS);
  const condition = conditionFlag(v, dataset, train.frames);
  const model = {
    ...modelFromFlags(v),
    selfCondition: selfConditionFlag(v["self-condition"], train.stages),
    classes: condition.classes,
    frameCondition: condition.givenModes.length > 0,
    // Every stage frame reads the given frames of the full-rate window it stands for, so that no
    // stage misses one (docs/conditioning.md §4); vanilla's single stage needs one slot.
    ...(condition.givenModes.length > 0
      ? { givenSlots: train.mode === "vanilla" ? 1 : 2 ** (train.stages - 1) }
      : {}),
  };
  if (model.classes > 0) {
    train.labelDropout = numberFlag("label-dropout", v["label-dropout"], 0.1, 0, 0.99);
  } else if (v["label-dropout"] !== undefined) {
    throw new UsageError("--label-dropout needs --condition class");
  }
  if (model.frameCondition) {
    train.givenModes = condition.givenModes;
    train.givenDropout = numberFlag("given-dropout", v["given-dropout"], 0.1, 0, 0.99);
  } else if (v["given-dropout"] !== undefined) {
    throw new UsageError("--given-dropout needs given frames in --condition");
  }
  return {
    train,
    model: file
      ? { ...model, height: file.height, width: file.width, channels: file.channels }
      : model,
    dataset,
    videos: file?.trainVideos ??
      intFlag("videos", v.videos, TRAIN_SMALL_DATA.videos, 8, 1_000_000),
    seed: intFlag("seed", v.seed, TRAIN_SMALL_DATA.seed, 0, 2 ** 31),
    ...(file ? { data: file.path } : {}),
    ...speedFlag(v, file),
    ...planFlag(v),
  };
}

function speedFlag(v: Flags, file?: DataFile): { speed?: number } {
  if (v.speed === undefined) return {};
  if (file) throw new UsageError("--speed sets a procedural dataset's motion; drop it with --data");
  return { speed: numberFlag("speed", v.speed, 1, 0.01, 64) };
}

function planFlag(v: Flags): { autoPlan?: { fraction: number } } {
  const plan = choiceFlag("plan", v.plan, "uniform", ["uniform", "auto"] as const);
  if (plan === "uniform") {
    if (v["plan-fraction"] !== undefined) throw new UsageError("--plan-fraction needs --plan auto");
    return {};
  }
  const clashing = ["stages", "boundaries", "stage-weights", "mode"].filter((f) =>
    v[f] !== undefined
  );
  if (clashing.length > 0) {
    throw new UsageError(
      `--plan auto chooses the stages, their boundaries and weights; drop ${
        clashing.map((f) => `--${f}`).join(", ")
      }`,
    );
  }
  return {
    autoPlan: {
      fraction: numberFlag("plan-fraction", v["plan-fraction"], PLAN_FRACTION, 1e-6, 100),
    },
  };
}

/** --condition: the classes the model gets (the dataset kind's with `class`, else 0) and the
 * given-frame modes. */
function conditionFlag(
  v: Flags,
  dataset: RunSettings["dataset"],
  frames: number,
): { classes: number; givenModes: GivenMode[] } {
  if (v.condition === undefined) return { classes: 0, givenModes: [] };
  const parts = String(v.condition).split(",").map((p) => p.trim());
  if (new Set(parts).size !== parts.length) {
    throw new UsageError(`--condition lists each mode once; got ${show(v.condition)}`);
  }
  const givenModes = parts.filter((p) => p !== "class") as GivenMode[];
  for (const mode of givenModes) {
    try {
      givenPositions(mode, frames);
    } catch {
      throw new UsageError(
        `--condition takes class, first-frame, keyframes and prefix:N (1 ≤ N < ${frames}), ` +
          `comma-separated; got ${show(mode)}`,
      );
    }
  }
  if (!parts.includes("class")) return { classes: 0, givenModes };
  if (dataset === IMPORTED) {
    throw new UsageError(
      "--condition class: imported clips carry no labels; train them unconditionally",
    );
  }
  const classes = usageFrom(
    "--condition class: ",
    () => classNames(datasetParams({ kind: dataset, count: 1 })).length,
  );
  return { classes, givenModes };
}

function trainConfigFromFlags(v: Flags, defaultSteps: number, frames?: number): TrainConfig {
  const stages = intFlag("stages", v.stages, TRAIN_SMALL.stages, 1, 4);
  const form = choiceFlag("form", v.form, "flow-matching", DIFFUSION_FORMS);
  const mode = choiceFlag("mode", v.mode, "pyramid", ["pyramid", "vanilla"] as const);
  return {
    mode,
    form,
    stages: mode === "vanilla" ? 1 : stages,
    frames: frames ?? intFlag("frames", v.frames, TRAIN_SMALL.frames, 2, 256),
    batch: intFlag("batch", v.batch, TRAIN_SMALL.batch, 1, 256),
    steps: intFlag("steps", v.steps, defaultSteps, 1, 10_000_000),
    learningRate: numberFlag("lr", v.lr, TRAIN_SMALL.learningRate, 1e-6, 1),
    warmup: intFlag("warmup", v.warmup, TRAIN_SMALL.warmup, 0, 1_000_000),
    clip: numberFlag("clip", v.clip, TRAIN_SMALL.clip, 1e-6, 1e6),
    emaDecay: numberFlag("ema", v.ema, TRAIN_SMALL.emaDecay, 0, 0.999999),
    align: v["no-align"] !== true,
    stageWeights: stageWeightsFlag(v["stage-weights"], mode === "vanilla" ? 1 : stages),
    ...(v.boundaries === undefined || mode === "vanilla"
      ? {}
      : { boundaries: boundariesFlag(v.boundaries, stages) }),
    ...(v.shift === undefined ? {} : { shift: numberFlag("shift", v.shift, 1, 0.1, 10) }),
    ...(v.down === undefined ? {} : { down: choiceFlag("down", v.down, "stride", DOWN_METHODS) }),
    ...(v["time-density"] === undefined
      ? {}
      : { timeDensity: choiceFlag("time-density", v["time-density"], "uniform", TIME_DENSITIES) }),
  };
}

function modelFromFlags(v: Flags): DenoiserConfig {
  const size = intFlag("size", v.size, TRAIN_SMALL_DATA.size, 16, 256);
  if (size % 16 !== 0) throw new UsageError(`--size must be a multiple of 16; got ${size}`);
  const widths = widthsFlag(v.widths);
  const arch = choiceFlag("arch", v.arch, "unet", ["unet", "transformer"] as const);
  return trainSmallModel({
    architecture: arch,
    height: size,
    width: size,
    widths: arch === "unet" ? widths : [widths[0]],
    temporalKernel: oddKernelFlag(v["temporal-kernel"]),
    temporalAttention: arch === "unet"
      ? intFlag("temporal-attention", v["temporal-attention"], 0, 0, widths.length)
      : 0,
  });
}

function widthsFlag(value: unknown): number[] {
  const text = value === undefined ? DEFAULT_WIDTHS : String(value);
  const widths = text.split(",").map((w) => Number(w));
  if (
    widths.length < 1 || widths.length > 4 ||
    widths.some((w) => !Number.isInteger(w) || w < 8 || w > 512 || w % 8)
  ) {
    throw new UsageError(
      `--widths must be 1–4 multiples of 8 in [8, 512], comma-separated; got "${text}"`,
    );
  }
  return widths;
}

/** The dataset settings a checkpoint's `extra` recorded, checked as a hand edit could break them. */
function runData(
  extra: Record<string, unknown>,
  dir: string,
): Pick<RunSettings, "dataset" | "videos" | "seed" | "data" | "speed"> {
  const { dataset, videos, seed, data, speed } = extra ?? {};
  const fromFile = typeof data === "string";
  const ok = ((DATASET_KINDS as readonly unknown[]).includes(dataset) ||
    (fromFile && dataset === IMPORTED)) &&
    Number.isInteger(videos) && (videos as number) >= 1 && Number.isInteger(seed) &&
    (seed as number) >= 0;
  if (!ok) {
    throw new CheckpointError(
      `checkpoint ${dir}: extra must record dataset (one of ${DATASET_KINDS.join(", ")}, or ` +
        `${IMPORTED} with its data file), videos and seed to resume; got ${
          show({ dataset, videos, seed })
        }`,
    );
  }
  return {
    dataset: dataset as RunSettings["dataset"],
    videos: videos as number,
    seed: seed as number,
    ...(fromFile ? { data } : {}),
    ...(typeof speed === "number" && speed > 0 ? { speed } : {}),
  };
}

/** --self-condition: "all" (every stage a plan may have), or stages k of the run, comma-separated
 * (none by default). */
function selfConditionFlag(value: unknown, stages: number): number[] {
  if (value === undefined) return [];
  const text = String(value);
  if (text === "all") return [1, 2, 3, 4];
  const ks = text.split(",").map((k) => Number(k.trim()));
  if (
    ks.some((k) => !Number.isInteger(k) || k < 1 || k > stages) || new Set(ks).size !== ks.length
  ) {
    throw new UsageError(
      `--self-condition must be all or distinct stages from 1 to ${stages}, comma-separated; got "${text}"`,
    );
  }
  return ks.sort((a, b) => a - b);
}

function oddKernelFlag(value: unknown): number {
  const kernel = intFlag("temporal-kernel", value, 3, 1, 15);
  if (kernel % 2 === 0) {
    throw new UsageError(`--temporal-kernel must be odd (1, 3, 5, …, 15); got ${kernel}`);
  }
  return kernel;
}

function boundariesFlag(value: unknown, stages: number): number[] {
  const text = String(value);
  const boundaries = text.split(",").map((b) => (/^\s*\d*\.?\d+\s*$/.test(b) ? Number(b) : NaN));
  if (
    boundaries.length !== stages - 1 ||
    boundaries.some((b, i) => !(b > (i === 0 ? 0 : boundaries[i - 1]) && b < 1))
  ) {
    throw new UsageError(
      `--boundaries must be ${
        stages - 1
      } increasing numbers in (0, 1), comma-separated, for ${stages} stages; got ${show(text)}`,
    );
  }
  return boundaries;
}

function stageWeightsFlag(value: unknown, stages: number): number[] | undefined {
  if (value === undefined) return undefined;
  const weights = String(value).split(",").map(Number);
  if (
    weights.length !== stages || weights.some((w) => !Number.isFinite(w) || w < 0) ||
    !weights.some((w) => w > 0)
  ) {
    throw new UsageError(
      `--stage-weights must be ${stages} non-negative numbers, not all zero, coarsest stage first; got ${
        show(value)
      }`,
    );
  }
  return weights;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * Keeps the metrics log consistent with a checkpoint: drops lines after its step. Reads `from`
 * (the resumed run's log) and writes `path`, which may be the same file.
 */
async function trimMetrics(path: string, step: number, from = path): Promise<LossRecord[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(from);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const lines = text.split("\n").filter((l) => l.trim() !== "").filter((l) => {
    try {
      return JSON.parse(l).step <= step;
    } catch {
      return false;
    }
  });
  await writeFileAtomic(path, lines.map((l) => l + "\n").join(""));
  return lines.map((l) => JSON.parse(l)).filter((r) => r.type === "train").map((r) => ({
    step: r.step,
    loss: r.loss,
    k: r.k,
  }));
}

/** A run to start or continue: its settings, its folder and the checkpoint it resumes from. */
interface RunTarget {
  settings: RunSettings;
  runDir: string;
  resumeFrom?: { runDir: string; checkpointDir: string };
}

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, FLAGS);
  if (flags.help) {
    console.log(helpText(USAGE, FLAGS));
    return 0;
  }
  const backend = await initBackend(
    flags.backend === undefined
      ? undefined
      : choiceFlag("backend", flags.backend, "auto", BACKEND_REQUESTS),
  );
  if (backend.fallback) console.log(`note: ${backend.fallback}`);
  const target = flags.resume === undefined
    ? newRun(flags, backend.name, await dataFileFrom(flags))
    : await resumedRun(flags, String(flags.resume));
  const createdDir = checkOutputFolder(flags, target);
  const ctx: RunContext = {
    ...target,
    backend,
    started: performance.now(),
    sampleCount: intFlag("samples", flags.samples, 8, 1, 64),
    sampleSteps: intFlag(
      "sample-steps",
      flags["sample-steps"],
      30,
      target.settings.train.stages,
      1e4,
    ),
    checkpointEvery: intFlag("checkpoint-every", flags["checkpoint-every"], 200, 1, 1e9),
    logEvery: intFlag("log-every", flags["log-every"], 50, 1, 1e9),
    prefetch: flags["no-prefetch"] !== true,
  };
  // The run folder is locked before anything is written, the dataset cache included.
  await Deno.mkdir(target.runDir, { recursive: true });
  try {
    return await withLock(`${target.runDir}/.lock`, "train-small", () => trainRun(ctx));
  } catch (error) {
    // A run that failed before its first write, or lost the race for the lock to a process
    // that made the same folder a moment ago, removes the folder only if it is empty.
    if (createdDir) await Deno.remove(target.runDir).catch(() => {});
    throw error;
  }
}

function newRun(flags: Flags, backend: string, file?: DataFile): RunTarget {
  const settings = settingsFromFlags(flags, trainSmallSteps(backend), file);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const { dataset, train } = settings;
  return {
    settings,
    runDir: String(flags.out ?? `runs/${stamp}-${dataset}-${train.mode}-${train.form}`),
  };
}

async function resumedRun(flags: Flags, from: string): Promise<RunTarget> {
  const found = findRun(from);
  if (found === undefined) {
    throw new UsageError(
      `--resume ${from}: no checkpoint there (expected ${from}/checkpoint/checkpoint.json)`,
    );
  }
  const given = TRAINING_FLAGS.filter((f) => flags[f] !== undefined);
  if (given.length > 0) {
    throw new UsageError(
      `--resume continues with the checkpoint's settings; drop ${
        given.map((f) => `--${f}`).join(", ")
      }`,
    );
  }
  const checkpoint = await readCheckpoint(found.checkpointDir);
  checkResumable(checkpoint);
  const { train, model, extra } = checkpoint.manifest;
  return {
    settings: {
      train: { ...train, steps: intFlag("steps", flags.steps, train.steps, 1, 1e7) },
      model,
      ...runData(extra, found.checkpointDir),
    },
    runDir: flags.out === undefined ? found.runDir : String(flags.out),
    resumeFrom: found,
  };
}

/**
 * Refuses an output folder that holds something other than the run being resumed.
 *
 * @returns whether the folder is new (so that a failed start may remove it)
 */
function checkOutputFolder(flags: Flags, target: RunTarget): boolean {
  const { runDir, resumeFrom } = target;
  // The flag's own text is checked as given; a run folder found by --resume may be `.`.
  const output = inspectOutput("out", flags.out === undefined ? resolve(runDir) : runDir);
  const sameRun = resumeFrom !== undefined && resolve(resumeFrom.runDir) === output.path;
  if (!sameRun && output.state === "full") {
    throw new UsageError(
      findRun(runDir)
        ? `${runDir} already holds a run; continue it with --resume ${runDir} or choose another --out`
        : `${runDir} is not empty; choose a new or empty folder for --out`,
    );
  }
  return output.state === "absent";
}

/** What {@link trainRun} needs from the command line. */
interface RunContext extends RunTarget {
  backend: { description: string };
  started: number;
  sampleCount: number;
  sampleSteps: number;
  checkpointEvery: number;
  logEvery: number;
  prefetch: boolean;
}

/** The training and held-out data of a run, and where the training set is cached. */
interface RunData {
  dataset: Dataset;
  heldOut: Dataset;
  path: string;
  created: boolean;
  ms: number;
}

/** The data: generated once, cached under data/generated/ (train and held-out sets). */
async function loadRunData(ctx: RunContext): Promise<RunData> {
  const { settings } = ctx;
  if (settings.data !== undefined) return await loadDataFile(ctx, settings.data);
  const { height, width } = settings.model;
  const kind = settings.dataset as DatasetKind,
    size = { frames: settings.train.frames, height, width, speed: settings.speed ?? 1 };
  const train = await loadOrCreateDataset(
    datasetParams({ kind, count: settings.videos, seed: settings.seed, split: "train", ...size }),
  );
  // Moving MNIST's held-out videos draw from the test digits, which training never sees.
  const heldOut = await loadOrCreateDataset(heldOutParams({ kind, seed: settings.seed, ...size }));
  return {
    dataset: train.dataset,
    heldOut: heldOut.dataset,
    path: train.path,
    created: train.created,
    ms: performance.now() - ctx.started,
  };
}

/** A --data file's videos: its training split, and its held-out one (else its first videos). */
async function loadDataFile(ctx: RunContext, path: string): Promise<RunData> {
  const { frames } = ctx.settings.train, { height, width } = ctx.settings.model;
  const all = await readDataset(path, { frames, height, width });
  const parts = splitIndices(all);
  let heldOut = parts.heldOut;
  if (heldOut.length === 0) {
    console.log(`note: ${path} holds no held-out videos; the held-out loss uses training videos`);
    heldOut = parts.train.slice(0, 8);
  }
  return {
    dataset: selectVideos(all, parts.train),
    heldOut: selectVideos(all, heldOut),
    path,
    created: false,
    ms: performance.now() - ctx.started,
  };
}

/** The run's log and checkpoints as training goes. */
interface RunLog {
  metricsPath: string;
  losses: LossRecord[];
  validation: { step: number; losses: Record<number, number> }[];
  /** The last checkpoint known to be good: saved by this process, or the one resumed from. */
  lastGood?: { dir: string; step: number };
}

/** Restores a resumed trainer and its log, or starts an empty log. */
async function startLog(ctx: RunContext, trainer: Trainer): Promise<RunLog> {
  const metricsPath = `${ctx.runDir}/metrics.jsonl`;
  const log: RunLog = { metricsPath, losses: [], validation: [] };
  if (ctx.resumeFrom === undefined) {
    await writeFileAtomic(metricsPath, "");
    return log;
  }
  const { runDir, checkpointDir } = ctx.resumeFrom;
  restoreTrainer(trainer, await readCheckpoint(checkpointDir));
  // Resuming into another folder carries the run's log up to the checkpoint along.
  log.losses = await trimMetrics(metricsPath, trainer.step, `${runDir}/metrics.jsonl`);
  log.lastGood = { dir: checkpointDir, step: trainer.step };
  console.log(`resuming ${ctx.runDir} at step ${trainer.step} of ${ctx.settings.train.steps}`);
  return log;
}

function printBanner(ctx: RunContext, trainer: Trainer, data: RunData): void {
  const { settings, backend } = ctx;
  const { train, model: m } = settings;
  const model = trainer.model;
  console.log(
    `train-small: ${settings.dataset} ${train.frames}×${m.height}×${m.width}, ${train.mode} ` +
      `(K = ${train.stages}), ${train.form}, alignment ${train.align ? "on" : "off"}, ` +
      (m.classes > 0
        ? `${m.classes} classes (labels dropped ${100 * (train.labelDropout ?? 0.1)} %), `
        : "") +
      (m.frameCondition
        ? `given frames ${train.givenModes!.join(" | ")} (dropped ${
          100 * (train.givenDropout ?? 0.1)
        } %, ${m.givenSlots} slot${m.givenSlots === 1 ? "" : "s"} per stage frame), `
        : "") +
      `batch ${train.batch}, ${train.steps} steps, ${m.architecture} ` +
      `${model.params.count().toLocaleString("en")} parameters, ` +
      `${(model.flopsPerFrame(train.frames) / 1e6).toFixed(1)} MFLOP/frame, ` +
      `backend ${backend.description}` +
      (data.created ? `; dataset written to ${data.path}` : `; dataset ${data.path}`),
  );
  console.log(formatPlan(planForTraining(train, ctx.sampleSteps)));
  console.log(
    `cost model: pyramid training step ≈ ${costFraction(trainer.plan).toFixed(3)} of vanilla; ` +
      `sampling speed-up bound ${speedupBound(trainer.plan).toFixed(3)}×`,
  );
}

/**
 * Ctrl-C: the first stops training after the step in flight (a checkpoint is then saved), the
 * second exits at once without one (the last checkpoint on disk stays loadable).
 */
function interruptOnCtrlC(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) {
      console.log("\ninterrupted again: exiting without a checkpoint");
      Deno.exit(130);
    }
    console.log("\nstopping after this step to save a checkpoint (Ctrl-C again to exit now)");
    controller.abort();
  };
  try {
    Deno.addSignalListener("SIGINT", onSignal);
  } catch { /* signals unsupported here */ }
  const dispose = () => {
    try {
      Deno.removeSignalListener("SIGINT", onSignal);
    } catch { /* as above */ }
  };
  return { signal: controller.signal, dispose };
}

/** Prints progress: a bar on a terminal, a line every `logEvery` steps otherwise. */
function progressPrinter(ctx: RunContext, firstStep: number): (step: number, loss: number) => void {
  const total = ctx.settings.train.steps;
  const terminal = Deno.stdout.isTerminal();
  const start = performance.now();
  return (step, loss) => {
    const rate = (step - firstStep) / ((performance.now() - start) / 1000);
    const text = `${step}/${total} loss ${loss.toFixed(4)} ${rate.toFixed(2)} steps/s ETA ${
      formatDuration((total - step) / rate)
    }`;
    if (terminal) {
      const width = 28, filled = Math.round((width * step) / total);
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      Deno.stdout.writeSync(new TextEncoder().encode(`\r${bar} ${text} `));
    } else if (step % ctx.logEvery === 0 || step === total) {
      console.log(`step ${text}`);
    }
  };
}

/** One line of metrics.jsonl for a training step. */
function stepRecord(report: StepReport, ms: number): string {
  return JSON.stringify({
    type: "train",
    step: report.step,
    loss: report.loss,
    k: report.k,
    frames: report.frames,
    gradNorm: report.gradNorm,
    lr: report.learningRate,
    ms,
    ...(report.alignment
      ? { alignIdentity: report.alignment.identity, alignCost: report.alignment.aligned }
      : {}),
  }) + "\n";
}

/** Trains with `lib`'s loop, logging, evaluating and checkpointing; stops on Ctrl-C. */
async function trainLoop(
  ctx: RunContext,
  trainer: Trainer,
  data: RunData,
  log: RunLog,
): Promise<{ interrupted: boolean; ms: number }> {
  const lines: string[] = [];
  const checkpoint = async () => {
    await Deno.writeTextFile(log.metricsPath, lines.splice(0).join(""), { append: true });
    await saveCheckpoint(`${ctx.runDir}/checkpoint`, trainer, runExtra(ctx.settings, data));
    log.lastGood = { dir: `${ctx.runDir}/checkpoint`, step: trainer.step };
  };
  const progress = progressPrinter(ctx, trainer.step);
  const ctrlC = interruptOnCtrlC();
  const batches = datasetBatches(trainer, data.dataset, { prefetch: ctx.prefetch });
  const loopStart = performance.now();
  try {
    const result = await train(trainer, {
      batches,
      signal: ctrlC.signal,
      heldOut: toModelSpace(
        data.heldOut,
        Array.from({ length: Math.min(8, data.heldOut.shape[0]) }, (_, i) => i),
      ),
      evaluateEvery: ctx.checkpointEvery,
      checkpointEvery: ctx.checkpointEvery,
      onStep: (report) => {
        log.losses.push({ step: report.step, loss: report.loss, k: report.k });
        lines.push(stepRecord(report, performance.now() - loopStart));
        const recent = log.losses.slice(-50);
        progress(report.step, recent.reduce((a, r) => a + r.loss, 0) / recent.length);
      },
      onEvaluate: (step, losses) => {
        log.validation.push({ step, losses });
        lines.push(JSON.stringify({ type: "validation", step, losses }) + "\n");
      },
      onCheckpoint: checkpoint,
    });
    await checkpoint();
    if (Deno.stdout.isTerminal()) console.log();
    return { interrupted: result.stopped === "aborted", ms: performance.now() - loopStart };
  } catch (error) {
    if (error instanceof NonFiniteError) {
      await Deno.writeTextFile(log.metricsPath, lines.join(""), { append: true });
    }
    throw error;
  } finally {
    batches.close?.();
    ctrlC.dispose();
  }
}

/** What a checkpoint records about the run's data, so that it resumes on the same videos. */
function runExtra(settings: RunSettings, data: RunData): Record<string, unknown> {
  const { dataset, videos, seed } = settings;
  return {
    dataset,
    videos,
    seed,
    ...(settings.speed === undefined ? {} : { speed: settings.speed }),
    datasetFile: data.path,
    ...(settings.data ? { data: settings.data } : {}),
  };
}

/** Trains, checkpoints, samples and reports into a locked run folder. */
async function trainRun(ctx: RunContext): Promise<number> {
  const data = await loadRunData(ctx);
  if (ctx.settings.autoPlan && ctx.resumeFrom === undefined) planFromRunData(ctx, data);
  const rng = createRng(`train:${ctx.settings.seed}`);
  const model = createDenoiser(ctx.settings.model, rng.split());
  const trainer = new Trainer(ctx.settings.train, model, rng);
  // Under the lock, what a killed process left in this run is ours to restore or remove.
  await removeStaleTemporaries(`${ctx.runDir}/checkpoint`, { locked: true });
  const log = await startLog(ctx, trainer);
  printBanner(ctx, trainer, data);
  const firstStep = trainer.step;
  let trained: { interrupted: boolean; ms: number };
  try {
    trained = await trainLoop(ctx, trainer, data, log);
  } catch (error) {
    if (!(error instanceof NonFiniteError)) throw error;
    if (Deno.stdout.isTerminal()) console.log();
    console.error(
      `error: ${error.message}; training stopped. ` +
        (log.lastGood
          ? `The last good checkpoint is ${log.lastGood.dir} (step ${log.lastGood.step}).`
          : "No checkpoint was saved before it; try a lower --lr."),
    );
    return 1;
  }
  if (trained.interrupted) {
    console.log(
      `interrupted at step ${trainer.step}; checkpoint saved. Continue with --resume ${ctx.runDir}`,
    );
    return 130;
  }
  const timing = {
    trainMs: trained.ms,
    msPerStep: trained.ms / Math.max(1, trainer.step - firstStep),
  };
  await writeOutputs(ctx, trainer, data, log, timing);
  return 0;
}

/**
 * `--plan auto`: measures what each frame rate loses on up to 256 training videos, plans K and the
 * boundaries (lib's planFromData), prints what each boundary trades, and sets the training config
 * (stages, boundaries, stage weights ∝ stage length, steps split by length). The checkpoint keeps
 * the plan, so resuming and sampling use it.
 */
function planFromRunData(ctx: RunContext, data: RunData): void {
  const { train, model } = ctx.settings;
  const n = Math.min(256, data.dataset.shape[0]);
  const x = video(
    {
      batch: n,
      frames: train.frames,
      height: model.height,
      width: model.width,
      channels: model.channels,
    },
    toModelSpace(data.dataset, Array.from({ length: n }, (_, i) => i)),
  );
  const planned = planFromData({
    schedule: trainingSchedule(train),
    frames: train.frames,
    lost: lostDetail(x, { ...(train.down ? { down: train.down } : {}) }),
    fraction: ctx.settings.autoPlan!.fraction,
    steps: Math.max(ctx.sampleSteps, 4),
    ...(train.down ? { down: train.down } : {}),
  });
  console.log(formatPlannedSchedule(planned));
  const K = planned.plan.stageCount;
  train.stages = K;
  train.stepSplit = "length";
  if (K > 1) {
    train.boundaries = planned.boundaries;
    train.stageWeights = planned.stageWeights;
  }
  if (model.frameCondition) model.givenSlots = 2 ** (K - 1);
}

/** Samples with the EMA weights and the staged sampler, then writes the files and the summary. */
async function writeOutputs(
  ctx: RunContext,
  trainer: Trainer,
  data: RunData,
  log: RunLog,
  timing: { trainMs: number; msPerStep: number },
): Promise<void> {
  const { settings, runDir } = ctx;
  const { train, model: modelConfig } = settings;
  const ema = await trainer.emaModel(createRng(1));
  const shape = {
    frames: train.frames,
    height: modelConfig.height,
    width: modelConfig.width,
    channels: modelConfig.channels,
  };
  // A class-conditional model draws its samples class by class (0, 1, …, 0, 1, …), unguided; a
  // frame-conditioned one is given held-out video i's frames for sample i, in its first mode, so
  // that the real videos shown beside the samples are their truth.
  const classes = modelConfig.classes;
  const mode = modelConfig.frameCondition ? train.givenModes?.[0] : undefined;
  const given = mode === undefined ? undefined : (() => {
    const positions = givenPositions(mode, train.frames);
    // Only the videos the samples take (givenValues cycles when there are fewer).
    const n = Math.min(data.heldOut.shape[0], ctx.sampleCount);
    const x0 = toModelSpace(data.heldOut, Array.from({ length: n }, (_, i) => i));
    const frameSize = shape.height * shape.width * shape.channels;
    const values = givenValues(x0, {
      frames: train.frames,
      frameSize,
      positions,
      count: ctx.sampleCount,
    });
    return { positions, values };
  })();
  const samples = await drawSamples(ema, {
    plan: planForTraining(train, ctx.sampleSteps),
    prediction: trainer.prediction,
    count: ctx.sampleCount,
    seed: settings.seed + 7,
    ...(classes > 0
      ? { label: Array.from({ length: ctx.sampleCount }, (_, i) => i % classes) }
      : {}),
    ...(given ? { given } : {}),
  });
  ema.params.dispose();
  const media = await withMp4s(encodeSamples(samples, shape), samples, shape);
  const shown = Math.min(4, data.heldOut.shape[0]);
  const real = {
    count: shown,
    ...encodeVideos(data.heldOut.pixels, { count: shown, ...shape }),
  };
  await writeSamples(runDir, samples, media);
  // Motion needs ground-truth objects: not for glyphs' segments, nor for imported clips.
  const motion = settings.dataset === "glyphs" || data.heldOut.params.maxObjects === 0
    ? undefined
    : compareMotion(samples, data.heldOut);
  const summary = runSummary(ctx, trainer, samples, timing, log, motion);
  await writeFileAtomic(`${runDir}/summary.json`, JSON.stringify(summary, null, 1));
  await writeReport(`${runDir}/report.html`, {
    title: `train-small: ${settings.dataset}, ${train.mode} (K = ${train.stages}), ${train.form}`,
    subtitle: `${
      new Date().toISOString()
    } · ${ctx.backend.description} · ${trainer.step} steps in ${
      (timing.trainMs / 1000).toFixed(0)
    } s${
      given
        ? ` · sample i is given held-out video i's frames ${given.positions.join(", ")} (${mode})`
        : classes > 0
        ? " · samples ask for the classes 0, 1, … in turn"
        : ""
    }`,
    losses: log.losses,
    validation: log.validation,
    samples,
    media,
    real,
    shape,
    motion,
    config: {
      ...train,
      model: modelConfig,
      dataset: settings.dataset,
      videos: settings.videos,
      seed: settings.seed,
      ...(settings.speed === undefined ? {} : { speed: settings.speed }),
      sampleSteps: ctx.sampleSteps,
    },
    timings: reportTimings(summary, data),
  });
  printSummary(ctx, summary, media.mp4s !== undefined);
}

/** summary.json: the run's size, speed, final validation and motion against real videos. */
function runSummary(
  ctx: RunContext,
  trainer: Trainer,
  samples: Samples,
  timing: { trainMs: number; msPerStep: number },
  log: RunLog,
  motion: MotionComparison | undefined,
) {
  const { model } = trainer;
  return {
    run: ctx.runDir,
    steps: trainer.step,
    backend: ctx.backend.description,
    parameters: model.params.count(),
    mflopsPerFrame: model.flopsPerFrame(ctx.settings.train.frames) / 1e6,
    msPerStep: timing.msPerStep,
    trainSeconds: timing.trainMs / 1000,
    samplingMs: samples.ms,
    totalSeconds: (performance.now() - ctx.started) / 1000,
    finalValidation: log.validation.at(-1)?.losses,
    motion,
  };
}

type RunSummary = ReturnType<typeof runSummary>;

function reportTimings(summary: RunSummary, data: RunData): Record<string, number> {
  return {
    "dataset (ms)": Math.round(data.ms),
    "training (s)": Number(summary.trainSeconds.toFixed(1)),
    "ms per step": Number(summary.msPerStep.toFixed(1)),
    "sampling (ms)": Math.round(summary.samplingMs),
    "total (s)": Number(summary.totalSeconds.toFixed(1)),
    parameters: summary.parameters,
    "MFLOP per frame": Number(summary.mflopsPerFrame.toFixed(2)),
  };
}

function printSummary(ctx: RunContext, summary: RunSummary, mp4: boolean): void {
  const n = ctx.sampleCount;
  console.log(
    `done in ${formatDuration(summary.totalSeconds)}: ${summary.steps} steps at ${
      summary.msPerStep.toFixed(0)
    } ms/step; sampled ${n} video${n === 1 ? "" : "s"} in ${summary.samplingMs.toFixed(0)} ms`,
  );
  const motion = summary.motion;
  if (motion) {
    const { samples: s, real: r, truth } = motion;
    const broken = (m: MotionStats) => Math.round(m.brokenVideos * m.videos);
    console.log(
      `objects/frame: samples ${s.objectsPerFrame.toFixed(2)}, real ${
        r.objectsPerFrame.toFixed(2)
      }; constant-velocity residual (median px): samples ${s.residualMedian.toFixed(2)}, ` +
        `real ${r.residualMedian.toFixed(2)}, ground truth ${truth.residualMedian.toFixed(2)}; ` +
        `videos with an object vanishing or appearing: ${broken(s)} of ${s.videos} samples, ` +
        `${broken(r)} of ${r.videos} real`,
    );
  }
  console.log(
    `wrote ${ctx.runDir}/{checkpoint/, metrics.jsonl, samples.png, sample-*.gif${
      mp4 ? ", sample-*.mp4" : ""
    }, stages.png, report.html}`,
  );
  // The last lines say what to open and what to run next.
  console.log(`\nopen the report:  ${resolve(ctx.runDir, "report.html")}`);
  console.log(`sample more:      deno task sample --checkpoint ${ctx.runDir} --count 16`);
}

if (import.meta.main) await runTask(main);
