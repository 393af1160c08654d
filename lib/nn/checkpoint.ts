/**
 * Checkpoints: one directory with `checkpoint.json` (format, version, configs, step, RNG state, a
 * tensor index and the CRC-32 of each tensor group) and `tensors.bin` (float32 weights, EMA weights
 * and Adam moments), written atomically (temporary directory, then rename; see `writeDirAtomic`
 * for what survives a kill at any instant), validated on load: every field's type, each group's
 * checksum, the exact size of `tensors.bin` and that the weights are finite.
 *
 * @module
 */
import { InputError, show } from "../checks.ts";
import * as tf from "@tensorflow/tfjs";
import { locateDir, writeDirAtomic } from "../data/atomic.ts";
import { crc32 } from "../data/checksum.ts";
import { Rng, type RngState } from "../video.ts";
import { TIME_DENSITIES } from "../stagewise.ts";
import { givenPositions } from "../condition.ts";
import { DOWN_METHODS } from "../temporal.ts";
import { type Denoiser, type DenoiserConfig, denoiserConfig } from "./denoiser.ts";
import { valuesInOrder } from "./params.ts";
import {
  DIFFUSION_FORMS,
  type DiffusionForm,
  formFromFile,
  NonFiniteError,
  type OptimizerState,
  type TrainConfig,
  type Trainer,
} from "./trainer.ts";

/**
 * The checkpoint format version this build writes. Version 2 added `checksums`; version 1 files
 * (no checksums) are still read, unverified.
 */
export const CHECKPOINT_VERSION = 2;

/** A checkpoint that cannot be loaded, with the reason. */
export class CheckpointError extends InputError {
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
  /** CRC-32 of each group's bytes in `tensors.bin` (version 2). */
  checksums?: Partial<Record<Group, string>>;
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
      `groups must be a non-empty subset of ${GROUPS.join(", ")}; got ${show(wanted)}`,
    );
  }
  const { all, tensors, checksums } = packTensors(trainer, await groupValues(trainer, wanted));
  const manifest: CheckpointManifest = {
    format: "tpdiff-checkpoint",
    version: CHECKPOINT_VERSION,
    train: trainer.config,
    model: trainer.model.config,
    step: trainer.step,
    rng: trainer.rng.state(),
    extra,
    tensors,
    floats: all.length,
    checksums,
  };
  await writeDirAtomic(dir, async (tmp) => {
    await Deno.writeFile(`${tmp}/tensors.bin`, new Uint8Array(all.buffer));
    await Deno.writeTextFile(`${tmp}/checkpoint.json`, JSON.stringify(manifest, null, 1));
  });
}

/** The values of the wanted groups, in the file's group order, by parameter name. */
async function groupValues(
  trainer: Trainer,
  wanted: readonly Group[],
): Promise<[Group, Map<string, Float32Array>][]> {
  const groups: [Group, Map<string, Float32Array>][] = [];
  for (const group of GROUPS.filter((g) => wanted.includes(g))) {
    if (group === "weights") {
      const weights = new Map<string, Float32Array>();
      for (const [name, v] of trainer.model.params.variables) {
        weights.set(name, (await v.data()) as Float32Array);
      }
      groups.push([group, weights]);
    } else groups.push([group, await trainer.stateValues(group)]);
  }
  return groups;
}

/**
 * Lays the groups out in one float array, with each tensor's entry and each group's CRC-32; throws
 * `NonFiniteError` before anything is written if a value is not finite.
 */
function packTensors(
  trainer: Trainer,
  groups: [Group, Map<string, Float32Array>][],
): { all: Float32Array; tensors: TensorEntry[]; checksums: Partial<Record<Group, string>> } {
  const tensors: TensorEntry[] = [];
  const chunks: Float32Array[] = [];
  const ranges: [Group, number, number][] = [];
  let offset = 0;
  for (const [group, map] of groups) {
    const first = offset;
    for (const [name, data] of map) {
      const bad = firstNonFinite(data);
      if (bad >= 0) {
        throw new NonFiniteError(
          `${group}/${name} holds ${data[bad]} at index ${bad} after step ${trainer.step}; ` +
            `not saved`,
        );
      }
      tensors.push({ group, name, shape: trainer.model.params.get(name).shape.slice(), offset });
      chunks.push(data);
      offset += data.length;
    }
    ranges.push([group, first, offset]);
  }
  const all = new Float32Array(offset);
  let at = 0;
  for (const c of chunks) (all.set(c, at), at += c.length);
  const checksums: Partial<Record<Group, string>> = {};
  for (const [group, from, to] of ranges) checksums[group] = crc32(all.subarray(from, to));
  return { all, tensors, checksums };
}

