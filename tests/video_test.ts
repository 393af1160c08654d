import assert from "node:assert/strict";
import {
  checkVideo,
  combine,
  createRng,
  gaussianVideo,
  maxAbsDiff,
  Rng,
  sampleOf,
  scale,
  video,
} from "../lib/video.ts";
import { assertThrowsWith } from "./helpers.ts";

Deno.test("createRng() gives equal streams for equal seeds and different ones otherwise", () => {
  const a = createRng(42), b = createRng(42), c = createRng(43), d = createRng("42");
  const draw = (r: Rng) => Array.from({ length: 8 }, () => r.nextUint32());
  const da = draw(a);
  assert.deepEqual(da, draw(b));
  assert.notDeepEqual(da, draw(c));
  assert.notDeepEqual(da, draw(d));
});

Deno.test("Rng.state() resumes the stream exactly, including a cached normal", () => {
  const rng = createRng(7);
  rng.normal(); // leaves the pair's second value cached
  const resumed = new Rng(rng.state());
  for (let i = 0; i < 5; i++) assert.equal(resumed.normal(), rng.normal());
  assert.equal(resumed.uniform(), rng.uniform());
});

Deno.test("Rng.split() is deterministic and independent of the parent's continuation", () => {
  const p1 = createRng(1), p2 = createRng(1);
  const c1 = p1.split(), c2 = p2.split();
  const child = Array.from({ length: 16 }, () => c1.uniform());
  assert.deepEqual(child, Array.from({ length: 16 }, () => c2.uniform()));
  const parent = Array.from({ length: 16 }, () => p1.uniform());
  // Pearson correlation of the two streams stays small.
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const mc = mean(child), mp = mean(parent);
  const cov = child.reduce((s, v, i) => s + (v - mc) * (parent[i] - mp), 0);
  assert.notDeepEqual(child, parent);
  assert.ok(Math.abs(cov) < 1, `child and parent streams look coupled (cov ${cov})`);
});

Deno.test("Rng draws have the moments of U[0, 1) and N(0, 1)", () => {
  const rng = createRng(123);
  const n = 200_000;
  let su = 0, min = 1, max = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.uniform();
    su += u;
    min = Math.min(min, u);
    max = Math.max(max, u);
  }
  assert.ok(min >= 0 && max < 1);
  assert.ok(Math.abs(su / n - 0.5) < 4 * Math.sqrt(1 / 12 / n));
  const z = rng.fillNormal(new Float64Array(n));
  let m1 = 0, m2 = 0, m4 = 0;
  for (const v of z) {
    m1 += v / n;
    m2 += (v * v) / n;
    m4 += v ** 4 / n;
  }
  assert.ok(Math.abs(m1) < 4 / Math.sqrt(n), `mean ${m1}`);
  assert.ok(Math.abs(m2 - 1) < 4 * Math.sqrt(2 / n), `variance ${m2}`);
  assert.ok(Math.abs(m4 - 3) < 4 * Math.sqrt(96 / n), `fourth moment ${m4}`);
});

Deno.test("Rng.integer() covers [0, n) uniformly", () => {
  const rng = createRng(5), counts = new Array(5).fill(0), n = 50_000;
  for (let i = 0; i < n; i++) counts[rng.integer(5)]++;
  for (const c of counts) assert.ok(Math.abs(c - n / 5) < 4 * Math.sqrt((n * 4) / 25), `${counts}`);
});

Deno.test("video() lays out batch × frames × height × width × channels row-major", () => {
  const v = video({ batch: 2, frames: 3, height: 2, width: 1, channels: 2 }, "float64");
  assert.equal(v.data.length, 24);
  assert.ok(v.data instanceof Float64Array);
  v.data.forEach((_, i) => (v.data[i] = i));
  const second = sampleOf(v, 1);
  assert.equal(second.batch, 1);
  assert.deepEqual(Array.from(second.data), Array.from({ length: 12 }, (_, i) => 12 + i));
  assert.ok(video({ frames: 2 }).data instanceof Float32Array);
});

Deno.test("combine() and scale() compute elementwise linear combinations exactly", () => {
  const x = video({ frames: 3 }, new Float64Array([1, 2, 3]));
  const y = video({ frames: 3 }, new Float64Array([4, 5, 6]));
  assert.deepEqual(Array.from(combine(2, x, -1, y).data), [-2, -1, 0]);
  assert.deepEqual(Array.from(scale(0.5, y).data), [2, 2.5, 3]);
  assert.equal(maxAbsDiff(x, y), 3);
});

Deno.test("gaussianVideo() is reproducible from the seed", () => {
  const a = gaussianVideo({ batch: 2, frames: 4 }, createRng(9), "float64");
  const b = gaussianVideo({ batch: 2, frames: 4 }, createRng(9), "float64");
  assert.deepEqual(a.data, b.data);
});

Deno.test("video() and checkVideo() reject malformed shapes and non-finite data", () => {
  assertThrowsWith(() => video({ frames: 0 }), /video frames must be an integer >= 1; got 0/);
  assertThrowsWith(() => video({ frames: 2.5 }), /video frames/, /2\.5/);
  assertThrowsWith(
    () => video({ frames: 4 }, new Float32Array(3)),
    /3 elements, but shape 1x4x1x1x1 needs 4/,
  );
  assertThrowsWith(
    () => checkVideo("x", video({ frames: 3 }, new Float64Array([0, NaN, 1]))),
    /x\.data must contain only finite numbers; entry 1 is NaN/,
  );
  assertThrowsWith(() => checkVideo("x", { frames: 2 }), /x\.batch must be an integer/);
  assertThrowsWith(
    () => combine(NaN, video({ frames: 2 }), 1, video({ frames: 2 })),
    /a must be a finite number; got NaN/,
  );
  assertThrowsWith(() => createRng(1.5), /seed must be a safe integer or a string; got 1\.5/);
  assertThrowsWith(
    () => combine(1, video({ frames: 2 }), 1, video({ frames: 3 })),
    /y has shape 1x3x1x1x1, but it must match x \(1x2x1x1x1\)/,
  );
});
