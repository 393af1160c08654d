/**
 * A small animated-GIF encoder (GIF89a, LZW), for sample videos in reports and notebooks: grayscale
 * frames keep all 256 levels; RGB frames are mapped to the nearest colour of a fixed 6 × 7 × 6 cube
 * (no dithering, so a still region stays still).
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

/** The RGB palette: levels 0, 51, …, 255 of red and blue, 0, 42.5, …, 255 of green. */
const CUBE = { r: 6, g: 7, b: 6 } as const;

/**
 * The palette index of an RGB colour: its nearest entry in the 6 × 7 × 6 cube.
 *
 * @param r red 0–255
 * @param g green 0–255
 * @param b blue 0–255
 * @returns the index, 0–251
 */
export function cubeIndex(r: number, g: number, b: number): number {
  const level = (v: number, n: number) => Math.round((v * (n - 1)) / 255);
  return (level(r, CUBE.r) * CUBE.g + level(g, CUBE.g)) * CUBE.b + level(b, CUBE.b);
}

function cubePalette(): number[] {
  const entries: number[] = [];
  const value = (i: number, n: number) => Math.round((i * 255) / (n - 1));
  for (let r = 0; r < CUBE.r; r++) {
    for (let g = 0; g < CUBE.g; g++) {
      for (let b = 0; b < CUBE.b; b++) {
        entries.push(value(r, CUBE.r), value(g, CUBE.g), value(b, CUBE.b));
      }
    }
  }
  while (entries.length < 256 * 3) entries.push(0, 0, 0);
  return entries;
}

/**
 * Encodes grayscale or RGB frames as a looping animated GIF.
 *
 * @param frames bytes, [frames, height, width, channels] row-major
 * @param shape frames, height, width and channels (1, the default, or 3)
 * @param options delay and zoom
 * @returns the GIF file's bytes
 */
export function encodeGif(
  frames: Uint8Array,
  shape: { frames: number; height: number; width: number; channels?: number },
  options: GifOptions = {},
): Uint8Array {
  const { frames: count, height: h, width: w } = shape, c = shape.channels ?? 1;
  const zoom = options.zoom ?? 2, delay = options.delay ?? 12;
  if ((c !== 1 && c !== 3) || frames.length !== count * h * w * c) {
    throw new RangeError(
      `encodeGif: ${frames.length} bytes do not fill ${count}×${h}×${w}×${c} (channels 1 or 3)`,
    );
  }
  const W = w * zoom, H = h * zoom;
  const bytes: number[] = [];
  const u16 = (v: number) => bytes.push(v & 0xff, (v >> 8) & 0xff);
  bytes.push(...new TextEncoder().encode("GIF89a"));
  u16(W);
  u16(H);
  bytes.push(0xf7, 0, 0); // global colour table, 256 entries
  if (c === 1) { for (let i = 0; i < 256; i++) bytes.push(i, i, i); }
  else bytes.push(...cubePalette());
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
        const p = (f * h * w + Math.floor(y / zoom) * w + Math.floor(x / zoom)) * c;
        image[y * W + x] = c === 1 ? frames[p] : cubeIndex(frames[p], frames[p + 1], frames[p + 2]);
      }
    }
    for (const b of lzw(image)) bytes.push(b);
  }
  bytes.push(0x3b);
  return Uint8Array.from(bytes);
}
