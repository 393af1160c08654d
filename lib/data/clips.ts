/**
 * Your own clips in: decode GIFs and PNG frames to RGBA (with the npm packages `omggif` and
 * `fast-png`), fit every frame to the model's size (centre crop to its aspect ratio, then an exact
 * area-weighted resize), convert to grayscale or keep RGB, and cut a clip into windows of frames at a
 * stride. MP4 and WebM come in through `ffmpeg` (`./ffmpeg.ts`). `deno task import-videos` puts
 * these together into a `.tpv` file.
 *
 * The encoders in `lib/viz` stay hand-written (they write one well-defined subset and are tested
 * against independent decoders); reading what other programs wrote needs every variant of the
 * formats (palettes, 16-bit, interlacing, transparency, disposal), which the packages cover.
 *
 * @module
 */
import { decode as decodePngFile } from "fast-png";
import omggif from "omggif";
import { InputError, show } from "../checks.ts";

/** Decoded frames of one clip: 8-bit RGBA, all of one size. */
export interface RgbaClip {
  /** Frame width in pixels. */
  width: number;
  /** Frame height in pixels. */
  height: number;
  /** Frames, each width × height × 4 bytes (RGBA). */
  frames: Uint8Array[];
}

/** A clip that cannot be read, naming it and why. */
export class ClipError extends InputError {
  /**
   * Creates the error.
   *
   * @param message what is wrong, naming the file
   */
  constructor(message: string) {
    super(message);
    this.name = "ClipError";
  }
}

interface GifFrameInfo {
  x: number;
  y: number;
  width: number;
  height: number;
  disposal: number;
}
interface GifReader {
  width: number;
  height: number;
  numFrames(): number;
  frameInfo(i: number): GifFrameInfo;
  decodeAndBlitFrameRGBA(i: number, pixels: Uint8Array): void;
}

/**
 * Decodes every frame of a GIF, composited as a viewer shows it (each frame drawn over the last,
 * transparent pixels kept, disposal methods 2 and 3 applied), on a black background.
 *
 * @param bytes the file's bytes
 * @param name the file, for errors
 * @returns the frames
 */
export function decodeGif(bytes: Uint8Array, name = "GIF"): RgbaClip {
  let reader: GifReader;
  try {
    reader = new (omggif as unknown as { GifReader: new (b: Uint8Array) => GifReader }).GifReader(
      bytes,
    );
  } catch (error) {
    throw new ClipError(`${name}: not a readable GIF (${(error as Error).message})`);
  }
  const { width, height } = reader;
  const canvas = new Uint8Array(width * height * 4);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < reader.numFrames(); i++) {
    const info = reader.frameInfo(i);
    const before = info.disposal === 3 ? canvas.slice() : undefined;
    try {
      reader.decodeAndBlitFrameRGBA(i, canvas);
    } catch (error) {
      throw new ClipError(`${name}: frame ${i} is unreadable (${(error as Error).message})`);
    }
    frames.push(canvas.slice());
    if (info.disposal === 2) {
      for (let y = info.y; y < Math.min(height, info.y + info.height); y++) {
        canvas.fill(
          0,
          (y * width + info.x) * 4,
          (y * width + Math.min(width, info.x + info.width)) * 4,
        );
      }
    } else if (before) canvas.set(before);
  }
  if (frames.length === 0) throw new ClipError(`${name}: the GIF has no frames`);
  return { width, height, frames };
}

/**
 * Decodes a PNG of any colour type and depth (gray, gray + alpha, RGB, RGBA, palette; 1–16 bits)
 * to 8-bit RGBA.
 *
 * @param bytes the file's bytes
 * @param name the file, for errors
 * @returns its size and RGBA pixels
 */
export function decodePng(
  bytes: Uint8Array,
  name = "PNG",
): { width: number; height: number; rgba: Uint8Array } {
  let image: ReturnType<typeof decodePngFile>;
  try {
    image = decodePngFile(bytes);
  } catch (error) {
    throw new ClipError(`${name}: not a readable PNG (${(error as Error).message})`);
  }
  const { width, height, channels, depth, data, palette } = image;
  const n = width * height, rgba = new Uint8Array(n * 4);
  const max = 2 ** depth - 1;
  const at = (i: number) => Math.round((255 * Number(data[i])) / max);
  for (let p = 0; p < n; p++) {
    let r: number, g: number, b: number, a = 255;
    if (palette) {
      const entry = palette[Number(data[p])] ?? [0, 0, 0];
      [r, g, b] = entry;
      a = entry[3] ?? 255;
    } else if (channels <= 2) {
      r = g = b = at(p * channels);
      if (channels === 2) a = at(p * 2 + 1);
    } else {
      [r, g, b] = [at(p * channels), at(p * channels + 1), at(p * channels + 2)];
      if (channels === 4) a = at(p * 4 + 3);
    }
    rgba.set([r, g, b, a], p * 4);
  }
  return { width, height, rgba };
}

