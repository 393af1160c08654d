/**
 * Samples as images: a PNG strip of every video, one looping GIF per video, and the per-stage strip
 * of sample 0's trajectory (plain bytes, for files, reports and notebooks).
 *
 * @module
 */
import { toPixels } from "../data/mod.ts";
import type { Trajectory } from "../trajectory.ts";
import { encodeGif } from "./gif.ts";
import { dataUri, escapeHtml } from "./report.ts";
import { encodePng, frameStrip, STRIP_DEFAULTS, type StripOptions } from "./png.ts";

/** What {@link encodeSamples} reads: videos as bytes and sample 0's trajectory. */
export interface SampleVideos {
  /** Bytes 0–255, [count, frames, height, width, channels]. */
  pixels: Uint8Array;
  /** Videos. */
  count: number;
  /** The recorded trajectory of sample 0. */
  trajectory: Trajectory;
}

/**
 * One image of every snapshot of the trajectory's sample: one row per snapshot, each frame placed
 * at its position on the full-rate grid (blank where a stage has no frame).
 *
 * @param trajectory the trajectory
 * @param size frame height, width and channels (1, the default, or 3)
 * @param options the strip's zoom and gaps (see `frameStrip`)
 * @returns PNG bytes
 */
export function snapshotStrip(
  trajectory: Trajectory,
  size: { height: number; width: number; channels?: number },
  options: StripOptions = {},
): Uint8Array {
  const { height, width } = size, channels = size.channels ?? 1;
  const F = trajectory.frames, frame = height * width * channels;
  const rows = trajectory.snapshots;
  const pixels = new Uint8Array(rows.length * F * frame).fill(40);
  rows.forEach((snap, r) => {
    const bytes = toPixels(snap.data);
    snap.positions.forEach((p, j) => {
      pixels.set(bytes.subarray(j * frame, (j + 1) * frame), (r * F + p) * frame);
    });
  });
  const strip = frameStrip(
    pixels,
    { videos: rows.length, frames: F, height, width, channels },
    options,
  );
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
  /** One H.264 MP4 per video, where `ffmpeg` made them (the tasks add these). */
  mp4s?: Uint8Array[];
}

/**
 * Encodes samples as a PNG strip, one GIF per video, and the snapshot strip of sample 0.
 *
 * @param samples the samples
 * @param shape frames, height, width and channels (1, the default, or 3)
 * @returns the encoded media
 */
export function encodeSamples(
  samples: SampleVideos,
  shape: { frames: number; height: number; width: number; channels?: number },
): SampleMedia {
  const { height, width, channels } = shape;
  return {
    ...encodeVideos(samples.pixels, { count: samples.count, ...shape }),
    stages: samples.trajectory.snapshots.length > 0
      ? snapshotStrip(samples.trajectory, { height, width, channels })
      : undefined,
  };
}

/**
 * Videos encoded for a report: a PNG strip (one row per video) and one looping GIF per video.
 *
 * @param pixels bytes 0–255, [count, frames, height, width, channels]
 * @param shape count, frames, height, width and channels (1, the default, or 3)
 * @returns the strip and the GIFs
 */
export function encodeVideos(
  pixels: Uint8Array,
  shape: { count: number; frames: number; height: number; width: number; channels?: number },
): { strip: Uint8Array; gifs: Uint8Array[] } {
  const { count, frames, height, width } = shape, channels = shape.channels ?? 1;
  const size = frames * height * width * channels;
  const strip = frameStrip(pixels.subarray(0, count * size), {
    videos: count,
    frames,
    height,
    width,
    channels,
  });
  return {
    strip: encodePng(strip.pixels, strip),
    gifs: Array.from(
      { length: count },
      (_, i) =>
        encodeGif(pixels.subarray(i * size, (i + 1) * size), { frames, height, width, channels }, {
          zoom: 3,
        }),
    ),
  };
}

/**
 * A strip made by `frameStrip` with its rows and columns labelled: an SVG that shows the PNG and
 * writes the labels as text beside it (a row label to the left of each row, a column label above
 * each frame), for reports and notebooks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { labelledStrip } from "./samples.ts";
 * const svg = labelledStrip(new Uint8Array(8), {
 *   rows: ["sample 0", "sample 1"],
 *   columns: ["0", "1", "2"],
 *   frame: { height: 4, width: 4 },
 * });
 * assert.match(svg, /<text[^>]*>sample 1<\/text>/);
 * ```
 *
 * @param png the strip's PNG bytes
 * @param layout row and column labels, the frame size, and the strip's zoom and gap (`frameStrip`'s
 *   defaults)
 * @returns the SVG document
 */
export function labelledStrip(
  png: Uint8Array,
  layout: {
    rows: string[];
    columns: string[];
    frame: { height: number; width: number };
    zoom?: number;
    gap?: number;
  },
): string {
  const zoom = layout.zoom ?? STRIP_DEFAULTS.zoom, gap = layout.gap ?? STRIP_DEFAULTS.gap;
  const cw = layout.frame.width * zoom, ch = layout.frame.height * zoom;
  const left = 8 + 7 * Math.max(0, ...layout.rows.map((r) => r.length)), top = 16;
  const width = left + layout.columns.length * (cw + gap) - gap;
  const height = top + layout.rows.length * (ch + gap) - gap;
  const text = (x: number, y: number, anchor: string, label: string) =>
    `<text x="${x}" y="${y}" text-anchor="${anchor}">${escapeHtml(label)}</text>`;
  const columns = layout.columns.map((c, i) =>
    text(left + i * (cw + gap) + cw / 2, top - 4, "middle", c)
  );
  const rows = layout.rows.map((r, i) =>
    text(left - 6, top + i * (ch + gap) + ch / 2 + 4, "end", r)
  );
  const href = dataUri(png, "image/png");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="sans-serif" font-size="11" fill="#333">` +
    `<image x="${left}" y="${top}" width="${width - left}" height="${height - top}" ` +
    `href="${href}" style="image-rendering: pixelated"/>${columns.join("")}${rows.join("")}</svg>`;
}
