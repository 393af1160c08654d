/**
 * The native kernels (oneDNN through Deno's FFI) against tfjs's cpu backend, and the backend
 * choice with and without the library. Kernel tests are skipped where oneDNN 2.x cannot be
 * loaded; CI installs it (`libdnnl2`).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { datasetParams, generateDataset, toModelSpace } from "../lib/data/mod.ts";
import {
  createDenoiser,
  denoiserConfig,
  groupNormSilu,
  initBackend,
  Trainer,
} from "../lib/nn/mod.ts";
import { loadDnnl, NativeUnavailableError } from "../lib/nn/native/mod.ts";
import { createRng } from "../lib/mod.ts";
import { tinyTrainConfig } from "./helpers.ts";
import { task, TINY } from "./task_helpers.ts";

const available = (() => {
  try {
    loadDnnl();
    return true;
  } catch (error) {
    if (error instanceof NativeUnavailableError) return false;
    throw error;
  }
})();

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** |a − b|∞ ≤ tol · (1 + |b|∞): float32 sums of a few hundred terms. */
function assertNear(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  assert.ok(worst <= tol * (1 + maxAbs(b)), `${what}: max error ${worst} (scale ${maxAbs(b)})`);
}

/** Values and gradients of Σ r ⊙ f(inputs) for random r, on one backend. */
async function valueAndGrads(
  backend: string,
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: Float32Array[],
  shapes: number[][],
  seed: number,
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const xs = inputs.map((v, i) => tf.tensor(v, shapes[i]));
    const y = f(...xs);
    const r = tf.tensor(createRng(seed).fillNormal(new Float32Array(y.size)), y.shape);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), r)))(xs);
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

async function compareWithCpu(
  name: string,
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  shapes: number[][],
  tol = 2e-5,
): Promise<void> {
  const rng = createRng(name);
  const inputs = shapes.map((s) => rng.fillNormal(new Float32Array(s.reduce((a, b) => a * b, 1))));
  const want = await valueAndGrads("cpu", f, inputs, shapes, 5);
  const got = await valueAndGrads("native", f, inputs, shapes, 5);
  ["value", ...shapes.map((_, i) => `gradient ${i}`)].forEach((what, i) =>
    assertNear(got[i], want[i], tol, `${name}: ${what}`)
  );
}

Deno.test({
  name: "native conv2d equals the cpu backend: forward, input and filter gradients, odd shapes",
  ignore: !available,
  async fn() {
    await initBackend("native");
    const cases: [string, number[], number[], number | [number, number], "same" | "valid"][] = [
      ["model 3×3", [8, 16, 16, 32], [3, 3, 32, 48], 1, "same"],
      ["1×1", [4, 8, 8, 48], [1, 1, 48, 32], 1, "same"],
      ["3×1", [2, 9, 7, 5], [3, 1, 5, 6], 1, "same"],
      ["1×3", [2, 9, 7, 5], [1, 3, 5, 6], 1, "same"],
      ["batch 1, valid", [1, 11, 10, 3], [3, 3, 3, 4], 1, "valid"],
      ["stride 2, same", [3, 10, 9, 4], [3, 3, 4, 5], 2, "same"],
      ["strides 2×1, valid, 5×5", [2, 12, 11, 3], [5, 5, 3, 2], [2, 1], "valid"],
    ];
    for (const [name, xs, ws, strides, pad] of cases) {
      await compareWithCpu(
        name,
        (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, pad),
        [xs, ws],
        5e-5,
      );
    }
    assert.equal(tf.getKernel("Conv2DBackpropFilter", "native") !== undefined, true);
  },
});

Deno.test({
  name: "native BatchMatMul equals the cpu backend with transposes and a broadcast side",
  ignore: !available,
  async fn() {
    await initBackend("native");
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = ta ? [3, 6, 4] : [3, 4, 6], b = tb ? [3, 5, 6] : [3, 6, 5];
      await compareWithCpu(
        `matmul ${ta} ${tb}`,
        (x, y) => tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, ta, tb),
        [a, b],
      );
    }
    // One side a single matrix (tfjs's own gradient does not reduce a broadcast side: values only).
    const a = createRng(8).fillNormal(new Float32Array(4 * 3 * 6));
    const b = createRng(9).fillNormal(new Float32Array(6 * 7));
    const product = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => tf.matMul(tf.tensor(a, [4, 3, 6]), tf.tensor(b, [1, 6, 7])).dataSync());
    };
    assertNear(await product("native"), await product("cpu"), 2e-5, "broadcast");
    await compareWithCpu("dense", (x, y) => tf.matMul(x, y), [[1, 64], [64, 128]]);
  },
});

Deno.test({
  name: "native Identity shares its input's buffer: values equal, one buffer, no leak",
  ignore: !available,
  async fn() {
    await initBackend("native");
    const x = tf.tensor([1, 2, 3, 4], [2, 2]);
    const before = tf.memory();
    const y = tf.engine().runKernel("Identity", { x }) as tf.Tensor;
    assert.deepEqual(Array.from(await y.data()), [1, 2, 3, 4]);
    assert.equal(y.dataId, x.dataId, "one buffer, two references");
    x.dispose();
    assert.deepEqual(Array.from(await y.data()), [1, 2, 3, 4], "outlives its source");
    y.dispose();
    assert.equal(tf.memory().numTensors, before.numTensors - 1);
  },
});

const config = tinyTrainConfig();

