import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  avgPool2,
  backendCapabilities,
  conv2d,
  fromPatches,
  groupNorm,
  initBackend,
  toPatches,
  upNearest2,
} from "../lib/nn/mod.ts";
import { maxDiff, values } from "./nn_helpers.ts";
import { createRng } from "../lib/mod.ts";
import { assertThrowsWith } from "./helpers.ts";

function convGrads(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  weights: tf.Tensor,
  forwardOnlyGradient: boolean | undefined,
) {
  return tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, { forwardOnlyGradient }), weights))
  )([x, w]);
}

Deno.test("the forward-only conv2d gradient equals tfjs's own gradients on the cpu backend", async () => {
  await initBackend("cpu");
  assert.equal(backendCapabilities().conv2dFilterGradient, true);
  const rng = createRng(5);
  const draw = (shape: number[]) =>
    tf.tensor(rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b))), shape);
  for (const [kh, kw, cin, cout] of [[3, 3, 3, 4], [3, 1, 5, 2], [1, 1, 2, 3], [5, 3, 2, 2]]) {
    const x = draw([2, 7, 6, cin]) as tf.Tensor4D, w = draw([kh, kw, cin, cout]) as tf.Tensor4D;
    const weights = draw([2, 7, 6, cout]);
    const [dxRef, dwRef] = convGrads(x, w, weights, false);
    const [dx, dw] = convGrads(x, w, weights, true);
    const scale = Math.max(...(await values(tf.abs(dwRef))));
    assert.ok(maxDiff(await values(dx), await values(dxRef)) < 1e-4 * scale, `dx ${kh}×${kw}`);
    assert.ok(maxDiff(await values(dw), await values(dwRef)) < 1e-4 * scale, `dw ${kh}×${kw}`);
    assert.deepEqual(dw.shape, w.shape);
  }
  assertThrowsWith(
    () => conv2d(tf.zeros([1, 4, 4, 1]), tf.zeros([2, 2, 1, 1])),
    /kernel sizes must be odd .*; got 2×2/,
  );
});

Deno.test("on wasm (no Conv2DBackpropFilter) conv2d trains, with the cpu backend's gradients", async () => {
  await initBackend("cpu");
  const rng = createRng(6);
  const xs = rng.fillNormal(new Float32Array(2 * 8 * 8 * 3)),
    ws = rng.fillNormal(new Float32Array(27 * 4));
  const ys = rng.fillNormal(new Float32Array(2 * 8 * 8 * 4));
  const run = async () => {
    const [dx, dw] = convGrads(
      tf.tensor4d(xs, [2, 8, 8, 3]),
      tf.tensor4d(ws, [3, 3, 3, 4]),
      tf.tensor(ys, [2, 8, 8, 4]),
      undefined,
    );
    return [await values(dx), await values(dw)];
  };
  const reference = await run();
  await initBackend("wasm");
  assert.equal(backendCapabilities().conv2dFilterGradient, false);
  const onWasm = await run();
  assert.ok(maxDiff(onWasm[0], reference[0]) < 1e-3);
  assert.ok(maxDiff(onWasm[1], reference[1]) < 1e-3);
});

Deno.test("space helpers: patches round-trip, pooling averages, nearest upsampling copies, group norm normalises", async () => {
  await initBackend("wasm");
  const x = tf.tensor4d(Float32Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => Math.sin(i)), [
    2,
    8,
    8,
    3,
  ]);
  assert.deepEqual(await values(fromPatches(toPatches(x, 4), 4)), await values(x));
  const up = upNearest2(x);
  assert.deepEqual(up.shape, [2, 16, 16, 3]);
  assert.ok(
    maxDiff(await values(avgPool2(up)), await values(x)) < 1e-6,
    "pooling undoes nearest upsampling",
  );
  const block = await values(tf.slice(up, [1, 6, 10, 2], [1, 2, 2, 1]));
  assert.ok(block.every((v) => v === block[0]), "each 2×2 block is one copy");
  const n = groupNorm(tf.add(tf.mul(x, 3), 1) as tf.Tensor4D, 3);
  const { mean, variance } = tf.moments(n, [1, 2]);
  assert.ok(Math.max(...(await values(tf.abs(mean)))) < 1e-5);
  assert.ok(maxDiff(await values(variance), [1, 1, 1, 1, 1, 1]) < 1e-3);
});
