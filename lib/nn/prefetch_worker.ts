/**
 * The worker behind `BatchPrefetcher`: holds the training videos and a copy of the trainer's
 * generator, and prepares batch k + 1 (data order, noise, alignment, stage, times, x_t, targets)
 * while the main thread trains on batch k. It draws from the generator in exactly the order the
 * sequential loop does, so a run with it equals a run without it bit for bit.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { Dataset } from "../data/generate.ts";
import { Rng, type RngState } from "../video.ts";
import {
  type BatchSpec,
  drawVideos,
  planForTraining,
  predictionFor,
  prepareBatch,
} from "./batch.ts";
import type { TrainConfig } from "./trainer.ts";

/** The first message: everything the worker needs, once. */
export interface PrefetchInit {
  /** Always `"init"`. */
  type: "init";
  /** The training config. */
  config: TrainConfig;
  /** Frame height, width and channels. */
  size: BatchSpec["size"];
  /** The model's classes (0: unconditional). */
  classes: number;
  /** Whether the model reads given frames. */
  frameCondition: boolean;
  /** Its slots per stage frame. */
  givenSlots: number;
  /** Each video's class, for a class-conditional model. */
  labels?: Uint8Array;
  /** The videos' pixels, bytes in `shape`. */
  pixels: Uint8Array;
  /** The videos' shape, [count, F, H, W, C]. */
  shape: Dataset["shape"];
  /** Videos per batch. */
  batch: number;
  /** The trainer's generator state to continue from. */
  rng: RngState;
}

/** One prepared batch, as sent back (the stage by its index k). */
export interface PrefetchedBatch {
  /** Always `"batch"`. */
  type: "batch";
  /** The videos drawn. */
  indices: number[];
  /** The stage's k. */
  k: number;
  /** t per video. */
  t: number[];
  /** x_t at the stage's frame rate. */
  xt: Float32Array;
  /** The targets. */
  target: Float32Array;
  /** Alignment totals, when aligned. */
  alignment?: { identity: number; aligned: number };
  /** Labels after dropout, for a class-conditional model. */
  labels?: number[];
  /** Given frames and mask, for a frame-conditioned model. */
  given?: { frames: Float32Array; mask: Float32Array };
  /** The generator's state after this batch: the trainer's state once it is consumed. */
  rng: RngState;
}

let prepare: (() => PrefetchedBatch) | undefined;

function setup(init: PrefetchInit): () => PrefetchedBatch {
  const rng = new Rng(init.rng);
  const plan = planForTraining(init.config);
  const spec: BatchSpec = {
    config: init.config,
    plan,
    prediction: predictionFor(init.config.form),
    size: init.size,
    classes: init.classes,
    frameCondition: init.frameCondition,
    givenSlots: init.givenSlots,
  };
  const dataset = { shape: init.shape, pixels: init.pixels };
  return () => {
    const { indices, x0 } = drawVideos(dataset, init.batch, rng);
    const labels = init.labels ? indices.map((i) => init.labels![i]) : undefined;
    const p = prepareBatch(x0, spec, { rng, ...(labels ? { labels } : {}) });
    return {
      type: "batch",
      indices,
      k: p.stage.k,
      t: p.t,
      xt: p.xt,
      target: p.target,
      alignment: p.alignment,
      ...(p.labels ? { labels: p.labels } : {}),
      ...(p.given ? { given: p.given } : {}),
      rng: rng.state(),
    };
  };
}

function send(): void {
  try {
    const batch = prepare!();
    self.postMessage(batch, [batch.xt.buffer as ArrayBuffer, batch.target.buffer as ArrayBuffer]);
  } catch (error) {
    self.postMessage({ type: "error", message: (error as Error).message });
  }
}

self.onmessage = (event: MessageEvent<PrefetchInit | { type: "next" }>) => {
  if (event.data.type === "init") prepare = setup(event.data);
  send();
};
