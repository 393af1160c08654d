/**
 * `deno task import-videos SRC --out data/NAME.tpv`: your own clips as a training set. SRC is a
 * folder of GIFs, of folders of PNG frames and of MP4/WebM files (read through `ffmpeg` when it is on
 * the PATH), or one such file or frame folder. Every frame is centre-cropped to the model's aspect,
 * resized by area and kept in grayscale or RGB; each clip is cut into as many windows of `--frames`
 * frames at `--stride` as fit; whole clips are held out (`--held-out`, by a seeded draw) so that no
 * held-out window shares a clip with training. The `.tpv` file is written atomically and never over
 * an existing file. `deno task train-small --data data/NAME.tpv` trains on it.
 *
 * @module
 */
import { basename, join } from "node:path";
import {
  ClipError,
  type ClipKind,
  clipKindOf,
  clipWindows,
  type Dataset,
  datasetParams,
  FFMPEG_MISSING,
  fitFrame,
  framesNeeded,
  hasFfmpeg,
  IMPORTED,
  listDirNatural,
  readClip,
  VIDEO_EXTENSIONS,
  writeDataset,
} from "../lib/data/mod.ts";
import { createRng } from "../lib/mod.ts";
import {
  choiceFlag,
  type FlagSpec,
  helpText,
  intFlag,
  numberFlag,
  parseFlags,
  runTask,
  UsageError,
} from "../lib/cli.ts";

const FLAGS: Record<string, FlagSpec> = {
  out: { type: "string", help: "the .tpv file to write (required; never overwritten)" },
  size: { type: "string", help: "frame height and width in pixels", default: "32" },
  channels: { type: "string", help: "1 (grayscale) or 3 (RGB)", default: "1" },
  frames: { type: "string", help: "frames per video", default: "16" },
  stride: { type: "string", help: "take every stride-th source frame", default: "1" },
  "held-out": { type: "string", help: "share of the clips held out", default: "0.1" },
  seed: { type: "string", help: "seed of the held-out draw", default: "0" },
  "skip-bad": { type: "boolean", help: "report unreadable or too-short clips and go on" },
  help: { type: "boolean", help: "show this help" },
};

/** One clip found under SRC, before decoding. */
interface ClipSource {
  /** What it is read as. */
  kind: ClipKind;
  /** The file or folder. */
  path: string;
}

const isPng = (name: string) => clipKindOf(name) === "png";

/** The clips under SRC, in name order, and how many entries were neither clip nor folder. */
async function findClips(src: string): Promise<{ clips: ClipSource[]; ignored: number }> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(src);
  } catch {
    throw new UsageError(`${src}: no such file or folder`);
  }
  const kindOf = (name: string): ClipKind | undefined => {
    const kind = clipKindOf(name);
    return kind === "png" ? undefined : kind; // a lone PNG is no clip to train on
  };
  if (info.isFile) {
    const kind = kindOf(src);
    if (!kind) {
      throw new UsageError(`${src}: not a GIF or a video file (${VIDEO_EXTENSIONS.join(", ")})`);
    }
    return { clips: [{ kind, path: src }], ignored: 0 };
  }
  const entries = await listDirNatural(src);
  if (entries.some((e) => e.isFile && isPng(e.name))) {
    return { clips: [{ kind: "png-frames", path: src }], ignored: 0 }; // one clip's frames
  }
  const clips: ClipSource[] = [];
  let ignored = 0;
  for (const e of entries) {
    const kind = e.isDirectory ? "png-frames" : e.isFile ? kindOf(e.name) : undefined;
    if (kind) clips.push({ kind, path: join(src, e.name) });
    else ignored++;
  }
  if (clips.length === 0) {
    throw new UsageError(
      `${src}: no clip found (GIF files, folders of PNG frames, or ${
        VIDEO_EXTENSIONS.join(", ")
      } files)`,
    );
  }
  return { clips, ignored };
}

interface Settings {
  src: string;
  out: string;
  size: number;
  channels: 1 | 3;
  frames: number;
  stride: number;
  heldOut: number;
  seed: number;
  skipBad: boolean;
}

function settingsFrom(args: string[]): Settings | undefined {
  const positional = args.filter((a, i) => !a.startsWith("--") && !isFlagValue(args, i));
  const flags = parseFlags(args.filter((a) => !positional.includes(a)), FLAGS);
  if (flags.help) {
    console.log(helpText("deno task import-videos SRC --out data/NAME.tpv [flags]", FLAGS));
    return undefined;
  }
  if (positional.length !== 1 || typeof flags.out !== "string") {
    throw new UsageError(
      `give one SRC (a folder or file) and --out FILE.tpv; got ${positional.length} sources${
        typeof flags.out === "string" ? "" : " and no --out"
      } (see --help)`,
    );
  }
  if (!flags.out.endsWith(".tpv")) throw new UsageError(`--out must end in .tpv; got ${flags.out}`);
  return {
    src: positional[0],
    out: flags.out,
    size: intFlag("size", flags.size, 32, 8, 1024),
    channels: Number(choiceFlag("channels", flags.channels, "1", ["1", "3"])) as 1 | 3,
    frames: intFlag("frames", flags.frames, 16, 1, 1024),
    stride: intFlag("stride", flags.stride, 1, 1, 1000),
    heldOut: numberFlag("held-out", flags["held-out"], 0.1, 0, 0.9),
    seed: intFlag("seed", flags.seed, 0, 0, 2 ** 31),
    skipBad: flags["skip-bad"] === true,
  };
}

