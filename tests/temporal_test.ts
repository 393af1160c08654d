import assert from "node:assert/strict";
import {
  downToStage,
  framePositions,
  framesAtLevel,
  stageDetail,
  temporalDown,
  temporalUp,
  upFromCoarser,
  upGroups,
} from "../lib/temporal.ts";
import { createRng, gaussianVideo, video } from "../lib/video.ts";
import { assertAllClose, assertThrowsWith } from "./helpers.ts";

/** A video whose element (b, f, i) is 100·b + 10·f + i, so every gather is visible. */
function labelled(batch: number, frames: number, perFrame: number) {
  const v = video({ batch, frames, height: perFrame }, "float64");
  for (let b = 0; b < batch; b++) {
    for (let f = 0; f < frames; f++) {
      for (let i = 0; i < perFrame; i++) {
        v.data[(b * frames + f) * perFrame + i] = 100 * b + 10 * f + i;
      }
    }
  }
  return v;
}

Deno.test("Down₂ by stride keeps x[2i]; by average takes the pair mean (×√2 for noise)", () => {
  const x = labelled(2, 4, 2);
  assert.deepEqual(Array.from(temporalDown(x).data), [0, 1, 20, 21, 100, 101, 120, 121]);
  assert.deepEqual(
    Array.from(temporalDown(x, { down: "average" }).data),
    [5, 6, 25, 26, 105, 106, 125, 126],
  );
  const noise = temporalDown(x, { down: "average", noise: true }).data;
  assertAllClose(noise, [5, 6, 25, 26, 105, 106, 125, 126].map((v) => v * Math.SQRT2), 1e-12);
});

Deno.test("Up₂ nearest duplicates each frame; Down₂ ∘ Up₂ is the identity for both Down methods", () => {
  const x = labelled(1, 3, 1);
  assert.deepEqual(Array.from(temporalUp(x).data), [0, 0, 10, 10, 20, 20]);
  for (const layout of ["plain", "keep-first"] as const) {
    const y = gaussianVideo({ batch: 2, frames: 5, height: 3 }, createRng(1), "float64");
    for (const down of ["stride", "average"] as const) {
      assert.deepEqual(temporalDown(temporalUp(y, { layout }), { layout, down }).data, y.data);
    }
  }
});

Deno.test("Up₂ linear interpolates at odd positions and clamps at the end", () => {
  const x = labelled(1, 3, 1);
  assert.deepEqual(Array.from(temporalUp(x, { method: "linear" }).data), [0, 5, 10, 15, 20, 20]);
  assert.deepEqual(
    Array.from(temporalUp(x, { method: "linear", layout: "keep-first" }).data),
    [0, 5, 10, 15, 20],
  );
});

Deno.test("the keep-first layout keeps frame 0 and upsamples it to a singleton", () => {
  assert.equal(framesAtLevel(9, 2, { layout: "keep-first" }), 3);
  assert.deepEqual(upGroups(3, "keep-first"), [[0], [1, 2], [3, 4]]);
  const x = labelled(1, 9, 1);
  // D₃ keeps the frames at grid positions 0, 4, 8
  assert.deepEqual(Array.from(downToStage(x, 3, { layout: "keep-first" }).data), [0, 40, 80]);
  assert.deepEqual(
    Array.from(
      temporalUp(downToStage(x, 2, { layout: "keep-first" }), {
        layout: "keep-first",
      }).data,
    ),
    [0, 20, 20, 40, 40, 60, 60, 80, 80],
  );
  assert.deepEqual(framePositions(9, 2, { layout: "keep-first" }), [0, 2, 4, 6, 8]);
});

Deno.test("D_k of the plain stride layout is the stride-2^(k−1) subsampling", () => {
  const x = gaussianVideo({ batch: 3, frames: 16, height: 2, width: 2 }, createRng(4), "float64");
  const n = 4;
  for (const k of [1, 2, 3, 4, 5]) {
    const d = downToStage(x, k), stride = 2 ** (k - 1);
    assert.equal(d.frames, 16 / stride);
    for (let b = 0; b < 3; b++) {
      for (let j = 0; j < d.frames; j++) {
        const got = d.data.subarray((b * d.frames + j) * n, (b * d.frames + j + 1) * n);
        const want = x.data.subarray((b * 16 + j * stride) * n, (b * 16 + j * stride + 1) * n);
        assert.deepEqual(got, want);
      }
    }
    assert.deepEqual(framePositions(16, k), Array.from({ length: d.frames }, (_, j) => j * stride));
  }
});

Deno.test("pair-average Down with √2 keeps i.i.d. N(0, 1) noise unit-variance (§4.16)", () => {
  const z = gaussianVideo({ batch: 4000, frames: 8, height: 4 }, createRng(11), "float64");
  const d = downToStage(z, 3, { down: "average", noise: true });
  let m2 = 0;
  for (const v of d.data) m2 += (v * v) / d.data.length;
  assert.ok(Math.abs(m2 - 1) < 4 * Math.sqrt(2 / d.data.length), `variance ${m2}`);
});

Deno.test("U_K = D_K for the coarsest stage and Δ_k vanishes for a static video (§4.6)", () => {
  const x = gaussianVideo({ batch: 2, frames: 8, height: 3 }, createRng(2), "float64");
  assert.deepEqual(upFromCoarser(x, 3, { stages: 3 }).data, downToStage(x, 3).data);
  const frame = gaussianVideo({ batch: 1, frames: 1, height: 3 }, createRng(3), "float64");
  const staticVideo = video({ frames: 8, height: 3 }, new Float64Array(24));
  for (let f = 0; f < 8; f++) staticVideo.data.set(frame.data, f * 3);
  for (const down of ["stride", "average"] as const) {
    for (const k of [1, 2, 3]) {
      assert.ok(stageDetail(staticVideo, k, { stages: 3, down }).data.every((v) => v === 0));
    }
  }
  // Δ_k is D_k − U_k elementwise
  const d = downToStage(x, 2),
    u = upFromCoarser(x, 2, { stages: 3 }),
    delta = stageDetail(x, 2, { stages: 3 });
  assertAllClose(delta.data, d.data.map((v, i) => v - u.data[i]), 0);
});

Deno.test("frame counts that do not divide the strides are rejected with the rule and the value", () => {
  assertThrowsWith(
    () => framesAtLevel(18, 2),
    /frames must be divisible by 2\^2 = 4 for 3 stages; got 18/,
  );
  assertThrowsWith(
    () => framesAtLevel(8, 2, { layout: "keep-first" }),
    /keep-first layout, frames must be 1 \+ n·2\^2 = 1 \+ n·4 \(n ≥ 1\) for 3 stages; got 8/,
  );
  assertThrowsWith(() => temporalDown(video({ frames: 3 })), /divisible by 2\^1 = 2 .* got 3/);
  assertThrowsWith(
    () => temporalDown(video({ frames: 4 }), { down: "max" as never }),
    /down must be one of "stride", "average"; got "max"/,
  );
  assertThrowsWith(
    () => temporalUp(video({ frames: 2 }), { method: "cubic" as never }),
    /up must be one of/,
  );
  assertThrowsWith(
    () => upFromCoarser(video({ frames: 8 }), 4, { stages: 3 }),
    /stage k must be an integer in \[1, 3\]; got 4/,
  );
  const nan = video({ frames: 4 }, new Float64Array([0, 1, NaN, 3]));
  assertThrowsWith(
    () => temporalDown(nan),
    /x\.data must contain only finite numbers; entry 2 is NaN/,
  );
  assertThrowsWith(() => temporalUp(nan), /entry 2 is NaN/);
});
