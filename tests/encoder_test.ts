import assert from "node:assert/strict";
import { datasetParams, generateDataset } from "../lib/data/mod.ts";
import { frechetDistance, gaussianFit } from "../lib/metrics/mod.ts";
import {
  createEncoder,
  ENCODER_FEATURES,
  encoderFromJson,
  encoderToJson,
  encodeVideos,
  initBackend,
} from "../lib/nn/mod.ts";
import { createRng } from "../lib/mod.ts";

Deno.test("an encoder survives its JSON round trip bit for bit, and rejects a foreign file", async () => {
  await initBackend("wasm");
  const encoder = createEncoder({ frames: 4, height: 16, width: 16 }, createRng(1));
  const pixels = Uint8Array.from({ length: 3 * 4 * 256 }, (_, i) => (i * 37) % 256);
  const { encoder: again, manifest } = encoderFromJson(
    encoderToJson(encoder, { note: 1 }),
    createRng(2),
  );
  assert.deepEqual(manifest.training, { note: 1 });
  assert.deepEqual(encodeVideos(again, pixels, 3), encodeVideos(encoder, pixels, 3));
  assert.throws(() => encoderFromJson('{"format":"x"}', createRng(0)), /not an encoder file/);
  assert.throws(() => encodeVideos(encoder, pixels, 2), /are not 2 videos of 4×16×16/);
});

Deno.test("the committed encoder tells real videos from frame-shuffled ones by FD", async () => {
  await initBackend("wasm");
  const text = await Deno.readTextFile(new URL("../bench/encoder/encoder.json", import.meta.url));
  const { encoder } = encoderFromJson(text, createRng(0));
  const n = 64, F = 16, size = 32 * 32;
  const set = (seed: number) =>
    generateDataset(
      datasetParams({ kind: "balls", count: n, frames: F, height: 32, width: 32, seed }),
    )
      .pixels;
  const a = set(11), b = set(12);
  const shuffled = new Uint8Array(b.length);
  const rng = createRng(5);
  for (let v = 0; v < n; v++) {
    const order = Array.from({ length: F }, (_, f) => f).sort(() => rng.uniform() - 0.5);
    order.forEach((src, f) =>
      shuffled.set(b.subarray((v * F + src) * size, (v * F + src + 1) * size), (v * F + f) * size)
    );
  }
  const fit = (p: Uint8Array) => gaussianFit(encodeVideos(encoder, p, n), ENCODER_FEATURES);
  const ref = fit(a);
  const real = frechetDistance(fit(b), ref), broken = frechetDistance(fit(shuffled), ref);
  assert.ok(broken > 3 * real, `FD real ${real}, shuffled ${broken}`);
});