function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/**
 * Reads and validates a checkpoint directory, or the `checkpoint/` folder of a train-small run
 * folder given instead. A directory lost by a kill between the two renames of an atomic write is
 * read from the complete temporary that survived (`locateDir`).
 *
 * @param dir the checkpoint directory or a run folder that holds one
 * @returns its manifest and tensors
 */
export async function readCheckpoint(dir: string): Promise<CheckpointTensors> {
  if (!holdsCheckpoint(dir) && holdsCheckpoint(`${dir}/checkpoint`)) dir = `${dir}/checkpoint`;
  // A writer may replace the folder between our two reads: read again once it has.
  for (let attempt = 0;; attempt++) {
    try {
      return await readCheckpointOnce(dir);
    } catch (error) {
      if (attempt >= 2 || !(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

function holdsCheckpoint(dir: string): boolean {
  const found = locateDir(dir);
  try {
    return found !== undefined && Deno.statSync(`${found}/checkpoint.json`).isFile;
  } catch {
    return false;
  }
}

async function readCheckpointOnce(dir: string): Promise<CheckpointTensors> {
  const fail = (why: string): never => {
    throw new CheckpointError(`checkpoint ${dir}: ${why}`);
  };
  const { text, bytes } = await readCheckpointFiles(dir, fail);
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    return fail(`checkpoint.json is not valid JSON (${(error as Error).message})`);
  }
  validateManifest(manifest, fail);
  if (bytes.length !== manifest.floats * 4) {
    fail(
      `tensors.bin has ${bytes.length} bytes, expected ${
        manifest.floats * 4
      } (truncated, extended or corrupt)`,
    );
  }
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, manifest.floats);
  const { values, ranges } = unpackTensors(manifest, all, fail);
  if (manifest.version >= 2) {
    for (const [group, [from, to]] of ranges) {
      const want = manifest.checksums?.[group], got = crc32(all.subarray(from, to));
      if (want !== got) {
        fail(
          `tensors.bin is corrupt in group "${group}": its CRC-32 is ${got}, checkpoint.json records ${
            show(want)
          }`,
        );
      }
    }
  }
  for (const group of ["weights", "ema"] as const) {
    for (const [name, data] of values[group]) {
      const bad = firstNonFinite(data);
      if (bad >= 0) fail(`${group}/${name} holds ${data[bad]} at index ${bad} (a diverged run)`);
    }
  }
  return { manifest, values };
}

const MISSING =
  "missing (it needs checkpoint.json and tensors.bin; train one with `deno task train-small`)";

/**
 * Reads checkpoint.json and tensors.bin from the folder (or the complete temporary a kill left).
 * A NotFound while a writer replaces the folder is rethrown, for {@link readCheckpoint} to retry.
 */
async function readCheckpointFiles(
  dir: string,
  fail: (why: string) => never,
): Promise<{ text: string; bytes: Uint8Array }> {
  const found = locateDir(dir);
  if (found === undefined) return fail(MISSING);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(found);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw error;
    return fail(`cannot be read (${(error as Error).message})`);
  }
  if (!info.isDirectory) {
    fail("is a file; a checkpoint is a folder holding checkpoint.json and tensors.bin");
  }
  try {
    return {
      text: await Deno.readTextFile(`${found}/checkpoint.json`),
      bytes: await Deno.readFile(`${found}/tensors.bin`),
    };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      if (found !== dir || locateDir(dir) !== dir) throw error;
      return fail(MISSING);
    }
    return fail(`cannot be read (${(error as Error).message})`);
  }
}

/** Each tensor's view into the file's floats, by group and name, and each group's float range. */
function unpackTensors(
  manifest: CheckpointManifest,
  all: Float32Array,
  fail: (why: string) => never,
): { values: CheckpointTensors["values"]; ranges: Map<Group, [number, number]> } {
  const values = {
    weights: new Map(),
    ema: new Map(),
    "adam.m": new Map(),
    "adam.v": new Map(),
  } as CheckpointTensors["values"];
  const ranges = new Map<Group, [number, number]>();
  for (const entry of manifest.tensors) {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    if (entry.offset + size > manifest.floats) {
      fail(`tensor ${entry.group}/${entry.name} lies outside tensors.bin`);
    }
    if (values[entry.group].has(entry.name)) {
      fail(`tensor ${entry.group}/${entry.name} is listed twice`);
    }
    values[entry.group].set(entry.name, all.subarray(entry.offset, entry.offset + size));
    const [from, to] = ranges.get(entry.group) ?? [Infinity, -Infinity];
    ranges.set(entry.group, [Math.min(from, entry.offset), Math.max(to, entry.offset + size)]);
  }
  return { values, ranges };
}

/** Reports a field that fails its check, naming its value and what is allowed. */
type FieldCheck = (name: string, ok: boolean, allowed: string) => void;

const isObject = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
const isInt = (v: unknown, min = 0) => Number.isInteger(v) && (v as number) >= min;

/** Checks every field a loader relies on, so that a hand-edited file fails with one line. */
function validateManifest(m: CheckpointManifest, fail: (why: string) => never): void {
  if (!isObject(m)) fail(`checkpoint.json must hold a JSON object; got ${show(m)}`);
  if (m.format !== "tpdiff-checkpoint") {
    fail(`format must be "tpdiff-checkpoint"; got ${show(m.format)}`);
  }
  if (m.version !== 1 && m.version !== CHECKPOINT_VERSION) {
    fail(
      `version ${
        show(m.version)
      } is not supported; this build reads versions 1 and ${CHECKPOINT_VERSION}`,
    );
  }
  const field: FieldCheck = (name, ok, allowed) => {
    if (!ok) {
      fail(
        `${name} must be ${allowed}; got ${
          show(name.split(".").reduce((v: unknown, k) => (v as never)?.[k], m))
        }`,
      );
    }
  };
  field("step", isInt(m.step), "a non-negative integer");
  field("floats", isInt(m.floats), "a non-negative integer");
  field("extra", m.extra === undefined || isObject(m.extra), "an object");
  field(
    "rng",
    isObject(m.rng) && Array.isArray(m.rng.s) && m.rng.s.length === 4 &&
      m.rng.s.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32) &&
      (m.rng.spare === null || Number.isFinite(m.rng.spare)),
    "{ s: four 32-bit unsigned integers, spare: a number or null }",
  );
  field("train", isObject(m.train), "an object");
  m.train.form = formFromFile(m.train.form) as DiffusionForm;
  validateTrain(m.train, field);
  field("model", isObject(m.model), "an object");
  m.model = normalisedModel(m.model, fail);
  validateTensors(m, field, fail);
}

