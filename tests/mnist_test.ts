import assert from "node:assert/strict";
import {
  createDataset,
  datasetFileName,
  datasetParams,
  decodeDataset,
  digitImage,
  encodeDataset,
  loadMnistDigits,
  MNIST_SHAPE,
  MNIST_SIZE,
  stampDigit,
} from "../lib/data/mod.ts";

const digits = await loadMnistDigits();
const small = datasetParams({ kind: "moving-mnist", count: 12, frames: 8, seed: 3 });

Deno.test("the mnist package's digits load with labels, split into two disjoint pools", () => {
  const n = digits.labels.length;
  assert.ok(n >= 9_000 && n <= 11_000, `${n} digits`);
  assert.equal(digits.images.length, n * MNIST_SIZE * MNIST_SIZE);
  const counts = Array.from({ length: 10 }, (_, d) => digits.labels.filter((l) => l === d).length);
  assert.ok(counts.every((c) => c > 800), `${counts}`);
  const { train, test } = digits.pools;
  assert.equal(train.length + test.length, n);
  assert.equal(new Set([...train, ...test]).size, n); // disjoint and covering
  // Every label is in both pools, about 9 : 1.
  for (let d = 0; d < 10; d++) {
    const inTest = test.filter((i) => digits.labels[i] === d).length;
    assert.ok(Math.abs(inTest / counts[d] - 0.1) < 0.01, `label ${d}: ${inTest} of ${counts[d]}`);
  }
  // Real ink: a digit has some dark and some bright pixels.
  const first = digits.images.subarray(0, MNIST_SIZE * MNIST_SIZE);
  assert.ok(first.some((v) => v === 0) && first.some((v) => v > 200));
});

Deno.test("digitImage averages s × s blocks, so a 14 × 14 digit keeps its ink", () => {
  const full = digitImage(digits, 7), half = digitImage(digits, 7, 14);
  assert.deepEqual(full, digits.images.subarray(7 * 784, 8 * 784));
  for (const [i, j] of [[0, 0], [6, 9], [13, 13]]) {
    const block = [0, 1].flatMap((a) => [0, 1].map((b) => full[(2 * i + a) * 28 + 2 * j + b]));
    assert.equal(half[i * 14 + j], Math.round(block.reduce((x, y) => x + y) / 4));
  }
  assert.throws(() => digitImage(digits, 7, 10), /digit size must divide 28; got 10/);
  assert.throws(() => digitImage(digits, -1), /digit index must be in \[0, \d+\]; got -1/);
});

Deno.test("stampDigit puts the digit's own pixels at an integer corner and interpolates between", () => {
  const image = digitImage(digits, 123, 14), at = { size: 14, height: 32, width: 32 };
  const canvas = new Float32Array(32 * 32);
  stampDigit(canvas, image, { ...at, left: 5, top: 11 });
  for (let i = 0; i < 32; i++) {
    for (let j = 0; j < 32; j++) {
      const inside = i >= 11 && i < 25 && j >= 5 && j < 19;
      const want = inside ? image[(i - 11) * 14 + (j - 5)] : 0;
      assert.equal(Math.round(255 * canvas[i * 32 + j]), want, `(${i}, ${j})`);
    }
  }
  // Half a pixel to the right: every pixel is the mean of its two horizontal neighbours.
  const shifted = new Float32Array(32 * 32);
  stampDigit(shifted, image, { ...at, left: 5.5, top: 11 });
  for (let i = 11; i < 25; i++) {
    for (let j = 6; j < 19; j++) {
      const want = (image[(i - 11) * 14 + (j - 6)] + image[(i - 11) * 14 + (j - 5)]) / 2 / 255;
      assert.ok(Math.abs(shifted[i * 32 + j] - want) < 1e-6);
    }
  }
});

