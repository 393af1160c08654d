/**
 * Checkpoints: one directory with `checkpoint.json` (format, version, configs, step, RNG state and
 * a tensor index) and `tensors.bin` (float32 weights, EMA weights and Adam moments), written
 * atomically (temporary directory, then rename), validated on load.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { writeDirAtomic } from "../data/atomic.ts";
import { Rng, type RngState } from "../video.ts";
import type { Denoiser, DenoiserConfig } from "./denoiser.ts";
import { valuesInOrder } from "./params.ts";
import type { OptimizerState, TrainConfig, Trainer } from "./trainer.ts";

/** The checkpoint format version this build writes and reads. */
export const CHECKPOINT_VERSION = 1;

/** A checkpoint that cannot be loaded, with the reason. */
export class CheckpointError extends Error {
  /**
   * Creates the error.
   *
   * @param message what is wrong, naming the directory
   */
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/** The tensor groups of a checkpoint. */
export type Group = "weights" | "ema" | "adam.m" | "adam.v";

/** Every group, in file order. */
export const GROUPS: readonly Group[] = ["weights", "ema", "adam.m", "adam.v"];

/** One tensor's place in `tensors.bin`. */
export interface TensorEntry {
  /** weights, ema, adam.m or adam.v. */
  group: Group;
  /** The parameter's name. */
  name: string;
  /** Its shape. */
  shape: number[];
  /** Its first float in `tensors.bin`. */
  offset: number;
}

/** The JSON part of a checkpoint. */
export interface CheckpointManifest {
  /** Always `"tpdiff-checkpoint"`. */
  format: string;
  /** {@link CHECKPOINT_VERSION}. */
  version: number;
  /** The training config. */
  train: TrainConfig;
  /** The model config. */
  model: DenoiserConfig;
  /** Steps taken. */
  step: number;
  /** The trainer's RNG state after `step` steps. */
  rng: RngState;
  /** Anything the task wants to keep (dataset parameters, timings). */
  extra: Record<string, unknown>;
  /** The tensor index into `tensors.bin` (offsets in floats). */
  tensors: TensorEntry[];
  /** Floats in `tensors.bin`. */
  floats: number;
}

/** A loaded checkpoint's tensors, by group and name. */
export interface CheckpointTensors {
  /** The manifest. */
  manifest: CheckpointManifest;
  /** Float32 values by group, then parameter name. */
  values: Record<Group, Map<string, Float32Array>>;
}

/**
 * Saves a trainer (weights, EMA, Adam moments, step, RNG state, configs) atomically.
 *
 * Pass `groups: ["ema"]` for a sampling-only export (a quarter of the size; it cannot resume).
 *
 * @param dir the checkpoint directory (replaced as a whole)
 * @param trainer the trainer
 * @param extra task-level data to keep
 * @param options which tensor groups to write (default all four)
 */
export async function saveCheckpoint(
  dir: string,
  trainer: Trainer,
  extra: Record<string, unknown> = {},
  options: { groups?: readonly Group[] } = {},
): Promise<void> {
  const wanted = options.groups ?? GROUPS;
  const unknown = wanted.filter((g) => !GROUPS.includes(g));
  if (wanted.length === 0 || unknown.length > 0) {
    throw new CheckpointError(
      `groups must be a non-empty subset of ${GROUPS.join(", ")}; got ${JSON.stringify(wanted)}`,
    );
  }
  const groups: [Group, Map<string, Float32Array>][] = [];
  for (const group of GROUPS.filter((g) => wanted.includes(g))) {
    if (group === "weights") {
      const weights = new Map<string, Float32Array>();
      for (const [name, v] of trainer.model.params.variables) {
        weights.set(name, (await v.data()) as Float32Array);
      }
      groups.push([group, weights]);
    } else groups.push([group, trainer.stateValues(group)]);
  }
  const tensors: TensorEntry[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const [group, map] of groups) {
    for (const [name, data] of map) {
      tensors.push({ group, name, shape: trainer.model.params.get(name).shape.slice(), offset });
      chunks.push(data);
      offset += data.length;
    }
  }
  const all = new Float32Array(offset);
  let at = 0;
  for (const c of chunks) (all.set(c, at), at += c.length);
  const manifest: CheckpointManifest = {
    format: "tpdiff-checkpoint",
    version: CHECKPOINT_VERSION,
    train: trainer.config,
    model: trainer.model.config,
    step: trainer.step,
    rng: trainer.rng.state(),
    extra,
    tensors,
    floats: offset,
  };
  await writeDirAtomic(dir, async (tmp) => {
    await Deno.writeFile(`${tmp}/tensors.bin`, new Uint8Array(all.buffer));
    await Deno.writeTextFile(`${tmp}/checkpoint.json`, JSON.stringify(manifest, null, 1));
  });
}

/**
 * Reads and validates a checkpoint directory.
 *
 * @param dir the directory
 * @returns its manifest and tensors
 */
export async function readCheckpoint(dir: string): Promise<CheckpointTensors> {
  const fail = (why: string): never => {
    throw new CheckpointError(`checkpoint ${dir}: ${why}`);
  };
  let text: string, bytes: Uint8Array;
  try {
    text = await Deno.readTextFile(`${dir}/checkpoint.json`);
    bytes = await Deno.readFile(`${dir}/tensors.bin`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return fail(
        "missing (it needs checkpoint.json and tensors.bin; train one with `deno task train-small`)",
      );
    }
    throw error;
  }
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    return fail(`checkpoint.json is not valid JSON (${(error as Error).message})`);
  }
  if (manifest.format !== "tpdiff-checkpoint") {
    fail(`format must be "tpdiff-checkpoint"; got ${JSON.stringify(manifest.format)}`);
  }
  if (manifest.version !== CHECKPOINT_VERSION) {
    fail(
      `version ${manifest.version} is not supported; this build reads version ${CHECKPOINT_VERSION}`,
    );
  }
  if (!Array.isArray(manifest.tensors) || !Number.isInteger(manifest.floats)) {
    fail("the tensor index is missing");
  }
  if (bytes.length !== manifest.floats * 4) {
    fail(
      `tensors.bin has ${bytes.length} bytes, expected ${
        manifest.floats * 4
      } (truncated or corrupt)`,
    );
  }
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, manifest.floats);
  const values = {
    weights: new Map(),
    ema: new Map(),
    "adam.m": new Map(),
    "adam.v": new Map(),
  } as CheckpointTensors["values"];
  for (const entry of manifest.tensors) {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    if (!(entry.group in values) || entry.offset < 0 || entry.offset + size > manifest.floats) {
      fail(`tensor ${entry.group}/${entry.name} lies outside tensors.bin`);
    }
    values[entry.group].set(entry.name, all.subarray(entry.offset, entry.offset + size));
  }
  return { manifest, values };
}

