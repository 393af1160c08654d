/**
 * What train-small and sample write: samples (PNG strip, GIFs), per-stage strips of one sample,
 * the trajectory, motion metrics against the generator's ground truth, and the HTML report.
 *
 * @module
 */
import type { Dataset } from "../lib/data/mod.ts";
import { dirname, resolve } from "node:path";
import { locateDir, toPixels, writeFileAtomic } from "../lib/data/mod.ts";
import { UsageError } from "./cli.ts";
import {
  detectVideos,
  type MotionStats,
  motionStats,
  trackPositions,
} from "../lib/metrics/tracking.ts";
import type { Denoiser } from "../lib/nn/mod.ts";
import { modelPredict } from "../lib/nn/mod.ts";
import {
  type PredictionKind,
  sampleStaged,
  type Solver,
  type StagePlan,
  type Trajectory,
  trajectoryRecorder,
} from "../lib/mod.ts";
import {
  dataUri,
  encodeGif,
  encodePng,
  frameStrip,
  loadPlotlySource,
  lossFigure,
  type LossRecord,
  type PlotlyFigure,
  renderReport,
  type ReportSection,
  type StripOptions,
  trajectoryFigure,
  validationFigure,
} from "../lib/viz/mod.ts";

/**
 * Finds a run's checkpoint from a run folder or from its `checkpoint/` folder (also when a kill
 * left the checkpoint only under its temporary name; see `locateDir`).
 *
 * @param path either folder
 * @returns the run and checkpoint folders, or undefined when neither holds a checkpoint
 */
export function findRun(path: string): { runDir: string; checkpointDir: string } | undefined {
  for (const [runDir, checkpointDir] of [[path, `${path}/checkpoint`], [`${path}/..`, path]]) {
    const found = locateDir(checkpointDir);
    if (found !== undefined && isFile(`${found}/checkpoint.json`)) return { runDir, checkpointDir };
  }
  return undefined;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** What an output path holds now: nothing, an empty folder, a folder with entries, or a file. */
export type OutputState = "absent" | "empty" | "full" | "file";

/**
 * Looks at an output path before anything is written, and rejects what no task may write to: an
 * empty string, a file, a path under a file, `.` or `..`.
 *
 * @param flag the flag that named it, for messages
 * @param path the path
 * @returns the absolute path and what it holds
 */
export function inspectOutput(flag: string, path: string): { path: string; state: OutputState } {
  if (path.trim() === "") throw new UsageError(`--${flag} must name a folder; got ""`);
  const absolute = resolve(path);
  if (absolute === "/" || /(^|\/)\.\.?$/.test(path.replace(/\/+$/, ""))) {
    throw new UsageError(`--${flag} must name a folder of its own; got ${JSON.stringify(path)}`);
  }
  // Walk up to the first existing ancestor: it must be a folder.
  for (let p = dirname(absolute); p !== "/"; p = dirname(p)) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(p);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    if (!info.isDirectory) {
      throw new UsageError(`--${flag} ${path}: ${p} is a file, not a folder`);
    }
    break;
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(absolute);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { path: absolute, state: "absent" };
    throw error;
  }
  if (!info.isDirectory) {
    throw new UsageError(`--${flag} ${path} is a file; name a folder`);
  }
  const full = [...Deno.readDirSync(absolute)].length > 0;
  return { path: absolute, state: full ? "full" : "empty" };
}

/**
 * Whether a folder is the whole output of an earlier run of the same command: it holds nothing
 * but the files that command writes, and its marker file.
 *
 * @param dir the folder
 * @param marker the file that only this command writes there
 * @param allowed the names that command writes (a pattern)
 * @returns true when every entry is allowed and the marker is there
 */
export function isOutputOf(dir: string, marker: string, allowed: RegExp): boolean {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name);
  return names.includes(marker) && names.every((n) => allowed.test(n));
}

/** Samples drawn by {@link drawSamples}. */
export interface Samples {
  /** Bytes 0–255, [count, frames, height, width]. */
  pixels: Uint8Array;
  /** Videos. */
  count: number;
  /** Wall-clock of the sampler, ms. */
  ms: number;
  /** The recorded trajectory of sample 0. */
  trajectory: Trajectory;
}

/**
 * Draws videos with the staged sampler and records sample 0's trajectory.
 *
 * @param model the denoiser (EMA weights)
 * @param options plan, prediction kind, count, seed, solver and which snapshots to keep
 * @returns the samples
 */
export async function drawSamples(model: Denoiser, options: {
  plan: StagePlan;
  prediction: PredictionKind;
  count: number;
  seed: number;
  solver?: Solver;
  keep?: "none" | "stage-ends" | "every-step";
}): Promise<Samples> {
  const { plan, prediction, count, seed } = options;
  const recorder = trajectoryRecorder(plan, { keep: options.keep ?? "stage-ends" });
  const t0 = performance.now();
  const out = await sampleStaged(plan, modelPredict(model, plan), {
    prediction,
    solver: options.solver,
    batch: count,
    height: model.config.height,
    width: model.config.width,
    channels: model.config.channels,
    seed,
    ...recorder.hooks,
  });
  const ms = performance.now() - t0;
  recorder.finish(out);
  return { pixels: toPixels(out.data), count, ms, trajectory: recorder.trajectory };
}

