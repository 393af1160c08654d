/**
 * Generated datasets cached on disk under `data/generated/`, named by their parameters.
 *
 * @module
 */
import { createDataset, type Dataset, type DatasetParams } from "./generate.ts";
import { DATASET_FORMAT_VERSION, DatasetFileError, readDataset, writeDataset } from "./format.ts";
import { removeStaleTemporaries } from "./atomic.ts";

/**
 * The cache file name of a dataset, e.g. `balls-16x32x32-n2048-s0.tpv`.
 *
 * @param params the dataset parameters
 * @returns the file name
 */
export function datasetFileName(params: DatasetParams): string {
  const { kind, frames, height, width, count, seed, minObjects, maxObjects } = params;
  const digits = kind === "moving-mnist" ? `-d${params.digitSize}-${params.split}` : "";
  return `${kind}-${frames}x${height}x${width}-n${count}-o${minObjects}${maxObjects}${digits}-s${seed}.tpv`;
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