/**
 * Copies one group of a checkpoint's tensors into a set of variables, checking names and shapes.
 *
 * @param target the variables, by parameter name
 * @param values the values, by parameter name
 * @param what names the group in errors
 */
export function assignValues(
  target: Map<string, tf.Variable>,
  values: Map<string, Float32Array>,
  what: string,
): void {
  let ordered: Float32Array[];
  try {
    ordered = valuesInOrder(target, values, what);
  } catch (error) {
    throw new CheckpointError((error as Error).message);
  }
  [...target.values()].forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(ordered[i], v.shape))));
}

/**
 * Restores a trainer's full state (weights, EMA, Adam moments, step, RNG) from a checkpoint.
 *
 * @param trainer a trainer built from the checkpoint's configs
 * @param checkpoint the loaded checkpoint
 */
export function restoreTrainer(trainer: Trainer, checkpoint: CheckpointTensors): void {
  const { values, manifest } = checkpoint;
  const missing = GROUPS.filter((g) => values[g].size === 0);
  if (missing.length > 0) {
    throw new CheckpointError(
      `this checkpoint holds no ${
        missing.join(", ")
      } tensors (a sampling-only export); it can sample but not resume training`,
    );
  }
  assignValues(trainer.model.params.variables, values.weights, "weights");
  for (const group of ["ema", "adam.m", "adam.v"] as const) {
    try {
      trainer.setStateValues(group, values[group]);
    } catch (error) {
      throw new CheckpointError((error as Error).message);
    }
  }
  trainer.step = manifest.step;
  trainer.rng = new Rng(manifest.rng);
}

/**
 * Loads weights (EMA by default) into a model built from the checkpoint's model config.
 *
 * @param model the model
 * @param checkpoint the loaded checkpoint
 * @param weights `"ema"` (default) or the raw `"weights"`
 */
export function loadWeights(
  model: Denoiser,
  checkpoint: CheckpointTensors,
  weights: "ema" | "weights" = "ema",
): void {
  if (checkpoint.values[weights].size === 0) {
    throw new CheckpointError(
      `this checkpoint holds no "${weights}" tensors; it holds ${
        GROUPS.filter((g) => checkpoint.values[g].size > 0).join(", ")
      }`,
    );
  }
  assignValues(model.params.variables, checkpoint.values[weights], weights);
}

export type { OptimizerState };