/**
 * One image of every snapshot of the trajectory's sample: one row per snapshot, each frame placed
 * at its position on the full-rate grid (blank where a stage has no frame).
 *
 * @param trajectory the trajectory
 * @param size frame height and width
 * @param options the strip's zoom and gaps (see `frameStrip`)
 * @returns PNG bytes
 */
export function snapshotStrip(
  trajectory: Trajectory,
  size: { height: number; width: number },
  options: StripOptions = {},
): Uint8Array {
  const { height, width } = size;
  const F = trajectory.frames;
  const rows = trajectory.snapshots;
  const pixels = new Uint8Array(rows.length * F * height * width).fill(40);
  rows.forEach((snap, r) => {
    const bytes = toPixels(snap.data);
    snap.positions.forEach((p, j) => {
      pixels.set(
        bytes.subarray(j * height * width, (j + 1) * height * width),
        (r * F + p) * height * width,
      );
    });
  });
  const strip = frameStrip(pixels, { videos: rows.length, frames: F, height, width }, options);
  return encodePng(strip.pixels, strip);
}

/** Samples encoded once, for the files and for the report. */
export interface SampleMedia {
  /** `samples.png`: one row per video, frames left to right. */
  strip: Uint8Array;
  /** One looping GIF per video. */
  gifs: Uint8Array[];
  /** `stages.png`: sample 0 at every snapshot, if the trajectory kept any. */
  stages?: Uint8Array;
}

/**
 * Encodes samples as a PNG strip, one GIF per video, and the snapshot strip of sample 0.
 *
 * @param samples the samples
 * @param shape frames, height, width
 * @returns the encoded media
 */
export function encodeSamples(
  samples: Samples,
  shape: { frames: number; height: number; width: number },
): SampleMedia {
  const { frames, height, width } = shape;
  const strip = frameStrip(samples.pixels, { videos: samples.count, frames, height, width });
  const size = frames * height * width;
  return {
    strip: encodePng(strip.pixels, strip),
    gifs: Array.from(
      { length: samples.count },
      (_, i) => encodeGif(samples.pixels.subarray(i * size, (i + 1) * size), shape, { zoom: 3 }),
    ),
    stages: samples.trajectory.snapshots.length > 0
      ? snapshotStrip(samples.trajectory, { height, width })
      : undefined,
  };
}

/**
 * Writes samples as `samples.png` (one row per video), `sample-N.gif`, `stages.png` and
 * `trajectory.json`.
 *
 * @param dir the output folder
 * @param samples the samples (for the trajectory)
 * @param media the samples, encoded (see {@link encodeSamples})
 * @returns the file names written
 */
export async function writeSamples(
  dir: string,
  samples: Samples,
  media: SampleMedia,
): Promise<string[]> {
  await writeFileAtomic(`${dir}/samples.png`, media.strip);
  const files = ["samples.png"];
  for (const [i, gif] of media.gifs.entries()) {
    await writeFileAtomic(`${dir}/sample-${i}.gif`, gif);
    files.push(`sample-${i}.gif`);
  }
  if (media.stages) {
    await writeFileAtomic(`${dir}/stages.png`, media.stages);
    files.push("stages.png");
  }
  const { snapshots: _, ...rest } = samples.trajectory;
  await writeFileAtomic(`${dir}/trajectory.json`, JSON.stringify(rest, null, 1));
  files.push("trajectory.json");
  return files;
}

/** Motion statistics of samples, real videos (detected) and the ground truth. */
export interface MotionComparison {
  /** Generated samples, objects detected. */
  samples: MotionStats;
  /** Real videos from the dataset, objects detected the same way. */
  real: MotionStats;
  /** The generator's exact tracks for the same real videos. */
  truth: MotionStats;
}

/**
 * Motion statistics of 8-bit videos, objects detected in every frame (turns placed at the walls).
 *
 * @param pixels bytes, [videos, frames, height, width]
 * @param shape videos, frames, height, width
 * @returns the statistics
 */
export function videoMotion(
  pixels: Uint8Array,
  shape: { videos: number; frames: number; height: number; width: number },
): MotionStats {
  return motionStats(detectVideos(pixels, shape), {
    size: { width: shape.width, height: shape.height },
  });
}

/**
 * Motion statistics of a dataset's first videos, detected like samples, and of the generator's
 * exact tracks for the same videos.
 *
 * @param dataset the dataset (pixels and tracks)
 * @param videos how many videos to measure (default 64)
 * @returns the detected and the ground-truth statistics
 */
