/**
 * Tracking metrics for small videos of moving objects: find the objects in every frame (connected
 * components of a thresholded frame), link them frame to frame by exact assignment, and measure how
 * physical the motion is (speed, and the constant-velocity residual |c_{f+1} − 2c_f + c_{f−1}|,
 * which is 0 for free flight and large at a bounce or a jump). The same numbers for the generator's
 * ground-truth tracks are the reference.
 *
 * @module
 */
import { linearAssignment } from "../align.ts";

/** One object found in one frame. */
export interface Blob {
  /** Centroid x in pixels (pixel j has its centre at j + 0.5). */
  x: number;
  /** Centroid y in pixels. */
  y: number;
  /** Pixels in the component. */
  area: number;
}

/** Options of {@link findObjects}. */
export interface FindOptions {
  /** Threshold on 0–255 (default 128). */
  threshold?: number;
  /** Smallest component kept, in pixels (default 4). */
  minArea?: number;
  /** Components grow through pixels at or above this (default threshold / 4), so that the
   * anti-aliased rim counts toward the centroid. */
  lowThreshold?: number;
}

/**
 * Finds the objects in one 8-bit frame: 4-connected components seeded above a threshold and grown
 * through a lower one (hysteresis), with their intensity-weighted centroids.
 *
 * @param frame bytes, height × width
 * @param size the frame's height and width
 * @param options threshold and minimum area
 * @returns the objects found
 */
export function findObjects(
  frame: Uint8Array,
  size: { height: number; width: number },
  options: FindOptions = {},
): Blob[] {
  const { height: H, width: W } = size;
  const threshold = options.threshold ?? 128, minArea = options.minArea ?? 4;
  const low = options.lowThreshold ?? threshold / 4;
  const visited = new Uint8Array(H * W);
  const blobs: Blob[] = [];
  const stack: number[] = [];
  for (let start = 0; start < H * W; start++) {
    if (frame[start] < threshold || visited[start]) continue;
    let area = 0, sx = 0, sy = 0, sw = 0;
    visited[start] = 1;
    stack.push(start);
    while (stack.length > 0) {
      const p = stack.pop()!;
      const i = Math.floor(p / W), j = p % W;
      const w = frame[p];
      area++;
      sw += w;
      sx += w * (j + 0.5);
      sy += w * (i + 0.5);
      for (
        const q of [
          i > 0 ? p - W : -1,
          i < H - 1 ? p + W : -1,
          j > 0 ? p - 1 : -1,
          j < W - 1 ? p + 1 : -1,
        ]
      ) {
        if (q >= 0 && !visited[q] && frame[q] >= low) {
          visited[q] = 1;
          stack.push(q);
        }
      }
    }
    if (area >= minArea) blobs.push({ x: sx / sw, y: sy / sw, area });
  }
  return blobs;
}

/** Motion statistics of a set of videos. */
export interface MotionStats {
  /** Videos measured. */
  videos: number;
  /** Mean objects per frame. */
  objectsPerFrame: number;
  /** Fraction of frames whose object count equals their video's most common count. */
  countStability: number;
  /** Mean speed of linked objects, pixels per frame. */
  speed: number;
  /** Median constant-velocity residual |c_{f+1} − 2c_f + c_{f−1}| over linked triples (pixels). */
  residualMedian: number;
  /** Mean of the same residual (bounces and jumps included). */
  residualMean: number;
  /** Fraction of consecutive-frame objects that linked within `maxJump`. */
  linkedFraction: number;
  /**
   * Turns per video: a velocity component reversing sign along a linked track (both speeds above
   * 0.25 px/frame). A ball turns only when it bounces off a wall.
   */
  turnsPerVideo: number;
  /**
   * Fraction of those turns whose middle position lies within `wallMargin` of a wall; NaN without
   * `size`. Not quite 1 for the generator's own tracks (0.89 on balls 32 × 32): a large ball turns
   * with its centre farther from the wall than the margin.
   */
  wallTurnFraction: number;
  /**
   * Object permanence: the fraction of objects away from the walls that have a partner within
   * `maxJump` in the next frame (looking forward) and in the previous frame (looking back); see
   * {@link permanenceBreaks}. 1 for the generator's tracks.
   */
  permanence: number;
  /** Fraction of videos with at least one permanence break (an object vanishing or appearing). */
  brokenVideos: number;
}

