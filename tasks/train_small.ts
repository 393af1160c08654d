/**
 * `deno task train-small`: trains a small temporal-pyramid video diffusion model on a procedural
 * dataset (about five minutes on a 2-core CPU with the defaults), then draws samples with the staged
 * sampler and writes a checkpoint, samples, metrics and an HTML report.
 *
 * @module
 */
import {
  DATASET_KINDS,
  type DatasetKind,
  datasetParams,
  loadOrCreateDataset,
  removeStaleTemporaries,
  toModelSpace,
  withLock,
  writeFileAtomic,
} from "../lib/data/mod.ts";
import { resolve } from "node:path";
import {
  BACKEND_REQUESTS,
  BatchPrefetcher,
  CheckpointError,
  checkResumable,
  createDenoiser,
  type DenoiserConfig,
  denoiserConfig,
  drawSamples,
  drawVideos,
  initBackend,
  NonFiniteError,
  planForTraining,
  readCheckpoint,
  restoreTrainer,
  saveCheckpoint,
  TRAIN_SMALL,
  TRAIN_SMALL_DATA,
  type TrainConfig,
  Trainer,
  trainSmallSteps,
} from "../lib/nn/mod.ts";
import {
  costFraction,
  createRng,
  DOWN_METHODS,
  formatPlan,
  speedupBound,
  TIME_DENSITIES,
} from "../lib/mod.ts";
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
} from "../lib/cli.ts";
import { compareMotion } from "../lib/metrics/mod.ts";
import { encodeSamples } from "../lib/viz/mod.ts";
import { findRun, inspectOutput, writeReport, writeSamples } from "./outputs.ts";

const FLAGS: Record<string, FlagSpec> = {
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
  form: { type: "string", help: "diffusion form: fm (flow matching) | ddim", default: "fm" },
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
    default: "32,48,64",
  },
  "temporal-kernel": {
    type: "string",
    help: "U-Net temporal convolution kernel in frames (odd)",
    default: "3",
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
  "videos",
  "seed",
];

interface RunSettings {
  train: TrainConfig;
  model: DenoiserConfig;
  dataset: DatasetKind;
  videos: number;
  seed: number;
}