export function datasetMotion(
  dataset: Dataset,
  videos = 64,
): { real: MotionStats; truth: MotionStats } {
  const [, F, H, W] = dataset.shape;
  const n = Math.min(videos, dataset.shape[0]);
  return {
    real: videoMotion(dataset.pixels.subarray(0, n * F * H * W), {
      videos: n,
      frames: F,
      height: H,
      width: W,
    }),
    truth: motionStats(
      trackPositions(dataset.tracks, {
        count: dataset.shape[0],
        maxObjects: dataset.params.maxObjects,
        frames: F,
      }, n),
      { size: { width: W, height: H } },
    ),
  };
}

/**
 * Measures motion in samples against real data and the generator's ground truth.
 *
 * @param samples the samples
 * @param dataset the dataset (real videos and tracks)
 * @param videos how many real videos to measure (default 64)
 * @returns the three sets of statistics
 */
export function compareMotion(samples: Samples, dataset: Dataset, videos = 64): MotionComparison {
  const [, F, H, W] = dataset.shape;
  return {
    samples: videoMotion(samples.pixels, { videos: samples.count, frames: F, height: H, width: W }),
    ...datasetMotion(dataset, videos),
  };
}

/** Rows of a motion table. */
export function motionRows(motion: MotionComparison): (string | number)[][] {
  const row = (name: string, m: MotionStats) => [
    name,
    m.videos,
    m.objectsPerFrame,
    m.countStability,
    m.speed,
    m.residualMedian,
    m.residualMean,
    m.linkedFraction,
    m.turnsPerVideo,
    m.wallTurnFraction,
    m.permanence,
    m.brokenVideos,
  ];
  return [
    row("samples (detected)", motion.samples),
    row("real videos (detected)", motion.real),
    row("ground truth (generator tracks)", motion.truth),
  ];
}

/** The columns of {@link motionRows}. */
export const MOTION_COLUMNS = [
  "videos",
  "count",
  "objects / frame",
  "count stability",
  "speed (px/frame)",
  "CV residual, median (px)",
  "CV residual, mean (px)",
  "linked fraction",
  "turns / video",
  "turns at a wall",
  "permanence",
  "videos with a break",
];

/**
 * Writes the run's HTML report (plotly.js inlined once).
 *
 * @param path the file
 * @param report the run's data
 */
export async function writeReport(path: string, report: {
  title: string;
  subtitle: string;
  losses: LossRecord[];
  validation: { step: number; losses: Record<number, number> }[];
  samples: Samples;
  media: SampleMedia;
  motion?: MotionComparison;
  config: Record<string, unknown>;
  timings: Record<string, number | string>;
}): Promise<void> {
  const { samples, media } = report;
  const sections: ReportSection[] = [];
  const figures: PlotlyFigure[] = [];
  if (report.losses.length > 0) figures.push(lossFigure(report.losses));
  if (report.validation.length > 0) figures.push(validationFigure(report.validation));
  sections.push({ heading: "Training", figures });
  sections.push({
    heading: "Samples",
    text: [
      `${samples.count} videos drawn with the staged sampler in ${samples.ms.toFixed(0)} ms ` +
      `(${samples.trajectory.steps.length} steps). Each GIF loops; the strip shows every frame.`,
    ],
    images: [
      ...media.gifs.map((gif, i) => ({ src: dataUri(gif, "image/gif"), caption: `sample ${i}` })),
      { src: dataUri(media.strip, "image/png"), caption: "all samples, frames left to right" },
    ],
  });
  if (report.motion) {
    sections.push({
      heading: "Objects tracked",
      text: [
        "Objects are found in every frame (connected components seeded above half of full intensity and grown " +
        "through pixels above an eighth of it), linked between " +
        "frames by exact assignment, and measured along their tracks. The constant-velocity residual " +
        "|c(f+1) − 2c(f) + c(f−1)| is 0 for free flight; bounces and jumps raise it. Permanence is the " +
        "fraction of objects with a partner in the next frame and in the previous one (a merged blob " +
        "where two balls cross counts as both); a video with a break has an object that vanishes or " +
        "appears from nothing. Real videos measured " +
        "the same way show the detector's own error against the generator's exact tracks.",
      ],
      table: { columns: MOTION_COLUMNS, rows: motionRows(report.motion) },
    });
  }
  sections.push({
    heading: "Per-stage trajectory of sample 0",
    figures: [trajectoryFigure(samples.trajectory)],
    images: media.stages
      ? [{
        src: dataUri(media.stages, "image/png"),
        caption:
          "sample 0 at the end of each stage (before renoising) and at the end; frames at their " +
          "full-rate positions, grey where a stage has no frame",
      }]
      : [],
  });
  sections.push({
    heading: "Run",
    table: {
      columns: ["setting", "value"],
      rows: [
        ...Object.entries(report.config).filter(([, v]) => v !== undefined).map((
          [k, v],
        ) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
        ...Object.entries(report.timings).map(([k, v]) => [k, v]),
      ],
    },
  });
  const html = renderReport({
    title: report.title,
    subtitle: report.subtitle,
    sections,
    plotly: await loadPlotlySource(),
  });
  await writeFileAtomic(path, html);
}