/** Where an object vanished (no partner in the next frame) or appeared (none in the previous). */
export interface PermanenceBreak {
  /** `"vanish"`: present in `frame`, gone in `frame + 1`; `"appear"`: absent before `frame`. */
  kind: "vanish" | "appear";
  /** The frame the object is in. */
  frame: number;
  /** Its centroid. */
  x: number;
  /** Its centroid. */
  y: number;
}

/**
 * Finds the permanence breaks of one video: an object in frame f that no object of frame f + 1
 * lies near has vanished; an object in frame f + 1 with none of frame f near it has appeared.
 * Partners are not one-to-one links: two objects that merge into one blob where they cross, or
 * split again, keep their partners. "Near" is within `maxJump`; when both have an `area` and one
 * is at least 1.5 times the other (a merge or a split), within `maxJump` plus the larger one's
 * equivalent radius √(area/π), since a merged blob's centroid lies between its parts (47 % of
 * real ball videos would break without the widening, none with it).
 * An object whose centroid lies within
 * `exitMargin` pixels of an edge may leave or enter the frame and is not counted; the default 2 px
 * never applies to the bouncing balls (a ball's centre stays at least its radius, 3 px, inside).
 *
 * @param video per frame, the objects' (x, y)
 * @param options `maxJump` (default 6 px), the frame `size` and `exitMargin` (default 2 px)
 * @returns the breaks and the number of object-frame pairs checked
 */