/** The training config's fields, the optional ones included. */
function validateTrain(t: TrainConfig, field: FieldCheck): void {
  field("train.mode", t.mode === "pyramid" || t.mode === "vanilla", `"pyramid" or "vanilla"`);
  field("train.form", DIFFUSION_FORMS.includes(t.form), `"flow-matching" or "vp-epsilon"`);
  field("train.stages", isInt(t.stages, 1) && t.stages <= 4, "an integer in [1, 4]");
  for (const key of ["frames", "batch", "steps"] as const) {
    field(`train.${key}`, isInt(t[key], 1), "a positive integer");
  }
  field("train.warmup", isInt(t.warmup), "a non-negative integer");
  for (const key of ["learningRate", "clip"] as const) {
    field(`train.${key}`, Number.isFinite(t[key]) && t[key] > 0, "a positive number");
  }
  field("train.emaDecay", t.emaDecay >= 0 && t.emaDecay < 1, "a number in [0, 1)");
  field("train.align", typeof t.align === "boolean", "true or false");
  field(
    "train.stageWeights",
    t.stageWeights === undefined ||
      (Array.isArray(t.stageWeights) && t.stageWeights.length === t.stages &&
        t.stageWeights.every((w) => Number.isFinite(w) && w >= 0)),
    `absent or ${t.stages} non-negative numbers`,
  );
  field(
    "train.timeDensity",
    t.timeDensity === undefined || TIME_DENSITIES.includes(t.timeDensity),
    `absent or one of ${TIME_DENSITIES.join(", ")}`,
  );
  field(
    "train.stepSplit",
    t.stepSplit === undefined || t.stepSplit === "even" || t.stepSplit === "length",
    'absent, "even" or "length"',
  );
  validateStageTimes(t, field);
}

