/**
 * Temporal Down / Up operators and frame layouts (tpdiff-math.md §1.3).
 *
 * - `Down₂` by stride keeps every other frame, `x[2i]` (noise stays N(0, I) exactly); by pair
 *   average it takes `½(x[2i] + x[2i+1])`, times √2 for noise so that it stays unit-variance.
 * - `Up₂` nearest duplicates each frame (required for the exact renoising of §1.9); linear
 *   interpolates between the kept frames.
 * - `D_k = Down₂^{k−1}` (stage-k frame rate), `U_k = Up₂ ∘ D_{k+1}` and `Δ_k = D_k − U_k`.
 *
 * Two frame layouts: `"plain"` (F = n·2^{K−1}) and `"keep-first"` (F = 1 + n·2^{K−1}, the causal-VAE
 * layout where frame 0 is always kept and upsamples to a singleton). In both, frame j of stage k sits
 * at position j·2^{k−1} on the full-rate frame grid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { temporalDown, temporalUp } from "./temporal.ts";
 * import { video } from "./video.ts";
 * const x = video({ frames: 4 }, new Float64Array([0, 1, 2, 3]));
 * assert.deepEqual([...temporalUp(temporalDown(x)).data], [0, 0, 2, 2]);
 * ```
 *
 * @module
 */

import { checkInteger, checkOneOf, show } from "./checks.ts";
import { checkVideo, frameSize, newData, type Video, type VideoData } from "./video.ts";

/** `"plain"`: F = n·2^{K−1}; `"keep-first"`: F = 1 + n·2^{K−1} with frame 0 always kept. */
export type FrameLayout = "plain" | "keep-first";
/** How `Down₂` reduces a pair of frames. */
export type DownMethod = "stride" | "average";
/** How `Up₂` fills the new frames. */
export type UpMethod = "nearest" | "linear";

/** The layout and Down method shared by every operator of one pyramid. */
export interface TemporalOptions {
  /** Frame layout (default `"plain"`). */
  layout?: FrameLayout;
  /** Down method (default `"stride"`). */
  down?: DownMethod;
}

/** The Down methods, for checks and flags. */
export const DOWN_METHODS: readonly DownMethod[] = ["stride", "average"];

/**
 * Number of frames after `levels` halvings: F/2^levels (plain) or 1 + (F − 1)/2^levels
 * (keep-first). Throws when F does not divide, naming F and the rule.
 */
export function framesAtLevel(
  frames: number,
  levels: number,
  options: { layout?: FrameLayout } = {},
): number {
  const layout = checkLayout(options.layout);
  checkInteger("levels", levels, 0, 30);
  const stride = 2 ** levels;
  if (layout === "plain") {
    checkInteger("frames", frames, 1);
    if (frames % stride !== 0) {
      throw new RangeError(
        `frames must be divisible by 2^${levels} = ${stride} for ${
          levels + 1
        } stages; got ${frames}`,
      );
    }
    return frames / stride;
  }
  checkInteger("frames", frames, 1);
  if ((frames - 1) % stride !== 0 || (levels > 0 && frames < 1 + stride)) {
    throw new RangeError(
      `with the keep-first layout, frames must be 1 + n·2^${levels} = 1 + n·${stride} (n ≥ 1) for ${
        levels + 1
      } stages; got ${frames}`,
    );
  }
  return 1 + (frames - 1) / stride;
}

/**
 * The fine frames that each coarse frame duplicates into under nearest `Up₂`: plain
 * `{2j, 2j+1} ← j`; keep-first `{0} ← 0` and `{2j − 1, 2j} ← j`. These are the renoising groups.
 *
 * @param coarseFrames frames before upsampling
 * @param layout the frame layout
 * @returns for each coarse frame, the list of fine frame indices
 */
export function upGroups(coarseFrames: number, layout: FrameLayout = "plain"): number[][] {
  checkInteger("coarse frames", coarseFrames, 1);
  checkLayout(layout);
  if (layout === "plain") return Array.from({ length: coarseFrames }, (_, j) => [2 * j, 2 * j + 1]);
  return Array.from({ length: coarseFrames }, (_, j) => j === 0 ? [0] : [2 * j - 1, 2 * j]);
}