export function permanenceBreaks(
  video: { x: number; y: number; area?: number }[][],
  options: { maxJump?: number; size?: { width: number; height: number }; exitMargin?: number } = {},
): { breaks: PermanenceBreak[]; checked: number } {
  const maxJump = options.maxJump ?? 6, margin = options.exitMargin ?? 2, size = options.size;
  const atEdge = (o: { x: number; y: number }) =>
    size !== undefined &&
    (o.x < margin || o.y < margin || o.x > size.width - margin || o.y > size.height - margin);
  const radius = (o: { area?: number }) => Math.sqrt((o.area ?? 0) / Math.PI);
  const merge = (a: { area?: number }, b: { area?: number }) =>
    a.area !== undefined && b.area !== undefined &&
    Math.max(a.area, b.area) >= 1.5 * Math.min(a.area, b.area);
  const near = (o: { x: number; y: number; area?: number }, others: typeof o[]) =>
    others.some((p) =>
      Math.hypot(p.x - o.x, p.y - o.y) <=
        maxJump + (merge(o, p) ? Math.max(radius(o), radius(p)) : 0)
    );
  const breaks: PermanenceBreak[] = [];
  let checked = 0;
  for (let f = 0; f + 1 < video.length; f++) {
    for (
      const [kind, frame, from, to] of [
        ["vanish", f, video[f], video[f + 1]],
        ["appear", f + 1, video[f + 1], video[f]],
      ] as const
    ) {
      for (const o of from) {
        if (atEdge(o)) continue;
        checked++;
        if (!near(o, to)) breaks.push({ kind, frame, x: o.x, y: o.y });
      }
    }
  }
  return { breaks, checked };
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = values.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Motion statistics from object positions per frame: links objects between consecutive frames by
 * exact minimum-distance assignment (links longer than `maxJump` are broken), then measures speed
 * and the constant-velocity residual along linked tracks.
 *
 * Turns (a velocity component changing sign between consecutive links) are counted per video;
 * with the frame `size`, those whose middle position lies within `wallMargin` pixels of an edge
 * are wall bounces.
 *
 * Object permanence ({@link permanenceBreaks}) uses the same `maxJump` and `size`.
 *
 * @param positions per video, per frame, the objects' (x, y) (and `area`, for merges)
 * @param options `maxJump` in pixels (default 6); the frame `size` and `wallMargin` (default 6 px)
 * @returns the statistics
 */
export function motionStats(
  positions: { x: number; y: number; area?: number }[][][],
  options: { maxJump?: number; size?: { width: number; height: number }; wallMargin?: number } = {},
): MotionStats {
  const maxJump = options.maxJump ?? 6, margin = options.wallMargin ?? 6, size = options.size;
  let turns = 0, wallTurns = 0;
  const turned = (u: number, v: number) => u * v < 0 && Math.abs(u) > 0.25 && Math.abs(v) > 0.25;
  let frames = 0, objects = 0, stable = 0, links = 0, linkable = 0;
  let checked = 0, broken = 0, brokenVideos = 0;
  const speeds: number[] = [], residuals: number[] = [];
  for (const video of positions) {
    const counts = video.map((f) => f.length);
    const permanence = permanenceBreaks(video, { maxJump, size });
    checked += permanence.checked;
    broken += permanence.breaks.length;
    if (permanence.breaks.length > 0) brokenVideos++;
    const modal = mode(counts);
    stable += counts.filter((c) => c === modal).length;
    frames += video.length;
    objects += counts.reduce((a, b) => a + b, 0);
    // next[f][i]: index in frame f+1 linked to object i of frame f, or -1.
    const next = video.slice(0, -1).map((a, f) => linkFrames(a, video[f + 1], maxJump));
    next.forEach((map, f) => {
      linkable += Math.min(video[f].length, video[f + 1].length);
      map.forEach((j, i) => {
        if (j < 0) return;
        links++;
        const a = video[f][i], b = video[f + 1][j];
        speeds.push(Math.hypot(b.x - a.x, b.y - a.y));
        const k = f + 1 < next.length ? next[f + 1][j] : -1;
        if (k >= 0) {
          const c = video[f + 2][k];
          residuals.push(Math.hypot(c.x - 2 * b.x + a.x, c.y - 2 * b.y + a.y));
          const tx = turned(b.x - a.x, c.x - b.x), ty = turned(b.y - a.y, c.y - b.y);
          if (tx || ty) {
            turns++;
            if (
              size && ((tx && (b.x < margin || b.x > size.width - 1 - margin)) ||
                (ty && (b.y < margin || b.y > size.height - 1 - margin)))
            ) wallTurns++;
          }
        }
      });
    });
  }
  return {
    videos: positions.length,
    objectsPerFrame: frames ? objects / frames : NaN,
    countStability: frames ? stable / frames : NaN,
    speed: speeds.length ? speeds.reduce((a, b) => a + b, 0) / speeds.length : NaN,
    residualMedian: median(residuals),
    residualMean: residuals.length ? residuals.reduce((a, b) => a + b, 0) / residuals.length : NaN,
    linkedFraction: linkable ? links / linkable : NaN,
    turnsPerVideo: positions.length ? turns / positions.length : NaN,
    wallTurnFraction: size && turns ? wallTurns / turns : NaN,
    permanence: checked ? 1 - broken / checked : NaN,
    brokenVideos: positions.length ? brokenVideos / positions.length : NaN,
  };
}

function mode(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = values[0], n = 0;
  for (const [v, c] of counts) if (c > n || (c === n && v < best)) (best = v, n = c);
  return best;
}

function linkFrames(
  a: { x: number; y: number }[],
  b: { x: number; y: number }[],
  maxJump: number,
): number[] {
  const n = Math.max(a.length, b.length);
  if (a.length === 0 || b.length === 0) return a.map(() => -1);
  const big = 1e6;
  const cost = new Float64Array(n * n).fill(big);
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < b.length; j++) {
      cost[i * n + j] = Math.hypot(a[i].x - b[j].x, a[i].y - b[j].y);
    }
  }
  const assignment = linearAssignment(cost, n);
  return a.map((_, i) => {
    const j = assignment[i];
    return j < b.length && cost[i * n + j] <= maxJump ? j : -1;
  });
}

/**
 * Detects objects in every frame of 8-bit videos and returns their positions.
 *
 * @param pixels bytes, [videos, frames, height, width]
 * @param shape videos, frames, height, width
 * @param options detection options
 * @returns per video, per frame, the objects found
 */
export function detectVideos(
  pixels: Uint8Array,
  shape: { videos: number; frames: number; height: number; width: number },
  options: FindOptions = {},
): Blob[][][] {
  const { videos, frames, height, width } = shape;
  const size = height * width;
  return Array.from({ length: videos }, (_, v) =>
    Array.from({ length: frames }, (_, f) => {
      const at = (v * frames + f) * size;
      return findObjects(pixels.subarray(at, at + size), { height, width }, options);
    }));
}

/**
 * Ground-truth positions from a dataset's tracks ([count, maxObjects, frames, 2], NaN where
 * absent), in the same form as {@link detectVideos}.
 *
 * @param tracks the tracks
 * @param shape count, maxObjects, frames
 * @param videos how many videos to take (default all)
 * @returns per video, per frame, the objects' positions
 */
