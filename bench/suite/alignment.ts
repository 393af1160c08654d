/**
 * Alignment: the exact assignment's time per batch (`alignNoise` on whole training videos:
 * the B × B squared-L2 cost matrix and the Jonker–Volgenant solve), at several batch sizes.
 *
 * @module
 */
import { toModelSpace } from "../../lib/data/mod.ts";
import {
  alignNoise,
  createRng,
  gaussianVideo,
  linearAssignment,
  pairwiseCost,
  video,
} from "../../lib/mod.ts";
import { trainSmallData } from "../../lib/nn/mod.ts";
import { median } from "./util.ts";

/** One batch size's timings. */
export interface AlignmentRow {
  /** Batch size B. */
  batch: number;
  /** `alignNoise` in all, median ms. */
  total: number;
  /** The cost matrix alone, median ms. */
  cost: number;
  /** The assignment alone, median ms. */
  assignment: number;
  /** Relative drop of the total pairing distance (squared L2). */
  gain: number;
}

/**
 * Times alignment at each batch size.
 *
 * @param batches the batch sizes
 * @param reps repetitions per size
 * @returns one row per size
 */
export async function runAlignment(batches: number[], reps: number): Promise<AlignmentRow[]> {
  const data = await trainSmallData();
  const [, F, H, W] = data.shape;
  const rows: AlignmentRow[] = [];
  for (const B of batches) {
    const rng = createRng(`align:${B}`);
    const shape = { batch: B, frames: F, height: H, width: W, channels: 1 };
    const x = video(shape, toModelSpace(data, Array.from({ length: B }, (_, i) => i)));
    const times = { total: [] as number[], cost: [] as number[], assignment: [] as number[] };
    let gain = 0;
    for (let r = 0; r < reps + 1; r++) {
      const noise = gaussianVideo(shape, rng);
      let t0 = performance.now();
      const aligned = alignNoise(x, noise, { metric: "squared-l2" });
      const total = performance.now() - t0;
      t0 = performance.now();
      const cost = pairwiseCost(x, noise, "squared-l2");
      const costMs = performance.now() - t0;
      t0 = performance.now();
      linearAssignment(cost, B);
      const assignMs = performance.now() - t0;
      if (r === 0) continue; // warm-up
      times.total.push(total);
      times.cost.push(costMs);
      times.assignment.push(assignMs);
      gain += (1 - aligned.cost.aligned / aligned.cost.identity) / reps;
    }
    rows.push({
      batch: B,
      total: median(times.total),
      cost: median(times.cost),
      assignment: median(times.assignment),
      gain,
    });
  }
  return rows;
}