/** Number of fine frames after `Up₂` of `coarseFrames`: 2F (plain) or 2F − 1 (keep-first). */
export function upFrames(coarseFrames: number, layout: FrameLayout = "plain"): number {
  checkInteger("coarse frames", coarseFrames, 1);
  checkLayout(layout);
  return layout === "plain" ? 2 * coarseFrames : 2 * coarseFrames - 1;
}

function gatherFrames<D extends VideoData>(
  x: Video<D>,
  outFrames: number,
  fill: (source: (frame: number) => D, target: D) => void,
): Video<D> {
  const n = frameSize(x);
  const out = newData(x.data, x.batch * outFrames * n);
  for (let b = 0; b < x.batch; b++) {
    const base = b * x.frames * n;
    const source = (f: number) => x.data.subarray(base + f * n, base + (f + 1) * n) as D;
    fill(source, out.subarray(b * outFrames * n, (b + 1) * outFrames * n) as D);
  }
  return { ...x, frames: outFrames, data: out };
}

/**
 * `Down₂`: halves the frame rate once (tpdiff-math.md §1.3).
 *
 * @param x the video (frames must be even for plain, odd and ≥ 3 for keep-first)
 * @param options layout, method, and `noise: true` to scale an average by √2 so that i.i.d.
 *   N(0, 1) noise stays unit-variance (§4.16)
 * @returns the video at half the frame rate
 */
export function temporalDown<D extends VideoData>(
  x: Video<D>,
  options: TemporalOptions & { noise?: boolean } = {},
): Video<D> {
  checkVideo("x", x);
  const layout = checkLayout(options.layout);
  const method = checkOneOf("down", options.down ?? "stride", DOWN_METHODS);
  framesAtLevel(x.frames, 1, { layout });
  return downOnce(x, layout, method, options.noise ?? false);
}

/** `Down₂` on a validated video (callers check shape, finiteness and options once). */
function downOnce<D extends VideoData>(
  x: Video<D>,
  layout: FrameLayout,
  method: DownMethod,
  noise: boolean,
): Video<D> {
  const coarse = layout === "plain" ? x.frames / 2 : (x.frames + 1) / 2;
  const groups = upGroups(coarse, layout);
  const n = frameSize(x);
  return gatherFrames(x, coarse, (source, target) => {
    for (let j = 0; j < coarse; j++) {
      const group = groups[j];
      const out = target.subarray(j * n, (j + 1) * n);
      if (method === "stride" || group.length === 1) {
        // The kept frame of a pair sits at grid position 2j: the first of a plain pair, the last
        // of a keep-first pair.
        out.set(source(layout === "plain" ? group[0] : group[group.length - 1]));
      } else {
        const a = source(group[0]), b = source(group[1]);
        const k = noise ? Math.SQRT1_2 : 0.5;
        for (let i = 0; i < n; i++) out[i] = k * (a[i] + b[i]);
      }
    }
  });
}

/**
 * `Up₂`: doubles the frame rate once. Nearest duplicates each frame into its group
 * ({@link upGroups}); linear interpolates at grid positions between kept frames and clamps at
 * the end.
 *
 * @param x the coarse video
 * @param options layout and method
 * @returns the video at twice the frame rate
 */
export function temporalUp<D extends VideoData>(
  x: Video<D>,
  options: { layout?: FrameLayout; method?: UpMethod } = {},
): Video<D> {
  checkVideo("x", x);
  const layout = checkLayout(options.layout);
  const method = checkOneOf("up", options.method ?? "nearest", ["nearest", "linear"] as const);
  return upOnce(x, layout, method);
}

/** `Up₂` on a validated video. */
function upOnce<D extends VideoData>(x: Video<D>, layout: FrameLayout, method: UpMethod): Video<D> {
  const fine = upFrames(x.frames, layout);
  const groups = upGroups(x.frames, layout);
  const n = frameSize(x);
  return gatherFrames(x, fine, (source, target) => {
    if (method === "nearest") {
      groups.forEach((group, j) => {
        for (const f of group) target.set(source(j), f * n);
      });
      return;
    }
    // Coarse frame j sits at fine position 2j in both layouts.
    for (let f = 0; f < fine; f++) {
      const lo = Math.min(Math.floor(f / 2), x.frames - 1);
      const hi = Math.min(lo + 1, x.frames - 1);
      const u = f % 2 === 1 && hi !== lo ? 0.5 : 0;
      const a = source(lo), b = source(hi), out = target.subarray(f * n, (f + 1) * n);
      for (let i = 0; i < n; i++) out[i] = (1 - u) * a[i] + u * b[i];
    }
  });
}