async function losses(backend: string, steps: number): Promise<number[]> {
  await initBackend(backend as "native");
  const model = createDenoiser(
    denoiserConfig({ height: 16, width: 16, widths: [16, 24], patch: 2 }),
    createRng(1),
  );
  const trainer = new Trainer(config, model, createRng(2));
  const data = generateDataset(
    datasetParams({ kind: "balls", count: 8, frames: 8, height: 16, width: 16, seed: 3 }),
  );
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const before = tf.memory().numTensors;
    out.push((await trainer.trainStep(toModelSpace(data, [i % 8, (i + 3) % 8, 5, 6]))).loss);
    // The first step fills per-backend caches (the filter-flip matrices on wasm).
    if (i > 0) {
      assert.equal(tf.memory().numTensors, before, `step ${i + 1} on ${backend} leaks no tensors`);
    }
  }
  model.params.dispose();
  return out;
}

Deno.test({
  name: "training on native tracks wasm (losses within 1e-4 relative) and is deterministic",
  ignore: !available,
  async fn() {
    const wasm = await losses("wasm", 6);
    const native = await losses("native", 6);
    const again = await losses("native", 6);
    assert.deepEqual(again, native, "same seed, same losses, bit for bit");
    for (let i = 0; i < wasm.length; i++) {
      assert.ok(
        Math.abs(native[i] - wasm[i]) <= 1e-4 * wasm[i],
        `step ${i + 1}: native ${native[i]}, wasm ${wasm[i]}`,
      );
    }
  },
});

Deno.test("without oneDNN, auto falls back to wasm with one line and --backend native exits 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = { TPDIFF_DNNL: `${dir}/libdnnl-missing.so.2` };
    const native = await task(
      "train_small.ts",
      [...TINY, "--steps=1", "--backend=native"],
      dir,
      env,
    );
    assert.equal(native.code, 2, native.stderr);
    assert.match(
      native.stderr,
      /^error: oneDNN could not be loaded from .*apt-get install libdnnl2/,
    );
    assert.equal(native.stderr.trim().split("\n").length, 1);
    const auto = await task("train_small.ts", [...TINY, "--steps=1", "--out=run"], dir, env);
    assert.equal(auto.code, 0, auto.stderr);
    const notes = auto.stdout.split("\n").filter((l) => l.startsWith("note: native kernels"));
    assert.equal(notes.length, 1);
    assert.match(auto.stdout, /backend wasm \(tfjs/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "fused group norm + SiLU equals its composition, values and gradients, and finite differences",
  ignore: !available,
  async fn() {
    await initBackend("native");
    for (
      const [shape, groups] of [[[3, 5, 4, 12], 4], [[2, 8, 8, 32], 8], [[1, 3, 3, 6], 1]] as const
    ) {
      const x = createRng(shape.join()).fillNormal(
        new Float32Array(shape.reduce((a: number, b: number) => a * b, 1)),
      );
      // Shift and scale per channel, so that the statistics matter.
      for (let i = 0; i < x.length; i++) x[i] = 3 * x[i] + (i % shape[3]) - 2;
      const run = (fused: boolean) =>
        valueAndGrads(
          "native",
          (t) => groupNormSilu(t as tf.Tensor4D, groups, { fused }),
          [x],
          [[...shape]],
          11,
        );
      const [fusedValue, fusedGrad] = await run(true);
      const [plainValue, plainGrad] = await run(false);
      // The composition accumulates its moments in float32, the kernel in float64.
      assertNear(fusedValue, plainValue, 1e-5, `${shape} value`);
      assertNear(fusedGrad, plainGrad, 2e-5, `${shape} gradient`);
      // Central differences of Σ r ⊙ y in float64 terms of the float32 kernel, at a few entries.
      const r = createRng(11).fillNormal(new Float32Array(x.length));
      const objective = (v: Float32Array) =>
        tf.tidy(() => {
          const y = groupNormSilu(tf.tensor4d(v, [...shape]), groups, { fused: true });
          return tf.sum(tf.mul(y, tf.tensor(r, y.shape))).dataSync()[0];
        });
      for (const i of [0, 7, x.length - 1]) {
        const h = 1e-2, up = x.slice(), down = x.slice();
        up[i] += h;
        down[i] -= h;
        const numeric = (objective(up) - objective(down)) / (2 * h);
        assert.ok(
          Math.abs(numeric - fusedGrad[i]) <= 2e-2 * (1 + Math.abs(numeric)),
          `${shape} ∂/∂x[${i}]: finite difference ${numeric}, kernel ${fusedGrad[i]}`,
        );
      }
    }
  },
});

Deno.test({
  name: "native Sum over leading axes equals the cpu backend; other reductions fall back",
  ignore: !available,
  async fn() {
    await initBackend("native");
    const x = createRng(21).fillNormal(new Float32Array(4 * 5 * 6 * 7));
    const cases: [number | number[], boolean][] = [
      [0, false],
      [[0, 1], true],
      [[1, 0, 2], false],
      [[1, 3], false],
      [3, true],
      [[0, 1, 2, 3], false],
    ];
    for (const [axis, keepDims] of cases) {
      const reduce = async (backend: string) => {
        await tf.setBackend(backend);
        return tf.tidy(() => {
          const y = tf.sum(tf.tensor4d(x, [4, 5, 6, 7]), axis, keepDims);
          return { shape: y.shape, values: y.dataSync() as Float32Array };
        });
      };
      const got = await reduce("native"), want = await reduce("cpu");
      assert.deepEqual(got.shape, want.shape, `axis ${axis}`);
      assertNear(got.values, want.values, 1e-6, `sum over ${axis}`);
    }
  },
});
