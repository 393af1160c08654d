/**
 * Motion in generated videos against real ones: objects detected the same way in samples and real
 * videos, and the generator's exact tracks as the floor of the detector's own error.
 *
 * @module
 */
import type { Dataset } from "../data/mod.ts";
import { detectVideos, type MotionStats, motionStats, trackPositions } from "./tracking.ts";

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
 * @param samples the samples: bytes [count, frames, height, width] and their count
 * @param dataset the dataset (real videos and tracks)
 * @param videos how many real videos to measure (default 64)
 * @returns the three sets of statistics
 */
export function compareMotion(
  samples: { pixels: Uint8Array; count: number },
  dataset: Dataset,
  videos = 64,
): MotionComparison {
  const [, F, H, W] = dataset.shape;
  return {
    samples: videoMotion(samples.pixels, { videos: samples.count, frames: F, height: H, width: W }),
    ...datasetMotion(dataset, videos),
  };
}

/**
 * The rows of a motion table (samples, real videos, ground truth), in the order of
 * {@link MOTION_COLUMNS}.
 *
 * @param motion the three sets of statistics
 * @returns one row per set, its name first
 */
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
