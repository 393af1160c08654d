/**
 * Uses the second core for batch preparation: a worker draws the data order, noise, alignment,
 * stage, times, x_t and targets of batch k + 1 while the main thread trains on batch k. The
 * trainer's generator is handed to the worker and set back to the worker's state as each batch is
 * consumed, so checkpoints, resumes and results are exactly those of the sequential loop.
 *
 * @module
 */
import type { Dataset } from "../data/generate.ts";
import { Rng } from "../video.ts";
import type { PreparedBatch } from "./batch.ts";
import type { PrefetchedBatch, PrefetchInit } from "./prefetch_worker.ts";
import type { Trainer } from "./trainer.ts";

/** Prepares batches one step ahead in a worker; see the module docs. */
export class BatchPrefetcher {
  readonly #trainer: Trainer;
  readonly #worker: Worker;
  #pending: Promise<PrefetchedBatch>;
  #resolve?: (batch: PrefetchedBatch) => void;
  #reject?: (error: Error) => void;

  /**
   * Starts the worker and the first batch, from the trainer's generator as it is now.
   *
   * @param trainer the trainer (its config, plan and generator)
   * @param dataset the training videos
   * @param labels each video's class, for a class-conditional model
   */
  constructor(trainer: Trainer, dataset: Dataset, labels?: Uint8Array) {
    this.#trainer = trainer;
    this.#worker = new Worker(new URL("./prefetch_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.#worker.onmessage = (event: MessageEvent) => {
      const data = event.data as PrefetchedBatch | { type: "error"; message: string };
      if (data.type === "error") this.#reject?.(new Error(`batch worker: ${data.message}`));
      else this.#resolve?.(data);
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#reject?.(new Error(`batch worker: ${event.message}`));
    };
    const { height, width, channels, classes, frameCondition, givenSlots } = trainer.model.config;
    const init: PrefetchInit = {
      type: "init",
      config: trainer.config,
      size: { height, width, channels },
      classes,
      frameCondition,
      givenSlots,
      ...(labels ? { labels } : {}),
      pixels: dataset.pixels,
      shape: dataset.shape,
      batch: trainer.config.batch,
      rng: trainer.rng.state(),
    };
    this.#pending = this.#expect();
    this.#worker.postMessage(init);
  }

  #expect(): Promise<PrefetchedBatch> {
    return new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /**
   * The next batch (waiting for the worker if it is not ready), with the videos it drew; the
   * worker starts on the one after at once, and the trainer's generator moves past this batch.
   *
   * @returns the prepared batch and its video indices
   */
  async next(): Promise<{ prepared: PreparedBatch; indices: number[] }> {
    const batch = await this.#pending;
    this.#pending = this.#expect();
    this.#worker.postMessage({ type: "next" });
    const stage = this.#trainer.plan.stages.find((s) => s.k === batch.k)!;
    this.#trainer.rng = new Rng(batch.rng);
    return {
      prepared: {
        stage,
        t: batch.t,
        xt: batch.xt,
        target: batch.target,
        ...(batch.alignment ? { alignment: batch.alignment } : {}),
        ...(batch.labels ? { labels: batch.labels } : {}),
        ...(batch.given ? { given: batch.given } : {}),
      },
      indices: batch.indices,
    };
  }

  /** Stops the worker (a batch in flight is dropped; the trainer's generator is not moved). */
  close(): void {
    this.#worker.terminate();
    this.#reject = undefined;
    this.#resolve = undefined;
  }
}
