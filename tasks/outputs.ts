/**
 * What train-small and sample write: the run folder's files (samples, trajectory, HTML report) and
 * the checks on an output folder before anything is written there.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { encodeMp4, hasFfmpeg, locateDir, writeFileAtomic } from "../lib/data/mod.ts";
import { UsageError } from "../lib/cli.ts";
import { MOTION_COLUMNS, type MotionComparison, motionRows } from "../lib/metrics/mod.ts";
import type { DenoiserConfig, Samples } from "../lib/nn/mod.ts";
import {
  dataUri,
  labelledStrip,
  loadPlotlySource,
  lossFigure,
  type LossRecord,
  type PlotlyFigure,
  renderReport,
  type ReportSection,
  type SampleMedia,
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
  for (const [i, mp4] of (media.mp4s ?? []).entries()) {
    await writeFileAtomic(`${dir}/sample-${i}.mp4`, mp4);
    files.push(`sample-${i}.mp4`);
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

/**
 * The samples' MP4s (H.264, playable in a browser) added to their media where `ffmpeg` is on the
 * PATH; the media unchanged where it is not.
 *
 * @param media the encoded samples
 * @param samples the samples
 * @param shape frames, height, width and channels
 * @returns the media, with `mp4s` when they could be made
 */
export async function withMp4s(
  media: SampleMedia,
  samples: Samples,
  shape: { frames: number; height: number; width: number; channels: number },
): Promise<SampleMedia> {
  if (!(await hasFfmpeg())) return media;
  const size = shape.frames * shape.height * shape.width * shape.channels;
  const mp4s: Uint8Array[] = [];
  for (let i = 0; i < samples.count; i++) {
    mp4s.push(await encodeMp4(samples.pixels.subarray(i * size, (i + 1) * size), shape));
  }
  return { ...media, mp4s };
}

/** What a run's HTML report shows. */
export interface RunReport {
  /** The page title. */
  title: string;
  /** The line under it. */
  subtitle: string;
  /** Training losses by step. */
  losses: LossRecord[];
  /** Held-out losses per stage at each evaluation. */
  validation: { step: number; losses: Record<number, number> }[];
  /** The samples drawn at the end. */
  samples: Samples;
  /** The same samples, encoded. */
  media: SampleMedia;
  /** Real held-out videos, encoded the same way, shown beside the samples. */
  real?: { count: number; strip: Uint8Array; gifs: Uint8Array[] };
  /** Frames per video and the frame size. */
  shape: { frames: number; height: number; width: number; channels?: number };
  /** Motion in the samples against real videos (absent for glyphs). */
  motion?: MotionComparison;
  /** The run's settings. */
  config: Record<string, unknown>;
  /** Its timings and size. */
  timings: Record<string, number | string>;
}

/**
 * Writes the run's HTML report (plotly.js inlined once).
 *
 * @param path the file
 * @param report the run's data
 */
export async function writeReport(path: string, report: RunReport): Promise<void> {
  const figures: PlotlyFigure[] = [];
  if (report.losses.length > 0) figures.push(lossFigure(report.losses));
  if (report.validation.length > 0) figures.push(validationFigure(report.validation));
  const sections: ReportSection[] = [
    { heading: "Training", figures },
    samplesSection(report),
    ...(report.motion ? [motionSection(report.motion)] : []),
    trajectorySection(report),
    { heading: "Run", table: { columns: ["setting", "value"], rows: runRows(report) } },
  ];
  const html = renderReport({
    title: report.title,
    subtitle: report.subtitle,
    sections,
    plotly: await loadPlotlySource(),
  });
  await writeFileAtomic(path, html);
}

function samplesSection({ samples, media, real, shape }: RunReport): ReportSection {
  const strip = (png: Uint8Array, rows: string[]) =>
    svgUri(labelledStrip(png, { rows, columns: frameLabels(shape.frames), frame: shape }));
  const named = (n: number, name: string) => Array.from({ length: n }, (_, i) => `${name} ${i}`);
  // In colour a GIF's 252-colour palette bands the samples, so the MP4 (when ffmpeg made one) shows
  // them instead; in grayscale the GIF is exact and stays.
  const videos: { src: string; caption: string; video?: boolean }[] =
    (shape.channels ?? 1) === 3 && media.mp4s
      ? media.mp4s.map((mp4, i) => ({
        src: dataUri(mp4, "video/mp4"),
        caption: `sample ${i}`,
        video: true,
      }))
      : media.gifs.map((gif, i) => ({ src: dataUri(gif, "image/gif"), caption: `sample ${i}` }));
  return {
    heading: "Samples beside real videos",
    text: [
      `${samples.count} videos drawn with the staged sampler in ${samples.ms.toFixed(0)} ms ` +
      `(${samples.trajectory.steps.length} steps)` +
      (real ? `, then ${real.count} real held-out videos for comparison` : "") +
      `. Each ${
        videos[0]?.video ? "video" : "GIF"
      } loops; the strips show every frame, numbered from 0.`,
    ],
    images: [
      ...videos,
      ...(real?.gifs ?? []).map((gif, i) => ({
        src: dataUri(gif, "image/gif"),
        caption: `real ${i}`,
      })),
      { src: strip(media.strip, named(samples.count, "sample")), caption: "samples, by frame" },
      ...(real
        ? [{ src: strip(real.strip, named(real.count, "real")), caption: "real videos, by frame" }]
        : []),
    ],
  };
}

/** Column labels of a strip: the frame numbers. */
const frameLabels = (frames: number) => Array.from({ length: frames }, (_, f) => String(f));

/** An SVG document as a data URI, for an image in the report. */
const svgUri = (svg: string) => dataUri(new TextEncoder().encode(svg), "image/svg+xml");

function motionSection(motion: MotionComparison): ReportSection {
  return {
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
    table: { columns: MOTION_COLUMNS, rows: motionRows(motion) },
  };
}

function trajectorySection({ samples, media, shape }: RunReport): ReportSection {
  const rows = samples.trajectory.snapshots.map((s) =>
    s.kind === "final" ? "final" : `k = ${s.k}, t = ${s.t.toFixed(2)}`
  );
  return {
    heading: "Per-stage trajectory of sample 0",
    figures: [trajectoryFigure(samples.trajectory)],
    images: media.stages
      ? [{
        src: svgUri(
          labelledStrip(media.stages, { rows, columns: frameLabels(shape.frames), frame: shape }),
        ),
        caption:
          "sample 0 at the end of each stage k (before renoising) and at the end; frames at their " +
          "full-rate positions, grey where a stage has no frame",
      }]
      : [],
  };
}

/** The run's settings that apply to it (the model's by architecture), then its timings. */
function runRows(report: RunReport): (string | number)[][] {
  const text = (v: unknown) =>
    Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : String(v);
  const rows: (string | number)[][] = [];
  for (const [key, value] of Object.entries(report.config)) {
    if (value === undefined) continue;
    if (key !== "model") {
      rows.push([key, text(value)]);
      continue;
    }
    const model = value as DenoiserConfig;
    // Each architecture reads only some of the config's fields.
    const unused = model.architecture === "unet"
      ? ["depth", "heads"]
      : ["temporalKernel", "temporalAttention"];
    for (const [k, v] of Object.entries(model)) {
      if (!unused.includes(k)) rows.push([`model.${k}`, text(v)]);
    }
  }
  return [...rows, ...Object.entries(report.timings)];
}
