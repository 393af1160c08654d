/**
 * The dataset file format (`.tpv`), version 2. All integers little-endian.
 *
 * | bytes | content |
 * |---|---|
 * | 0–7 | magic `TPDVIDEO` |
 * | 8–11 | header length L (uint32) |
 * | 12 … 12+L | header, UTF-8 JSON (below) |
 * | then | the sections, each at `offset` bytes after the header, 8-byte aligned |
 *
 * The header holds `format` (`"tpdiff-video"`), `version` (1), `generator`, `parameters`, `seed`,
 * `shape` ([count, frames, height, width, channels]), `dtype` (`"uint8"`) and `sections`: one entry
 * `{ name, dtype, shape, offset, byteLength, crc32 }` each for `pixels`, `tracks`, `bounces`,
 * `objectCounts` and `objects` (see {@link Dataset}), and for Moving MNIST `sources` (each object's
 * digit) or, for imported clips, `split` (1 for a held-out video); the file ends where the last
 * section ends (padded to 8 bytes). Version 2 added the CRC-32 of each section.
 *
 * Reads are validated: a wrong magic or version, a truncated file, trailing bytes, a section whose
 * CRC-32 does not match its bytes, inconsistent sections or a shape other than the one expected is
 * a {@link DatasetFileError} that names the file and the value.
 *
 * @module
 */
import { InputError, show } from "../checks.ts";
import { writeFileAtomic } from "./atomic.ts";
import { crc32 } from "./checksum.ts";
import { type Dataset, type DatasetParams, datasetParams } from "./generate.ts";

/** The format version this build writes and reads. */
export const DATASET_FORMAT_VERSION = 2;

const MAGIC = "TPDVIDEO";

/** A dataset file that cannot be read, with the reason. */
export class DatasetFileError extends InputError {
  /**
   * Creates the error.
   *
   * @param message what is wrong, naming the file
   * @param version the file's format version, when the version is what is wrong
   */
  constructor(message: string, readonly version?: number) {
    super(message);
    this.name = "DatasetFileError";
  }
}

type SectionName =
  | "pixels"
  | "tracks"
  | "bounces"
  | "objectCounts"
  | "objects"
  | "sources"
  | "split";
type Dtype = "uint8" | "float32";

interface Section {
  name: SectionName;
  dtype: Dtype;
  shape: number[];
  offset: number;
  byteLength: number;
  crc32: string;
}

interface Header {
  format: string;
  version: number;
  generator: string;
  parameters: DatasetParams;
  seed: number;
  shape: number[];
  dtype: Dtype;
  sections: Section[];
}

function sectionsOf(d: Dataset): [SectionName, Dtype, number[], Uint8Array | Float32Array][] {
  const [N, F] = d.shape, M = d.params.maxObjects;
  return [
    ["pixels", "uint8", d.shape, d.pixels],
    ["tracks", "float32", [N, M, F, 2], d.tracks],
    ["bounces", "uint8", [N, M, F], d.bounces],
    ["objectCounts", "uint8", [N], d.objectCounts],
    ["objects", "float32", [N, M, 2], d.objects],
    ...(d.sources ? [["sources", "float32", [N, M], d.sources] as const] : []),
    ...(d.split ? [["split", "uint8", [N], d.split] as const] : []),
  ] as [SectionName, Dtype, number[], Uint8Array | Float32Array][];
}

/**
 * Encodes a dataset in the `.tpv` format.
 *
 * @param dataset the dataset
 * @returns the file's bytes
 */
export function encodeDataset(dataset: Dataset): Uint8Array {
  const parts = sectionsOf(dataset);
  const sections: Section[] = [];
  let offset = 0;
  for (const [name, dtype, shape, data] of parts) {
    sections.push({ name, dtype, shape, offset, byteLength: data.byteLength, crc32: crc32(data) });
    offset += Math.ceil(data.byteLength / 8) * 8;
  }
  const header: Header = {
    format: "tpdiff-video",
    version: DATASET_FORMAT_VERSION,
    generator: `tpdiff-deno/${dataset.params.kind}`,
    parameters: dataset.params,
    seed: dataset.params.seed,
    shape: dataset.shape,
    dtype: "uint8",
    sections,
  };
  // The header is padded with spaces so that the sections start 8-byte aligned.
  const text = new TextEncoder().encode(JSON.stringify(header));
  const json = new Uint8Array(Math.ceil((12 + text.length) / 8) * 8 - 12).fill(0x20);
  json.set(text);
  const bytes = new Uint8Array(12 + json.length + offset);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(bytes.buffer).setUint32(8, json.length, true);
  bytes.set(json, 12);
  const base = 12 + json.length;
  parts.forEach(([, , , data], i) => {
    bytes.set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      base + sections[i].offset,
    );
  });
  return bytes;
}

/**
 * Decodes and validates a `.tpv` file.
 *
 * @param bytes the file's bytes
 * @param options `source` names the file in errors; `expect` checks the dataset's shape
 * @returns the dataset
 */
