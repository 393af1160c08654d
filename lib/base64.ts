/**
 * Base64 for bytes, in chunks (a spread of a whole large array overflows the call stack): used for
 * weight files (the benchmark encoder, the digit reader) and data URIs.
 *
 * @module
 */

/**
 * Encodes bytes as base64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { base64ToBytes, bytesToBase64 } from "./base64.ts";
 * assert.equal(bytesToBase64(Uint8Array.of(1, 2, 255)), "AQL/");
 * assert.deepEqual(base64ToBytes("AQL/"), Uint8Array.of(1, 2, 255));
 * ```
 *
 * @param bytes the bytes
 * @returns their base64 text
 */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Decodes base64 text to bytes.
 *
 * @param text base64 text
 * @returns the bytes
 */
export function base64ToBytes(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}
