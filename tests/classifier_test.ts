import assert from "node:assert/strict";
import {
  classify,
  CROP,
  cropAt,
  loadDigitReader,
  readDigits,
  READER_PATH,
  readerToJson,
} from "../bench/classifier/reader.ts";
import {
  createDataset,
  datasetClasses,
  datasetParams,
  digitImage,
  loadMnistDigits,
  stampDigit,
} from "../lib/data/mod.ts";
import { detectVideos } from "../lib/metrics/mod.ts";

const digits = await loadMnistDigits();

Deno.test("cropAt(): a digit drawn at an integer corner is cropped back exactly, at 14 and 28 px", () => {
  for (const size of [14, 28]) {
    const index = digits.pools.test[17], side = 48, left = 9, top = 13;
    const image = digitImage(digits, index, size);
    const canvas = new Float32Array(side * side);
    stampDigit(canvas, image, { left, top, size, height: side, width: side });
    const frame = Uint8Array.from(canvas, (v) => Math.round(255 * v));
    const crop = cropAt(frame, { height: side, width: side }, {
      x: left + size / 2,
      y: top + size / 2,
    }, size);
    const small = digitImage(digits, index, CROP); // 2 × 2 block averages of the 28-px digit
    const worst = Math.max(...crop.map((v, i) => Math.abs(v - small[i] / 255)));
    // Exact at 14 px; at 28 px the crop averages the same blocks before rounding to bytes.
    assert.ok(worst <= (size === CROP ? 1e-6 : 0.5 / 255 + 1e-6), `${size} px: ${worst}`);
  }
  // Outside the frame is zero.
  const empty = cropAt(new Uint8Array(16 * 16).fill(255), { height: 16, width: 16 }, {
    x: 0,
    y: 0,
  });
  assert.equal(empty[0], 0);
  assert.equal(empty[CROP * CROP - 1], 1);
  assert.throws(
    () => cropAt(new Uint8Array(4), { height: 2, width: 2 }, { x: 1, y: 1 }, 20),
    /multiple of 14/,
  );
});

Deno.test("the committed digit reader reads held-out test digits as its file says, and round-trips", async () => {
  const reader = await loadDigitReader();
  const pool = digits.pools.test;
  let right = 0;
  for (const index of pool) {
    const p = classify(reader, Float32Array.from(digitImage(digits, index, CROP), (v) => v / 255));
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    if (p.indexOf(Math.max(...p)) === digits.labels[index]) right++;
  }
  // Centred without jitter or speckle: at least the accuracy it was trained to (recorded in the file).
  assert.ok(right / pool.length >= 0.9, `${right} of ${pool.length}`);
  const again = JSON.parse(readerToJson(reader));
  assert.equal(again.weights, JSON.parse(await Deno.readTextFile(READER_PATH)).weights);
});

Deno.test("readDigits(): real held-out Moving MNIST videos show their first digit among the two read", async () => {
  const reader = await loadDigitReader();
  const dataset = await createDataset(
    datasetParams({ kind: "moving-mnist", count: 32, seed: 5, split: "test" }),
  );
  const [n, F, H, W] = dataset.shape;
  const found = detectVideos(dataset.pixels, { videos: n, frames: F, height: H, width: W });
  const read = readDigits(reader, dataset.pixels, found, {
    videos: n,
    frames: F,
    height: H,
    width: W,
    digitSize: dataset.params.digitSize,
  });
  const first = datasetClasses(dataset).labels;
  const hits = read.filter((labels, i) => labels.includes(first[i])).length;
  assert.ok(hits / n >= 0.8, `${hits} of ${n}`);
  // One label per video: the most probable one only.
  const one = readDigits(reader, dataset.pixels, found, {
    videos: n,
    frames: F,
    height: H,
    width: W,
  }, 1);
  assert.ok(one.every((labels, i) => labels.length === 1 && labels[0] === read[i][0]));
});
