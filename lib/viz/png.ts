/**
 * A small PNG encoder (8-bit grayscale or RGB) and frame-strip layout for videos, so that samples
 * can be saved and shown in notebooks without a browser.
 *
 * @module
 */
import { deflateSync } from "node:zlib";

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32 (ISO 3309, as PNG uses it).
 *
 * @param bytes the data
 * @returns the checksum
 */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Encodes an 8-bit grayscale or RGB image as PNG.
 *
 * @param pixels row-major bytes, height × width × channels
 * @param size the image's width, height and channels (1, the default, or 3)
 * @returns the PNG file's bytes
 */
export function encodePng(
  pixels: Uint8Array,
  size: { width: number; height: number; channels?: number },
): Uint8Array {
  const { width, height } = size, channels = size.channels ?? 1;
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`encodePng: channels must be 1 or 3; got ${channels}`);
  }
  if (pixels.length !== width * height * channels) {
    throw new RangeError(
      `encodePng: ${pixels.length} bytes do not fill ${width}×${height}×${channels}`,
    );
  }
  const row = width * channels;
  const raw = new Uint8Array(height * (row + 1));
  for (let y = 0; y < height; y++) {
    raw.set(pixels.subarray(y * row, (y + 1) * row), y * (row + 1) + 1);
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, channels === 1 ? 0 : 2, 0, 0, 0], 8); // 8-bit grayscale or RGB, no interlace
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", header),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

/** {@link frameStrip}'s defaults: zoom, gap in output pixels and the gap's grey value. */
export const STRIP_DEFAULTS = { zoom: 2, gap: 2, gapValue: 96 } as const;

/** Options of {@link frameStrip}. */
export interface StripOptions {
  /** Integer magnification (default 2). */
  zoom?: number;
  /** Gap between frames and rows, in output pixels (default 2). */
  gap?: number;
  /** Gap value 0–255 (default 96). */
  gapValue?: number;
}

/**
 * Lays videos out as one image: one row per video, frames left to right.
 *
 * @param pixels bytes, [videos, frames, height, width, channels] row-major
 * @param shape videos, frames, height, width and channels (1, the default, or 3)
 * @param options zoom and gaps
 * @returns the image bytes, its size and channels (for {@link encodePng})
 */
export function frameStrip(
  pixels: Uint8Array,
  shape: { videos: number; frames: number; height: number; width: number; channels?: number },
  options: StripOptions = {},
): { pixels: Uint8Array; width: number; height: number; channels: number } {
  const { videos, frames, height: h, width: w } = shape, c = shape.channels ?? 1;
  const zoom = options.zoom ?? STRIP_DEFAULTS.zoom, gap = options.gap ?? STRIP_DEFAULTS.gap;
  const gapValue = options.gapValue ?? STRIP_DEFAULTS.gapValue;
  if (pixels.length !== videos * frames * h * w * c) {
    throw new RangeError(
      `frameStrip: ${pixels.length} bytes do not fill ${videos}×${frames}×${h}×${w}×${c}`,
    );
  }
  const width = frames * w * zoom + (frames - 1) * gap;
  const height = videos * h * zoom + (videos - 1) * gap;
  const out = new Uint8Array(width * height * c).fill(gapValue);
  for (let v = 0; v < videos; v++) {
    for (let f = 0; f < frames; f++) {
      const src = (v * frames + f) * h * w;
      const x0 = f * (w * zoom + gap), y0 = v * (h * zoom + gap);
      for (let y = 0; y < h * zoom; y++) {
        for (let x = 0; x < w * zoom; x++) {
          const from = (src + Math.floor(y / zoom) * w + Math.floor(x / zoom)) * c;
          const to = ((y0 + y) * width + x0 + x) * c;
          for (let k = 0; k < c; k++) out[to + k] = pixels[from + k];
        }
      }
    }
  }
  return { pixels: out, width, height, channels: c };
}
