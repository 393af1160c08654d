/**
 * The training loop as a library function, in the spirit of tfjs's `model.fit` callbacks: a
 * trainer, a source of batches, callbacks for each step, each held-out evaluation and each
 * checkpoint, and an `AbortSignal` that stops the loop after the step in flight.
 *
 * ```
 * for each step until the budget, the stop condition or the signal:
 *   batch ← batches.next(); report ← trainer.trainOnBatch(batch); onStep(report)
 *   every `evaluateEvery` steps and at the last: onEvaluate(trainer.evaluate(heldOut))
 *   every `checkpointEvery` steps and at the last: onCheckpoint(step)
 *   yield to the event loop (so that a signal handler runs within one step)
 * ```
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRng } from "../video.ts";
 * import { createDenoiser, denoiserConfig } from "./denoiser.ts";
 * import { Trainer } from "./trainer.ts";
 * import { train } from "./train.ts";
 *
 * const model = createDenoiser(
 *   denoiserConfig({ architecture: "unet", height: 16, width: 16, channels: 1, widths: [8] }),
 *   createRng(1),
 * );
 * const trainer = new Trainer({
 *   mode: "pyramid", form: "flow-matching", stages: 2, frames: 4, batch: 2, steps: 3,
 *   learningRate: 1e-3, warmup: 0, clip: 1, emaDecay: 0.9, align: true,
 * }, model, createRng(2));
 * const x0 = new Float32Array(2 * 4 * 16 * 16);
 * const seen: number[] = [];
 * const result = await train(trainer, {
 *   batches: { next: () => Promise.resolve(trainer.prepare(x0)) },
 *   onStep: (report) => void seen.push(report.step),
 * });
 * assert.deepEqual(seen, [1, 2, 3]);
 * assert.equal(result.stopped, "done");
 * model.params.dispose();
 * ```
 *
 * @module
 */
import { type Dataset, datasetClasses } from "../data/generate.ts";
import { checkInteger } from "../checks.ts";
import { drawVideos, type PreparedBatch } from "./batch.ts";
import { BatchPrefetcher } from "./prefetch.ts";
import type { StepReport, Trainer } from "./trainer.ts";

/** Where a training loop's batches come from. */
export interface BatchSource {
  /** The next prepared batch (drawn with the trainer's generator, so that runs are reproducible). */
  next(): Promise<PreparedBatch>;
  /** Releases what the source holds (a worker). */
  close?(): void;
}

/**
 * train-small's batch source: videos drawn uniformly from the dataset with the trainer's generator
 * and prepared on the main thread, or one step ahead in a worker (`prefetch`, the second core). Both
 * give the same batches, bit for bit.
 *
 * @param trainer the trainer (its config, plan and generator)
 * @param dataset the training videos
 * @param options `prefetch`: prepare in a worker (default true)
 * @returns the source; close it when done
 */
export function datasetBatches(
  trainer: Trainer,
  dataset: Dataset,
  options: { prefetch?: boolean } = {},
): BatchSource {
  // A class-conditional model trains on each video's class (datasetClasses), with label dropout.
  const classes = trainer.model.config.classes > 0 ? datasetClasses(dataset).labels : undefined;
  if (options.prefetch ?? true) {
    const prefetcher = new BatchPrefetcher(trainer, dataset, classes);
    return {
      next: async () => (await prefetcher.next()).prepared,
      close: () => prefetcher.close(),
    };
  }
  return {
    next: () => {
      const { indices, x0 } = drawVideos(dataset, trainer.config.batch, trainer.rng);
      return Promise.resolve(
        trainer.prepare(x0, classes ? { labels: indices.map((i) => classes[i]) } : {}),
      );
    },
  };
}

/** What {@link train} does besides the optimiser steps. */
export interface TrainOptions {
  /** The batches. */
  batches: BatchSource;
  /**
   * Train until this step (default the config's `steps`; `Infinity`: until the stop condition or
   * the signal, with the learning rate resting at its floor past the config's `steps`).
   */
  until?: number;
  /** Stops the loop, checked before each step (a time budget, a number of evaluations). */
  stop?: () => boolean;
  /** Stops the loop after the step in flight; {@link train} returns `stopped: "aborted"`. */
  signal?: AbortSignal;
  /** Held-out videos in model space for {@link TrainOptions.onEvaluate}. */
  heldOut?: Float32Array;
  /** Steps between held-out evaluations (and at the last step); needs `heldOut`. */
  evaluateEvery?: number;
  /** Steps between checkpoints (and at the last step). */
  checkpointEvery?: number;
  /** After each step, with the step's report and its wall-clock (batch and step), ms. */
  onStep?: (report: StepReport, ms: number) => void | Promise<void>;
  /** After each held-out evaluation, with the loss per stage index k. */
  onEvaluate?: (step: number, losses: Record<number, number>) => void | Promise<void>;
  /** When a checkpoint is due (the callback writes it). */
  onCheckpoint?: (step: number) => void | Promise<void>;
}

/** How {@link train} ended. */
export interface TrainResult {
  /** `done`: the budget was reached; `stopped`: the stop condition; `aborted`: the signal. */
  stopped: "done" | "stopped" | "aborted";
  /** Steps taken by this call. */
  steps: number;
  /** Wall-clock of the steps (callbacks excluded), ms. */
  ms: number;
}

/**
 * Trains until the budget, the stop condition or the signal; see the module docs. Errors from a
 * step (a `NonFiniteError`) or a callback propagate; the batch source is left open for the caller
 * to close.
 *
 * @param trainer the trainer
 * @param options the batches, the budget, the signal and the callbacks
 * @returns how the loop ended, its steps and their wall-clock
 */
export async function train(trainer: Trainer, options: TrainOptions): Promise<TrainResult> {
  const until = options.until === Infinity
    ? Infinity
    : checkInteger("until", options.until ?? trainer.config.steps, 0);
  const every = (name: string, value: number | undefined) =>
    value === undefined ? Infinity : checkInteger(name, value, 1);
  const evaluateEvery = every("evaluateEvery", options.evaluateEvery);
  const checkpointEvery = every("checkpointEvery", options.checkpointEvery);
  if (evaluateEvery !== Infinity && options.heldOut === undefined) {
    throw new TypeError("evaluateEvery needs heldOut, the held-out videos to evaluate on");
  }
  const first = trainer.step;
  let ms = 0;
  const ended = (): TrainResult["stopped"] | undefined => {
    if (options.signal?.aborted) return "aborted";
    if (trainer.step >= until) return "done";
    return options.stop?.() ? "stopped" : undefined;
  };
  for (let end = ended();; end = ended()) {
    if (end !== undefined) return { stopped: end, steps: trainer.step - first, ms };
    const t0 = performance.now();
    const report = await trainer.trainOnBatch(await options.batches.next());
    const stepMs = performance.now() - t0;
    ms += stepMs;
    await options.onStep?.(report, stepMs);
    const last = report.step === until;
    if (report.step % evaluateEvery === 0 || (last && evaluateEvery !== Infinity)) {
      await options.onEvaluate?.(report.step, await trainer.evaluate(options.heldOut!));
    }
    if (report.step % checkpointEvery === 0 || (last && checkpointEvery !== Infinity)) {
      await options.onCheckpoint?.(report.step);
    }
    await nextTask();
  }
}

/**
 * Resolves in a new macrotask, so that signal handlers and timers queued during a step run: a
 * step's awaits resolve as microtasks on the CPU backends, which would otherwise starve them. A
 * message costs about 0.1 ms; `setTimeout(0)` is clamped to 2–4 ms once nested.
 */
function nextTask(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}