/** Where a frame goes: the model's size and channels. */
export interface FrameTarget {
  /** Height in pixels. */
  height: number;
  /** Width in pixels. */
  width: number;
  /** 1 (grayscale, BT.601 luma) or 3 (RGB). */
  channels: 1 | 3;
}

/**
 * Fits one RGBA frame to the target: crops the largest centred region with the target's aspect
 * ratio, resizes it by exact area weighting (each output pixel averages the source area it covers,
 * so a same-size frame is copied unchanged), composites alpha over black, and converts to
 * grayscale (0.299 R + 0.587 G + 0.114 B) or keeps RGB.
 *
 * @param rgba the frame, width × height × 4
 * @param size its width and height
 * @param target the output size and channels
 * @returns bytes, height × width × channels
 */
export function fitFrame(
  rgba: Uint8Array,
  size: { width: number; height: number },
  target: FrameTarget,
): Uint8Array {
  const { width: sw, height: sh } = size, { width: W, height: H, channels } = target;
  const cw = Math.min(sw, Math.round((sh * W) / H)), ch = Math.min(sh, Math.round((sw * H) / W));
  const x0 = Math.floor((sw - cw) / 2), y0 = Math.floor((sh - ch) / 2);
  const xs = areaWeights(cw, W), ys = areaWeights(ch, H);
  const out = new Uint8Array(H * W * channels);
  const rgb = [0, 0, 0];
  for (let i = 0; i < H; i++) {
    for (let j = 0; j < W; j++) {
      rgb.fill(0);
      for (const [yi, wy] of ys[i]) {
        for (const [xj, wx] of xs[j]) {
          const p = ((y0 + yi) * sw + x0 + xj) * 4, w = wy * wx * (rgba[p + 3] / 255);
          rgb[0] += w * rgba[p];
          rgb[1] += w * rgba[p + 1];
          rgb[2] += w * rgba[p + 2];
        }
      }
      const o = (i * W + j) * channels;
      if (channels === 1) out[o] = Math.round(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]);
      else for (let c = 0; c < 3; c++) out[o + c] = Math.round(rgb[c]);
    }
  }
  return out;
}

/** For each of `n` output pixels, the source pixels of a length-`m` axis it covers and their weights. */
function areaWeights(m: number, n: number): [number, number][][] {
  return Array.from({ length: n }, (_, k) => {
    const from = (k * m) / n, to = ((k + 1) * m) / n, parts: [number, number][] = [];
    for (let s = Math.floor(from); s < Math.ceil(to); s++) {
      const overlap = Math.min(to, s + 1) - Math.max(from, s);
      if (overlap > 1e-12) parts.push([s, overlap / (to - from)]);
    }
    return parts;
  });
}

/**
 * The windows a clip is cut into: as many as fit, one after another, each `frames` frames taken
 * every `stride` source frames.
 *
 * @param length the clip's frames
 * @param options frames per window and the stride
 * @returns each window's source frame indices (empty when the clip is too short)
 */
export function clipWindows(
  length: number,
  options: { frames: number; stride: number },
): number[][] {
  const { frames, stride } = options;
  for (const [key, value] of Object.entries({ frames, stride })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${key} must be a positive integer; got ${show(value)}`);
    }
  }
  const span = frames * stride, windows: number[][] = [];
  for (let start = 0; start + (frames - 1) * stride < length; start += span) {
    windows.push(Array.from({ length: frames }, (_, f) => start + f * stride));
  }
  return windows;
}

/**
 * Source frames one window needs: (frames − 1) × stride + 1.
 *
 * @param options frames per window and the stride
 * @returns the shortest clip that gives a window
 */
export function framesNeeded(options: { frames: number; stride: number }): number {
  return (options.frames - 1) * options.stride + 1;
}