Deno.test("Moving MNIST is deterministic, keeps its digits inside the frame and at their tracks", async () => {
  const a = await createDataset(small), b = await createDataset(small);
  assert.deepEqual(a.pixels, b.pixels);
  assert.notDeepEqual(a.pixels, (await createDataset({ ...small, seed: 4 })).pixels);
  const { count: N, frames: F, height: H, width: W, digitSize } = a.params;
  assert.equal(digitSize, 14); // the small-compute default at 32 pixels
  const r = digitSize! / 2;
  for (let n = 0; n < N; n++) {
    assert.equal(a.objectCounts[n], 2);
    for (let f = 0; f < F; f++) {
      // The frame is the max of both digits stamped at their tracks' corners.
      const canvas = new Float32Array(H * W);
      for (let m = 0; m < 2; m++) {
        const x = a.tracks[((n * 2 + m) * F + f) * 2], y = a.tracks[((n * 2 + m) * F + f) * 2 + 1];
        assert.ok(x >= r - 1e-4 && x <= W - r + 1e-4 && y >= r - 1e-4 && y <= H - r + 1e-4);
        const image = digitImage(digits, a.sources![n * 2 + m], digitSize);
        stampDigit(canvas, image, {
          left: x - r,
          top: y - r,
          size: digitSize!,
          height: H,
          width: W,
        });
      }
      const frame = a.pixels.subarray((n * F + f) * H * W, (n * F + f + 1) * H * W);
      const worst = Math.max(...frame.map((v, p) => Math.abs(v - 255 * canvas[p])));
      assert.ok(worst <= 0.5 + 1e-3, `video ${n} frame ${f}: off by ${worst}`);
    }
  }
});

Deno.test("Moving MNIST keeps labels, and test videos draw only digits training never sees", async () => {
  const train = await createDataset({ ...small, count: 200 });
  const test = await createDataset({ ...small, count: 200, split: "test", seed: 99 });
  const used = (d: typeof train) => new Set(Array.from(d.sources!));
  const inTrain = used(train), inTest = used(test);
  assert.ok(inTrain.size > 300 && inTest.size > 100, `${inTrain.size}, ${inTest.size}`);
  for (const i of inTest) assert.ok(!inTrain.has(i), `digit ${i} in both`);
  const pools = { train: new Set(digits.pools.train), test: new Set(digits.pools.test) };
  for (const i of inTrain) assert.ok(pools.train.has(i));
  for (const i of inTest) assert.ok(pools.test.has(i));
  for (let k = 0; k < train.sources!.length; k++) {
    assert.equal(train.objects[2 * k], MNIST_SHAPE + digits.labels[train.sources![k]]);
    assert.equal(train.objects[2 * k + 1], 7);
  }
});

Deno.test("Moving MNIST's files keep the digits' sources, and their names say split and size", async () => {
  const d = await createDataset(small);
  const back = decodeDataset(encodeDataset(d));
  assert.deepEqual(back.sources, d.sources);
  assert.deepEqual(back.params, d.params);
  assert.equal(datasetFileName(d.params), "moving-mnist-8x32x32-n12-o22-d14-train-s3.tpv");
  const standard = datasetParams({
    kind: "moving-mnist",
    count: 1,
    frames: 20,
    height: 64,
    width: 64,
  });
  assert.equal(standard.digitSize, 28);
  assert.deepEqual(standard.speedRange, [2, 4]);
  assert.throws(
    () => datasetParams({ kind: "moving-mnist", count: 1, digitSize: 10 }),
    /digitSize must divide 28 \(28, 14, 7, 4 or 2\) and be less than the frame's 32 pixels; got 10/,
  );
  assert.throws(
    () => datasetParams({ kind: "moving-mnist", count: 1, split: "val" as "test" }),
    /split must be one of train, test; got "val"/,
  );
});

Deno.test("the tracker finds two digits apart as two objects, and counts a crossing as one", async () => {
  const { detectVideos } = await import("../lib/metrics/mod.ts");
  const d = await createDataset({ ...small, count: 64, frames: 16, seed: 5 });
  const { frames: F, height: H, width: W, digitSize } = d.params;
  const found = detectVideos(d.pixels, { videos: 64, frames: F, height: H, width: W });
  const apart: number[] = [], overlapping: number[] = [];
  for (let n = 0; n < 64; n++) {
    for (let f = 0; f < F; f++) {
      const at = (m: number) => [0, 1].map((c) => d.tracks[((n * 2 + m) * F + f) * 2 + c]);
      const [a, b] = [at(0), at(1)];
      const gap = Math.max(Math.abs(a[0] - b[0]), Math.abs(a[1] - b[1])); // Chebyshev distance of the boxes
      // A digit's ink sits inside its box: boxes 0.8 of a digit apart leave a gap between the inks.
      if (gap >= 0.8 * digitSize!) apart.push(found[n][f].length);
      else if (gap < 0.4 * digitSize!) overlapping.push(found[n][f].length);
    }
  }
  const share = (v: number[], k: number) => v.filter((x) => x === k).length / v.length;
  assert.ok(
    apart.length > 100 && overlapping.length > 100,
    `${apart.length}, ${overlapping.length}`,
  );
  assert.ok(share(apart, 2) > 0.95, `apart: ${share(apart, 2)} found as two`);
  assert.ok(share(overlapping, 1) > 0.95, `overlapping: ${share(overlapping, 1)} found as one`);
});