export function trackPositions(
  tracks: Float32Array,
  shape: { count: number; maxObjects: number; frames: number },
  videos = shape.count,
): { x: number; y: number }[][][] {
  const { maxObjects: M, frames: F } = shape;
  return Array.from(
    { length: Math.min(videos, shape.count) },
    (_, n) =>
      Array.from({ length: F }, (_, f) => {
        const out: { x: number; y: number }[] = [];
        for (let m = 0; m < M; m++) {
          const at = ((n * M + m) * F + f) * 2;
          if (!Number.isNaN(tracks[at])) out.push({ x: tracks[at], y: tracks[at + 1] });
        }
        return out;
      }),
  );
}

/** How far detected objects are from known positions, per frame and pooled: see {@link positionErrors}. */
export interface PositionErrors {
  /** Per frame: the mean distance (px) from each found true object to its detected partner; NaN where none was found. */
  perFrame: number[];
  /** Per frame: the fraction of true objects without a detected partner within `maxDistance`. */
  missedPerFrame: number[];
  /** The mean distance over every found object of the frames asked (px). */
  mean: number;
  /** The median of the same distances (px). */
  median: number;
  /** The fraction of true objects in those frames without a partner. */
  missed: number;
  /**
   * Per frame: the mean over every true object of its distance, a missed object counting
   * `maxDistance`; one number that neither rewards missing objects nor ignores them (px).
   */
  cappedPerFrame: number[];
  /** The same, pooled over the frames asked (px). */
  capped: number;
  /** True objects in those frames. */
  objects: number;
}

/**
 * Position error of detected objects against known positions (the true continuation of a
 * predicted video, or the true in-between frames of an interpolated one). In each frame of each
 * video the true objects are paired with the detected ones by exact assignment on distance; a pair
 * farther apart than `maxDistance` leaves the true object missed. Errors are pooled over videos.
 *
 * @param detected per video, per frame, the objects found (e.g. {@link detectVideos})
 * @param truth per video, per frame, the true positions (e.g. {@link trackPositions})
 * @param options `frames`: the frames pooled into mean, median and missed (default all);
 *   `maxDistance`: the farthest a partner may be, px (default 8)
 * @returns per-frame and pooled errors
 */
export function positionErrors(
  detected: { x: number; y: number }[][][],
  truth: { x: number; y: number }[][][],
  options: { frames?: readonly number[]; maxDistance?: number } = {},
): PositionErrors {
  if (detected.length !== truth.length) {
    throw new RangeError(
      `positionErrors: ${detected.length} detected videos against ${truth.length} true ones`,
    );
  }
  const maxDistance = options.maxDistance ?? 8;
  const F = truth[0]?.length ?? 0;
  const errors: number[][] = Array.from({ length: F }, () => []);
  const objects = new Array<number>(F).fill(0);
  truth.forEach((video, v) => {
    if (detected[v].length !== F || video.length !== F) {
      throw new RangeError(`positionErrors: video ${v} must have ${F} frames on both sides`);
    }
    video.forEach((objs, f) => {
      const found = detected[v][f];
      objects[f] += objs.length;
      linkFrames(objs, found, maxDistance).forEach((j, i) => {
        if (j >= 0) errors[f].push(Math.hypot(objs[i].x - found[j].x, objs[i].y - found[j].y));
      });
    });
  });
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const frames = options.frames ?? Array.from({ length: F }, (_, f) => f);
  const pooled = frames.flatMap((f) => errors[f]);
  const total = frames.reduce((s, f) => s + objects[f], 0);
  const cappedSum = (f: number) =>
    errors[f].reduce((a, b) => a + b, 0) + (objects[f] - errors[f].length) * maxDistance;
  return {
    perFrame: errors.map(mean),
    cappedPerFrame: errors.map((_, f) => (objects[f] ? cappedSum(f) / objects[f] : NaN)),
    capped: total ? frames.reduce((s, f) => s + cappedSum(f), 0) / total : NaN,
    missedPerFrame: errors.map((e, f) => (objects[f] ? (objects[f] - e.length) / objects[f] : NaN)),
    mean: mean(pooled),
    median: median(pooled),
    missed: total ? (total - pooled.length) / total : NaN,
    objects: total,
  };
}

/**
 * The number of objects a video shows: its most common per-frame count (ties to the smaller).
 *
 * @param video per frame, the objects found
 * @returns the modal count
 */
export function modalObjectCount(video: { length: number }[]): number {
  return mode(video.map((f) => f.length));
}