export function decodeDataset(
  bytes: Uint8Array,
  options: { source?: string; expect?: { frames?: number; height?: number; width?: number } } = {},
): Dataset {
  const source = options.source ?? "dataset";
  const fail = (why: string): never => {
    throw new DatasetFileError(`${source}: ${why}`);
  };
  const { header, base } = readHeader(bytes, source, fail);
  const params = headerParams(header, options.expect ?? {}, fail);
  const shape = [params.count, params.frames, params.height, params.width, params.channels ?? 1];
  const [N, F] = shape, M = params.maxObjects;
  let end = base;
  const read = (name: SectionName, dtype: Dtype, want: number[]): Uint8Array | Float32Array => {
    const section = sectionOf(header, name, fail);
    const data = readSection(bytes, base, { name, dtype, want, section }, fail);
    end = Math.max(end, base + section.offset + Math.ceil(data.byteLength / 8) * 8);
    return data;
  };
  const dataset: Dataset = {
    params,
    shape: shape as Dataset["shape"],
    pixels: read("pixels", "uint8", shape) as Uint8Array,
    tracks: read("tracks", "float32", [N, M, F, 2]) as Float32Array,
    bounces: read("bounces", "uint8", [N, M, F]) as Uint8Array,
    objectCounts: read("objectCounts", "uint8", [N]) as Uint8Array,
    objects: read("objects", "float32", [N, M, 2]) as Float32Array,
  };
  if (params.kind === "moving-mnist") {
    dataset.sources = read("sources", "float32", [N, M]) as Float32Array;
  }
  if (params.kind === "imported") dataset.split = read("split", "uint8", [N]) as Uint8Array;
  if (bytes.length > end) {
    fail(`${bytes.length - end} trailing bytes after the last section (the file ends at ${end})`);
  }
  return dataset;
}

type Fail = (why: string) => never;

/** The magic, the header's length and JSON, its format and version; `base` is where data begins. */
function readHeader(
  bytes: Uint8Array,
  source: string,
  fail: Fail,
): { header: Header; base: number } {
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    fail(`not a tpdiff dataset file (no ${MAGIC} magic)`);
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (12 + length > bytes.length) {
    fail(`truncated: the header needs ${12 + length} bytes, the file has ${bytes.length}`);
  }
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
  } catch (error) {
    return fail(`unreadable header (${(error as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail(`the header must be a JSON object; got ${show(header)}`);
  }
  if (header.format !== "tpdiff-video") {
    fail(`format must be "tpdiff-video"; got ${show(header.format)}`);
  }
  if (header.version !== DATASET_FORMAT_VERSION) {
    throw new DatasetFileError(
      `${source}: format version ${header.version} is not supported; this build reads version ${DATASET_FORMAT_VERSION}`,
      header.version,
    );
  }
  return { header, base: 12 + length };
}

/** The generator's parameters from the header, checked against its shape and the expected size. */
function headerParams(
  header: Header,
  expect: { frames?: number; height?: number; width?: number },
  fail: Fail,
): DatasetParams {
  let params: DatasetParams;
  try {
    params = datasetParams(header.parameters);
  } catch (error) {
    return fail(`invalid parameters in header (${(error as Error).message})`);
  }
  const shape = [params.count, params.frames, params.height, params.width, params.channels ?? 1];
  if (JSON.stringify(header.shape) !== JSON.stringify(shape)) {
    fail(
      `shape ${show(header.shape)} does not match its parameters ${show(shape)}`,
    );
  }
  for (const key of ["frames", "height", "width"] as const) {
    if (expect[key] !== undefined && expect[key] !== params[key]) {
      fail(`${key} is ${params[key]}, expected ${expect[key]}`);
    }
  }
  return params;
}

function sectionOf(header: Header, name: SectionName, fail: Fail): Section {
  const found = Array.isArray(header.sections)
    ? header.sections.find((x) => x?.name === name)
    : undefined;
  return found ?? fail(`section ${name} is missing`);
}

/** One section's bytes (a copy), checked for offset, type, shape, length and CRC-32. */
function readSection(
  bytes: Uint8Array,
  base: number,
  spec: { name: SectionName; dtype: Dtype; want: number[]; section: Section },
  fail: Fail,
): Uint8Array | Float32Array {
  const { name, dtype, want, section: s } = spec;
  if (!Number.isInteger(s.offset) || s.offset < 0 || s.offset % 8 !== 0) {
    fail(`section ${name} has offset ${show(s.offset)}; expected a multiple of 8`);
  }
  if (s.dtype !== dtype || JSON.stringify(s.shape) !== JSON.stringify(want)) {
    fail(
      `section ${name} must be ${dtype} ${show(want)}; got ${s.dtype} ${show(s.shape)}`,
    );
  }
  const size = want.reduce((a, b) => a * b, 1) * (dtype === "uint8" ? 1 : 4);
  if (s.byteLength !== size) fail(`section ${name} has ${s.byteLength} bytes, expected ${size}`);
  if (base + s.offset + size > bytes.length) {
    fail(
      `truncated: section ${name} needs ${
        base + s.offset + size
      } bytes, the file has ${bytes.length}`,
    );
  }
  const copy = bytes.slice(base + s.offset, base + s.offset + size);
  if (crc32(copy) !== s.crc32) {
    fail(
      `section ${name} is corrupt: its CRC-32 is ${crc32(copy)}, the header records ${
        show(s.crc32)
      }`,
    );
  }
  return dtype === "uint8" ? copy : new Float32Array(copy.buffer);
}

/**
 * Writes a dataset file atomically.
 *
 * @param path the file
 * @param dataset the dataset
 */
export async function writeDataset(path: string, dataset: Dataset): Promise<void> {
  await writeFileAtomic(path, encodeDataset(dataset));
}

/**
 * Reads and validates a dataset file.
 *
 * @param path the file
 * @param expect the shape the caller needs (a mismatch is a {@link DatasetFileError})
 * @returns the dataset
 */
export async function readDataset(
  path: string,
  expect?: { frames?: number; height?: number; width?: number },
): Promise<Dataset> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new DatasetFileError(`${path}: no such file`);
    throw error;
  }
  return decodeDataset(bytes, { source: path, expect });
}
