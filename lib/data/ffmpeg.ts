/**
 * Video files through `ffmpeg` as a child process (Debian's `ffmpeg` 5.1; optional): MP4, WebM and
 * whatever else it reads come in as raw RGBA frames on a pipe, and samples go out as H.264 MP4 in
 * `yuv420p`, which browsers play. Without `ffmpeg` on the PATH both say what to install.
 *
 * @module
 */
import { ClipError, type RgbaClip } from "./clips.ts";

/** The one line that says what is missing. */
export const FFMPEG_MISSING =
  "ffmpeg is not on the PATH; install it (Debian: apt-get install ffmpeg)";

let found: Promise<boolean> | undefined;

/**
 * Whether `ffmpeg` and `ffprobe` run here (checked once per process).
 *
 * @returns true when both answer `-version`
 */
export function hasFfmpeg(): Promise<boolean> {
  // Spawning a missing program throws at once rather than rejecting.
  const runs = async (cmd: string) => {
    try {
      const out = await new Deno.Command(cmd, {
        args: ["-version"],
        stdout: "null",
        stderr: "null",
      })
        .output();
      return out.success;
    } catch {
      return false;
    }
  };
  found ??= Promise.all([runs("ffmpeg"), runs("ffprobe")]).then(([a, b]) => a && b);
  return found;
}

async function run(cmd: string, args: string[], input?: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: input ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input) {
    const writer = child.stdin.getWriter();
    await writer.write(input);
    await writer.close();
  }
  const out = await child.output();
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ??
      `exit ${out.code}`;
    throw new Error(why);
  }
  return out.stdout;
}

/**
 * Decodes a video file to RGBA frames with `ffmpeg` (its size from `ffprobe`).
 *
 * @param path the file
 * @returns its frames
 */
export async function decodeVideoFile(path: string): Promise<RgbaClip> {
  if (!(await hasFfmpeg())) throw new ClipError(`${path}: ${FFMPEG_MISSING}`);
  let width: number, height: number;
  try {
    const probe = new TextDecoder().decode(
      await run("ffprobe", [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=width,height",
        "-of",
        "csv=p=0",
        path,
      ]),
    );
    [width, height] = probe.trim().split(",").map(Number);
    if (!(width > 0 && height > 0)) throw new Error("no video stream");
  } catch (error) {
    throw new ClipError(`${path}: not a readable video (${(error as Error).message})`);
  }
  let raw: Uint8Array;
  try {
    raw = await run("ffmpeg", [
      "-v",
      "error",
      "-i",
      path,
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgba",
      "-",
    ]);
  } catch (error) {
    throw new ClipError(`${path}: ffmpeg could not decode it (${(error as Error).message})`);
  }
  const size = width * height * 4, count = Math.floor(raw.length / size);
  if (count === 0) throw new ClipError(`${path}: the video has no frames`);
  const frames = Array.from({ length: count }, (_, f) => raw.slice(f * size, (f + 1) * size));
  return { width, height, frames };
}

/** What an MP4 is made from: its frames' shape. */
export interface Mp4Shape {
  /** Frames. */
  frames: number;
  /** Frame height in pixels. */
  height: number;
  /** Frame width in pixels. */
  width: number;
  /** 1 (grayscale) or 3 (RGB). */
  channels: number;
}

/**
 * Encodes one video as H.264 MP4 (`yuv420p`, playable in browsers), each pixel drawn as a
 * `zoom` × `zoom` block.
 *
 * @param pixels bytes, frames × height × width × channels
 * @param shape frames, height, width and channels (1 or 3)
 * @param options frames per second (default 8) and zoom (default 4; the MP4's sides must be even)
 * @returns the MP4 file's bytes
 */
export async function encodeMp4(
  pixels: Uint8Array,
  shape: Mp4Shape,
  options: { fps?: number; zoom?: number } = {},
): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "tpdiff-mp4-" });
  try {
    await writeMp4(`${dir}/video.mp4`, pixels, shape, options);
    return await Deno.readFile(`${dir}/video.mp4`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Writes one video as H.264 MP4 (`yuv420p`, playable in browsers), each pixel drawn as a
 * `zoom` × `zoom` block, atomically.
 *
 * @param path the file to write
 * @param pixels bytes, frames × height × width × channels
 * @param shape frames, height, width and channels (1 or 3)
 * @param options frames per second (default 8) and zoom (default 4; the MP4's sides must be even)
 */
export async function writeMp4(
  path: string,
  pixels: Uint8Array,
  shape: Mp4Shape,
  options: { fps?: number; zoom?: number } = {},
): Promise<void> {
  if (!(await hasFfmpeg())) throw new ClipError(`${path}: ${FFMPEG_MISSING}`);
  const { frames, height, width, channels } = shape, zoom = options.zoom ?? 4;
  if (pixels.length !== frames * height * width * channels || ![1, 3].includes(channels)) {
    throw new RangeError(
      `pixels must hold frames × height × width × channels (1 or 3) bytes; got ${pixels.length} for ${
        JSON.stringify(shape)
      }`,
    );
  }
  if ((width * zoom) % 2 !== 0 || (height * zoom) % 2 !== 0) {
    throw new RangeError(`an MP4 in yuv420p needs even sides; ${width}×${height} at zoom ${zoom}`);
  }
  // MP4's index is written after the data, so ffmpeg writes a file (not a pipe): a temporary next
  // to the target, renamed over it only when complete.
  const temporary = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.mp4`;
  try {
    await run("ffmpeg", [
      ...["-v", "error", "-f", "rawvideo", "-pix_fmt", channels === 1 ? "gray" : "rgb24"],
      ...["-s", `${width}x${height}`, "-r", String(options.fps ?? 8), "-i", "-"],
      ...["-vf", `scale=${width * zoom}:${height * zoom}:flags=neighbor`],
      ...["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-movflags", "+faststart"],
      ...["-y", temporary],
    ], pixels);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied) {
      throw error;
    }
    throw new ClipError(`${path}: ffmpeg could not encode it (${(error as Error).message})`);
  }
}