/** The optional boundaries, Down method and shift of the training config. */
function validateStageTimes(t: TrainConfig, field: FieldCheck): void {
  field(
    "train.boundaries",
    t.boundaries === undefined ||
      (Array.isArray(t.boundaries) && t.boundaries.length === t.stages - 1 &&
        t.boundaries.every((b, i) =>
          Number.isFinite(b) && b > (i === 0 ? 0 : t.boundaries![i - 1]) && b < 1
        )),
    t.stages === 2
      ? "absent or 1 number in (0, 1)"
      : `absent or ${t.stages - 1} increasing numbers in (0, 1)`,
  );
  field(
    "train.down",
    t.down === undefined || DOWN_METHODS.includes(t.down),
    `absent, "stride" or "average"`,
  );
  field(
    "train.shift",
    t.shift === undefined || (Number.isFinite(t.shift) && t.shift > 0),
    "absent or a positive number",
  );
  field(
    "train.labelDropout",
    t.labelDropout === undefined ||
      (Number.isFinite(t.labelDropout) && t.labelDropout >= 0 && t.labelDropout < 1),
    "absent or a number in [0, 1)",
  );
  field(
    "train.givenDropout",
    t.givenDropout === undefined ||
      (Number.isFinite(t.givenDropout) && t.givenDropout >= 0 && t.givenDropout < 1),
    "absent or a number in [0, 1)",
  );
  field(
    "train.givenModes",
    t.givenModes === undefined ||
      (Array.isArray(t.givenModes) && t.givenModes.length > 0 && t.givenModes.every((m) => {
        try {
          givenPositions(m, t.frames);
          return true;
        } catch {
          return false;
        }
      })),
    "absent or a non-empty list of first-frame, keyframes and prefix:N",
  );
}

/** The model config, checked and completed: a field written before it existed gets its default. */
function normalisedModel(model: DenoiserConfig, fail: (why: string) => never): DenoiserConfig {
  try {
    const rebuilt = denoiserConfig(model);
    if (JSON.stringify(rebuilt) !== JSON.stringify({ ...rebuilt, ...model })) {
      throw new RangeError(`it has fields or types that this build does not know`);
    }
    return rebuilt;
  } catch (error) {
    return fail(`model config is invalid: ${(error as Error).message}`);
  }
}

/** The tensor entries and, from version 2, the checksums by group. */
function validateTensors(
  m: CheckpointManifest,
  field: FieldCheck,
  fail: (why: string) => never,
): void {
  field("tensors", Array.isArray(m.tensors), "an array");
  for (const [i, e] of m.tensors.entries()) {
    const ok = isObject(e) && GROUPS.includes(e.group) && typeof e.name === "string" &&
      Array.isArray(e.shape) && e.shape.every((d) => isInt(d, 1)) && isInt(e.offset);
    if (!ok) {
      fail(
        `tensors[${i}] must be { group: one of ${GROUPS.join(", ")}, name, shape, offset }; got ${
          show(e)
        }`,
      );
    }
  }
  field(
    "checksums",
    m.version < 2 ||
      (isObject(m.checksums) &&
        Object.entries(m.checksums!).every(([g, c]) =>
          GROUPS.includes(g as Group) && typeof c === "string"
        )),
    "an object of CRC-32s by group",
  );
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
 * Throws a {@link CheckpointError} unless the checkpoint holds every tensor group that resuming
 * training needs (a sampling-only export does not).
 *
 * @param checkpoint the loaded checkpoint
 */
export function checkResumable(checkpoint: CheckpointTensors): void {
  const missing = GROUPS.filter((g) => checkpoint.values[g].size === 0);
  if (missing.length > 0) {
    throw new CheckpointError(
      `this checkpoint holds no ${
        missing.join(", ")
      } tensors (a sampling-only export); it can sample but not resume training`,
    );
  }
}

/**
 * Restores a trainer's full state (weights, EMA, Adam moments, step, RNG) from a checkpoint.
 *
 * @param trainer a trainer built from the checkpoint's configs
 * @param checkpoint the loaded checkpoint
 */
export function restoreTrainer(trainer: Trainer, checkpoint: CheckpointTensors): void {
  const { values, manifest } = checkpoint;
  checkResumable(checkpoint);
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
