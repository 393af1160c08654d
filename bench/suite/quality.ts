/**
 * Sample quality for the training benchmark, against real held-out videos and the generator's
 * ground truth: (a) tracking and physics (objects per frame, constant-velocity residual, turns at
 * the walls), (b) Fréchet distance and polynomial-kernel MMD on the committed encoder's features,
 * (c) frame-to-frame difference statistics.
 *
 * @module
 */
import { datasetParams, loadOrCreateDataset } from "../../lib/data/mod.ts";
import {
  datasetMotion,
  type FrameDifferenceStats,
  frameDifferenceStats,
  frechetDistance,
  type GaussianFit,
  gaussianFit,
  mmdPolynomial,
  type MotionStats,
  videoMotion,
  wasserstein1,
} from "../../lib/metrics/mod.ts";
import {
  ENCODER_FEATURES,
  encoderFromJson,
  encodeVideos,
  TRAIN_SMALL,
  TRAIN_SMALL_DATA,
  type VideoEncoder,
} from "../../lib/nn/mod.ts";
import { createRng } from "../../lib/mod.ts";

/** Where the committed encoder lives. */
export const ENCODER_PATH = new URL("../encoder/encoder.json", import.meta.url);

/** The real-data reference every sample set is compared with. */
export interface Reference {
  /** The encoder. */
  encoder: VideoEncoder;
  /** Encoder features of the real reference videos. */
  features: Float32Array;
  /** Their Gaussian fit. */
  fit: GaussianFit;
  /** Real videos, detected like samples. */
  realMotion: MotionStats;
  /** The generator's tracks for the same videos. */
  truthMotion: MotionStats;
  /** Frame differences of the real videos. */
  realDifferences: FrameDifferenceStats;
  /** The same measures for a second set of real videos of the sample-set size: the floor. */
  floor: Quality;
  /** Videos in the reference. */
  videos: number;
  /** How the encoder was made (from its file). */
  encoderTraining: Record<string, unknown>;
}

/** Quality of one set of videos. */
export interface Quality {
  /** Fréchet distance on encoder features. */
  fd: number;
  /** Unbiased MMD² (cubic polynomial kernel) on encoder features. */
  mmd: number;
  /** Tracking and physics of detected objects. */
  motion: MotionStats;
  /** Mean |Δ| between consecutive frames (0–255). */
  diffMean: number;
  /** 1-Wasserstein distance between the |Δ| histograms of samples and real videos (0–255 units). */
  diffW1: number;
}

const SHAPE = {
  frames: TRAIN_SMALL.frames,
  height: TRAIN_SMALL_DATA.size,
  width: TRAIN_SMALL_DATA.size,
};

/**
 * Loads the encoder and measures the real reference (cached datasets under data/generated/).
 *
 * @param videos real reference videos
 * @param sampleCount the sample-set size (for the real-data floor)
 * @param options `speed`: the real videos' motion speed, a multiple of the default (default 1)
 * @returns the reference
 */
export async function loadReference(
  videos: number,
  sampleCount: number,
  options: { speed?: number } = {},
): Promise<Reference> {
  let text: string;
  try {
    text = await Deno.readTextFile(ENCODER_PATH);
  } catch {
    throw new Error(
      `the benchmark encoder ${ENCODER_PATH.pathname} is missing; train it with deno task bench:encoder`,
    );
  }
  const { encoder, manifest } = encoderFromJson(text, createRng(0));
  const common = { kind: TRAIN_SMALL_DATA.kind, ...SHAPE, speed: options.speed ?? 1 };
  const { dataset: real } = await loadOrCreateDataset(
    datasetParams({ ...common, count: videos, seed: 2_000_003 }),
  );
  const { dataset: other } = await loadOrCreateDataset(
    datasetParams({ ...common, count: sampleCount, seed: 4_000_037 }),
  );
  const features = encodeVideos(encoder, real.pixels, videos);
  const motion = datasetMotion(real, videos);
  const partial: Omit<Reference, "floor"> = {
    encoder,
    features,
    fit: gaussianFit(features, ENCODER_FEATURES),
    realMotion: motion.real,
    truthMotion: motion.truth,
    realDifferences: frameDifferenceStats(real.pixels, { videos, ...SHAPE }),
    videos,
    encoderTraining: manifest.training,
  };
  return { ...partial, floor: measureQuality(other.pixels, sampleCount, partial) };
}

/**
 * Measures a set of 16×32×32 videos against the reference.
 *
 * @param pixels bytes, [videos, 16, 32, 32]
 * @param videos how many
 * @param reference the reference (the floor is not needed)
 * @returns the quality
 */
export function measureQuality(
  pixels: Uint8Array,
  videos: number,
  reference: Omit<Reference, "floor">,
): Quality {
  const features = encodeVideos(reference.encoder, pixels, videos);
  const differences = frameDifferenceStats(pixels, { videos, ...SHAPE });
  return {
    fd: frechetDistance(gaussianFit(features, ENCODER_FEATURES), reference.fit),
    mmd: mmdPolynomial(features, reference.features, ENCODER_FEATURES),
    motion: videoMotion(pixels, { videos, ...SHAPE }),
    diffMean: differences.meanAbs,
    diffW1: wasserstein1(differences.histogram, reference.realDifferences.histogram),
  };
}
