/**
 * Samples as images: a PNG strip of every video, one looping GIF per video, and the per-stage strip
 * of sample 0's trajectory (plain bytes, for files, reports and notebooks).
 *
 * @module
 */
import { toPixels } from "../data/mod.ts";
import type { Trajectory } from "../trajectory.ts";
import { encodeGif } from "./gif.ts";
import { encodePng, frameStrip, type StripOptions } from "./png.ts";

/** What {@link encodeSamples} reads: videos as bytes and sample 0's trajectory. */
export interface SampleVideos {
  /** Bytes 0–255, [count, frames, height, width]. */
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
  samples: SampleVideos,
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