/** Whether args[i] is the value of a string flag written as two arguments (`--out x`). */
function isFlagValue(args: string[], i: number): boolean {
  const flag = i > 0 && args[i - 1].startsWith("--") && !args[i - 1].includes("=")
    ? args[i - 1].slice(2)
    : undefined;
  return flag !== undefined && FLAGS[flag]?.type === "string";
}

/** The import: every clip decoded, fitted and windowed; bad clips stop it or are skipped. */
async function importClips(
  s: Settings,
): Promise<{ videos: Uint8Array[]; clipOf: number[]; read: number }> {
  const { clips, ignored } = await findClips(s.src);
  if (ignored > 0) console.log(`${s.src}: ignoring ${ignored} entries that are not clips`);
  if (clips.some((c) => c.kind === "video") && !(await hasFfmpeg())) {
    console.log(`${s.src}: video files need ffmpeg: ${FFMPEG_MISSING}`);
  }
  const target = { height: s.size, width: s.size, channels: s.channels };
  const videos: Uint8Array[] = [], clipOf: number[] = [];
  let skipped = 0, read = 0;
  for (const clip of clips) {
    try {
      const decoded = await readClip(clip.path, clip.kind);
      const windows = clipWindows(decoded.frames.length, s);
      if (windows.length === 0) {
        throw new ClipError(
          `${clip.path}: the clip has ${decoded.frames.length} frames; --frames ${s.frames} at ` +
            `--stride ${s.stride} needs ${framesNeeded(s)}`,
        );
      }
      for (const window of windows) {
        const video = new Uint8Array(s.frames * s.size * s.size * s.channels);
        window.forEach((f, j) =>
          video.set(fitFrame(decoded.frames[f], decoded, target), j * (video.length / s.frames))
        );
        videos.push(video);
        clipOf.push(read);
      }
      read++;
    } catch (error) {
      if (!(error instanceof ClipError) || !s.skipBad) {
        if (error instanceof ClipError) {
          throw new UsageError(`${error.message} (--skip-bad imports the other clips)`);
        }
        throw error;
      }
      console.log(`skipped ${error.message}`);
      skipped++;
    }
  }
  if (skipped > 0) console.log(`skipped ${skipped} of ${clips.length} clips`);
  if (videos.length === 0) throw new UsageError(`${s.src}: no clip could be imported`);
  return { videos, clipOf, read };
}

async function main(): Promise<number> {
  const s = settingsFrom(Deno.args);
  if (!s) return 0;
  try {
    await Deno.lstat(s.out);
    throw new UsageError(
      `${s.out} exists; import-videos never overwrites a file: remove it or choose another --out`,
    );
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const { videos, clipOf, read } = await importClips(s);
  // Whole clips are held out: a seeded draw of round(share × clips), at least one of two or more.
  const order = Array.from({ length: read }, (_, i) => i);
  const rng = createRng(`import-videos:${s.seed}`);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.integer(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const heldClips = read < 2 || s.heldOut === 0 ? 0 : Math.max(1, Math.round(s.heldOut * read));
  const held = new Set(order.slice(0, heldClips));
  const split = Uint8Array.from(clipOf, (c) => (held.has(c) ? 1 : 0));
  const count = videos.length, size = videos[0].length;
  const pixels = new Uint8Array(count * size);
  videos.forEach((v, i) => pixels.set(v, i * size));
  const params = datasetParams({
    kind: IMPORTED,
    count,
    frames: s.frames,
    height: s.size,
    width: s.size,
    channels: s.channels,
    imported: {
      source: basename(s.src),
      stride: s.stride,
      heldOut: split.filter((v) => v).length,
      clips: read,
    },
  });
  const dataset: Dataset = {
    params,
    shape: [count, s.frames, s.size, s.size, s.channels],
    pixels,
    tracks: new Float32Array(0),
    bounces: new Uint8Array(0),
    objectCounts: new Uint8Array(count),
    objects: new Float32Array(0),
    split,
  };
  const dir = s.out.includes("/") ? s.out.slice(0, s.out.lastIndexOf("/")) : ".";
  await Deno.mkdir(dir, { recursive: true });
  await writeDataset(s.out, dataset);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  console.log(
    `wrote ${s.out}: ${plural(count, "video")} of ${s.frames} × ${s.size} × ${s.size} × ` +
      `${s.channels} from ${plural(read, "clip")} (${
        plural(params.imported!.heldOut, "video")
      } of ${plural(heldClips, "clip")} held out)`,
  );
  console.log(`train on it:  deno task train-small --data ${s.out}`);
  return 0;
}

if (import.meta.main) await runTask(main);