/**
 * `D_k`: the video at stage-k frame rate, `Down₂` applied k − 1 times (D₁ = id).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { downToStage } from "./temporal.ts";
 * import { video } from "./video.ts";
 * const x = video({ frames: 8 }, new Float64Array([0, 1, 2, 3, 4, 5, 6, 7]));
 * assert.deepEqual([...downToStage(x, 3).data], [0, 4]); // D₃ keeps every 4th frame
 * ```
 *
 * @param x the full-rate video
 * @param k the stage, 1 = full rate
 * @param options layout, Down method, and `noise` (see {@link temporalDown})
 */
export function downToStage<D extends VideoData>(
  x: Video<D>,
  k: number,
  options: TemporalOptions & { noise?: boolean } = {},
): Video<D> {
  checkVideo("x", x);
  checkInteger("stage k", k, 1, 30);
  const layout = checkLayout(options.layout);
  const method = checkOneOf("down", options.down ?? "stride", DOWN_METHODS);
  framesAtLevel(x.frames, k - 1, { layout });
  let y = k === 1 ? { ...x, data: x.data.slice() as D } : x;
  for (let i = 1; i < k; i++) y = downOnce(y, layout, method, options.noise ?? false);
  return y;
}

/**
 * `U_k = Up₂(D_{k+1}(x))`: the coarser stage's content at stage-k frame count. For the coarsest
 * stage (`k = stages`) there is no level K + 1 and `U_K := D_K` (tpdiff-math.md §1.4, §5.3), which
 * makes K = 1 exactly vanilla diffusion.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { upFromCoarser } from "./temporal.ts";
 * import { video } from "./video.ts";
 * const x = video({ frames: 4 }, new Float64Array([0, 1, 2, 3]));
 * assert.deepEqual([...upFromCoarser(x, 1, { stages: 2 }).data], [0, 0, 2, 2]); // U₁ = Up(D₂ x)
 * ```
 *
 * @param x the full-rate video
 * @param k the stage
 * @param options the number of stages K, the layout and the Down method
 */
export function upFromCoarser<D extends VideoData>(
  x: Video<D>,
  k: number,
  options: TemporalOptions & { stages: number },
): Video<D> {
  const stages = checkInteger("stages K", options?.stages, 1, 30);
  checkInteger("stage k", k, 1, stages);
  if (k === stages) return downToStage(x, k, options);
  return upOnce(downToStage(x, k + 1, options), checkLayout(options.layout), "nearest");
}

/**
 * `Δ_k = D_k(x) − U_k(x)`: the temporal detail that stage k adds (zero for a static video).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stageDetail } from "./temporal.ts";
 * import { video } from "./video.ts";
 * const x = video({ frames: 4 }, new Float64Array([0, 1, 2, 3]));
 * assert.deepEqual([...stageDetail(x, 1, { stages: 2 }).data], [0, 1, 0, 1]); // D₁x − U₁x
 * ```
 *
 * @param x the full-rate video
 * @param k the stage
 * @param options the number of stages K, the layout and the Down method
 */
export function stageDetail<D extends VideoData>(
  x: Video<D>,
  k: number,
  options: TemporalOptions & { stages: number },
): Video<D> {
  const d = downToStage(x, k, options), u = upFromCoarser(x, k, options);
  for (let i = 0; i < d.data.length; i++) d.data[i] -= u.data[i];
  return d;
}

/**
 * Positions of stage-k frames on the full-rate frame grid: j·2^{k−1} (both layouts). A network
 * that embeds these keeps each physical frame at the same temporal position in every stage.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { framePositions } from "./temporal.ts";
 * assert.deepEqual(framePositions(16, 3), [0, 4, 8, 12]);
 * ```
 */
export function framePositions(
  frames: number,
  k: number,
  options: { layout?: FrameLayout } = {},
): number[] {
  checkInteger("stage k", k, 1, 30);
  const count = framesAtLevel(frames, k - 1, options);
  const stride = 2 ** (k - 1);
  return Array.from({ length: count }, (_, j) => j * stride);
}

/** Throws unless `layout` is a known frame layout. */
export function checkLayout(layout: unknown): FrameLayout {
  if (layout === undefined) return "plain";
  if (layout === "plain" || layout === "keep-first") return layout;
  throw new TypeError(`layout must be "plain" or "keep-first"; got ${show(layout)}`);
}
