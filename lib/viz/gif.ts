/**
 * A small animated-GIF encoder (GIF89a, 256-level grayscale palette, LZW), for sample videos in
 * reports and notebooks.
 *
 * @module
 */

/** Options of {@link encodeGif}. */
export interface GifOptions {
  /** Delay per frame in hundredths of a second (default 12). */
  delay?: number;
  /** Integer magnification (default 2). */
  zoom?: number;
}

function lzw(indices: Uint8Array): Uint8Array {
  const minCodeSize = 8, clear = 256, end = 257;
  const out: number[] = [];
  let bitBuffer = 0, bitCount = 0;
  let codeSize = minCodeSize + 1;
  const emit = (code: number) => {
    bitBuffer |= code << bitCount;
    bitCount += codeSize;
    while (bitCount >= 8) {
      out.push(bitBuffer & 0xff);
      bitBuffer >>>= 8;
      bitCount -= 8;
    }
  };
  let dict = new Map<number, number>();
  let next = end + 1;
  emit(clear);
  let prefix = indices[0];
  for (let i = 1; i < indices.length; i++) {
    const k = indices[i];
    const key = (prefix << 8) | k;
    const found = dict.get(key);
    if (found !== undefined) {
      prefix = found;
      continue;
    }
    emit(prefix);
    if (next < 4096) {
      dict.set(key, next++);
      if (next > 1 << codeSize && codeSize < 12) codeSize++;
    } else {
      emit(clear);
      dict = new Map();
      next = end + 1;
      codeSize = minCodeSize + 1;
    }
    prefix = k;
  }
  emit(prefix);
  // The decoder adds one more entry after the last code, and may widen before the end code.
  if (next >= 1 << codeSize && codeSize < 12) codeSize++;
  emit(end);
  if (bitCount > 0) out.push(bitBuffer & 0xff);
  const blocks: number[] = [minCodeSize];
  for (let i = 0; i < out.length; i += 255) {
    const part = out.slice(i, i + 255);
    blocks.push(part.length, ...part);
  }
  blocks.push(0);
  return Uint8Array.from(blocks);
}

/**
 * Encodes grayscale frames as a looping animated GIF.
 *
 * @param frames bytes, [frames, height, width] row-major
 * @param shape frames, height, width
 * @param options delay and zoom
 * @returns the GIF file's bytes
 */
export function encodeGif(
  frames: Uint8Array,
  shape: { frames: number; height: number; width: number },
  options: GifOptions = {},
): Uint8Array {
  const { frames: count, height: h, width: w } = shape;
  const zoom = options.zoom ?? 2, delay = options.delay ?? 12;
  if (frames.length !== count * h * w) {
    throw new RangeError(`encodeGif: ${frames.length} pixels do not fill ${count}×${h}×${w}`);
  }
  const W = w * zoom, H = h * zoom;
  const bytes: number[] = [];
  const u16 = (v: number) => bytes.push(v & 0xff, (v >> 8) & 0xff);
  bytes.push(...new TextEncoder().encode("GIF89a"));
  u16(W);
  u16(H);
  bytes.push(0xf7, 0, 0); // global colour table, 256 entries
  for (let i = 0; i < 256; i++) bytes.push(i, i, i);
  bytes.push(0x21, 0xff, 11, ...new TextEncoder().encode("NETSCAPE2.0"), 3, 1, 0, 0, 0); // loop forever
  const image = new Uint8Array(W * H);
  for (let f = 0; f < count; f++) {
    bytes.push(0x21, 0xf9, 4, 0, delay & 0xff, delay >> 8, 0, 0);
    bytes.push(0x2c);
    u16(0);
    u16(0);
    u16(W);
    u16(H);
    bytes.push(0);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        image[y * W + x] = frames[f * h * w + Math.floor(y / zoom) * w + Math.floor(x / zoom)];
      }
    }
    for (const b of lzw(image)) bytes.push(b);
  }
  bytes.push(0x3b);
  return Uint8Array.from(bytes);
}