function settingsFromFlags(
  v: Record<string, string | boolean | undefined>,
  defaultSteps: number,
): RunSettings {
  const dataset = choiceFlag("dataset", v.dataset, TRAIN_SMALL_DATA.kind, DATASET_KINDS);
  const frames = intFlag("frames", v.frames, TRAIN_SMALL.frames, 2, 256);
  const size = intFlag("size", v.size, TRAIN_SMALL_DATA.size, 16, 256);
  const stages = intFlag("stages", v.stages, TRAIN_SMALL.stages, 1, 4);
  const form = choiceFlag("form", v.form, "fm", ["fm", "ddim"] as const);
  const mode = choiceFlag("mode", v.mode, "pyramid", ["pyramid", "vanilla"] as const);
  if (mode === "pyramid" && frames % 2 ** (stages - 1) !== 0) {
    throw new UsageError(
      `--frames must be divisible by 2^${stages - 1} = ${
        2 ** (stages - 1)
      } for ${stages} stages; got ${frames}`,
    );
  }
  if (size % 16 !== 0) throw new UsageError(`--size must be a multiple of 16; got ${size}`);
  const widths = String(v.widths ?? "32,48,64").split(",").map((w) => Number(w));
  if (
    widths.length < 1 || widths.length > 4 ||
    widths.some((w) => !Number.isInteger(w) || w < 8 || w > 512 || w % 8)
  ) {
    throw new UsageError(
      `--widths must be 1–4 multiples of 8 in [8, 512], comma-separated; got ${
        JSON.stringify(v.widths)
      }`,
    );
  }
  const arch = choiceFlag("arch", v.arch, "unet", ["unet", "transformer"] as const);
  const steps = intFlag("steps", v.steps, defaultSteps, 1, 10_000_000);
  const train: TrainConfig = {
    mode,
    form,
    stages: mode === "vanilla" ? 1 : stages,
    frames,
    batch: intFlag("batch", v.batch, TRAIN_SMALL.batch, 1, 256),
    steps,
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
  const model = denoiserConfig({
    architecture: arch,
    height: size,
    width: size,
    channels: 1,
    widths: arch === "unet" ? widths : [widths[0]],
    temporalKernel: oddKernelFlag(v["temporal-kernel"]),
    temporalAttention: arch === "unet"
      ? intFlag("temporal-attention", v["temporal-attention"], 0, 0, widths.length)
      : 0,
    patch: 4,
    maxStages: 4,
  });
  return {
    train,
    model,
    dataset,
    videos: intFlag("videos", v.videos, TRAIN_SMALL_DATA.videos, 8, 1_000_000),
    seed: intFlag("seed", v.seed, TRAIN_SMALL_DATA.seed, 0, 2 ** 31),
  };
}

/** The dataset settings a checkpoint's `extra` recorded, checked as a hand edit could break them. */
function runData(
  extra: Record<string, unknown>,
  dir: string,
): Pick<RunSettings, "dataset" | "videos" | "seed"> {
  const { dataset, videos, seed } = extra ?? {};
  const ok = (DATASET_KINDS as readonly unknown[]).includes(dataset) &&
    Number.isInteger(videos) && (videos as number) >= 8 && Number.isInteger(seed) &&
    (seed as number) >= 0;
  if (!ok) {
    throw new CheckpointError(
      `checkpoint ${dir}: extra must record dataset (one of ${DATASET_KINDS.join(", ")}), ` +
        `videos and seed to resume; got ${JSON.stringify({ dataset, videos, seed })}`,
    );
  }
  return { dataset: dataset as DatasetKind, videos: videos as number, seed: seed as number };
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
      } increasing numbers in (0, 1), comma-separated, for ${stages} stages; got ${
        JSON.stringify(text)
      }`,
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
        JSON.stringify(value)
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
  let settings: RunSettings;
  let runDir: string;
  let resumeFrom: { runDir: string; checkpointDir: string } | undefined;
  if (flags.resume !== undefined) {
    const found = findRun(String(flags.resume));
    if (found === undefined) {
      throw new UsageError(
        `--resume ${flags.resume}: no checkpoint there (expected ${flags.resume}/checkpoint/checkpoint.json)`,
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
    settings = {
      train: {
        ...checkpoint.manifest.train,
        steps: intFlag("steps", flags.steps, checkpoint.manifest.train.steps, 1, 1e7),
      },
      model: checkpoint.manifest.model,
      ...runData(checkpoint.manifest.extra, found.checkpointDir),
    };
    runDir = flags.out === undefined ? found.runDir : String(flags.out);
    resumeFrom = found;
  } else {
    settings = settingsFromFlags(flags, trainSmallSteps(backend.name));
    const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
    runDir = String(
      flags.out ??
        `runs/${stamp}-${settings.dataset}-${settings.train.mode}-${settings.train.form}`,
    );
  }
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
  const sampleCount = intFlag("samples", flags.samples, 8, 1, 64);
  const sampleSteps = intFlag(
    "sample-steps",
    flags["sample-steps"],
    30,
    settings.train.stages,
    10_000,
  );
  const checkpointEvery = intFlag("checkpoint-every", flags["checkpoint-every"], 200, 1, 1e9);
  const logEvery = intFlag("log-every", flags["log-every"], 50, 1, 1e9);
  const started = performance.now();

  // The run folder is locked before anything is written, the dataset cache included.
  const createdDir = output.state === "absent";
  await Deno.mkdir(runDir, { recursive: true });
  try {
    return await withLock(`${runDir}/.lock`, "train-small", () =>
      trainRun({
        settings,
        runDir,
        resumeFrom,
        backend,
        started,
        sampleCount,
        sampleSteps,
        checkpointEvery,
        logEvery,
        prefetch: flags["no-prefetch"] !== true,
      }));
  } catch (error) {
    // A run that failed before its first write, or lost the race for the lock to a process
    // that made the same folder a moment ago, removes the folder only if it is empty.
    if (createdDir) await Deno.remove(runDir).catch(() => {});
    throw error;
  }
}

/** What {@link trainRun} needs from the command line. */
interface RunContext {
  settings: RunSettings;
  runDir: string;
  resumeFrom?: { runDir: string; checkpointDir: string };
  backend: { description: string };
  started: number;
  sampleCount: number;
  sampleSteps: number;
  checkpointEvery: number;
  logEvery: number;
  prefetch: boolean;
}

/** Trains, checkpoints, samples and reports into a locked run folder. */
async function trainRun(ctx: RunContext): Promise<number> {
  const { settings, runDir, resumeFrom, backend, started, sampleCount, sampleSteps } = ctx;
  const { checkpointEvery, logEvery } = ctx;
  const { train, model: modelConfig } = settings;

  // Data: generated once, cached under data/generated/ (train and held-out sets).
  const common = { frames: train.frames, height: modelConfig.height, width: modelConfig.width };
  const { dataset, path: dataPath, created } = await loadOrCreateDataset(
    datasetParams({
      kind: settings.dataset,
      count: settings.videos,
      seed: settings.seed,
      ...common,
    }),
  );
  const { dataset: heldOut } = await loadOrCreateDataset(
    datasetParams({
      kind: settings.dataset,
      count: 64,
      seed: settings.seed + TRAIN_SMALL_DATA.heldOutSeed,
      ...common,
    }),
  );
  const dataMs = performance.now() - started;

  const rng = createRng(`train:${settings.seed}`);
  const model = createDenoiser(modelConfig, rng.split());
  const trainer = new Trainer(train, model, rng);
  // Under the lock, what a killed process left in this run is ours to restore or remove.
  await removeStaleTemporaries(`${runDir}/checkpoint`, { locked: true });
  const metricsPath = `${runDir}/metrics.jsonl`;
  let losses: LossRecord[] = [];
  // The last checkpoint known to be good: saved by this process, or the one resumed from.
  let lastGood: { dir: string; step: number } | undefined;
  if (resumeFrom) {
    restoreTrainer(trainer, await readCheckpoint(resumeFrom.checkpointDir));
    // Resuming into another folder carries the run's log up to the checkpoint along.
    losses = await trimMetrics(metricsPath, trainer.step, `${resumeFrom.runDir}/metrics.jsonl`);
    lastGood = { dir: resumeFrom.checkpointDir, step: trainer.step };
    console.log(`resuming ${runDir} at step ${trainer.step} of ${train.steps}`);
  } else {
    await writeFileAtomic(metricsPath, "");
  }
  const validation: { step: number; losses: Record<number, number> }[] = [];
  const heldOutX0 = toModelSpace(heldOut, Array.from({ length: 8 }, (_, i) => i));
  const extra = {
    dataset: settings.dataset,
    videos: settings.videos,
    seed: settings.seed,
    datasetFile: dataPath,
  };

  console.log(
    `train-small: ${settings.dataset} ${train.frames}×${modelConfig.height}×${modelConfig.width}, ${train.mode} ` +
      `(K = ${train.stages}), ${train.form}, alignment ${
        train.align ? "on" : "off"
      }, batch ${train.batch}, ` +
      `${train.steps} steps, ${modelConfig.architecture} ${
        model.params.count().toLocaleString("en")
      } parameters, ` +
      `${
        (model.flopsPerFrame(train.frames) / 1e6).toFixed(1)
      } MFLOP/frame, backend ${backend.description}` +
      (created ? `; dataset written to ${dataPath}` : `; dataset ${dataPath}`),
  );
  console.log(formatPlan(planForTraining(train, sampleSteps)));
  console.log(
    `cost model: pyramid training step ≈ ${costFraction(trainer.plan).toFixed(3)} of vanilla; ` +
      `sampling speed-up bound ${speedupBound(trainer.plan).toFixed(3)}×`,
  );

  let interrupted = false;
  const onSignal = () => (interrupted = true);
  try {
    Deno.addSignalListener("SIGINT", onSignal);
  } catch { /* signals unsupported here */ }
  const terminal = Deno.stdout.isTerminal();
  const loopStart = performance.now(), firstStep = trainer.step;
  const log: string[] = [];
  const flushLog = async () => {
    if (log.length === 0) return;
    await Deno.writeTextFile(metricsPath, log.join(""), { append: true });
    log.length = 0;
  };
  const checkpoint = async () => {
    await flushLog();
    await saveCheckpoint(`${runDir}/checkpoint`, trainer, extra);
    lastGood = { dir: `${runDir}/checkpoint`, step: trainer.step };
  };
  // Batch k + 1 is prepared in a worker while batch k trains; the results are those of the
  // sequential loop (--no-prefetch), bit for bit.
  const prefetcher = ctx.prefetch ? new BatchPrefetcher(trainer, dataset) : undefined;
  const nextBatch = async () => {
    if (prefetcher) return (await prefetcher.next()).prepared;
    return trainer.prepare(drawVideos(dataset, train.batch, trainer.rng).x0);
  };
  try {
    while (trainer.step < train.steps && !interrupted) {
      const report = await trainer.trainOnBatch(await nextBatch());
      losses.push({ step: report.step, loss: report.loss, k: report.k });
      log.push(
        JSON.stringify({
          type: "train",
          step: report.step,
          loss: report.loss,
          k: report.k,
          frames: report.frames,
          gradNorm: report.gradNorm,
          lr: report.learningRate,
          ms: performance.now() - loopStart,
          ...(report.alignment
            ? { alignIdentity: report.alignment.identity, alignCost: report.alignment.aligned }
            : {}),
        }) + "\n",
      );
      if (report.step % checkpointEvery === 0 || report.step === train.steps) {
        const val = await trainer.evaluate(heldOutX0);
        validation.push({ step: report.step, losses: val });
        log.push(JSON.stringify({ type: "validation", step: report.step, losses: val }) + "\n");
        await checkpoint();
      }
      const done = report.step - firstStep, elapsed = (performance.now() - loopStart) / 1000;
      const rate = done / elapsed, eta = (train.steps - report.step) / rate;
      const recent = losses.slice(-50),
        mean = recent.reduce((a, r) => a + r.loss, 0) / recent.length;
      if (terminal) {
        const width = 28, filled = Math.round((width * report.step) / train.steps);
        const bar = "█".repeat(filled) + "░".repeat(width - filled);
        Deno.stdout.writeSync(new TextEncoder().encode(
          `\r${bar} ${report.step}/${train.steps} loss ${mean.toFixed(4)} ${
            rate.toFixed(2)
          } steps/s ETA ${formatDuration(eta)} `,
        ));
      } else if (report.step % logEvery === 0 || report.step === train.steps) {
        console.log(
          `step ${report.step}/${train.steps} loss ${mean.toFixed(4)} ${
            rate.toFixed(2)
          } steps/s ETA ${formatDuration(eta)}`,
        );
      }
    }
    await checkpoint();
  } catch (error) {
    if (error instanceof NonFiniteError) {
      if (terminal) console.log();
      console.error(
        `error: ${error.message}; training stopped. ` +
          (lastGood
            ? `The last good checkpoint is ${lastGood.dir} (step ${lastGood.step}).`
            : "No checkpoint was saved before it; try a lower --lr."),
      );
      await flushLog();
      return 1;
    }
    throw error;
  } finally {
    prefetcher?.close();
    try {
      Deno.removeSignalListener("SIGINT", onSignal);
    } catch { /* as above */ }
  }
  if (terminal) console.log();
  const trainMs = performance.now() - loopStart;
  if (interrupted) {
    console.log(
      `interrupted at step ${trainer.step}; checkpoint saved. Continue with --resume ${runDir}`,
    );
    return 130;
  }

  // Samples with the EMA weights and the staged sampler.
  const plan = planForTraining(train, sampleSteps);
  const ema = trainer.emaModel(createRng(1));
  const samples = await drawSamples(ema, {
    plan,
    prediction: trainer.target,
    count: sampleCount,
    seed: settings.seed + 7,
  });
  const shape = { frames: train.frames, height: modelConfig.height, width: modelConfig.width };
  const media = encodeSamples(samples, shape);
  await writeSamples(runDir, samples, media);
  const motion = settings.dataset === "glyphs" ? undefined : compareMotion(samples, heldOut);
  const totalMs = performance.now() - started;
  const summary = {
    run: runDir,
    steps: trainer.step,
    backend: backend.description,
    parameters: model.params.count(),
    mflopsPerFrame: model.flopsPerFrame(train.frames) / 1e6,
    msPerStep: trainMs / Math.max(1, trainer.step - firstStep),
    trainSeconds: trainMs / 1000,
    samplingMs: samples.ms,
    totalSeconds: totalMs / 1000,
    finalValidation: validation.at(-1)?.losses,
    motion,
  };
  await writeFileAtomic(`${runDir}/summary.json`, JSON.stringify(summary, null, 1));
  await writeReport(`${runDir}/report.html`, {
    title: `train-small: ${settings.dataset}, ${train.mode} (K = ${train.stages}), ${train.form}`,
    subtitle: `${new Date().toISOString()} · ${backend.description} · ${trainer.step} steps in ${
      (trainMs / 1000).toFixed(0)
    } s`,
    losses,
    validation,
    samples,
    media,
    motion,
    config: {
      ...train,
      model: modelConfig,
      dataset: settings.dataset,
      videos: settings.videos,
      seed: settings.seed,
      sampleSteps,
    },
    timings: {
      "dataset (ms)": Math.round(dataMs),
      "training (s)": Number((trainMs / 1000).toFixed(1)),
      "ms per step": Number(summary.msPerStep.toFixed(1)),
      "sampling (ms)": Math.round(samples.ms),
      "total (s)": Number((totalMs / 1000).toFixed(1)),
      parameters: model.params.count(),
      "MFLOP per frame": Number(summary.mflopsPerFrame.toFixed(2)),
    },
  });
  ema.params.dispose();
  console.log(
    `done in ${formatDuration(totalMs / 1000)}: ${trainer.step} steps at ${
      summary.msPerStep.toFixed(0)
    } ms/step; ` +
      `sampled ${sampleCount} video${sampleCount === 1 ? "" : "s"} in ${samples.ms.toFixed(0)} ms`,
  );
  if (motion) {
    console.log(
      `objects/frame: samples ${motion.samples.objectsPerFrame.toFixed(2)}, real ${
        motion.real.objectsPerFrame.toFixed(2)
      }; ` +
        `constant-velocity residual (median px): samples ${
          motion.samples.residualMedian.toFixed(2)
        }, ` +
        `real ${motion.real.residualMedian.toFixed(2)}, ground truth ${
          motion.truth.residualMedian.toFixed(2)
        }; ` +
        `videos with an object vanishing or appearing: ${
          Math.round(motion.samples.brokenVideos * motion.samples.videos)
        } of ${motion.samples.videos} samples, ${
          Math.round(motion.real.brokenVideos * motion.real.videos)
        } of ${motion.real.videos} real`,
    );
  }
  console.log(
    `wrote ${runDir}/{checkpoint/, metrics.jsonl, samples.png, sample-*.gif, stages.png, report.html}`,
  );
  return 0;
}

if (import.meta.main) await runTask(main);
