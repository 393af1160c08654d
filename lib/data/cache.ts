/**
 * Generated datasets cached on disk under `data/generated/`, named by their parameters.
 *
 * @module
 */
import {
  createDataset,
  type Dataset,
  type DatasetKind,
  type DatasetParams,
  datasetParams,
  IMPORTED,
} from "./generate.ts";
import { DATASET_FORMAT_VERSION, DatasetFileError, readDataset, writeDataset } from "./format.ts";
import { removeStaleTemporaries } from "./atomic.ts";

/**
 * The cache file name of a dataset, e.g. `balls-16x32x32-n2048-o13-s0.tpv`. Speed and size
 * ranges other than the defaults add `-v{min}-{max}` and `-r{min}-{max}`
 * (`balls-16x32x32-n2048-o13-v8-20-s0.tpv` at 8× speed).
 *
 * @param params the dataset parameters
 * @returns the file name
 */
export function datasetFileName(params: DatasetParams): string {
  const { kind, frames, height, width, count, seed, minObjects, maxObjects } = params;
  const digits = kind === "moving-mnist" ? `-d${params.digitSize}-${params.split}` : "";
  let ranges = "";
  if (kind !== IMPORTED) {
    const defaults = datasetParams({
      kind: kind as DatasetKind,
      count,
      frames,
      height,
      width,
      ...(params.digitSize === undefined ? {} : { digitSize: params.digitSize }),
    });
    const range = (tag: string, r: [number, number], d: [number, number]) =>
      r[0] === d[0] && r[1] === d[1]
        ? ""
        : `-${tag}${+r[0].toPrecision(6)}-${+r[1].toPrecision(6)}`;
    ranges = range("v", params.speedRange, defaults.speedRange) +
      range("r", params.sizeRange, defaults.sizeRange);
  }
  return `${kind}-${frames}x${height}x${width}-n${count}-o${minObjects}${maxObjects}${digits}${ranges}-s${seed}.tpv`;
}

/**
 * Reads a cached dataset, or generates and writes it (atomically) if it is not there yet or was
 * written in an older format version.
 *
 * @param params the dataset parameters
 * @param dir the cache folder (default `data/generated`)
 * @returns the dataset and its path
 */
export async function loadOrCreateDataset(
  params: DatasetParams,
  dir = "data/generated",
): Promise<{ dataset: Dataset; path: string; created: boolean }> {
  const path = `${dir}/${datasetFileName(params)}`;
  try {
    await Deno.stat(path);
    const dataset = await readDataset(path, params);
    const held = dataset.params;
    for (const key of ["speedRange", "sizeRange"] as const) {
      if (String(held[key]) !== String(params[key])) {
        throw new Error(
          `cached dataset ${path} was made with ${key} [${held[key]}], not the [${
            params[key]
          }] asked for; move it aside (it is left untouched) and run again`,
        );
      }
    }
    return { dataset, path, created: false };
  } catch (error) {
    // A cache file of an older format is ours to replace (it is generated from its name); a
    // corrupt one or one of a newer format is reported, never overwritten.
    const older = error instanceof DatasetFileError && error.version !== undefined &&
      error.version < DATASET_FORMAT_VERSION;
    if (!(error instanceof Deno.errors.NotFound) && !older) throw error;
  }
  await Deno.mkdir(dir, { recursive: true });
  await removeStaleTemporaries(path);
  const dataset = await createDataset(params);
  await writeDataset(path, dataset);
  return { dataset, path, created: true };
}
