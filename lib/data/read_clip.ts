/**
 * Reading one clip from disk, whatever it is stored as: a GIF, a single PNG (a one-frame clip), a
 * folder of PNG frames (in natural name order), or a video file through `ffmpeg`. Used by
 * `deno task import-videos` and by `deno task sample --given FILE`.
 *
 * @module
 */
import { extname, join } from "node:path";
import { ClipError, decodeGif, decodePng, type RgbaClip } from "./clips.ts";
import { decodeVideoFile } from "./ffmpeg.ts";

/** The video file extensions read through `ffmpeg`. */
export const VIDEO_EXTENSIONS: readonly string[] = [
  ".mp4",
  ".webm",
  ".mov",
  ".mkv",
  ".avi",
  ".m4v",
];

/** How a clip is stored. */
export type ClipKind = "gif" | "png" | "png-frames" | "video";

/**
 * What a file or folder name is read as.
 *
 * @param name the file's or folder's name
 * @param isDirectory whether it is a folder (read as PNG frames)
 * @returns its kind, or undefined where it is no clip
 */
export function clipKindOf(name: string, isDirectory = false): ClipKind | undefined {
  if (isDirectory) return "png-frames";
  const ext = extname(name).toLowerCase();
  if (ext === ".gif") return "gif";
  if (ext === ".png") return "png";
  return VIDEO_EXTENSIONS.includes(ext) ? "video" : undefined;
}

/**
 * A folder's entries in natural name order (frame2 before frame10).
 *
 * @param path the folder
 * @returns its entries, sorted
 */
export async function listDirNatural(path: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(path)) entries.push(entry);
  return entries.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
}

/**
 * Reads one clip's frames as 8-bit RGBA.
 *
 * @param path a GIF, PNG or video file, or a folder of PNG frames
 * @param kind how to read it (default: from the name, or a folder's PNG frames)
 * @returns the clip
 * @throws ClipError naming the path when it cannot be read, is no clip, or its frames differ in size
 */
export async function readClip(path: string, kind?: ClipKind): Promise<RgbaClip> {
  if (kind === undefined) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch {
      throw new ClipError(`${path}: no such file or folder`);
    }
    kind = clipKindOf(path, info.isDirectory);
    if (kind === undefined) {
      throw new ClipError(
        `${path}: not a clip (a GIF, a PNG, a folder of PNG frames, or ${
          VIDEO_EXTENSIONS.join(", ")
        } through ffmpeg)`,
      );
    }
  }
  if (kind === "video") return await decodeVideoFile(path);
  if (kind === "gif") return decodeGif(await readBytes(path), path);
  if (kind === "png") {
    const image = decodePng(await readBytes(path), path);
    return { width: image.width, height: image.height, frames: [image.rgba] };
  }
  let entries: Deno.DirEntry[];
  try {
    entries = await listDirNatural(path);
  } catch (error) {
    throw new ClipError(`${path}: cannot be read (${(error as Error).message})`);
  }
  const names = entries.filter((e) => e.isFile && clipKindOf(e.name) === "png").map((e) => e.name);
  if (names.length === 0) throw new ClipError(`${path}: the folder holds no PNG frames`);
  const frames: Uint8Array[] = [];
  let first: { name: string; width: number; height: number } | undefined;
  for (const name of names) {
    const file = join(path, name);
    const image = decodePng(await readBytes(file), file);
    first ??= { name, width: image.width, height: image.height };
    if (image.width !== first.width || image.height !== first.height) {
      throw new ClipError(
        `${path}: frames are not all one size: ${first.name} is ${first.width}×${first.height}, ` +
          `${name} is ${image.width}×${image.height}`,
      );
    }
    frames.push(image.rgba);
  }
  return { width: first!.width, height: first!.height, frames };
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new ClipError(`${path}: cannot be read (${(error as Error).message})`);
  }
}
