/**
 * CRC-32 (IEEE 802.3, the checksum of zip and PNG) for the payloads of dataset files and
 * checkpoints: a flipped bit, a zeroed block or a swapped byte changes it.
 *
 * @module
 */

const TABLE = (() => {
  const table = new Uint32Array(256 * 4);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  // Slicing by four: tables for the next three bytes, so the loop eats 32 bits at a time.
  for (let n = 0; n < 256; n++) {
    for (let s = 1; s < 4; s++) {
      const prev = table[(s - 1) * 256 + n];
      table[s * 256 + n] = (table[prev & 0xff] ^ (prev >>> 8)) >>> 0;
    }
  }
  return table;
})();

/**
 * The CRC-32 of some bytes, as 8 lowercase hex digits.
 *
 * @param bytes the bytes (any typed array; its underlying bytes are read)
 * @returns the checksum, e.g. `"cbf43926"` for the ASCII text `123456789`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc32 } from "./checksum.ts";
 * assert.equal(crc32(new TextEncoder().encode("123456789")), "cbf43926"); // the standard check value
 * ```
 */
export function crc32(bytes: ArrayBufferView): string {
  const b = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let c = 0xffffffff, i = 0;
  const n4 = b.length - (b.length % 4);
  for (; i < n4; i += 4) {
    c ^= b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
    c = TABLE[768 + (c & 0xff)] ^ TABLE[512 + ((c >>> 8) & 0xff)] ^
      TABLE[256 + ((c >>> 16) & 0xff)] ^ TABLE[c >>> 24];
  }
  for (; i < b.length; i++) c = TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return ((c ^ 0xffffffff) >>> 0).toString(16).padStart(8, "0");
}
